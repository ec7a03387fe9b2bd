package subscribers_test

import (
	"context"
	"net/url"
	"regexp"
	"testing"

	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

var confirmTokenRE = regexp.MustCompile(`/confirm\?token=([A-Za-z0-9_%-]+)`)

// confirmToken composes the pending confirmation mail of email, as the
// outbox worker would, and returns the token its link carries.
func confirmToken(t *testing.T, d *db.DB, o *subscribers.OptIn, email string) string {
	t.Helper()
	ctx := context.Background()
	var it db.OutboxItem
	err := d.SQL().QueryRow(`SELECT id, kind, subscriber_id, recipient FROM outbox
		WHERE recipient = ? AND kind = 'confirm' AND state = 'pending' ORDER BY id DESC LIMIT 1`, email).
		Scan(&it.ID, &it.Kind, &it.SubscriberID, &it.Recipient)
	if err != nil {
		t.Fatalf("no pending confirmation mail for %s: %v", email, err)
	}
	m, err := o.ComposeOutbox(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL().Exec(`UPDATE outbox SET state = 'sent' WHERE id = ?`, it.ID); err != nil {
		t.Fatal(err)
	}
	sm := confirmTokenRE.FindStringSubmatch(m.Text)
	if sm == nil {
		t.Fatalf("no confirm link in:\n%s", m.Text)
	}
	tok, err := url.QueryUnescape(sm[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// welcomes counts the welcome mails queued for email, by state.
func welcomes(t *testing.T, d *db.DB, email string) map[string]int {
	t.Helper()
	rows, err := d.SQL().Query(`SELECT state, COUNT(*) FROM outbox WHERE recipient = ? AND kind = ? GROUP BY state`, email, db.OutboxKindWelcome)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
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
			st, d := newStoreDB(t)
			o := subscribers.NewOptIn(st, pages, subscribers.OptInConfig{BaseURL: "https://news.example", Welcome: tc.welcome})
			const email = "lea@example.org"
			if _, err := o.Subscribe(ctx, subscribers.SubscribeRequest{Email: email, Lang: "en"}); err != nil {
				t.Fatal(err)
			}
			if n := welcomes(t, d, email); len(n) != 0 {
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
			if got := welcomes(t, d, email); !equalCounts(got, wantFirst) {
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
			if got := welcomes(t, d, email); !equalCounts(got, tc.want) {
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
