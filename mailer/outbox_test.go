package mailer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

type fakeOutboxMails struct {
	mu   sync.Mutex
	sent map[int64]string // outbox id -> message id
}

func (f *fakeOutboxMails) RenderOutbox(_ context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
	if strings.HasPrefix(it.Recipient, "cancel") {
		return templates.RenderedMail{}, db.ErrOutboxCancelled
	}
	return templates.RenderedMail{Subject: "Bitte bestätigen", Text: "Bitte bestätigen: https://x.example/confirm\n", HTML: "<p>Bitte</p>"}, nil
}

func (f *fakeOutboxMails) OutboxSent(_ context.Context, _ *db.Tx, it db.OutboxItem, messageID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent[it.ID] = messageID
	return nil
}

func TestOutboxWorker(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ids := e.addSubscribers("p", 3, subscribers.StatusPending)
	gone := e.addSubscribers("cancel", 1, subscribers.StatusPending)
	bad := e.addSubscribers("nouser", 1, subscribers.StatusPending)
	grey := e.addSubscribers("grey", 1, subscribers.StatusPending)
	e.srv.Rcpt = func(rcpt string, attempt int) error {
		switch {
		case strings.HasPrefix(rcpt, "nouser"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(rcpt, "grey") && attempt < 3:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
		}
		return nil
	}
	all := append(append(append(ids, gone...), bad...), grey...)
	emails := map[int64]string{}
	for _, id := range all {
		sub, err := e.store.FindByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		emails[id] = sub.Email
	}
	e.enqueueConfirms(all, emails)
	oc := &fakeOutboxMails{sent: map[int64]string{}}
	m := e.mailer()
	testkit.DrainOutbox(t, e.db, func(ctx context.Context) { m.RunOutbox(ctx, oc, 20*time.Millisecond) })

	states := map[string]string{}
	for _, id := range all {
		mails, err := db.SubscriberOutbox(ctx, e.db, id)
		if err != nil || len(mails) != 1 {
			t.Fatalf("outbox of %s: %+v, %v", emails[id], mails, err)
		}
		r, s := emails[id], mails[0]
		states[r] = s.State + "|" + s.LastReply
		if s.State == "sent" && !strings.HasPrefix(s.MessageID, "o") {
			t.Errorf("%s sent with message id %q", r, s.MessageID)
		}
	}
	for _, r := range []string{"p0@example.net", "p1@example.net", "p2@example.net", "grey0@example.net"} {
		if !strings.HasPrefix(states[r], "sent|250") {
			t.Errorf("%s: %s", r, states[r])
		}
	}
	if !strings.HasPrefix(states["cancel0@example.net"], "failed|cancelled") {
		t.Errorf("cancelled item: %s", states["cancel0@example.net"])
	}
	if !strings.HasPrefix(states["nouser0@example.net"], "failed|550 5.1.1") {
		t.Errorf("refused item: %s", states["nouser0@example.net"])
	}
	if got := e.subscriberStatus(bad[0]); got != subscribers.StatusBounced {
		t.Errorf("refused subscriber is %s", got)
	}
	if len(oc.sent) != 4 {
		t.Errorf("OutboxSent called for %d items, want 4", len(oc.sent))
	}
	got := e.srv.ByRecipient()
	if len(got) != 4 || len(got["grey0@example.net"]) != 1 {
		t.Errorf("received %d recipients", len(got))
	}
	msg := testkit.ParseMail(t, got["p0@example.net"][0].Data)
	if msg.Header.Get("List-Unsubscribe") != "" || msg.Header.Get("Auto-Submitted") != "" {
		t.Error("confirmation mail carries list headers")
	}
	if !strings.HasPrefix(msg.Header.Get("Message-Id"), "<o") {
		t.Errorf("Message-ID %q", msg.Header.Get("Message-Id"))
	}
}

// An SMTP outage delays confirmation mails but loses none (DESIGN): while
// the server is down the worker counts no attempt and keeps the items;
// when it is back, the same running worker sends each exactly once.
func TestOutboxSurvivesOutage(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ids := e.addSubscribers("p", 3, subscribers.StatusPending)
	e.srv.Stop()
	emails := map[int64]string{}
	for i, id := range ids {
		emails[id] = fmt.Sprintf("p%d@example.net", i)
	}
	e.enqueueConfirms(ids, emails)
	oc := &fakeOutboxMails{sent: map[int64]string{}}
	m := e.mailer()
	restarted := false
	testkit.RunUntil(t, "the outbox to drain after the outage", func(ctx context.Context) { m.RunOutbox(ctx, oc, 20*time.Millisecond) }, func() bool {
		if !restarted {
			restarted = true
			// Down: several polls go by, and every item waits untried.
			time.Sleep(200 * time.Millisecond)
			for _, id := range ids {
				mails, err := db.SubscriberOutbox(ctx, e.db, id)
				if err != nil || len(mails) != 1 || mails[0].State != "pending" || mails[0].Attempts != 0 {
					t.Errorf("during the outage: %+v, %v", mails, err)
				}
			}
			if err := e.srv.Start(); err != nil {
				t.Fatal(err)
			}
		}
		depth, err := e.db.OutboxDepth(ctx)
		return err == nil && depth[db.OutboxKindConfirm] == 0
	})
	got := e.srv.ByRecipient()
	for i := range ids {
		if r := fmt.Sprintf("p%d@example.net", i); len(got[r]) != 1 {
			t.Errorf("%s got %d mails, want 1", r, len(got[r]))
		}
	}
}

// enqueueConfirms queues a confirmation mail to emails[id] for each of ids.
func (e *testEnv) enqueueConfirms(ids []int64, emails map[int64]string) {
	e.t.Helper()
	ctx := context.Background()
	err := e.db.InTx(ctx, func(tx *db.Tx) error {
		for _, id := range ids {
			if _, err := db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindConfirm, SubscriberID: id, Recipient: emails[id]}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
