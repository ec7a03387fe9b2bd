package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// Senders draining the outbox at once, here or in other processes, take
// each item once: on SQLite one claim runs at a time, on PostgreSQL the
// claims run side by side and skip each other's rows (FOR UPDATE SKIP
// LOCKED).
func TestConcurrentOutboxClaimsTakeEachItemOnce(t *testing.T) {
	ctx := context.Background()
	name := testkit.NewDBName(t)
	d := testkit.OpenDBFile(t, name, nil)
	const items = 120
	ids := testkit.AddSubscribers(t, testkit.NewStore(t, d), "r", items, subscribers.StatusPending)
	err := d.InTx(ctx, func(tx *db.Tx) error {
		for i, id := range ids {
			it := db.OutboxItem{Kind: db.OutboxKindConfirm, SubscriberID: id, Recipient: fmt.Sprintf("r%d@example.net", i)}
			if _, err := db.EnqueueOutbox(ctx, tx, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two handles, as two processes would have: each its own pool.
	other := testkit.OpenDBFile(t, name, nil)
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	start := make(chan struct{}) // all at once: the claims must collide
	for w := 0; w < 6; w++ {
		h := d
		if w%2 == 1 {
			h = other
		}
		owner := fmt.Sprintf("sender-%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				var claims []db.OutboxClaim
				err := h.InLockingTx(ctx, func(tx *db.Tx) error {
					var err error
					claims, err = db.ClaimOutbox(ctx, tx, owner, time.Minute, 7)
					return err
				})
				if err != nil {
					t.Errorf("%s: %v", owner, err)
					return
				}
				if len(claims) == 0 {
					return
				}
				mu.Lock()
				for _, c := range claims {
					if prev, dup := seen[c.Item.ID]; dup {
						t.Errorf("item %d claimed by %s and %s", c.Item.ID, prev, owner)
					}
					seen[c.Item.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(seen) != items {
		t.Fatalf("claimed %d items, want %d", len(seen), items)
	}
}

// A drainer whose lease lapsed gives back only what it still holds: the
// item another drainer claimed since stays with that one.
func TestReleaseOutboxOnlyOwnClaim(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	d := testkit.OpenDB(t, clock)
	id := testkit.AddSubscribers(t, testkit.NewStore(t, d), "r", 1, subscribers.StatusPending)[0]
	claim := func(owner string) []db.OutboxClaim {
		t.Helper()
		var claims []db.OutboxClaim
		if err := d.InLockingTx(ctx, func(tx *db.Tx) error {
			var err error
			claims, err = db.ClaimOutbox(ctx, tx, owner, time.Minute, 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return claims
	}
	if err := d.InTx(ctx, func(tx *db.Tx) error {
		_, err := db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindConfirm, SubscriberID: id, Recipient: "r0@example.net"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	first := claim("a")
	if len(first) != 1 {
		t.Fatalf("a claimed %d items", len(first))
	}
	clock.Add(2 * time.Minute) // a's lease lapses
	if got := claim("b"); len(got) != 1 {
		t.Fatalf("b claimed %d items after the lapse", len(got))
	}
	if err := d.InTx(ctx, func(tx *db.Tx) error { return db.ReleaseOutbox(ctx, tx, first[0].Item.ID, "a") }); err != nil {
		t.Fatal(err)
	}
	if got := claim("c"); len(got) != 0 {
		t.Errorf("c claimed %d items while b holds the lease", len(got))
	}
	if err := d.InTx(ctx, func(tx *db.Tx) error { return db.ReleaseOutbox(ctx, tx, first[0].Item.ID, "b") }); err != nil {
		t.Fatal(err)
	}
	if got := claim("c"); len(got) != 1 {
		t.Errorf("c claimed %d items after b gave it back", len(got))
	}
}

// The scheduled job runs on one instance at a time: on PostgreSQL the
// second taker of the lock is told no until the first lets go; on SQLite
// (one machine, one file) it is always granted, as before.
func TestJobLock(t *testing.T) {
	ctx := context.Background()
	name := testkit.NewDBName(t)
	a := testkit.OpenDBFile(t, name, nil)
	b := testkit.OpenDBFile(t, name, nil)
	la, ok, err := a.TryJobLock(ctx, "scheduled job")
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	lb, ok, err := b.TryJobLock(ctx, "scheduled job")
	if err != nil {
		t.Fatal(err)
	}
	wantSecond := a.Engine() == db.SQLite
	if ok != wantSecond {
		t.Fatalf("second instance got the lock: %v, want %v on %v", ok, wantSecond, a.Engine())
	}
	if ok {
		lb.Unlock(ctx)
	}
	// Another name is another lock.
	lo, ok, err := b.TryJobLock(ctx, "another job")
	if err != nil || !ok {
		t.Fatalf("other lock: %v %v", ok, err)
	}
	lo.Unlock(ctx)
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	lb, ok, err = b.TryJobLock(ctx, "scheduled job")
	if err != nil || !ok {
		t.Fatalf("lock after release: %v %v", ok, err)
	}
	lb.Unlock(ctx)
}

// A process that dies holding the lock does not keep it: the server ends
// its session, and the lock with it. Terminating the holder's session
// stands in for the death.
func TestJobLockGoesWithTheProcess(t *testing.T) {
	if testkit.TestEngine() != db.Postgres {
		t.Skip("PostgreSQL only: on SQLite the job lock is always granted")
	}
	ctx := context.Background()
	name := testkit.NewDBName(t)
	a := testkit.OpenDBFile(t, name, nil)
	b := testkit.OpenDBFile(t, name, nil)
	if _, ok, err := a.TryJobLock(ctx, "scheduled job"); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if _, err := b.SQL().ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the dead holder's lock to be free", func() bool {
		l, ok, err := b.TryJobLock(ctx, "scheduled job")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			l.Unlock(ctx)
		}
		return ok
	})
}
