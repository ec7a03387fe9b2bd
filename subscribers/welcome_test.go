package subscribers_test

import (
	"context"
	"net/url"
	"testing"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// confirmToken renders the newest confirmation mail queued for email, as
// the outbox worker would, and returns the token its link carries.
func confirmToken(t *testing.T, d *db.DB, o *subscribers.OptIn, email string) string {
	t.Helper()
	var it *db.OutboxItem
	for _, x := range testkit.DueOutbox(t, d) {
		if x.Kind == db.OutboxKindConfirm && x.Recipient == email {
			it = &x
		}
	}
	if it == nil {
		t.Fatalf("no confirmation mail queued for %s", email)
	}
	m, err := o.RenderOutbox(context.Background(), *it)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testkit.ConfirmLink(t, m.Text))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// welcomes counts the welcome mails queued for email, by state.
func welcomes(t *testing.T, st *subscribers.Store, d *db.DB, email string) map[string]int {
	t.Helper()
	sub, err := st.FindByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.OutboxStates(t, d, sub.ID, db.OutboxKindWelcome)
}

func TestConfirmQueuesOneWelcomePerSubscription(t *testing.T) {
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		welcome bool
		want    map[string]int // welcome rows by state at the end
	}{
		// The first welcome was cancelled by the unsubscribe while still
		// waiting; the new subscription has its own.
		{"on", true, map[string]int{"failed": 1, "pending": 1}},
		{"off", false, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testkit.OpenDB(t, nil)
			st := testkit.NewStore(t, d)
			o := subscribers.NewOptIn(st, pages, subscribers.OptInConfig{BaseURL: "https://news.example", Welcome: tc.welcome})
			const email = "lea@example.org"
			if _, err := o.Subscribe(ctx, subscribers.SubscribeRequest{Email: email, Lang: "en"}); err != nil {
				t.Fatal(err)
			}
			if n := welcomes(t, st, d, email); len(n) != 0 {
				t.Fatalf("welcome queued before confirming: %v", n)
			}
			tok := confirmToken(t, d, o, email)
			// Confirming twice (a replayed POST) queues one welcome.
			for range 2 {
				if _, err := o.Confirm(ctx, tok, subscribers.Evidence{IP: "192.0.2.1"}); err != nil {
					t.Fatal(err)
				}
			}
			wantFirst := map[string]int{}
			if tc.welcome {
				wantFirst["pending"] = 1
			}
			if got := welcomes(t, st, d, email); !equalCounts(got, wantFirst) {
				t.Fatalf("after confirm and replay: %v, want %v", got, wantFirst)
			}

			// Leaving and coming back is a new subscription.
			sub, err := st.FindByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.UnsubscribeByToken(ctx, st.UnsubscribeToken(sub.ID), subscribers.Evidence{}); err != nil {
				t.Fatal(err)
			}
			if _, err := o.Subscribe(ctx, subscribers.SubscribeRequest{Email: email, Lang: "en"}); err != nil {
				t.Fatal(err)
			}
			if _, err := o.Confirm(ctx, confirmToken(t, d, o, email), subscribers.Evidence{}); err != nil {
				t.Fatal(err)
			}
			if got := welcomes(t, st, d, email); !equalCounts(got, tc.want) {
				t.Fatalf("after the second subscription: %v, want %v", got, tc.want)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
