package db

import (
	"context"
	"errors"
	"fmt"
)

// OutboxKindConfirm is the outbox kind for double opt-in confirmation mails.
const OutboxKindConfirm = "confirm"

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
	res, err := tx.ExecContext(ctx, `INSERT INTO outbox (kind, subscriber_id, recipient, payload, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, it.Kind, it.SubscriberID, it.Recipient, it.Payload, tx.NowText(), tx.NowText())
	if err != nil {
		return 0, fmt.Errorf("queue %s mail: %w", it.Kind, err)
	}
	return res.LastInsertId()
}

// ErrOutboxCancelled is returned by a composer when the mail is no longer
// needed (say, the subscriber left before it went out); the item is closed
// without sending.
var ErrOutboxCancelled = errors.New("outbox item no longer needed")
