package mailer

import (
	"context"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

func TestSchedulerPicksUpNewColumnOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for cron ticks")
	}
	e := newTestEnv(t)
	e.addSubscribers("a", 10, subscribers.StatusActive)
	e.writeColumn(29, "Alt")
	e.writeColumn(30, "Erste")
	m := e.mailer()
	s, err := m.NewScheduler("@every 1s", time.UTC, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()

	subjects := func() map[string]int {
		out := map[string]int{}
		for _, msg := range e.srv.Messages() {
			out[testkit.ParseMail(t, msg.Data).Header.Get("Message-Id")[:5]]++
		}
		return out
	}
	// First run: only the newest due column goes out.
	testkit.Eventually(t, "column 030 to everyone", func() bool { return subjects()["<c30."] == 10 })
	e.writeColumn(31, "Neu dazu")
	testkit.Eventually(t, "column 031 to everyone", func() bool { return subjects()["<c31."] == 10 })
	// Let a few more ticks pass: nothing is sent again.
	camps, _ := e.campaigns().List(context.Background(), CampaignFilter{})
	sentCols := historyOf(camps).Sent
	time.Sleep(2500 * time.Millisecond)
	s.Stop()
	stopped = true
	got := subjects()
	if got["<c29."] != 0 || got["<c30."] != 10 || got["<c31."] != 10 || len(e.srv.Messages()) != 20 {
		t.Fatalf("messages per column %v", got)
	}
	if !sentCols[30] || !sentCols[31] || sentCols[29] {
		t.Fatalf("sent columns %v", sentCols)
	}
	for rcpt, msgs := range e.srv.ByRecipient() {
		if len(msgs) != 2 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
}

func TestRetryLoopResumesUnfinishedCampaign(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 8, subscribers.StatusActive)
	c := e.start(31)
	// A crashed sender left part of it leased.
	if _, _, err := e.campaigns().claim(context.Background(), c.ID, "dead", 200*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	m := e.mailer()
	// The schedule never fires during the test; only the retry loop works.
	s, err := m.NewScheduler("0 7 1 1 *", time.UTC, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Stop()
	testkit.Eventually(t, "the campaign to finish", func() bool {
		c, err := e.campaigns().Find(context.Background(), 31)
		return err == nil && c.Finished()
	})
	if n := len(e.srv.Messages()); n != 8 {
		t.Fatalf("%d messages, want 8", n)
	}
}

// The command line refuses a bad --schedule (cmd/newsletter's
// TestBadScheduleIsRefused); the mailer's error speaks of the value.
func TestBadScheduleIsRefused(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.mailer().NewScheduler("every monday", time.UTC, 0)
	if err == nil || !strings.Contains(err.Error(), `schedule "every monday"`) || strings.Contains(err.Error(), "--") {
		t.Fatalf("err = %v", err)
	}
}
