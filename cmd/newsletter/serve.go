package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"newsletter/columns"
	"newsletter/mailer"
	"newsletter/subscribers"
	"newsletter/templates"
)

// shutdownGrace is how long in-flight requests get after SIGINT/SIGTERM.
const shutdownGrace = 20 * time.Second

// purgeEvery is how often never-confirmed subscribers are looked for.
const purgeEvery = time.Hour

// serveCommand runs the web side, the outbox worker and the scheduler until
// ctx is cancelled (SIGINT/SIGTERM); then it lets in-flight requests and
// outbox sends finish and returns nil.
func serveCommand(ctx context.Context, env *Env) error {
	cfg := env.Cfg
	trusted, err := subscribers.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return usagef("--trusted-proxies: %v", err)
	}
	pages, err := templates.LoadPages(templates.PageOptions{ListName: cfg.ListName, Imprint: cfg.Imprint, OverrideDir: cfg.Templates})
	if err != nil {
		return err
	}
	renderer, err := templates.NewMailRenderer(templates.MailOptions{
		Lang: cfg.Lang, ListName: cfg.ListName, Imprint: cfg.Imprint, BaseURL: cfg.BaseURL, OverrideDir: cfg.Templates,
	})
	if err != nil {
		return err
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := subscribers.NewMetrics(reg, app.Store, env.Log)
	if err != nil {
		return err
	}
	optin := subscribers.NewOptIn(app.Store, pages, subscribers.OptInConfig{BaseURL: cfg.BaseURL})
	web, err := subscribers.NewWeb(subscribers.WebConfig{
		Lang:           cfg.Lang,
		IPRateLimit:    cfg.IPRateLimit,
		TrustedProxies: trusted,
		AllowedOrigins: subscribers.ParseOrigins(cfg.AllowedOrigins),
	}, subscribers.WebDeps{
		OptIn:          optin,
		Pages:          pages,
		Archive:        &columnArchive{sent: mailer.NewArchive(app.DB, cfg.Location, env.Log), mail: renderer, log: env.Log},
		Metrics:        metrics,
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(env.Log.Handler(), slog.LevelError)}),
		Log:            env.Log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: web.Handler(),
		// Slow clients must not hold connections open for ever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(env.Log.Handler(), slog.LevelWarn),
	}
	env.Log.Info("serving", "listen", ln.Addr().String(), "base_url", cfg.BaseURL)

	// The background work gets its own context so it stops only after the
	// HTTP server has drained: a request in flight may still queue a mail.
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := runBackground(bgCtx, env, app, optin, reg); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("background: %w", err)
		}
	})
	wg.Go(func() { purgeLoop(bgCtx, env.Log, optin, cfg.PurgePendingAfter) })
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("web server: %w", err)
		}
	}()

	var failure error
	select {
	case <-ctx.Done():
		env.Log.Info("shutting down: draining requests and outbox")
	case failure = <-errc:
		env.Log.Error("stopping after failure", "err", failure)
	}
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		env.Log.Warn("web server did not drain in time", "err", err)
	}
	stopBG()
	wg.Wait()
	if failure == nil {
		select {
		case failure = <-errc:
		default:
		}
	}
	if failure == nil {
		env.Log.Info("stopped")
	}
	return failure
}

// purgeLoop deletes never-confirmed subscribers older than after, at start
// and then every purgeEvery, until ctx ends. after <= 0 turns it off.
func purgeLoop(ctx context.Context, log *slog.Logger, optin *subscribers.OptIn, after time.Duration) {
	if after <= 0 {
		return
	}
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		n, err := optin.PurgePending(ctx, after)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("purge unconfirmed subscribers", "err", err)
		case n > 0:
			log.Info("purged unconfirmed subscribers", "count", n, "older_than", after.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// columnArchive is the archive the web side shows: every column with a
// campaign, as it was sent (the source kept with the campaign). It is read
// on each request, so a column appears as soon as its campaign starts.
type columnArchive struct {
	sent *mailer.Archive
	mail *templates.MailRenderer
	log  *slog.Logger
}

var _ subscribers.Archive = (*columnArchive)(nil)

func archiveEntry(c *columns.Column) subscribers.ArchiveEntry {
	return subscribers.ArchiveEntry{Number: c.Number, Title: c.Title, TitleLine: c.TitleLine, Date: c.Date, Links: c.Links}
}

func (a *columnArchive) List(ctx context.Context) ([]subscribers.ArchiveEntry, error) {
	cols, err := a.sent.Sent(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]subscribers.ArchiveEntry, 0, len(cols))
	for _, c := range cols {
		out = append(out, archiveEntry(c))
	}
	return out, nil
}

func (a *columnArchive) Get(ctx context.Context, n int) (*subscribers.ArchiveEntry, error) {
	cols, err := a.sent.Sent(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		if c.Number != n {
			continue
		}
		body, err := a.mail.BodyHTML(c)
		if err != nil {
			return nil, err
		}
		e := archiveEntry(c)
		e.BodyHTML = body
		return &e, nil
	}
	return nil, subscribers.ErrNotFound
}
