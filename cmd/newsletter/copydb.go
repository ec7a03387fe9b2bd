package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"

	"newsletter/db"
)

// copyDBCmd is `newsletter copy-db --to URL`.
func copyDBCmd() command {
	return command{
		name: "copy-db", summary: "copy the whole list from --db into an empty database at URL (SQLite → PostgreSQL and back)",
		usage:  "--to URL",
		groups: groupShared,
		flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
			to := fs.String("to", "", "the empty target: a postgres:// URL or a SQLite file path")
			return func(ctx context.Context, env *Env, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if *to == "" {
					return usagef("copy-db: give --to URL, the empty database to copy into")
				}
				return copyDBCommand(ctx, env, *to)
			}
		},
	}
}

func copyDBCommand(ctx context.Context, env *Env, to string) error {
	from := env.Cfg.DB
	if db.EngineOf(from) == db.SQLite {
		if err := databaseFile(from); err != nil {
			return err
		}
	}
	if to == from {
		return errors.New("copy-db: --to names the --db database itself")
	}
	src, err := db.Open(ctx, from)
	if err != nil {
		return fmt.Errorf("open --db: %w", err)
	}
	defer src.Close()
	// db.Open creates the tables in the target (and a SQLite file if none).
	dst, err := db.Open(ctx, to)
	if err != nil {
		return fmt.Errorf("open --to %s: %w", redacted(to), err)
	}
	defer dst.Close()
	counts, err := db.Copy(ctx, src, dst)
	if errors.Is(err, db.ErrTargetNotEmpty) {
		return fmt.Errorf("copy-db: %s already holds data (%w); copy only into a new, empty database", redacted(to), err)
	}
	if err != nil {
		return fmt.Errorf("copy-db: nothing copied: %w", err)
	}
	var total int64
	for _, c := range counts {
		fmt.Fprintf(env.Stdout, "%-18s %8d\n", c.Table, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(env.Stdout, "Copied %d rows from %s to %s.\n", total, esc(redacted(from)), esc(redacted(to)))
	return nil
}

// redacted is a --db value fit to print: a URL's password replaced.
func redacted(dsn string) string {
	if db.EngineOf(dsn) == db.SQLite {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "the PostgreSQL database"
	}
	return u.Redacted()
}
