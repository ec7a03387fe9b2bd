package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// OutboxRef is what the bounce intake needs of an outbox mail: what it was
// and whom it went to.
type OutboxRef struct {
	ID           int64
	Kind         string
	SubscriberID int64 // 0 when the subscriber is gone
}

// ErrNoOutboxMail is an outbox mail that is not (or no longer) there.
var ErrNoOutboxMail = errors.New("no such outbox mail")

// FindOutbox returns the outbox mail with that id.
func FindOutbox(ctx context.Context, d *DB, id int64) (OutboxRef, error) {
	return findOutbox(ctx, d, `SELECT id, kind, COALESCE(subscriber_id, 0) FROM outbox WHERE id = ?`, id)
}

// FindOutboxByMessageID returns the outbox mail that was sent with that
// Message-ID (without angle brackets).
func FindOutboxByMessageID(ctx context.Context, d *DB, messageID string) (OutboxRef, error) {
	if messageID == "" {
		return OutboxRef{}, ErrNoOutboxMail
	}
	// `message_id <> ''` lets SQLite use the partial index outbox_message_id.
	return findOutbox(ctx, d, `SELECT id, kind, COALESCE(subscriber_id, 0) FROM outbox
		WHERE message_id = ? AND message_id <> '' ORDER BY id LIMIT 1`, messageID)
}

func findOutbox(ctx context.Context, d *DB, q string, arg any) (OutboxRef, error) {
	var r OutboxRef
	err := d.sql.QueryRowContext(ctx, q, arg).Scan(&r.ID, &r.Kind, &r.SubscriberID)
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxRef{}, ErrNoOutboxMail
	}
	if err != nil {
		return OutboxRef{}, fmt.Errorf("find outbox mail: %w", err)
	}
	return r, nil
}
