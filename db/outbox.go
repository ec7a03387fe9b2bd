package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The outbox kinds: who renders an item's mail depends on its kind.
const (
	// OutboxKindConfirm is a double opt-in confirmation mail (subscribers).
	OutboxKindConfirm = "confirm"
	// OutboxKindWelcome is the welcome mail after a confirmation (mailer).
	OutboxKindWelcome = "welcome"
	// OutboxKindProof is the author's proof copy of the next column (mailer).
	OutboxKindProof = "proof"
)

// OutboxItem is one mail waiting in the durable outbox.
type OutboxItem struct {
	ID           int64
	Kind         string
	SubscriberID int64
	Recipient    string
	Payload      string // JSON, kind-specific; never holds a secret token
	Attempts     int
}

// EnqueueOutbox queues a mail inside the caller's transaction, so the mail
// exists exactly when the change that needs it is committed.
func EnqueueOutbox(ctx context.Context, tx *Tx, it OutboxItem) (int64, error) {
	if it.Payload == "" {
		it.Payload = "{}"
	}
	// A mail for no subscriber (a proof to the author) has none: NULL, as
	// the foreign key wants.
	var sub any
	if it.SubscriberID != 0 {
		sub = it.SubscriberID
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO outbox (kind, subscriber_id, recipient, payload, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, it.Kind, sub, it.Recipient, it.Payload, tx.NowText(), tx.NowText()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("queue %s mail: %w", it.Kind, err)
	}
	return id, nil
}

// ErrOutboxCancelled is returned by a renderer when the mail is no longer
// needed (say, the subscriber left before it went out); the item is closed
// without sending.
var ErrOutboxCancelled = errors.New("outbox item no longer needed")

// OutboxClaim is an outbox item claimed by a sender, with what the sender
// needs to decide on retries.
type OutboxClaim struct {
	Item      OutboxItem
	CreatedAt time.Time
}

// ClaimOutbox leases up to limit due items to owner until tx.Now+lease. A
// claimed row's next_attempt_at moves to the lease end, so the item comes due
// again by itself if the owner dies before marking it. tx should be an
// InLockingTx: on PostgreSQL concurrent claimers skip each other's rows
// (SkipLocked); on SQLite the write lock lets one claim at a time.
func ClaimOutbox(ctx context.Context, tx *Tx, owner string, lease time.Duration, limit int) ([]OutboxClaim, error) {
	until := FormatTime(tx.Now.Add(lease))
	rows, err := tx.QueryContext(ctx, `UPDATE outbox SET lease_owner = ?, lease_until = ?, next_attempt_at = ?
		WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id LIMIT ?`+tx.SkipLocked("outbox")+`)
		RETURNING id, kind, COALESCE(subscriber_id, 0), recipient, payload, attempts, created_at`,
		owner, until, until, tx.NowText(), limit)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return scanOutboxClaims(rows)
}

// scanOutboxClaims reads (and closes) the rows a claim's RETURNING gives.
func scanOutboxClaims(rows *sql.Rows) ([]OutboxClaim, error) {
	defer rows.Close()
	var out []OutboxClaim
	for rows.Next() {
		var c OutboxClaim
		var created string
		if err := rows.Scan(&c.Item.ID, &c.Item.Kind, &c.Item.SubscriberID, &c.Item.Recipient, &c.Item.Payload,
			&c.Item.Attempts, &created); err != nil {
			return nil, fmt.Errorf("claim outbox: %w", err)
		}
		var err error
		if c.CreatedAt, err = ParseTime(created); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return out, nil
}

// RenewOutboxLeases extends the leases owner holds on unfinished items.
func RenewOutboxLeases(ctx context.Context, tx *Tx, owner string, lease time.Duration) error {
	until := FormatTime(tx.Now.Add(lease))
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET lease_until = ?, next_attempt_at = ?
		WHERE lease_owner = ? AND state = 'pending'`, until, until, owner)
	if err != nil {
		return fmt.Errorf("renew outbox leases: %w", err)
	}
	return nil
}

// MarkOutboxSent records that the SMTP server accepted the item's mail.
func MarkOutboxSent(ctx context.Context, tx *Tx, id int64, messageID, reply string) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?,
		message_id = ?, last_reply = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?`,
		tx.NowText(), messageID, reply, id)
	if err != nil {
		return fmt.Errorf("mark outbox item sent: %w", err)
	}
	return nil
}

// MarkOutboxRetry records a temporary failure; the item comes due again at next.
func MarkOutboxRetry(ctx context.Context, tx *Tx, id int64, next time.Time, reply string) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_reply = ?,
		lease_owner = NULL, lease_until = NULL WHERE id = ? AND state = 'pending'`, FormatTime(next), reply, id)
	if err != nil {
		return fmt.Errorf("mark outbox item for retry: %w", err)
	}
	return nil
}

// MarkOutboxFailed closes the item for good with the reason (an SMTP 5xx
// reply, retries exhausted, or a cancellation); attempted says whether SMTP
// was tried this time.
func MarkOutboxFailed(ctx context.Context, tx *Tx, id int64, reply string, attempted bool) error {
	inc := 0
	if attempted {
		inc = 1
	}
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'failed', attempts = attempts + ?, last_reply = ?,
		lease_owner = NULL, lease_until = NULL WHERE id = ? AND state = 'pending'`, inc, reply, id)
	if err != nil {
		return fmt.Errorf("mark outbox item failed: %w", err)
	}
	return nil
}

// ReleaseOutbox gives an unsent item owner claimed back at once (on
// shutdown). An item whose lease lapsed and that another drainer claimed
// since is left to that one.
func ReleaseOutbox(ctx context.Context, tx *Tx, id int64, owner string) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL
		WHERE id = ? AND state = 'pending' AND lease_owner = ?`, tx.NowText(), id, owner)
	if err != nil {
		return fmt.Errorf("release outbox item: %w", err)
	}
	return nil
}

// OutboxDepth counts the items still waiting to go out, per kind (every
// known kind appears, with 0 when none waits).
func (d *DB) OutboxDepth(ctx context.Context) (map[string]int, error) {
	out := map[string]int{OutboxKindConfirm: 0, OutboxKindWelcome: 0, OutboxKindProof: 0}
	rows, err := d.sql.QueryContext(ctx, `SELECT kind, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("count outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, fmt.Errorf("count outbox: %w", err)
		}
		out[kind] = n
	}
	return out, rows.Err()
}

// CancelOutbox closes every mail still waiting for the subscriber with the
// reason, in the caller's transaction: a change that makes them pointless
// (an unsubscribe) and their cancellation commit together.
func CancelOutbox(ctx context.Context, tx *Tx, subscriberID int64, reason string) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'failed', last_reply = ?
		WHERE subscriber_id = ? AND state = 'pending'`, reason, subscriberID)
	if err != nil {
		return fmt.Errorf("cancel outbox mails: %w", err)
	}
	return nil
}

// CountOutbox counts the mails of kind ever queued for recipient, whatever
// became of them (the tests' view of what the caps let through; the caps
// themselves count confirm requests, in subscribers).
func (d *DB) CountOutbox(ctx context.Context, recipient, kind string) (int, error) {
	var n int
	err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE recipient = ? AND kind = ?`, recipient, kind).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// OutboxMail is one mail queued for a subscriber, as its record stays in
// the outbox: what a GDPR access answer shows of the service mails.
type OutboxMail struct {
	Kind      string
	State     string // pending, sent or failed
	Attempts  int
	LastReply string
	MessageID string
	CreatedAt time.Time
	SentAt    time.Time // zero unless sent
}

// outboxMailColumns are what an OutboxMail is read from (scanOutboxMail).
const outboxMailColumns = `kind, state, attempts, last_reply, message_id, created_at, COALESCE(sent_at, '')`

// scanOutboxMail reads one row of outboxMailColumns.
func scanOutboxMail(row interface{ Scan(...any) error }) (OutboxMail, error) {
	var m OutboxMail
	var created, sent string
	if err := row.Scan(&m.Kind, &m.State, &m.Attempts, &m.LastReply, &m.MessageID, &created, &sent); err != nil {
		return OutboxMail{}, err
	}
	var err error
	if m.CreatedAt, err = ParseTime(created); err != nil {
		return OutboxMail{}, err
	}
	if m.SentAt, err = ParseTime(sent); err != nil {
		return OutboxMail{}, err
	}
	return m, nil
}

// SubscriberOutbox returns the subscriber's outbox rows, oldest first.
func SubscriberOutbox(ctx context.Context, d *DB, subscriberID int64) ([]OutboxMail, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+outboxMailColumns+` FROM outbox WHERE subscriber_id = ? ORDER BY id`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMail
	for rows.Next() {
		m, err := scanOutboxMail(rows)
		if err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}
