package mailer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// stopMidway runs the campaign until at least n messages went out, then
// interrupts it, and returns how many were accepted.
func stopMidway(t *testing.T, e *testEnv, m *Mailer, c *Campaign, n int) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.RunCampaign(ctx, c, RunOptions{Wait: time.Minute})
		done <- err
	}()
	testkit.Eventually(t, "some messages", func() bool { return e.srv.Count() >= n })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v", err)
	}
	return e.srv.Count()
}

// checkAllGot checks that every recipient got exactly one message and
// that each says want.
func checkAllGot(t *testing.T, e *testEnv, recipients int, want string) {
	t.Helper()
	got := e.srv.ByRecipient()
	if len(got) != recipients {
		t.Fatalf("%d recipients got mail, want %d", len(got), recipients)
	}
	for rcpt, msgs := range got {
		if len(msgs) != 1 {
			t.Errorf("%s got %d messages", rcpt, len(msgs))
		}
		for _, msg := range msgs {
			if body := string(msg.Data); !strings.Contains(body, want) || strings.Contains(body, "Ge=C3=A4ndert") || strings.Contains(body, "Geändert") {
				t.Errorf("%s got a message without %q or with the edit:\n%s", rcpt, want, body)
			}
		}
	}
}

func TestResumedCampaignSendsTheColumnAsItWasAtStart(t *testing.T) {
	const n = 40
	e := newTestEnv(t)
	e.addSubscribers("a", n, subscribers.StatusActive)
	e.srv.SetDelay(5 * time.Millisecond)
	c := e.start(31) // "KNIEPUNKT 031: Heiße KI-Luft"
	m := e.mailer(func(o *Options) { o.Workers = 1; o.BatchSize = 5 })
	if sent := stopMidway(t, e, m, c, 5); sent >= n {
		t.Fatalf("the run finished (%d messages) before it was stopped", sent)
	}

	// The author edits the column while it is still sending.
	e.writeColumn(31, "Geändert")
	e.srv.SetDelay(0)
	c.Column = nil // resumed as read from the database: from the stored source
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != n {
		t.Fatalf("counts %+v", res.Counts)
	}
	checkAllGot(t, e, n, "KNIEPUNKT 031: Hei")
}

func TestResumeWorksWithTheColumnFileDeleted(t *testing.T) {
	const n = 40
	e := newTestEnv(t)
	e.addSubscribers("a", n, subscribers.StatusActive)
	e.srv.SetDelay(5 * time.Millisecond)
	c := e.start(31)
	m := e.mailer(func(o *Options) { o.Workers = 1; o.BatchSize = 5 })
	if sent := stopMidway(t, e, m, c, 5); sent >= n {
		t.Fatalf("the run finished (%d messages) before it was stopped", sent)
	}
	if err := os.Remove(c.File); err != nil {
		t.Fatal(err)
	}
	e.srv.SetDelay(0)
	// The scheduler's job resumes it (serve finishing what send left).
	results, err := m.RunDue(context.Background(), RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].Finished() || results[0].Counts.Sent != n {
		t.Fatalf("results %+v", results)
	}
	checkAllGot(t, e, n, "KNIEPUNKT 031: Hei")
}

// A campaign without its stored source is damage, not an old campaign to
// read from the file: the run says so and sends nothing.
func TestCampaignWithoutSourceIsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 3, subscribers.StatusActive)
	c := e.start(31)
	if _, err := e.db.SQL().Exec(`UPDATE campaigns SET source = NULL WHERE id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	stored, err := e.campaigns().FindByID(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.mailer().RunCampaign(context.Background(), stored, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "no stored column source") {
		t.Fatalf("err = %v, want the missing source named", err)
	}
	if got := len(e.srv.Messages()); got != 0 {
		t.Errorf("%d messages sent", got)
	}
}

func TestRunDueErrorIsOneLine(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 2, subscribers.StatusActive)
	for _, n := range []int{31, 32} {
		c := e.start(n)
		// Two campaigns whose stored source no longer parses.
		if _, err := e.db.SQL().Exec(`UPDATE campaigns SET source = ? WHERE id = ?`, []byte("kaputt\n"), c.ID); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.mailer().RunDue(context.Background(), RunOptions{})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "column 031") ||
		!strings.HasSuffix(err.Error(), "(and 1 more, logged above)") {
		t.Fatalf("err = %q, want one line about the first and a count of the rest", err)
	}
	var pe *columns.ParseError
	if !errors.As(err, &pe) {
		t.Errorf("errors.As does not see the parts of %v", err)
	}
}

// recordingRenderer remembers every column it was asked to render.
type recordingRenderer struct {
	mu   sync.Mutex
	cols []*columns.Column
}

func (r *recordingRenderer) Prepare(c *columns.Column) (ColumnMail, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cols = append(r.cols, c)
	return fakePrepared{c}, nil
}

// A column is parsed once per run: the column the plan found is the one
// the campaign keeps and renders, even when the file changes in between.
func TestRunPlanSendsTheColumnThePlanParsed(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 3, subscribers.StatusActive)
	e.writeColumn(31, "Heiße KI-Luft")
	rec := &recordingRenderer{}
	m, err := New(e.db, e.store, rec, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := m.Plan(ctx)
	if err != nil || len(p.New) != 1 {
		t.Fatalf("plan: %v, new %v", err, p.New)
	}
	e.writeColumn(31, "Geändert")
	results, err := m.RunPlan(ctx, p, RunOptions{})
	if err != nil || len(results) != 1 || results[0].Counts.Sent != 3 {
		t.Fatalf("err %v, results %+v", err, results)
	}
	if len(rec.cols) != 1 || rec.cols[0] != p.New[0] {
		t.Errorf("rendered %d columns, want the plan's one, not one parsed again", len(rec.cols))
	}
	src, err := e.campaigns().source(ctx, results[0].Campaign.ID)
	if err != nil || !bytes.Equal(src, p.New[0].Source) {
		t.Errorf("stored source %q (%v), want the bytes the plan parsed", src, err)
	}
	checkAllGot(t, e, 3, "KNIEPUNKT 031: Hei")
}
