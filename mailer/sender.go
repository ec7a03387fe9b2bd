package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"newsletter/templates"
)

// RunOptions tune one run of a campaign.
type RunOptions struct {
	// Wait is how long after its start the run keeps waiting for
	// deliveries to come due again (retries, other senders' leases) and
	// for an unreachable SMTP server to come back. Zero makes one pass
	// over what is due now, ending at once if the server is down.
	Wait time.Duration
	// Progress, if set, is called after each batch of marks with the
	// number of deliveries that are done (sent, failed or skipped) and the
	// campaign's total.
	Progress func(done, total int)
	// Started, if set, is called when a campaign's run begins, with the
	// counts it starts from (RunDue may run several campaigns).
	Started func(c *Campaign, from Counts)
}

// RunResult says what a run did and where the campaign stands after it.
type RunResult struct {
	Campaign  *Campaign
	Counts    Counts       // the whole campaign, from the delivery log
	Failures  []ReplyCount // failed deliveries grouped by reply
	Attempted int          // messages this run handed to the SMTP server
	Sent      int          // of those, accepted
	Duration  time.Duration
	NextRetry time.Time // earliest pending delivery, when not finished
}

// Finished reports whether no delivery of the campaign is pending.
func (r *RunResult) Finished() bool { return r.Counts.Pending == 0 }

// RunCampaign sends the campaign's due deliveries over Workers connections
// until none is due, then keeps going while the next comes due within
// ro.Wait. It returns early with ctx's error when ctx ends (in-flight
// messages are finished and recorded first; unsent claims are given back),
// with an error when the SMTP server cannot be used at all (STARTTLS
// missing, login refused), and with an *UnreachableError when it could not
// be reached until ro.Wait ended. A connection that cannot be opened counts
// against no delivery: the claims are held (or given back) uncharged.
func (m *Mailer) RunCampaign(ctx context.Context, c *Campaign, ro RunOptions) (*RunResult, error) {
	started := time.Now()
	col, err := m.loadColumn(ctx, c)
	if err != nil {
		return nil, err
	}
	prep, err := m.renderer.Prepare(col)
	if err != nil {
		return nil, fmt.Errorf("render column %03d: %w", c.Number, err)
	}
	base, err := m.campaigns.Counts(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	total := base.Total()
	if ro.Started != nil {
		ro.Started(c, base)
	}
	var done, attempted, sentN atomic.Int64
	done.Store(int64(base.Sent + base.Failed + base.Skipped))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fatalOnce sync.Once
	var fatalErr error
	fatal := func(err error) {
		fatalOnce.Do(func() {
			fatalErr = err
			cancel()
		})
	}

	fl := newInflight()
	mk := newMarker(m.campaigns, &m.opts, m.owner, func(rec []outcome, err error) {
		n := 0
		for _, o := range rec {
			if o.release {
				continue
			}
			attempted.Add(1)
			m.metrics.observe("campaign", o.verdict)
			switch o.verdict {
			case verdictSent:
				sentN.Add(1)
				n++
			case verdictFailed, verdictBounced:
				n++
			}
		}
		d := done.Add(int64(n))
		fl.add(-len(rec))
		if ro.Progress != nil && err == nil {
			ro.Progress(int(d), total)
		}
	})

	deadline := m.db.Now().Add(ro.Wait)
	pool := &connPool{giveUp: time.Now().Add(ro.Wait), closing: make(chan struct{})}
	jobs := make(chan delivery, m.opts.BatchSize)
	var wg sync.WaitGroup
	for range m.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.worker(runCtx, pool, c.Number, prep, jobs, mk, fatal)
		}()
	}
	stopRenew := m.renewWhileRunning(runCtx, c.ID)

	log := m.log.With("column", c.Number, "campaign", c.ID)
	var runErr error
dispatch:
	for runCtx.Err() == nil {
		batch, skipped, err := m.campaigns.claim(runCtx, c.ID, m.owner, m.opts.Lease, m.opts.BatchSize)
		if err != nil {
			if runCtx.Err() == nil {
				runErr = err
			}
			break
		}
		if skipped > 0 {
			d := done.Add(int64(skipped))
			log.Info("skipped recipients who left since the campaign started", "count", skipped)
			if ro.Progress != nil {
				ro.Progress(int(d), total)
			}
		}
		if len(batch) > 0 {
			fl.add(len(batch))
			for i, d := range batch {
				select {
				case jobs <- d:
				case <-runCtx.Done():
					for _, rest := range batch[i:] {
						mk.add(outcome{d: rest, release: true})
					}
					break dispatch
				}
			}
			continue
		}
		// Nothing due now: let the messages in flight finish and their
		// marks land, then see what is left and when it comes due.
		select {
		case <-fl.idle():
		case <-runCtx.Done():
			break dispatch
		}
		next, ok, err := m.campaigns.nextDue(runCtx, c.ID)
		if err != nil {
			runErr = err
			break
		}
		if !ok || next.After(deadline) {
			break
		}
		if wait := min(next.Sub(m.db.Now()), m.opts.PollEvery); wait > 0 {
			select {
			case <-time.After(wait):
			case <-runCtx.Done():
			}
		}
	}
	close(pool.closing)
	close(jobs)
	wg.Wait()
	mk.close()
	stopRenew()

	// The run's context may be over; the summary must still be read.
	bg := context.WithoutCancel(ctx)
	if _, err := m.campaigns.finishIfDone(bg, c.ID); err != nil && runErr == nil {
		runErr = err
	}
	res := &RunResult{Attempted: int(attempted.Load()), Sent: int(sentN.Load()), Duration: time.Since(started)}
	if res.Campaign, err = m.campaigns.FindByID(bg, c.ID); err != nil {
		return nil, err
	}
	if res.Counts, err = m.campaigns.Counts(bg, c.ID); err != nil {
		return nil, err
	}
	if res.Failures, err = m.campaigns.FailureReplies(bg, c.ID, 10); err != nil {
		return nil, err
	}
	if next, ok, err := m.campaigns.nextDue(bg, c.ID); err == nil && ok {
		res.NextRetry = next
	}
	level := slog.LevelInfo
	if res.Attempted == 0 && (errors.Is(fatalErr, ErrSMTPUnreachable) || errors.Is(fatalErr, ErrSMTPConfig)) {
		level = slog.LevelDebug // the problem is reported once, not every pass
	}
	log.Log(bg, level, "campaign run ended", "sent_now", res.Sent, "attempted_now", res.Attempted,
		"sent", res.Counts.Sent, "failed", res.Counts.Failed, "skipped", res.Counts.Skipped,
		"pending", res.Counts.Pending, "duration", res.Duration.Round(time.Millisecond))
	switch {
	case fatalErr != nil:
		return res, fatalErr
	case runErr != nil:
		return res, runErr
	case ctx.Err() != nil:
		return res, ctx.Err()
	}
	return res, nil
}

// connPool is what a run's workers share about their connections.
type connPool struct {
	live    atomic.Int32  // open connections
	giveUp  time.Time     // the run's wait ends here
	closing chan struct{} // closed when no more jobs will come
}

// errConnLater is a worker's failed connection while others of its run are
// open: it gives its delivery back for them and pauses.
var errConnLater = errors.New("connection failed; other connections carry on")

// worker sends jobs over its own connection until jobs is closed. It lets
// the server accept a message (the final "." of DATA) only once its
// previous outcome is recorded; rendering and the first SMTP round trips of
// the next message overlap with that commit. After ctx ends it sends
// nothing more and gives its remaining jobs back. stop ends the run with an
// error: a fatal SMTP configuration problem, or an outage that outlasted
// the run's wait.
func (m *Mailer) worker(ctx context.Context, pool *connPool, number int, prep Prepared, jobs <-chan delivery, mk *marker, stop func(error)) {
	conn, err := newSMTPConn(&m.opts)
	if err != nil {
		stop(err)
	} else {
		conn.live = &pool.live
	}
	recorded := closedChan()
	defer func() {
		<-recorded
		if conn != nil {
			conn.close()
		}
	}()
	var buf bytes.Buffer
	for d := range jobs {
		if conn == nil || ctx.Err() != nil {
			mk.add(outcome{d: d, release: true})
			continue
		}
		if err := m.connect(ctx, pool, conn); err != nil {
			mk.add(outcome{d: d, release: true})
			if errors.Is(err, errConnLater) {
				select {
				case <-time.After(m.link.wait()):
				case <-pool.closing:
				case <-ctx.Done():
				}
			} else if ctx.Err() == nil {
				stop(err)
			}
			continue
		}
		msg := m.prepareMessage(number, prep, d, &buf)
		if ctx.Err() != nil || m.limiter.Wait(ctx) != nil {
			mk.add(outcome{d: d, release: true})
			continue
		}
		prev := recorded
		o, err := m.attempt(ctx, conn, msg, &buf, func() { <-prev }, true)
		var stale *staleConnError
		if errors.As(err, &stale) {
			// The kept-open connection had died; nothing was handed over.
			// Send again over a new one, where a failure counts.
			if err = m.connect(ctx, pool, conn); err == nil {
				o, err = m.attempt(ctx, conn, msg, &buf, func() { <-prev }, false)
			}
		}
		<-prev
		if errors.Is(err, errConnLater) {
			mk.add(outcome{d: d, release: true})
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				stop(err)
			}
			mk.add(outcome{d: d, release: true})
			continue
		}
		if o.verdict != verdictSent {
			m.log.Warn("delivery not accepted", "column", number, "delivery", d.ID, "subscriber", d.SubscriberID,
				"attempt", d.Attempts+1, "retry", o.verdict == verdictRetry, "reply", o.reply)
		}
		recorded = mk.add(o)
	}
}

// connect opens conn unless it is open, riding out an outage: a failed
// connection is recorded on the Mailer's link (one warning per outage) and
// retried when the link's backoff says so, holding the worker's delivery
// meanwhile. It returns a fatal configuration error at once, ctx's error
// when the run ends, errConnLater while other connections of the run are
// open (they send the delivery), and an *UnreachableError when none is and
// the next round would fall after the run's wait.
func (m *Mailer) connect(ctx context.Context, pool *connPool, conn *smtpConn) error {
	for !conn.connected() {
		if wait := m.link.wait(); wait > 0 {
			if pool.live.Load() > 0 {
				return errConnLater
			}
			if time.Now().Add(wait).After(pool.giveUp) {
				return m.link.unreachable()
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		err := conn.connect(ctx)
		if err == nil {
			m.link.ok()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.link.failed(err)
		if errors.Is(err, ErrSMTPConfig) {
			return err
		}
	}
	return nil
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// prepared is one delivery's message, composed (or failed to compose).
type preparedMsg struct {
	d          delivery
	messageID  string
	composeErr error
}

// prepareMessage renders and composes one delivery into buf.
func (m *Mailer) prepareMessage(number int, prep Prepared, d delivery, buf *bytes.Buffer) preparedMsg {
	msgID := campaignMessageID(m.opts.Secret, number, d.SubscriberID, m.from.domain)
	unsub := m.unsubscribeURL(d.SubscriberID)
	rm := prep.Personalize(templates.Recipient{Email: d.Email, Name: d.Name, UnsubscribeURL: unsub})
	env := envelope{ToEmail: d.Email, ToName: d.Name, Mail: rm, MessageID: msgID, UnsubscribeURL: unsub, Date: m.db.Now()}
	return preparedMsg{d: d, messageID: msgID, composeErr: m.composer.compose(env, buf)}
}

// attempt sends one composed delivery. The error is only for failures
// that make the whole run pointless (see dialError.fatal) and, when
// staleOK, for a kept-open connection found dead (*staleConnError).
func (m *Mailer) attempt(ctx context.Context, conn *smtpConn, p preparedMsg, buf *bytes.Buffer, beforeEnd func(), staleOK bool) (outcome, error) {
	if p.composeErr != nil {
		return outcome{d: p.d, verdict: verdictFailed, reply: oneLine("not sent: " + p.composeErr.Error()), messageID: p.messageID}, nil
	}
	// The message in flight is finished even during shutdown.
	reply, err := conn.send(context.WithoutCancel(ctx), m.from.addr.Address, p.d.Email, buf.Bytes(), beforeEnd)
	var de *dialError
	if errors.As(err, &de) && de.fatal {
		return outcome{}, de
	}
	var stale *staleConnError
	if staleOK && errors.As(err, &stale) {
		return outcome{}, stale
	}
	v, r := classify(err)
	if err == nil {
		r = reply
	}
	return outcome{d: p.d, verdict: v, reply: r, messageID: p.messageID}, nil
}

// renewWhileRunning renews this process's leases on the campaign every
// Lease/3 until the returned stop is called.
func (m *Mailer) renewWhileRunning(ctx context.Context, campaignID int64) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := m.campaigns.renewLeases(context.WithoutCancel(ctx), campaignID, m.owner, m.opts.Lease); err != nil {
					m.log.Error("renewing leases failed", "err", err)
				}
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
