package mailer

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
)

// delivery is one claimed row of the delivery log with its recipient.
type delivery struct {
	ID           int64
	CampaignID   int64
	SubscriberID int64
	Email        string
	Name         string
	Attempts     int       // before this one
	FirstAttempt time.Time // zero before the first attempt
}

// claim leases up to limit due deliveries of a campaign to owner.
// Recipients who are no longer mailable (unsubscribed, bounced, erased
// since the snapshot) are marked skipped in the same transaction instead of
// being handed out, with the reason subscriber_mailability gives.
//
// Claiming is a read and an UPDATE inside one transaction, so two senders
// can never claim the same row: on SQLite the write lock is taken at BEGIN
// (db's _txlock=immediate); on PostgreSQL the read locks the rows it takes
// and passes over those another sender is taking (FOR UPDATE SKIP LOCKED,
// READ COMMITTED), so several senders claim side by side. A claimed row's
// next_attempt_at moves to the lease end; if the owner dies, the row simply
// comes due again.
func (cs *CampaignStore) claim(ctx context.Context, campaignID int64, owner string, lease time.Duration, limit int) ([]delivery, int, error) {
	var out []delivery
	skipped := 0
	err := cs.db.InLockingTx(ctx, func(tx *db.Tx) error {
		out, skipped = out[:0], 0
		// A held campaign hands out nothing: in the claim's own
		// transaction, so no claim made after a hold commits slips by.
		if held, err := heldTx(ctx, tx, campaignID); err != nil || held {
			return cmp.Or(err, errCampaignHeld)
		}
		rows, err := tx.QueryContext(ctx, `SELECT d.id, COALESCE(d.subscriber_id, 0), d.attempts, COALESCE(d.first_attempt_at, ''),
				s.id IS NOT NULL, COALESCE(s.email, ''), COALESCE(s.name, ''), COALESCE(s.mailable, FALSE), COALESCE(s.reason, '')
			FROM deliveries d LEFT JOIN subscriber_mailability s ON s.id = d.subscriber_id
			WHERE d.campaign_id = ? AND d.state = 'pending' AND d.next_attempt_at <= ?
			ORDER BY d.next_attempt_at, d.id LIMIT ?`+tx.SkipLocked("d"), campaignID, tx.NowText(), limit)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		type gone struct {
			id     int64
			reason string
		}
		var left []gone
		for rows.Next() {
			var dl delivery
			var found, mailable bool
			var first, reason string
			if err := rows.Scan(&dl.ID, &dl.SubscriberID, &dl.Attempts, &first, &found, &dl.Email, &dl.Name, &mailable, &reason); err != nil {
				rows.Close()
				return fmt.Errorf("claim deliveries: %w", err)
			}
			if !found {
				// Forget deleted the subscriber (migration 0002's trigger
				// normally skips such rows at once, in the same words).
				left = append(left, gone{dl.ID, "subscriber erased"})
				continue
			}
			if !mailable {
				left = append(left, gone{dl.ID, "subscriber " + reason})
				continue
			}
			if dl.FirstAttempt, err = db.ParseTime(first); err != nil {
				rows.Close()
				return err
			}
			dl.CampaignID = campaignID
			out = append(out, dl)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("claim deliveries: %w", err)
		}
		rows.Close()
		until := db.FormatTime(tx.Now.Add(lease))
		if len(out) > 0 {
			args := make([]any, 0, len(out)+3)
			args = append(args, owner, until, until)
			for _, dl := range out {
				args = append(args, dl.ID)
			}
			q := `UPDATE deliveries SET lease_owner = ?, lease_until = ?, next_attempt_at = ? WHERE id IN (?` +
				strings.Repeat(",?", len(out)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
		}
		for _, g := range left {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'skipped', last_reply = ?,
				lease_owner = NULL, lease_until = NULL WHERE id = ?`, g.reason, g.id); err != nil {
				return fmt.Errorf("skip delivery: %w", err)
			}
		}
		skipped = len(left)
		return nil
	})
	return out, skipped, err
}

// renewLeases pushes out the lease of every unfinished delivery of the
// campaign that owner holds, so a live sender keeps what it claimed however
// long its queue is. A held campaign's leases are not renewed:
// errCampaignHeld tells the run to give its claims back.
//
// It runs READ COMMITTED on PostgreSQL (InLockingTx): it writes only rows
// this owner holds, and under SERIALIZABLE it lost to the other senders'
// claims and marks again and again until the leases lapsed and their rows
// went out twice (BenchmarkSendProcesses in cmd/newsletter showed 1-2 %).
func (cs *CampaignStore) renewLeases(ctx context.Context, campaignID int64, owner string, lease time.Duration) error {
	return cs.db.InLockingTx(ctx, func(tx *db.Tx) error {
		if held, err := heldTx(ctx, tx, campaignID); err != nil || held {
			return cmp.Or(err, errCampaignHeld)
		}
		until := db.FormatTime(tx.Now.Add(lease))
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_until = ?, next_attempt_at = ?
			WHERE campaign_id = ? AND state = 'pending' AND lease_owner = ?`, until, until, campaignID, owner); err != nil {
			return fmt.Errorf("renew leases: %w", err)
		}
		return nil
	})
}

// markSentSQL records one accepted message: ?1 now, ?2 the server's reply,
// ?3 the Message-ID, ?4 the delivery. A row already sent stays as it is.
const markSentSQL = `UPDATE deliveries SET state = 'sent', attempts = attempts + 1,
	first_attempt_at = COALESCE(first_attempt_at, ?1), sent_at = ?1, last_reply = ?2, message_id = ?3,
	lease_owner = NULL, lease_until = NULL
	WHERE id = ?4 AND state <> 'sent'`

// prepareMarkSent prepares markSentSQL once, for a marker to bind to each
// of its transactions (see writeOutcomes).
func (cs *CampaignStore) prepareMarkSent(ctx context.Context) (*sql.Stmt, error) {
	return cs.db.SQL().PrepareContext(ctx, markSentSQL)
}

// record writes a batch of outcomes in one transaction (see writeOutcomes)
// and returns them as recorded.
func (cs *CampaignStore) record(ctx context.Context, sent *sql.Stmt, owner string, retry retryPolicy, batch []outcome) ([]outcome, error) {
	var recorded []outcome
	err := cs.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		recorded, err = writeOutcomes(ctx, tx, sent, owner, retry, batch)
		return err
	})
	return recorded, err
}

// outcome is the result of one attempt, waiting to be written.
type outcome struct {
	d         delivery
	verdict   verdict
	release   bool // not attempted (shutdown): give the row back at once
	reply     string
	messageID string
	done      chan struct{} // closed by the marker once recorded
}

// writeOutcomes records a batch of attempts in one transaction. A retry
// that retry gives up on (see retryPolicy.next) becomes a final failure. It returns the outcomes as recorded (retries
// that gave up turned into failures).
//
// The sent rows, nearly all of a batch, are written one by one with
// markSentSQL, a fixed-shape statement: with sent (prepared once per
// marker) it is bound to the transaction's connection with tx.StmtContext,
// which database/sql prepares only once per pooled connection, so a commit
// costs no SQL compilation for them at all. sent may be nil; the statement
// is then prepared per row.
func writeOutcomes(ctx context.Context, tx *db.Tx, sent *sql.Stmt, owner string, retry retryPolicy, batch []outcome) ([]outcome, error) {
	now := tx.NowText()
	out := make([]outcome, 0, len(batch))
	var txSent *sql.Stmt
	for _, o := range batch {
		if o.release {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL
				WHERE id = ? AND state = 'pending' AND lease_owner = ?`, now, o.d.ID, owner); err != nil {
				return nil, fmt.Errorf("release delivery: %w", err)
			}
			out = append(out, o)
			continue
		}
		if o.verdict == verdictRetry {
			next, giveUp := retry.next(tx.Now, o.d.FirstAttempt, o.d.Attempts+1)
			if !giveUp {
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts + 1,
					first_attempt_at = COALESCE(first_attempt_at, ?), next_attempt_at = ?, last_reply = ?, message_id = ?,
					lease_owner = NULL, lease_until = NULL WHERE id = ? AND state = 'pending'`,
					now, db.FormatTime(next), o.reply, o.messageID, o.d.ID); err != nil {
					return nil, fmt.Errorf("mark delivery for retry: %w", err)
				}
				out = append(out, o)
				continue
			}
			o.verdict = verdictFailed
			o.reply = gaveUpReply(o.d.Attempts+1, o.reply)
		}
		switch o.verdict {
		case verdictSent:
			var err error
			if sent == nil {
				_, err = tx.ExecContext(ctx, markSentSQL, now, o.reply, o.messageID, o.d.ID)
			} else {
				if txSent == nil {
					txSent = tx.StmtContext(ctx, sent)
				}
				_, err = txSent.ExecContext(ctx, now, o.reply, o.messageID, o.d.ID)
			}
			if err != nil {
				return nil, fmt.Errorf("mark delivery sent: %w", err)
			}
		case verdictFailed, verdictBounced:
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'failed', attempts = attempts + 1,
				first_attempt_at = COALESCE(first_attempt_at, ?), last_reply = ?, message_id = ?,
				lease_owner = NULL, lease_until = NULL WHERE id = ? AND state = 'pending'`,
				now, o.reply, o.messageID, o.d.ID); err != nil {
				return nil, fmt.Errorf("mark delivery failed: %w", err)
			}
			if o.verdict == verdictBounced && o.d.SubscriberID != 0 {
				if err := subscribers.MarkBounced(ctx, tx, o.d.SubscriberID, o.reply); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, o)
	}
	return out, nil
}
