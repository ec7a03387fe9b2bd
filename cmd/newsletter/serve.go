package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"newsletter/mailer"
	"newsletter/subscribers"
	"newsletter/templates"
	"newsletter/web"
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
	pages, err := templates.LoadPages(templates.PageOptions{ListName: cfg.ListName, Imprint: cfg.Imprint, OverrideDir: cfg.Templates})
	if err != nil {
		return err
	}
	// One renderer for the mailer and the archive pages, which show the
	// article as the mail carries it.
	renderer, err := newMailRenderer(cfg)
	if err != nil {
		return err
	}
	// Parsed now, so a broken override stops start-up, not the first welcome.
	var welcome *templates.WelcomeMail
	if cfg.Welcome != mailer.WelcomeOff {
		welcome, err = templates.LoadWelcome(templates.WelcomeOptions{
			ListName: cfg.ListName, Imprint: cfg.Imprint, BaseURL: cfg.BaseURL, OverrideDir: cfg.Templates,
		})
		if err != nil {
			return err
		}
	}
	warnOpenDatabase(env.Log, cfg.DB)
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := web.NewMetrics(reg, app.Store, app.DB, env.Log)
	if err != nil {
		return err
	}
	optin := subscribers.NewOptIn(app.Store, pages, subscribers.OptInConfig{BaseURL: cfg.BaseURL, Welcome: welcome != nil})
	// One archive for the pages, the feed and the welcome mail: each sent
	// column is parsed once.
	archive := mailer.NewArchive(app.Campaigns, cfg.Location, env.Log)
	// The relays' events and the bounce mailbox go through the same
	// intake as `bounces ingest`.
	intake, err := mailer.NewIntake(app.DB, app.Store, mailer.IntakeOptions{
		BounceAddress: cfg.BounceAddress, SoftBounceLimit: cfg.SoftBounceLimit, Secret: app.Key, Logger: env.Log,
	})
	if err != nil {
		return err
	}
	site, err := web.New(web.Config{
		ListName:       cfg.ListName,
		Lang:           cfg.Lang,
		BaseURL:        cfg.BaseURL,
		IPRateLimit:    cfg.IPRateLimit,
		TrustedProxies: cfg.Proxies,
		AllowedOrigins: cfg.Origins,
		Webhooks:       cfg.Webhooks,
	}, web.Deps{
		OptIn:          optin,
		Pages:          pages,
		Health:         app.DB,
		Archive:        archive,
		Feed:           archive,
		Holds:          mailer.NewHolds(app.DB, app.Key, cfg.Location),
		Bodies:         renderer,
		Metrics:        metrics,
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(env.Log.Handler(), slog.LevelError)}),
		Log:            env.Log,
		Webhooks:       web.WebhookDeps{Intake: intake},
	})
	if err != nil {
		return err
	}
	bg, err := newBackground(env, app, renderer, outboxParts{confirm: optin, welcome: welcome, archive: archive}, reg)
	if err != nil {
		return err
	}
	if on := cfg.Webhooks.Relays(); len(on) > 0 {
		env.Log.Info("relay webhooks on", "relays", strings.Join(on, ","), "url", cfg.BaseURL+"/webhooks/{relay}")
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: site.Handler(),
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
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	wg.Go(func() { bg.run(bgCtx) })
	wg.Go(func() { purgeLoop(bgCtx, env.Log, optin, cfg.PurgePendingAfter) })
	if cfg.BounceMailbox != nil {
		wg.Go(func() {
			if err := runBounceMailbox(bgCtx, env.Log, *cfg.BounceMailbox, intake); err != nil {
				errc <- fmt.Errorf("bounce mailbox: %w", err)
			}
		})
	}
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

// warnOpenDatabase warns, once, when the database files that exist already
// let other users than their owner in: they hold every address, the
// consent evidence and the key that signs unsubscribe tokens. A database
// this program creates is private (db.PrivateMode); one copied in or made
// by an older version may not be. It only warns: the admin may have given
// a group access on purpose.
func warnOpenDatabase(log *slog.Logger, path string) {
	var open []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			open = append(open, p)
		}
	}
	if len(open) == 0 {
		return
	}
	log.Warn("the database files are open to other users than their owner; they hold every address, the consent evidence and the token key",
		"files", strings.Join(open, " "), "fix", "chmod 600 "+strings.Join(open, " "))
}
