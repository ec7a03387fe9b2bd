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

// runBackground is serve's delivery side: the cron scheduler, the retry
// loop (due retries are sent within seconds, not on the weekly schedule;
// an unfinished campaign resumes at start-up), the outbox worker for
// confirmation and welcome mails and the proofs, and with --proof-to the
// loop that queues the proof of each column --proof-before its run;
// column mails are rendered with renderer.
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
	// Proofs already queued go out even when --proof-to was emptied since.
	proofs, err := newProofs(env.Cfg, m)
	if err != nil {
		return err
	}
	mails[db.OutboxKindProof] = proofs
	sched.Start(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.RunOutbox(ctx, mails, outboxEvery) })
	if len(env.Cfg.ProofTo) > 0 {
		wg.Go(func() { proofs.Run(ctx, proofEvery) })
	}
	<-ctx.Done()
	sched.Stop()
	wg.Wait()
	return nil
}
