package mailer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"newsletter/subscribers"
)

func TestSubscriberDeliveries(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ids := e.addSubscribers("a", 3, subscribers.StatusActive)
	e.srv.Rcpt = func(rcpt string, attempt int) error {
		if rcpt == "a1@example.net" {
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}
	m := e.mailer()
	for _, number := range []int{31, 32} {
		if _, err := m.RunCampaign(ctx, e.start(number), RunOptions{Wait: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}

	got, err := e.campaigns().Deliveries(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Column != 32 || got[1].Column != 31 {
		t.Fatalf("records %+v, want columns 32 then 31", got)
	}
	r := got[1]
	if r.State != "sent" || r.Attempts != 1 || r.SentAt.IsZero() || !strings.HasPrefix(r.MessageID, "c31.s") ||
		!strings.HasPrefix(r.LastReply, "250") || !strings.Contains(r.Subject, "KNIEPUNKT 031") {
		t.Errorf("sent record %+v", r)
	}

	got, err = e.campaigns().Deliveries(ctx, ids[1])
	if err != nil || len(got) != 2 {
		t.Fatalf("records %+v, %v", got, err)
	}
	if r := got[0]; r.State != "failed" || !strings.Contains(r.LastReply, "mailbox full") || !r.SentAt.IsZero() {
		t.Errorf("failed record %+v", r)
	}

	if got, err := e.campaigns().Deliveries(ctx, 9999); err != nil || len(got) != 0 {
		t.Errorf("unknown subscriber: %+v, %v", got, err)
	}
}
