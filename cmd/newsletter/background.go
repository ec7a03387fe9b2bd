package main

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"newsletter/db"
	"newsletter/mailer"
	"newsletter/templates"
)

// Intervals of serve's background loops.
const (
	retryEvery  = 5 * time.Second // due retries and resumed campaigns
	outboxEvery = 2 * time.Second // confirmation and welcome mails, proofs
	proofEvery  = time.Minute     // looking for proofs that are due
)

// outboxParts are what serve's outbox worker renders its mails from.
type outboxParts struct {
	confirm mailer.OutboxMails     // confirmation mails (subscribers.OptIn)
	welcome *templates.WelcomeMail // welcome templates; nil with --welcome off
	archive *mailer.Archive        // the newest sent column for the welcome
}

// background is serve's delivery side: the cron scheduler, the retry
// loop (due retries are sent within seconds, not on the weekly schedule;
// an unfinished campaign resumes at start-up), the outbox worker for
// confirmation and welcome mails and the proofs, and with --proof-to the
// loop that queues the proof of each column --proof-before its run;
// column mails are rendered with renderer.
type background struct {
	mailer    *mailer.Mailer
	mails     mailer.OutboxByKind
	scheduler *mailer.Scheduler
	proofs    *mailer.Proofs
	proofing  bool // --proof-to is set
}

// newBackground builds it all, before serve listens: a setting that stops
// it (the DKIM key, an override, the schedule) stops start-up with it.
func newBackground(env *Env, app *App, renderer *templates.MailRenderer, outbox outboxParts, reg prometheus.Registerer) (*background, error) {
	m, err := newMailer(env, app, renderer)
	if err != nil {
		return nil, err
	}
	welcome, err := m.NewWelcome(env.Cfg.Welcome, outbox.archive, outbox.welcome)
	if err != nil {
		return nil, err
	}
	if err := m.RegisterMetrics(reg); err != nil {
		return nil, err
	}
	sched, err := m.NewScheduler(env.Cfg.Schedule, env.Cfg.Location, retryEvery)
	if err != nil {
		return nil, err
	}
	// Proofs already queued go out even when --proof-to was emptied since.
	proofs, err := newProofs(env.Cfg, m)
	if err != nil {
		return nil, err
	}
	mails := mailer.OutboxByKind{db.OutboxKindConfirm: outbox.confirm, db.OutboxKindWelcome: welcome, db.OutboxKindProof: proofs}
	return &background{mailer: m, mails: mails, scheduler: sched, proofs: proofs, proofing: len(env.Cfg.ProofTo) > 0}, nil
}

// run blocks until ctx ends, then waits for messages in flight to be
// finished and recorded.
func (b *background) run(ctx context.Context) {
	b.scheduler.Start(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { b.mailer.RunOutbox(ctx, b.mails, outboxEvery) })
	if b.proofing {
		wg.Go(func() { b.proofs.Run(ctx, proofEvery) })
	}
	<-ctx.Done()
	b.scheduler.Stop()
	wg.Wait()
}
