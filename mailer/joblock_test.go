package mailer

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// Instances sharing a PostgreSQL database run the scheduled job one at a
// time: while another holds the job's lock, this one's scheduler leaves
// the job and says so; once it is free, the column goes out.
func TestScheduledJobOnOneInstanceAtATime(t *testing.T) {
	if testkit.TestEngine() != db.Postgres {
		t.Skip("PostgreSQL only: on SQLite the job lock is always granted (one machine)")
	}
	e := newTestEnv(t)
	e.addSubscribers("a", 5, subscribers.StatusActive)
	e.writeColumn(30, "Erste")
	ctx := context.Background()
	// The other instance: its own connection holds the lock.
	other, ok, err := e.db.TryJobLock(ctx, schedulerLock)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	var logs testkit.SyncBuffer
	m := e.mailer(func(o *Options) { o.Logger = logs.Logger(slog.LevelInfo) })
	s, err := m.NewScheduler("@every 1s", time.UTC, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	defer s.Stop()
	testkit.Eventually(t, "the scheduler to find the job taken", func() bool {
		return strings.Contains(logs.String(), "another instance is running it")
	})
	if n := len(e.srv.Messages()); n != 0 {
		t.Fatalf("%d mails sent while another instance held the job", n)
	}
	if err := other.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "column 030 to everyone", func() bool { return len(e.srv.Messages()) == 5 })
}
