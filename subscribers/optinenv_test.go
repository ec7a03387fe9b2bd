package subscribers_test

import (
	"context"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// optInEnv is double opt-in on a real SQLite file with a clock the test
// moves.
type optInEnv struct {
	t     testing.TB
	clock *testkit.Clock
	db    *db.DB
	store *subscribers.Store
	pages *templates.Pages
	optin *subscribers.OptIn
}

func newOptInEnv(t testing.TB) *optInEnv {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	d := testkit.OpenDB(t, clock)
	st := testkit.NewStore(t, d)
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
