package mailer

import (
	"bytes"
	"context"
	"errors"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

// OutboxMails provides the mails to send for outbox items:
// subscribers.OptIn for confirmation mails, Welcome for welcome mails,
// Proofs for the author's proofs, OutboxByKind for all of them. RenderOutbox returning db.ErrOutboxCancelled
// closes the item without sending. OutboxSent runs in the transaction that
// marks the item sent (to record consent evidence).
type OutboxMails interface {
	RenderOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error)
	OutboxSent(ctx context.Context, tx *db.Tx, it db.OutboxItem, messageID string) error
}

// outboxBatch is how many outbox items one claim takes; they are sent one
// after another over one connection.
const outboxBatch = 10

// RunOutbox drains the outbox until ctx ends, looking for due items every
// poll interval, and sends their mails through the Mailer's sender over one
// connection, kept open while there is work. A mail in flight when ctx ends
// is finished and recorded; claimed items not yet sent are given back.
func (m *Mailer) RunOutbox(ctx context.Context, mails OutboxMails, every time.Duration) {
	if every <= 0 {
		every = 2 * time.Second
	}
	var conn *smtpConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n := 0
		var err error
		// While the SMTP server is down, claim nothing until the next
		// connection round is due.
		if m.sender.outage.wait() == 0 {
			n, err = m.outboxPass(ctx, mails, &conn)
		}
		switch {
		case err == nil || ctx.Err() != nil || errors.Is(err, ErrSMTPUnreachable):
		case errors.Is(err, ErrSMTPConfig):
			m.reportConfig(err)
		default:
			m.log.Error("outbox", "err", err)
		}
		if n == 0 && conn != nil {
			// Idle: do not hold a connection the server will time out anyway.
			conn.close()
			conn = nil
		}
		if n > 0 && err == nil && ctx.Err() == nil && m.sender.outage.wait() == 0 {
			continue // more may be due right away
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outboxPass claims one batch and sends it; it returns how many it claimed.
func (m *Mailer) outboxPass(ctx context.Context, mails OutboxMails, conn **smtpConn) (int, error) {
	var claims []db.OutboxClaim
	err := m.db.InLockingTx(ctx, func(tx *db.Tx) error {
		var err error
		claims, err = db.ClaimOutbox(ctx, tx, m.owner, m.opts.Lease, outboxBatch)
		return err
	})
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	return len(claims), m.sendClaims(ctx, mails, conn, claims)
}

// sendClaims sends claimed items one after another over *conn, renewing
// their leases as it goes. On cancellation or an SMTP server that cannot
// be reached or used, the items not yet sent are given back and the error
// returned.
func (m *Mailer) sendClaims(ctx context.Context, mails OutboxMails, conn **smtpConn, claims []db.OutboxClaim) error {
	bg := context.WithoutCancel(ctx)
	stopRenew := m.renewWhileRunning(ctx, func(ctx context.Context) {
		// READ COMMITTED on PostgreSQL, as for deliveries: it writes only
		// this sender's own rows, and a renewal lost to a serialization
		// failure would let the lease lapse under another drainer.
		if err := m.db.InLockingTx(ctx, func(tx *db.Tx) error { return db.RenewOutboxLeases(ctx, tx, m.owner, m.opts.Lease) }); err != nil {
			m.log.Error("outbox: renewing leases failed", "err", err)
		}
	})
	defer stopRenew()
	for i, c := range claims {
		if ctx.Err() != nil {
			for _, rest := range claims[i:] {
				m.outboxWrite(bg, func(tx *db.Tx) error { return db.ReleaseOutbox(bg, tx, rest.Item.ID, m.owner) })
			}
			return ctx.Err()
		}
		if err := m.sendOutboxItem(ctx, mails, conn, c); err != nil {
			for _, rest := range claims[i:] {
				m.outboxWrite(bg, func(tx *db.Tx) error { return db.ReleaseOutbox(bg, tx, rest.Item.ID, m.owner) })
			}
			return err
		}
	}
	return nil
}

// sendOutboxItem renders, sends and records one item. The error is only
// for a fatal SMTP configuration problem or a server that cannot be
// reached (no attempt is counted then); the item is then given back.
func (m *Mailer) sendOutboxItem(ctx context.Context, mails OutboxMails, conn **smtpConn, c db.OutboxClaim) error {
	it := c.Item
	bg := context.WithoutCancel(ctx)
	rm, err := mails.RenderOutbox(ctx, it)
	if errors.Is(err, db.ErrOutboxCancelled) {
		m.outboxWrite(bg, func(tx *db.Tx) error { return db.MarkOutboxFailed(bg, tx, it.ID, "cancelled: no longer needed", false) })
		return nil
	}
	if err != nil {
		m.log.Error("outbox: render failed", "item", it.ID, "kind", it.Kind, "err", err)
		m.outboxRetry(bg, c, "render failed: "+oneLine(err.Error()))
		return nil
	}
	msgID := outboxMessageID(m.ids, it.ID, m.from.domain)
	// A welcome or a proof is a list mail (one-click unsubscribe and
	// List-Id, with the link its footer has); a confirmation mail is not,
	// and its renderer gives no link.
	env := envelope{ToEmail: it.Recipient, Mail: rm, MessageID: msgID, UnsubscribeURL: rm.UnsubscribeURL, Date: m.db.Now()}
	var buf bytes.Buffer
	if err := m.composer.compose(env, &buf); err != nil {
		m.outboxWrite(bg, func(tx *db.Tx) error {
			return db.MarkOutboxFailed(bg, tx, it.ID, oneLine("not sent: "+err.Error()), false)
		})
		return nil
	}
	if *conn == nil {
		if *conn, err = m.sender.newConn(nil); err != nil {
			return err
		}
	}
	// No wait for the server: while it is down, the item is given back
	// and RunOutbox claims nothing until the next connection round.
	v, r, err := m.sender.send(ctx, *conn, time.Time{}, m.returnPath(mailRef{Kind: refOutbox, OutboxID: it.ID}), it.Recipient, buf.Bytes(), nil)
	if err != nil {
		return err
	}
	m.metrics.observe("outbox", v)
	switch v {
	case verdictSent:
		err := m.db.InTx(bg, func(tx *db.Tx) error {
			if err := db.MarkOutboxSent(bg, tx, it.ID, msgID, r); err != nil {
				return err
			}
			return mails.OutboxSent(bg, tx, it, msgID)
		})
		if err != nil {
			// The mail went out: record that much, so it is not sent twice.
			m.log.Error("outbox: recording the sent mail failed", "item", it.ID, "err", err)
			m.outboxWrite(bg, func(tx *db.Tx) error { return db.MarkOutboxSent(bg, tx, it.ID, msgID, r) })
		}
	case verdictRetry:
		m.log.Warn("outbox: temporary failure", "item", it.ID, "attempt", it.Attempts+1, "reply", r)
		m.outboxRetry(bg, c, r)
	default:
		m.log.Warn("outbox: mail refused", "item", it.ID, "reply", r)
		m.outboxWrite(bg, func(tx *db.Tx) error {
			if err := db.MarkOutboxFailed(bg, tx, it.ID, r, true); err != nil {
				return err
			}
			if v == verdictBounced && it.SubscriberID != 0 {
				return subscribers.MarkBounced(bg, tx, it.SubscriberID, r)
			}
			return nil
		})
	}
	return nil
}

// outboxRetry schedules the item again by the retry policy, counting from
// when it was queued, or fails it for good when the policy gives up.
func (m *Mailer) outboxRetry(ctx context.Context, c db.OutboxClaim, reply string) {
	m.outboxWrite(ctx, func(tx *db.Tx) error {
		next, giveUp := m.retry.next(tx.Now, c.CreatedAt, c.Item.Attempts+1)
		if giveUp {
			return db.MarkOutboxFailed(ctx, tx, c.Item.ID, gaveUpReply(c.Item.Attempts+1, reply), true)
		}
		return db.MarkOutboxRetry(ctx, tx, c.Item.ID, next, reply)
	})
}

func (m *Mailer) outboxWrite(ctx context.Context, fn func(tx *db.Tx) error) {
	if err := m.db.InTx(ctx, fn); err != nil {
		m.log.Error("outbox: recording failed", "err", err)
	}
}
