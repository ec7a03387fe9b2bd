package subscribers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
)

func TestMailboxKey(t *testing.T) {
	for in, want := range map[string]string{
		"Target@example.org":             "target@example.org",
		"target+n1@example.org":          "target@example.org",
		"Target+N10+x@Example.org":       "target@example.org",
		"t.a.r.g.e.t@example.org":        "t.a.r.g.e.t@example.org", // dots matter outside Gmail
		"T.Arget+news@gmail.com":         "target@gmail.com",
		"ta.rget@googlemail.com":         "target@gmail.com",
		"+only@example.org":              "+only@example.org",
		"first.last+tag@sub.gmail.com":   "first.last@sub.gmail.com",
		"x@xn--mller-kva.de":             "x@xn--mller-kva.de",
		"plus+@example.org":              "plus@example.org",
		"dots.only+x@GoogleMail.com":     "dotsonly@gmail.com",
		"UPPER.CASE@EXAMPLE.ORG":         "upper.case@example.org",
		"no-tag-just-hyphen@example.org": "no-tag-just-hyphen@example.org",
	} {
		if got := subscribers.MailboxKey(in); got != want {
			t.Errorf("MailboxKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// confirmMails counts the confirmation mails queued, whoever they are for:
// nothing drains the outbox here, so each one queued is still pending.
func (e *optInEnv) confirmMails() int {
	e.t.Helper()
	depth, err := e.db.OutboxDepth(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return depth[db.OutboxKindConfirm]
}

// target+n1@… … target+n10@… is one mailbox: 3 mails a day, not 30.
func TestConfirmCapPerMailbox(t *testing.T) {
	e := newOptInEnv(t)
	for round := 0; round < 3; round++ {
		for i := 1; i <= 10; i++ {
			ip := fmt.Sprintf("192.0.2.%d", round*10+i) // the per-IP cap must not be what stops it
			e.subscribe(fmt.Sprintf("target+n%d@example.org", i), "", "de", ip)
		}
	}
	if n := e.confirmMails(); n != subscribers.DefaultMaxConfirmsPerDay {
		t.Fatalf("one mailbox got %d confirmation mails, want %d", n, subscribers.DefaultMaxConfirmsPerDay)
	}
	// The address is kept as typed; the mailbox is only counted.
	if s, err := e.store.FindByEmail(context.Background(), "target+n1@example.org"); err != nil || s.Email != "target+n1@example.org" {
		t.Fatalf("stored %+v, %v", s, err)
	}
	// Past the cap nothing is stored: no row for the fourth spelling.
	if _, err := e.store.FindByEmail(context.Background(), "target+n4@example.org"); err != subscribers.ErrNotFound {
		t.Errorf("a limited request stored a subscriber: %v", err)
	}
	if got := e.subscribe("TARGET+new@example.org", "", "de", "203.0.113.9"); got != subscribers.OutcomeLimited {
		t.Errorf("outcome %s, want %s", got, subscribers.OutcomeLimited)
	}

	// Gmail ignores dots, and googlemail.com is the same mailbox.
	for i, a := range []string{"first.last@gmail.com", "firstlast+a@googlemail.com", "F.i.r.s.t.L.a.s.t@gmail.com", "firstl.ast@googlemail.com"} {
		e.subscribe(a, "", "de", fmt.Sprintf("198.51.100.%d", i))
	}
	if n := e.confirmMails(); n != 2*subscribers.DefaultMaxConfirmsPerDay {
		t.Fatalf("gmail mailbox: %d mails in all, want %d", n, 2*subscribers.DefaultMaxConfirmsPerDay)
	}

	e.clock.Add(24*time.Hour + time.Second)
	if got := e.subscribe("target+n5@example.org", "", "de", "192.0.2.200"); got != subscribers.OutcomeQueued {
		t.Fatalf("a day later: %s, want queued", got)
	}
}

// One client gets at most 20 confirmation mails a day, for any addresses;
// the count comes from the database, so a restart or a second process
// sees it too. IPv6 clients count by /64.
func TestConfirmCapPerClientIP(t *testing.T) {
	e := newOptInEnv(t)
	for i := 0; i < 25; i++ {
		e.subscribe(fmt.Sprintf("r%d@example.org", i), "", "de", "192.0.2.7")
	}
	if n := e.confirmMails(); n != subscribers.DefaultMaxConfirmsPerIP {
		t.Fatalf("one IP queued %d confirmation mails, want %d", n, subscribers.DefaultMaxConfirmsPerIP)
	}
	// A second process on the same database (a restart, or another
	// instance) holds the same line.
	again := subscribers.NewOptIn(e.store, e.pages, subscribers.OptInConfig{BaseURL: "http://news.test"})
	out, err := again.Subscribe(context.Background(), subscribers.SubscribeRequest{Email: "late@example.org", Lang: "de",
		Evidence: subscribers.Evidence{IP: "192.0.2.7"}})
	if err != nil || out != subscribers.OutcomeLimited {
		t.Fatalf("after a restart: %s %v, want limited", out, err)
	}
	if got := e.subscribe("other@example.org", "", "de", "192.0.2.8"); got != subscribers.OutcomeQueued {
		t.Errorf("another client: %s", got)
	}

	for i := 0; i < 25; i++ {
		e.subscribe(fmt.Sprintf("v%d@example.org", i), "", "de", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if n := e.confirmMails(); n != 2*subscribers.DefaultMaxConfirmsPerIP+1 {
		t.Fatalf("one IPv6 /64 queued %d mails, want %d", n-subscribers.DefaultMaxConfirmsPerIP-1, subscribers.DefaultMaxConfirmsPerIP)
	}
	e.clock.Add(24*time.Hour + time.Second)
	if got := e.subscribe("next-day@example.org", "", "de", "192.0.2.7"); got != subscribers.OutcomeQueued {
		t.Errorf("a day later: %s", got)
	}
}
