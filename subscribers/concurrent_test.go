package subscribers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// Sign-ups of one address arriving at once, at this instance or at another
// on the same database, behave as if they came one after another: every
// request succeeds, there is one subscriber, and confirmation mails are
// queued up to the daily cap, not beyond. On PostgreSQL the transactions
// run side by side and the loser of a conflict runs again.
func TestConcurrentSubscribesOfOneAddress(t *testing.T) {
	name := testkit.NewDBName(t)
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT"})
	if err != nil {
		t.Fatal(err)
	}
	const requests = 5 // two more than the daily cap of confirmation mails
	var optins []*subscribers.OptIn
	var d0 = testkit.OpenDBFile(t, name, nil)
	for i := 0; i < 2; i++ { // two instances, each its own pool
		d := d0
		if i == 1 {
			d = testkit.OpenDBFile(t, name, nil)
		}
		optins = append(optins, subscribers.NewOptIn(testkit.NewStore(t, d), pages, subscribers.OptInConfig{BaseURL: "http://news.test"}))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[subscribers.SubscribeOutcome]int{}
	start := make(chan struct{})
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, err := optins[i%2].Subscribe(context.Background(), subscribers.SubscribeRequest{Email: "Gleich@Example.org", Name: fmt.Sprint("Leser ", i)})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			mu.Lock()
			outcomes[out]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	var subs int
	if err := d0.SQL().QueryRow(`SELECT COUNT(*) FROM subscribers`).Scan(&subs); err != nil || subs != 1 {
		t.Fatalf("%d subscribers (%v), want 1", subs, err)
	}
	capped := subscribers.DefaultMaxConfirmsPerDay
	if outcomes[subscribers.OutcomeQueued] != capped || outcomes[subscribers.OutcomeLimited] != requests-capped {
		t.Errorf("outcomes %v, want %d queued and the rest limited", outcomes, capped)
	}
	if n := testkit.OutboxCount(t, d0, "Gleich@example.org"); n != capped {
		t.Fatalf("%d confirmation mails queued, want %d", n, capped)
	}
}
