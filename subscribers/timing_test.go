package subscribers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// subscribePaths prepares one address per path Subscribe can take and
// returns a function that gives the address to submit for path p in round i.
// The clock stands still, so the limited address stays limited.
func subscribePaths(e *optInEnv, rounds int) (paths []string, addr func(p string, i int) string) {
	ctx := context.Background()
	if _, err := e.store.Add(ctx, subscribers.AddParams{Email: "active@example.org", Confirmed: true, ConsentNote: "paper form"}); err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i < subscribers.DefaultMaxConfirmsPerDay; i++ {
		e.subscribe("limited@example.org", "", "de", fmt.Sprintf("198.51.100.%d", i))
	}
	// Each pending address is submitted once more per round: one pending
	// address per round keeps it under the per-mailbox cap.
	for i := 0; i < rounds; i++ {
		e.subscribe(fmt.Sprintf("pending%d@example.org", i), "", "de", ipFor(i))
	}
	return []string{"new", "pending", "active", "limited"}, func(p string, i int) string {
		switch p {
		case "new":
			return fmt.Sprintf("new%d@example.org", i)
		case "pending":
			return fmt.Sprintf("pending%d@example.org", i)
		}
		return p + "@example.org"
	}
}

// ipFor gives each round its own client address, so the per-IP cap
// never decides a path here.
func ipFor(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

// BenchmarkSubscribePaths times Subscribe for a new, a pending, an active
// and a limited address, interleaved so that drift and noise from other
// processes hit every path alike, and reports each path's median. The
// figures are in docs/web.md ("Abuse protection"); a path that is
// measurably faster tells an outsider whether an address is on the list.
func BenchmarkSubscribePaths(b *testing.B) {
	e := newOptInEnv(b)
	paths, addr := subscribePaths(e, b.N)
	times := map[string][]time.Duration{}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range paths {
			p := paths[(i+k)%len(paths)] // rotate the order each round
			start := time.Now()
			_, err := e.optin.Subscribe(ctx, subscribers.SubscribeRequest{Email: addr(p, i), Lang: "de",
				Evidence: subscribers.Evidence{IP: ipFor(i), UserAgent: "bench/1.0", ConsentText: "Ja, bitte."}})
			times[p] = append(times[p], time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	for _, p := range paths {
		slices.Sort(times[p])
		b.ReportMetric(float64(times[p][len(times[p])/2].Microseconds()), p+"-median-µs")
	}
}

// TestSubscribePathsDoSameWork compares the work each path does instead of
// timing it: the rows written, counted by SQLite (total_changes() counts
// rows inserted, updated or deleted on the connection, also those a
// rollback undid). A path that writes less answers faster.
func TestSubscribePathsDoSameWork(t *testing.T) {
	testkit.SQLiteOnly(t, "counts the rows written with SQLite's total_changes(); the statements are the same on PostgreSQL")
	e := newOptInEnv(t)
	paths, addr := subscribePaths(e, 3)
	e.db.SQL().SetMaxOpenConns(1) // one connection: the transaction's counter is the one read
	changes := func() int { return e.count(`SELECT total_changes()`) }
	for i := 0; i < 3; i++ {
		work := map[string]int{}
		for _, p := range paths {
			before := changes()
			e.subscribe(addr(p, i), "", "de", ipFor(i))
			work[p] = changes() - before
		}
		for _, p := range paths {
			if work[p] != work["new"] {
				t.Fatalf("round %d: rows written per path %v: not the same work", i, work)
			}
		}
	}
	if n := testkit.OutboxCount(t, e.db, "active@example.org") + testkit.OutboxCount(t, e.db, "limited@example.org"); n != subscribers.DefaultMaxConfirmsPerDay {
		t.Errorf("active and limited addresses have %d confirmation mails, want only the %d before the cap", n, subscribers.DefaultMaxConfirmsPerDay)
	}
}
