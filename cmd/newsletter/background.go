package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"newsletter/db"
	"newsletter/mailer"
	"newsletter/templates"
)

// Intervals of serve's background loops.
const (
	retryEvery  = 5 * time.Second // due retries and resumed campaigns
	outboxEvery = 2 * time.Second // confirmation and welcome mails
)

// outboxParts are what serve's outbox worker renders its mails from.
type outboxParts struct {
	confirm mailer.OutboxMails     // confirmation mails (subscribers.OptIn)
	welcome *templates.WelcomeMail // welcome templates; nil with --welcome off
	archive *mailer.Archive        // the newest sent column for the welcome
}

// runBackground is serve's delivery side: the cron scheduler, the retry
// loop (due retries are sent within seconds, not on the weekly schedule;
// an unfinished campaign resumes at start-up) and the outbox worker for
// confirmation and welcome mails; column mails are rendered with renderer.
// It blocks until ctx ends, then waits for messages in flight to be
// finished and recorded, and returns nil.
func runBackground(ctx context.Context, env *Env, app *App, renderer *templates.MailRenderer, outbox outboxParts, reg prometheus.Registerer) error {
	m, err := newMailer(env, app, renderer)
	if err != nil {
		return err
	}
	welcome, err := m.NewWelcome(env.Cfg.Welcome, outbox.archive, outbox.welcome)
	if err != nil {
		return err
	}
	mails := mailer.OutboxByKind{db.OutboxKindConfirm: outbox.confirm, db.OutboxKindWelcome: welcome}
	if err := m.RegisterMetrics(reg); err != nil {
		return err
	}
	sched, err := m.NewScheduler(env.Cfg.Schedule, env.Cfg.Location, retryEvery)
	if err != nil {
		return err
	}
	sched.Start(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunOutbox(ctx, mails, outboxEvery)
	}()
	<-ctx.Done()
	sched.Stop()
	<-done
	return nil
}
