package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"newsletter/db"
)

// errPeek rolls back the claim DueOutbox makes only to look.
var errPeek = errors.New("peek only")

// DueOutbox returns the outbox items a drain would claim now, oldest
// first, and leaves them unclaimed: it claims them with db.ClaimOutbox
// inside a transaction it then rolls back.
func DueOutbox(tb testing.TB, d *db.DB) []db.OutboxItem {
	tb.Helper()
	ctx := context.Background()
	var items []db.OutboxItem
	err := d.InTx(ctx, func(tx *db.Tx) error {
		items = items[:0] // InTx may run this again on PostgreSQL
		claims, err := db.ClaimOutbox(ctx, tx, "testkit-peek", time.Minute, 1<<20)
		if err != nil {
			return err
		}
		for _, c := range claims {
			items = append(items, c.Item)
		}
		return errPeek
	})
	if !errors.Is(err, errPeek) {
		tb.Fatalf("peek at the outbox: %v", err)
	}
	return items
}

// OutboxCount is how many confirmation mails were ever queued for
// recipient, whatever became of them.
func OutboxCount(tb testing.TB, d *db.DB, recipient string) int {
	tb.Helper()
	ctx := context.Background()
	var n int
	err := d.InTx(ctx, func(tx *db.Tx) error {
		var err error
		n, err = db.CountOutboxSince(ctx, tx, recipient, db.OutboxKindConfirm, time.Time{})
		return err
	})
	if err != nil {
		tb.Fatalf("count outbox: %v", err)
	}
	return n
}

// OutboxStates counts the subscriber's outbox mails of kind, queued ever,
// by state (pending, sent, failed).
func OutboxStates(tb testing.TB, d *db.DB, subscriberID int64, kind string) map[string]int {
	tb.Helper()
	mails, err := db.SubscriberOutbox(context.Background(), d, subscriberID)
	if err != nil {
		tb.Fatalf("read outbox: %v", err)
	}
	out := map[string]int{}
	for _, m := range mails {
		if m.Kind == kind {
			out[m.State]++
		}
	}
	return out
}
