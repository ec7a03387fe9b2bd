package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Scheduler runs the job (RunDue) on a cron schedule and, in between,
// retries due deliveries of unfinished campaigns every few seconds: a 4xx
// on Monday morning is retried within minutes, not next Monday.
type Scheduler struct {
	m          *Mailer
	cron       *cron.Cron
	retryEvery time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// lastErr per campaign, so a campaign that cannot resume is reported
	// when its problem changes, not every few seconds.
	lastErr map[int64]string
}

// NewScheduler builds a scheduler in loc for spec (standard 5 fields or a
// descriptor such as "@every 10s" or "@weekly"); a spec cron cannot parse
// is an error. retryEvery is the retry loop's interval (default 5s).
func (m *Mailer) NewScheduler(spec string, loc *time.Location, retryEvery time.Duration) (*Scheduler, error) {
	if loc == nil {
		loc = time.UTC
	}
	if retryEvery <= 0 {
		retryEvery = 5 * time.Second
	}
	cl := cronLogger{m.log.With("component", "cron")}
	c := cron.New(cron.WithLocation(loc), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	s := &Scheduler{m: m, cron: c, retryEvery: retryEvery, lastErr: map[int64]string{}}
	if _, err := c.AddFunc(spec, s.job); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// Start runs the schedule and the retry loop until Stop or until ctx ends.
// The retry loop's first pass runs at once, so an unfinished campaign
// resumes on start-up.
func (s *Scheduler) Start(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.cron.Start()
	for _, e := range s.cron.Entries() {
		s.m.log.Info("scheduler started", "next_run", e.Next.Format(time.RFC3339))
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.retryLoop()
	}()
}

// Stop stops scheduling, lets a running job finish its messages in flight
// (its context is cancelled, so it sends nothing new) and returns when all
// is recorded.
func (s *Scheduler) Stop() {
	s.cancel()
	<-s.cron.Stop().Done()
	s.wg.Wait()
}

// schedulerLock names the lock that lets one instance at a time run the
// scheduled job when several share a PostgreSQL database.
const schedulerLock = "scheduled job"

func (s *Scheduler) job() {
	if s.ctx.Err() != nil {
		return
	}
	// Several instances on one PostgreSQL database fire at the same time;
	// one runs the job, the others leave it (on SQLite the lock is always
	// granted). Starting a campaign is safe regardless (one per column,
	// ever); the lock saves the others the work and the noise.
	lock, ok, err := s.m.db.TryJobLock(s.ctx, schedulerLock)
	if err != nil {
		if s.ctx.Err() == nil {
			s.m.log.Error("scheduled run", "err", err)
		}
		return
	}
	if !ok {
		s.m.log.Info("scheduled run skipped: another instance is running it")
		return
	}
	defer func() {
		if err := lock.Unlock(s.ctx); err != nil {
			s.m.log.Warn("scheduled run: releasing its lock", "err", err)
		}
	}()
	results, err := s.m.RunDue(s.ctx, RunOptions{})
	switch {
	case err == nil || s.ctx.Err() != nil:
	case errors.Is(err, ErrSMTPConfig):
		s.m.reportConfig(err)
	default:
		s.m.log.Error("scheduled run", "err", err)
	}
	for _, r := range results {
		if !r.Finished() && r.Held == "" && s.ctx.Err() == nil {
			s.m.log.Info("deliveries wait for retry", "column", r.Campaign.Number, "pending", r.Counts.Pending,
				"next", r.NextRetry.Format(time.RFC3339))
		}
	}
}

func (s *Scheduler) retryLoop() {
	t := time.NewTicker(s.retryEvery)
	defer t.Stop()
	for {
		s.m.retryPass(s.ctx, s.lastErr)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retryPass sends what is due of every unfinished campaign, unless the
// scheduled job is busy (it does the same). lastErr dedupes error logs.
func (m *Mailer) retryPass(ctx context.Context, lastErr map[int64]string) {
	if m.sender.outage.wait() > 0 {
		return // the SMTP server is down; the next connection round is not due
	}
	if !m.sendMu.TryLock() {
		return
	}
	defer m.sendMu.Unlock()
	camps, err := m.campaigns.List(ctx, CampaignFilter{Unfinished: true})
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("retry loop", "err", err)
		}
		return
	}
	holds, err := m.holds.Words(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("retry loop", "err", err)
		}
		return
	}
	for _, c := range camps {
		if by, held := holds[c.Number]; held {
			// Said once per hold, not every few seconds.
			if msg := "held " + by; msg != lastErr[c.ID] {
				m.log.Info("held campaign not resumed; its pending deliveries wait until it is released", "column", c.Number, "why", msg)
				lastErr[c.ID] = msg
			}
			continue
		}
		next, ok, err := m.campaigns.nextDue(ctx, c.ID)
		if err != nil || !ok || next.After(m.db.Now()) {
			if !ok && err == nil {
				_, _ = m.campaigns.finishIfDone(ctx, c.ID)
			}
			continue
		}
		res, err := m.runCampaign(ctx, c, RunOptions{})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrHeld) && res != nil {
			lastErr[c.ID] = res.Held // held while it ran: the run said so
			continue
		}
		if errors.Is(err, ErrSMTPUnreachable) {
			return // logged once by the outage; the other campaigns would fail alike
		}
		if errors.Is(err, ErrSMTPConfig) {
			// Reported once; the outage's backoff spaces the next pass.
			m.reportConfig(err)
			return
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr[c.ID] {
			if msg != "" {
				m.log.Error("retrying campaign", "column", c.Number, "err", err)
			}
			lastErr[c.ID] = msg
		}
	}
}

// reportConfig logs a configuration error of the SMTP server once (again
// only when it changes, or after the server was usable in between):
// serve's loops meet it on every try.
func (m *Mailer) reportConfig(err error) {
	if m.sender.outage.reportConfig(err) {
		m.log.Error("the SMTP server cannot be used as configured; deliveries and confirmation mails wait, nothing is charged, and the connection is retried with backoff",
			"addr", m.opts.SMTPAddr, "err", err.Error())
	}
}

// cronLogger routes robfig/cron's logging to slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
