package subscribers_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

// manualClock is a clock the test moves; nothing sleeps.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// optInEnv is double opt-in on a real SQLite file with a manual clock.
type optInEnv struct {
	t     testing.TB
	clock *manualClock
	db    *db.DB
	store *subscribers.Store
	pages *templates.Pages
	optin *subscribers.OptIn
}

func newOptInEnv(t testing.TB) *optInEnv {
	t.Helper()
	clock := &manualClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	st, d := newStoreDB(t, db.WithClock(clock.Now))
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT", Imprint: "Impressum"})
	if err != nil {
		t.Fatal(err)
	}
	optin := subscribers.NewOptIn(st, pages, subscribers.OptInConfig{BaseURL: "http://news.test"})
	return &optInEnv{t: t, clock: clock, db: d, store: st, pages: pages, optin: optin}
}

// subscribe submits the form for email from ip and returns the outcome.
func (e *optInEnv) subscribe(email, name, lang, ip string) subscribers.SubscribeOutcome {
	e.t.Helper()
	out, err := e.optin.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Email: email, Name: name, Lang: lang,
		Evidence: subscribers.Evidence{IP: ip, UserAgent: "test-agent/1.0", ConsentText: "Ja, bitte."},
	})
	if err != nil {
		e.t.Fatalf("subscribe %s: %v", email, err)
	}
	return out
}

func (e *optInEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.SQL().QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// pendingOutbox returns the pending outbox rows, oldest first.
func (e *optInEnv) pendingOutbox() []db.OutboxItem {
	e.t.Helper()
	rows, err := e.db.SQL().Query(`SELECT id, kind, subscriber_id, recipient, payload, attempts FROM outbox WHERE state = 'pending' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []db.OutboxItem
	for rows.Next() {
		var it db.OutboxItem
		if err := rows.Scan(&it.ID, &it.Kind, &it.SubscriberID, &it.Recipient, &it.Payload, &it.Attempts); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}
