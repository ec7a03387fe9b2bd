package mailer

import (
	"context"
	"fmt"

	"newsletter/db"
	"newsletter/templates"
)

// OutboxByKind sends each outbox item to the composer of its kind: serve
// drains confirmation mails (subscribers.OptIn) and proofs (Proofs)
// through one worker.
type OutboxByKind map[string]OutboxMails

var _ OutboxMails = OutboxByKind(nil)

// ComposeOutbox asks the composer of its kind; a kind without one is an
// error (logged and retried, in case a newer process knows it).
func (o OutboxByKind) ComposeOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
	c, ok := o[it.Kind]
	if !ok {
		return templates.RenderedMail{}, fmt.Errorf("outbox item %d: no composer for kind %q", it.ID, it.Kind)
	}
	return c.ComposeOutbox(ctx, it)
}

// OutboxSent tells the composer of its kind.
func (o OutboxByKind) OutboxSent(ctx context.Context, tx *db.Tx, it db.OutboxItem, messageID string) error {
	if c, ok := o[it.Kind]; ok {
		return c.OutboxSent(ctx, tx, it, messageID)
	}
	return nil
}
