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

	"newsletter/columns"
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
	// NotStarted, if set, is called for a new column that RunPlan or
	// RunDue did not start because no subscriber would get it (why wraps
	// ErrNoRecipients): it stays new.
	NotStarted func(col *columns.Column, why error)
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
	// Held is set when the run stopped because the column was put on
	// hold: "held by admin at TIME". Its pending deliveries wait for the
	// release.
	Held string
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
//
// It takes the process's send lock, so it never runs beside the
// scheduler's job or retry loop of the same Mailer (leases would keep that
// correct, but two SMTP pools for one campaign only waste connections).
func (m *Mailer) RunCampaign(ctx context.Context, c *Campaign, ro RunOptions) (*RunResult, error) {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return m.runCampaign(ctx, c, ro)
}

// runCampaign is RunCampaign for a caller that holds the send lock.
func (m *Mailer) runCampaign(ctx context.Context, c *Campaign, ro RunOptions) (*RunResult, error) {
	started := time.Now()
	col, err := m.loadColumn(ctx, c)
	if err != nil {
		return nil, err
	}
	prep, err := m.renderer.Prepare(col)
	if err != nil {
		return nil, fmt.Errorf("render column %03d: %w", c.Number, err)
	}
	// The column's mail is encoded once for the whole run; should that
	// fail, each message is composed in full, as a one-off mail is.
	var cm *campaignMail
	if pm, ok := prep.(partedMail); ok {
		if cm, err = m.composer.campaign(pm); err != nil {
			m.log.Warn("composing every message in full: the column's mail could not be encoded once",
				"column", c.Number, "err", err)
			cm = nil
		}
	}
	// Where the campaign starts from is only for the caller's progress
	// (send's bar and lines); the retry loop's passes skip the count, a
	// scan of the whole delivery log.
	var base Counts
	if ro.Started != nil || ro.Progress != nil {
		if base, err = m.campaigns.Counts(ctx, c.ID); err != nil {
			return nil, err
		}
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
	mk := newMarker(m.campaigns, &m.opts, m.retry, m.owner, func(rec []outcome, err error) {
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
			m.worker(runCtx, pool, c.Number, prep, cm, jobs, mk, fatal)
		}()
	}
	// A hold stops the run like a fatal error: no new claims, claims not
	// yet sent are given back, messages on the wire are finished. It is
	// seen at the next claim or lease renewal, whichever comes first.
	held := func() { fatal(m.holds.heldError(context.WithoutCancel(ctx), c.Number)) }
	stopRenew := m.renewWhileRunning(runCtx, func(ctx context.Context) {
		err := m.campaigns.renewLeases(ctx, c.ID, m.owner, m.opts.Lease)
		switch {
		case errors.Is(err, errCampaignHeld):
			held()
		case err != nil:
			m.log.Error("renewing leases failed", "err", err)
		}
	})

	log := m.log.With("column", c.Number, "campaign", c.ID)
	var runErr error
dispatch:
	for runCtx.Err() == nil {
		batch, skipped, err := m.campaigns.claim(runCtx, c.ID, m.owner, m.opts.Lease, m.opts.BatchSize)
		if errors.Is(err, errCampaignHeld) {
			held()
			break
		}
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
	if res.Failures, err = m.campaigns.failureReplies(bg, c.ID, 10); err != nil {
		return nil, err
	}
	if next, ok, err := m.campaigns.nextDue(bg, c.ID); err == nil && ok {
		res.NextRetry = next
	}
	var he *HeldError
	if errors.As(fatalErr, &he) {
		res.Held = "held " + he.Words(m.opts.Location)
		log.Info("campaign held: its pending deliveries wait until it is released", "held", he.Words(m.opts.Location),
			"pending", res.Counts.Pending)
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

// worker sends jobs through the Mailer's sender over its own connection
// until jobs is closed. It lets the server accept a message (the final "."
// of DATA) only once its previous outcome is recorded; rendering and the
// first SMTP round trips of the next message overlap with that commit.
// After ctx ends it sends nothing more and gives its remaining jobs back.
// stop ends the run with an error: a fatal SMTP configuration problem, or
// an outage that outlasted the run's wait. A connection that fails while
// others of the run are open gives its job back for them and pauses.
func (m *Mailer) worker(ctx context.Context, pool *connPool, number int, prep ColumnMail, cm *campaignMail, jobs <-chan delivery, mk *marker, stop func(error)) {
	conn, err := m.sender.newConn(&pool.live)
	if err != nil {
		stop(err)
	}
	recorded := closedChan()
	defer func() {
		<-recorded
		if conn != nil {
			conn.close()
		}
	}()
	var buf bytes.Buffer
	var cw *campaignWriter
	if cm != nil {
		cw = cm.newWriter()
	}
	for d := range jobs {
		if conn == nil || ctx.Err() != nil {
			mk.add(outcome{d: d, release: true})
			continue
		}
		dm := m.composeDelivery(number, prep, cw, d, &buf)
		prev := recorded
		var v verdict
		var reply string
		var err error
		if dm.composeErr != nil {
			v, reply = verdictFailed, oneLine("not sent: "+dm.composeErr.Error())
		} else {
			from := m.returnPath(mailRef{Kind: refCampaign, CampaignID: d.CampaignID, SubscriberID: d.SubscriberID})
			v, reply, err = m.sender.send(ctx, conn, pool.giveUp, from, d.Email, buf.Bytes(), func() { mk.wait(prev) })
		}
		mk.wait(prev)
		switch {
		case errors.Is(err, errConnLater):
			mk.add(outcome{d: d, release: true})
			select {
			case <-time.After(m.sender.outage.wait()):
			case <-pool.closing:
			case <-ctx.Done():
			}
			continue
		case err != nil:
			if ctx.Err() == nil {
				stop(err)
			}
			mk.add(outcome{d: d, release: true})
			continue
		}
		if v != verdictSent {
			m.log.Warn("delivery not accepted", "column", number, "delivery", d.ID, "subscriber", d.SubscriberID,
				"attempt", d.Attempts+1, "retry", v == verdictRetry, "reply", reply)
		}
		recorded = mk.add(outcome{d: d, verdict: v, reply: reply, messageID: dm.messageID})
	}
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// deliveryMail is one delivery's message, composed into the worker's
// buffer (or failed to compose).
type deliveryMail struct {
	messageID  string
	composeErr error
}

// composeDelivery composes one delivery into buf: through cw, the
// campaign's mail encoded once, unless it is nil or a value of this
// recipient's would break it; else in full.
func (m *Mailer) composeDelivery(number int, prep ColumnMail, cw *campaignWriter, d delivery, buf *bytes.Buffer) deliveryMail {
	msgID := campaignMessageID(m.ids, number, d.SubscriberID, m.from.domain)
	unsub := m.unsubscribeURL(d.SubscriberID)
	if cw != nil {
		err := cw.write(buf, campaignRecipient{Email: d.Email, Name: d.Name, MessageID: msgID, UnsubscribeURL: unsub, Date: m.db.Now()})
		if !errors.Is(err, errComposeInFull) {
			return deliveryMail{messageID: msgID, composeErr: err}
		}
	}
	rm := prep.Personalize(templates.Recipient{Email: d.Email, Name: d.Name, UnsubscribeURL: unsub})
	env := envelope{ToEmail: d.Email, ToName: d.Name, Mail: rm, MessageID: msgID, UnsubscribeURL: unsub, Date: m.db.Now()}
	return deliveryMail{messageID: msgID, composeErr: m.composer.compose(env, buf)}
}

// renewWhileRunning calls renew every Lease/3 until the returned stop is
// called, so this process's leases (on a campaign's deliveries, on outbox
// items) outlive a slow message or a slow server. renew gets a context
// that is not cancelled with ctx: a renewal is never cut off half-way.
func (m *Mailer) renewWhileRunning(ctx context.Context, renew func(context.Context)) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				renew(context.WithoutCancel(ctx))
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
