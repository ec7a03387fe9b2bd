package subscribers_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// renderToken renders the queued confirmation mail it and returns the
// token its link carries and the mail's subject.
func (e *optInEnv) renderToken(it db.OutboxItem) (tok, subject string) {
	e.t.Helper()
	m, err := e.optin.RenderOutbox(context.Background(), it)
	if err != nil {
		e.t.Fatalf("render %d: %v", it.ID, err)
	}
	u, err := url.Parse(testkit.ConfirmLink(e.t, m.Text))
	if err != nil {
		e.t.Fatal(err)
	}
	tok = u.Query().Get("token")
	return tok, m.Subject
}

func (e *optInEnv) find(email string) *subscribers.Subscriber {
	e.t.Helper()
	s, err := e.store.FindByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatalf("find %s: %v", email, err)
	}
	return s
}

// Anyone can submit the form again for a pending address; that must not
// change the name (later in To:) or the language of the pending row. Each
// confirmation mail confirms its own request: the one clicked wins.
func TestResubmitNeverChangesPendingRow(t *testing.T) {
	ctx := context.Background()
	for _, clicked := range []string{"own", "other"} {
		t.Run("confirm "+clicked, func(t *testing.T) {
			e := newOptInEnv(t)
			e.subscribe("lea@example.org", "Lea", "de", "192.0.2.1")
			e.subscribe("LEA@example.org", "Mallory", "en", "203.0.113.5")
			s := e.find("lea@example.org")
			if s.Name != "Lea" || s.Lang != "de" || s.Status != subscribers.StatusPending {
				t.Fatalf("re-submit changed the pending row: %+v", s)
			}
			// The GDPR access answer shows what each request typed.
			reqs, err := e.store.ConfirmRequests(ctx, s.ID)
			if err != nil || len(reqs) != 2 || reqs[0].Name != "Lea" || reqs[1].Name != "Mallory" || reqs[1].Lang != "en" || reqs[1].Client != "203.0.113.5" {
				t.Fatalf("requests %+v, %v", reqs, err)
			}
			items := testkit.DueOutbox(t, e.db)
			if len(items) != 2 {
				t.Fatalf("outbox %d, want 2", len(items))
			}
			own, ownSubject := e.renderToken(items[0])
			other, otherSubject := e.renderToken(items[1])
			// Each mail speaks the language of its own request.
			if !strings.HasPrefix(otherSubject, "Please confirm") || strings.HasPrefix(ownSubject, "Please confirm") {
				t.Errorf("subjects %q (own) and %q (other)", ownSubject, otherSubject)
			}
			if lang, err := e.optin.CheckConfirmToken(ctx, other); err != nil || lang != "en" {
				t.Errorf("confirm page language for the other request: %q %v", lang, err)
			}
			tok, wantName, wantLang := own, "Lea", "de"
			if clicked == "other" {
				tok, wantName, wantLang = other, "Mallory", "en"
			}
			if _, err := e.optin.Confirm(ctx, tok, subscribers.Evidence{IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
			s = e.find("lea@example.org")
			if s.Status != subscribers.StatusActive || s.Name != wantName || s.Lang != wantLang {
				t.Fatalf("after confirming the %s request: %+v, want %s/%s", clicked, s, wantName, wantLang)
			}
		})
	}
}

// A row created by someone else's request keeps none of its values once
// the person confirms their own request without a name; someone who had
// confirmed before keeps their name when they come back without one.
func TestConfirmedRequestNameWins(t *testing.T) {
	ctx := context.Background()
	e := newOptInEnv(t)
	e.subscribe("neu@example.org", "Spam-Name", "en", "203.0.113.5")
	e.subscribe("neu@example.org", "", "de", "192.0.2.1")
	items := testkit.DueOutbox(t, e.db)
	tok, _ := e.renderToken(items[1])
	if _, err := e.optin.Confirm(ctx, tok, subscribers.Evidence{}); err != nil {
		t.Fatal(err)
	}
	if s := e.find("neu@example.org"); s.Name != "" || s.Lang != "de" {
		t.Errorf("confirmed request without a name: stored %q/%s, want no name, de", s.Name, s.Lang)
	}

	back, err := e.store.Add(ctx, subscribers.AddParams{Email: "back@example.org", Name: "Bea", Confirmed: true, ConsentNote: "paper form"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Unsubscribe(ctx, back.ID, subscribers.Evidence{}); err != nil {
		t.Fatal(err)
	}
	e.subscribe("back@example.org", "", "en", "192.0.2.2")
	if s := e.find("back@example.org"); s.Status != subscribers.StatusPending || s.Lang != "de" {
		t.Fatalf("re-subscribe: %+v", s)
	}
	items = testkit.DueOutbox(t, e.db)
	tok, _ = e.renderToken(items[len(items)-1])
	if _, err := e.optin.Confirm(ctx, tok, subscribers.Evidence{}); err != nil {
		t.Fatal(err)
	}
	if s := e.find("back@example.org"); s.Name != "Bea" || s.Lang != "en" || s.Status != subscribers.StatusActive {
		t.Errorf("returning subscriber: %+v, want Bea, en, active", s)
	}
}

// A request goes once no link can use it: after the token lifetime, unless
// a token minted later (a retried mail) still points at it.
func TestPurgeDropsSpentRequests(t *testing.T) {
	ctx := context.Background()
	e := newOptInEnv(t)
	e.subscribe("early@example.org", "Early", "de", "192.0.2.1")
	e.subscribe("late@example.org", "Late", "de", "192.0.2.2")
	items := testkit.DueOutbox(t, e.db)
	e.renderToken(items[0])
	e.clock.Add(3 * 24 * time.Hour)
	e.renderToken(items[1]) // a retry, three days on: its link lives until day 10
	e.clock.Add(5 * 24 * time.Hour)
	if _, err := e.optin.PurgePending(ctx, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	early, late := e.find("early@example.org"), e.find("late@example.org")
	if reqs, _ := e.store.ConfirmRequests(ctx, early.ID); len(reqs) != 0 {
		t.Errorf("spent request kept: %+v", reqs)
	}
	if reqs, _ := e.store.ConfirmRequests(ctx, late.ID); len(reqs) != 1 {
		t.Errorf("request with a live link dropped: %+v", reqs)
	}
}
