package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"newsletter/db"
	"newsletter/mailer"
	"newsletter/subscribers"
	"newsletter/templates"
)

// Env is what every command gets: the parsed configuration and the
// process's standard streams.
type Env struct {
	Cfg        *Config
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	Getenv     func(string) string
	Log        *slog.Logger // writes to Stderr; never given secrets
	IsTerminal bool         // Stdout is a terminal (progress bars, tables)
}

// App is the opened database and the stores on it.
type App struct {
	DB        *db.DB
	Key       []byte // installation secret; never printed
	Store     *subscribers.Store
	Campaigns *mailer.CampaignStore
}

// openApp opens the database named by --db and builds the store.
func openApp(ctx context.Context, env *Env) (*App, error) {
	d, err := db.Open(ctx, env.Cfg.DB)
	if err != nil {
		return nil, err
	}
	key, err := d.SecretKey(ctx)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("read installation secret: %w", err)
	}
	return &App{DB: d, Key: key, Store: subscribers.NewStore(d, key), Campaigns: mailer.NewCampaignStore(d)}, nil
}

// openExistingApp is openApp for commands that only read or change what is
// there: a mistyped --db is an error, not a new empty database.
func openExistingApp(ctx context.Context, env *Env) (*App, error) {
	// A mistyped PostgreSQL URL fails to connect: no database is created.
	if db.EngineOf(env.Cfg.DB) == db.Postgres {
		return openApp(ctx, env)
	}
	if err := databaseFile(env.Cfg.DB); err != nil {
		return nil, err
	}
	return openApp(ctx, env)
}

// databaseFile refuses a --db file that is missing or empty. A zero-byte
// file is no database either (a `touch`, a failed copy): opening it would
// make a new empty one in its place, with the file's loose mode.
func databaseFile(path string) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return fmt.Errorf("--db: no database at %s (check the path; 'newsletter serve' or 'subscribers add' creates one)", path)
	}
	return nil
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }

// newMailRenderer builds the renderer of column mails from the configuration.
func newMailRenderer(cfg *Config) (*templates.MailRenderer, error) {
	return templates.NewMailRenderer(templates.MailOptions{
		Lang: cfg.Lang, ListName: cfg.ListName, Imprint: cfg.Imprint, BaseURL: cfg.BaseURL, OverrideDir: cfg.Templates,
	})
}
