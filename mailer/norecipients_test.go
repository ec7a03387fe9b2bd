package mailer

import (
	"context"
	"errors"
	"testing"

	"newsletter/columns"
	"newsletter/subscribers"
)

// A campaign no subscriber would get is never started: it would finish at
// once and burn the column (one campaign per column, ever). The column
// stays new, and goes out once someone has confirmed. The rule lives where
// campaigns start, so the scheduler's job, `send` and `send --column` all
// obey it.
func TestNoCampaignWithoutRecipients(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	// Only addresses that may not be mailed.
	e.addSubscribers("p", 2, subscribers.StatusPending)
	e.addSubscribers("u", 1, subscribers.StatusUnsubscribed)
	e.writeColumn(31, "Heiße KI-Luft")

	_, err := e.campaigns().Start(ctx, e.column(31))
	if !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("Start: %v, want ErrNoRecipients", err)
	}
	if _, err := e.campaigns().Find(ctx, 31); !errors.Is(err, ErrNoCampaign) {
		t.Fatalf("a campaign was left behind: %v", err)
	}

	m := e.mailer()
	if _, err := m.StartColumn(ctx, 31); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("StartColumn: %v, want ErrNoRecipients", err)
	}

	// The scheduler's job: no error, no result, the caller is told why.
	var told []int
	results, err := m.RunDue(ctx, RunOptions{NotStarted: func(col *columns.Column, why error) {
		if !errors.Is(why, ErrNoRecipients) {
			t.Errorf("NotStarted(%d, %v)", col.Number, why)
		}
		told = append(told, col.Number)
	}})
	if err != nil || len(results) != 0 || len(told) != 1 || told[0] != 31 {
		t.Fatalf("RunDue: %v, %d results, told %v", err, len(results), told)
	}
	p, err := m.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.New) != 1 || p.New[0].Number != 31 {
		t.Fatalf("column 031 is no longer new: %+v", p.New)
	}

	// Once someone is there, the next run sends it.
	e.addSubscribers("a", 2, subscribers.StatusActive)
	results, err = m.RunDue(ctx, RunOptions{})
	if err != nil || len(results) != 1 || results[0].Counts.Sent != 2 || e.srv.Count() != 2 {
		t.Fatalf("RunDue after a confirmation: %v, %+v, %d messages", err, results, e.srv.Count())
	}
}
