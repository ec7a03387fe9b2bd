package mailer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"newsletter/db"
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
	if r.State != "sent" || r.Attempts != 1 || r.SentAt.IsZero() || !strings.HasPrefix(r.MessageID, "c31.") ||
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

// Who gets a campaign is read through subscribers' view: the snapshot, the
// dry-run walks and a claim agree, and a delivery to someone who left is
// skipped with the reason the delivery log has always given.
func TestRecipientsAndSkipReasons(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ids := e.addSubscribers("a", 4, subscribers.StatusActive)
	e.addSubscribers("p", 1, subscribers.StatusPending)
	c := e.start(31)
	if c.Recipients != 4 {
		t.Fatalf("snapshot of %d, want the 4 active", c.Recipients)
	}
	if _, err := e.store.Unsubscribe(ctx, ids[0], subscribers.Evidence{}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.InTx(ctx, func(tx *db.Tx) error { return subscribers.MarkBounced(ctx, tx, ids[1], "550 5.1.1 unknown") }); err != nil {
		t.Fatal(err)
	}
	walk := func(each func(context.Context, func(string) error) (int, error)) []string {
		t.Helper()
		var got []string
		n, err := each(ctx, func(email string) error { got = append(got, email); return nil })
		if err != nil || n != len(got) {
			t.Fatalf("walk: %d, %v", n, err)
		}
		return got
	}
	want := "[a2@example.net a3@example.net]"
	if got := fmt.Sprint(walk(e.campaigns().Recipients)); got != want {
		t.Errorf("recipients %s, want %s", got, want)
	}
	pending := func(ctx context.Context, fn func(string) error) (int, error) {
		return e.campaigns().PendingRecipients(ctx, c.ID, fn)
	}
	if got := fmt.Sprint(walk(pending)); got != want {
		t.Errorf("pending recipients %s, want %s", got, want)
	}
	claimed, skipped, err := e.campaigns().claim(ctx, c.ID, "me", time.Minute, 10)
	if err != nil || len(claimed) != 2 || skipped != 2 {
		t.Fatalf("claim: %d claimed, %d skipped, %v", len(claimed), skipped, err)
	}
	reasons := map[int64]string{}
	rows, err := e.db.SQL().Query(`SELECT subscriber_id, last_reply FROM deliveries WHERE state = 'skipped'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var reply string
		if err := rows.Scan(&id, &reply); err != nil {
			t.Fatal(err)
		}
		reasons[id] = reply
	}
	if reasons[ids[0]] != "subscriber unsubscribed" || reasons[ids[1]] != "subscriber bounced" || len(reasons) != 2 {
		t.Errorf("skip reasons %v", reasons)
	}
}
