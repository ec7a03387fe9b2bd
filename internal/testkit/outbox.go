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

// DrainOutbox runs an outbox worker until no mail waits in d's outbox,
// then stops it. run is the worker: mailer's RunOutbox with its mails and
// poll interval bound (testkit cannot import mailer, whose own tests use
// testkit).
func DrainOutbox(tb testing.TB, d *db.DB, run func(ctx context.Context)) {
	tb.Helper()
	RunUntil(tb, "the outbox to drain", run, func() bool {
		depth, err := d.OutboxDepth(context.Background())
		if err != nil {
			return false
		}
		for _, n := range depth {
			if n > 0 {
				return false
			}
		}
		return true
	})
}

// OutboxCount is how many confirmation mails were ever queued for
// recipient, whatever became of them.
func OutboxCount(tb testing.TB, d *db.DB, recipient string) int {
	tb.Helper()
	n, err := d.CountOutbox(context.Background(), recipient, db.OutboxKindConfirm)
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
