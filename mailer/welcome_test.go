package mailer

import (
	"context"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

func (e *testEnv) enqueue(kind string, id int64) int64 {
	e.t.Helper()
	sub, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var oid int64
	err = e.db.InTx(context.Background(), func(tx *db.Tx) error {
		var err error
		oid, err = db.EnqueueOutbox(context.Background(), tx, db.OutboxItem{Kind: kind, SubscriberID: id, Recipient: sub.Email})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return oid
}

func TestWelcomeMail(t *testing.T) {
	welcome, err := templates.LoadWelcome(templates.WelcomeOptions{ListName: "Kniepunkt", BaseURL: "https://news.example.org", Imprint: "Impressum"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mode     WelcomeMode
		sent     []int  // columns with a campaign
		lang     string // the subscriber's
		status   subscribers.Status
		subject  string // "" when no mail goes out
		contains []string
		lacks    []string
	}{
		{name: "latest", mode: WelcomeLatest, sent: []int{30, 31}, lang: "de", status: subscribers.StatusActive,
			subject:  "Willkommen bei Kniepunkt – zum Einstieg: Heiße KI-Luft",
			contains: []string{"Hallo Leserin w0,", "KNIEPUNKT 031: Heiße KI-Luft", "https://news.example.org/archive"},
			lacks:    []string{"KNIEPUNKT 030"}},
		{name: "latest in English", mode: WelcomeLatest, sent: []int{30}, lang: "en", status: subscribers.StatusActive,
			subject:  "Welcome to Kniepunkt – to start with: Heiße KI-Luft",
			contains: []string{"Hello Leserin w0,", "KNIEPUNKT 030: Heiße KI-Luft"}},
		{name: "latest with nothing sent is the note", mode: WelcomeLatest, lang: "de", status: subscribers.StatusActive,
			subject:  "Willkommen bei Kniepunkt",
			contains: []string{"Alle bisherigen Kolumnen finden Sie im", "https://news.example.org/archive", "Impressum"},
			lacks:    []string{"KNIEPUNKT 0"}},
		{name: "note", mode: WelcomeNote, sent: []int{30}, lang: "en", status: subscribers.StatusActive,
			subject:  "Welcome to Kniepunkt",
			contains: []string{"Every column so far is in the", "https://news.example.org/archive"},
			lacks:    []string{"KNIEPUNKT 030"}},
		{name: "off", mode: WelcomeOff, sent: []int{30}, lang: "de", status: subscribers.StatusActive},
		{name: "left before it went out", mode: WelcomeLatest, sent: []int{30}, lang: "de", status: subscribers.StatusUnsubscribed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			// Someone to send the columns to: no campaign starts without.
			e.addSubscribers("a", 1, subscribers.StatusActive)
			for _, n := range tc.sent {
				e.start(n)
			}
			ctx := context.Background()
			w0, err := e.store.Add(ctx, subscribers.AddParams{Email: "w0@example.net", Name: "Leserin w0", Lang: tc.lang, Confirmed: true, ConsentNote: "test"})
			if err != nil {
				t.Fatal(err)
			}
			id := w0.ID
			if tc.status == subscribers.StatusUnsubscribed {
				if _, err := e.store.Unsubscribe(ctx, id, subscribers.Evidence{}); err != nil {
					t.Fatal(err)
				}
			}
			pending := e.addSubscribers("p", 1, subscribers.StatusPending)[0]
			wid := e.enqueue(db.OutboxKindWelcome, id)
			e.enqueue(db.OutboxKindConfirm, pending)

			m := e.mailer()
			w, err := m.NewWelcome(tc.mode, NewArchive(e.campaigns(), time.UTC, nil), welcome)
			if err != nil {
				t.Fatal(err)
			}
			confirm := &fakeOutboxMails{sent: map[int64]string{}}
			mails := OutboxByKind{db.OutboxKindConfirm: confirm, db.OutboxKindWelcome: w}
			testkit.DrainOutbox(t, e.db, func(ctx context.Context) { m.RunOutbox(ctx, mails, 10*time.Millisecond) })

			got := e.srv.ByRecipient()
			// The confirmation mail goes through the same worker, and
			// stays without list headers.
			if c := got["p0@example.net"]; len(c) != 1 || testkit.ParseMail(t, c[0].Data).Header.Get("List-Unsubscribe") != "" {
				t.Errorf("confirmation mail: %d received, or with List-Unsubscribe", len(c))
			}
			var state string
			if err := e.db.SQL().QueryRow(`SELECT state FROM outbox WHERE id = ?`, wid).Scan(&state); err != nil {
				t.Fatal(err)
			}
			if tc.subject == "" {
				if n := len(got["w0@example.net"]); n != 0 || state != "failed" {
					t.Fatalf("want no welcome and the item closed: %d received, item %s", n, state)
				}
				return
			}
			if n := len(got["w0@example.net"]); n != 1 || state != "sent" {
				t.Fatalf("want one welcome: %d received, item %s", n, state)
			}
			rm := testkit.ReadMail(t, got["w0@example.net"][0].Data)
			if rm.Subject != tc.subject {
				t.Errorf("subject %q, want %q", rm.Subject, tc.subject)
			}
			unsub := "https://news.example.org/unsubscribe?token=" + e.store.UnsubscribeToken(id)
			wantHeaders := map[string]string{
				"List-Unsubscribe":      "<" + unsub + ">",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"List-Id":               "Kniepunkt <kniepunkt.news.example.org>",
			}
			for k, v := range wantHeaders {
				if rm.Header.Get(k) != v {
					t.Errorf("%s: %q, want %q", k, rm.Header.Get(k), v)
				}
			}
			if !strings.HasPrefix(rm.Header.Get("Message-Id"), "<o") {
				t.Errorf("Message-ID %q: want the outbox item's", rm.Header.Get("Message-Id"))
			}
			for _, part := range []string{rm.Text, rm.HTML} {
				for _, want := range append(tc.contains, unsub) {
					if !strings.Contains(part, want) {
						t.Errorf("a part lacks %q:\n%s", want, part)
					}
				}
				for _, bad := range tc.lacks {
					if strings.Contains(part, bad) {
						t.Errorf("a part has %q:\n%s", bad, part)
					}
				}
			}
		})
	}
}

func TestNewWelcomeRefusesUnknownMode(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.mailer().NewWelcome("sometimes", nil, nil); err == nil || !strings.Contains(err.Error(), "latest") {
		t.Errorf("err = %v", err)
	}
	if _, err := e.mailer().NewWelcome(WelcomeLatest, nil, nil); err == nil {
		t.Error("latest without archive and templates: want an error")
	}
}
