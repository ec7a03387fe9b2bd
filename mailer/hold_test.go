package mailer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// holds is the hold state on the test database.
func (e *testEnv) holds() *Holds { return NewHolds(e.db, e.opts.Secret, time.UTC) }

// TestHoldMidCampaignThenRelease holds a campaign while it sends to a slow
// SMTP server: the run stops within a claim/lease cycle and gives its
// claims back, nothing more goes out while it is held (not by a new run
// either), and after the release the rest goes out, every subscriber
// exactly once.
func TestHoldMidCampaignThenRelease(t *testing.T) {
	for _, tt := range []struct {
		name  string
		batch int
	}{
		// Small batches: the next claim sees the hold.
		{"seen at the next claim", 4},
		// One batch holds every delivery, so no claim comes before the
		// end: the lease renewal sees the hold.
		{"seen at the lease renewal", 100},
	} {
		t.Run(tt.name, func(t *testing.T) { testHoldMidCampaign(t, tt.batch) })
	}
}

func testHoldMidCampaign(t *testing.T, batch int) {
	e := newTestEnv(t)
	ctx := context.Background()
	const n = 40
	e.addSubscribers("a", n, subscribers.StatusActive)
	e.srv.SetDelay(30 * time.Millisecond)
	c := e.start(31)
	m := e.mailer(func(o *Options) { o.Workers, o.BatchSize, o.Lease = 2, batch, 300*time.Millisecond })

	type ran struct {
		res *RunResult
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := m.RunCampaign(ctx, c, RunOptions{})
		done <- ran{res, err}
	}()
	testkit.Eventually(t, "a few deliveries", func() bool { return e.srv.Count() >= 6 })
	h, added, err := e.holds().Hold(ctx, 31, HeldByAdmin)
	if err != nil || !added || h.By != HeldByAdmin {
		t.Fatalf("hold: %+v %v %v", h, added, err)
	}
	heldAt, atHold := time.Now(), e.srv.Count()
	var r ran
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not stop after the hold")
	}
	t.Logf("stopped %s after the hold (lease %s); %d messages of earlier claims accepted after it, %d of %d in all",
		time.Since(heldAt).Round(time.Millisecond), 300*time.Millisecond, e.srv.Count()-atHold, e.srv.Count(), n)
	if !errors.Is(r.err, ErrHeld) || r.res == nil || !strings.HasPrefix(r.res.Held, "held by admin at ") {
		t.Fatalf("run ended with %v, result %+v", r.err, r.res)
	}
	stopped := e.srv.Count()
	if stopped >= n {
		t.Fatalf("all %d delivered despite the hold", stopped)
	}
	// Its claims were given back: nothing stays leased to the stopped run.
	var leased int
	if err := e.db.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE lease_owner IS NOT NULL`).Scan(&leased); err != nil {
		t.Fatal(err)
	}
	if leased != 0 {
		t.Errorf("%d deliveries still leased after the hold", leased)
	}
	if r.res.Counts.Sent != stopped || r.res.Counts.Pending != n-stopped {
		t.Errorf("counts %+v after %d accepted", r.res.Counts, stopped)
	}

	// Held, nothing goes out: not by the scheduler's job, not by the retry
	// loop, not by send --column, not by a run of the campaign itself.
	results, err := m.RunDue(ctx, RunOptions{})
	if err != nil || len(results) != 0 {
		t.Fatalf("RunDue on a held campaign: %v, %v", results, err)
	}
	m.retryPass(ctx, map[int64]string{})
	if _, err := m.StartColumn(ctx, 31); !errors.Is(err, ErrHeld) {
		t.Errorf("StartColumn of a held campaign: %v", err)
	}
	if _, err := m.RunCampaign(ctx, c, RunOptions{}); !errors.Is(err, ErrHeld) {
		t.Errorf("RunCampaign of a held campaign: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // a message in flight would land by now
	if got := e.srv.Count(); got != stopped {
		t.Fatalf("%d messages went out while held (had %d)", got, stopped)
	}

	if _, held, err := e.holds().Release(ctx, 31); err != nil || !held {
		t.Fatalf("release: %v %v", held, err)
	}
	results, err = m.RunDue(ctx, RunOptions{})
	if err != nil || len(results) != 1 || !results[0].Finished() {
		t.Fatalf("RunDue after release: %+v, %v", results, err)
	}
	got := e.srv.ByRecipient()
	if len(got) != n {
		t.Fatalf("%d recipients got the column, want %d", len(got), n)
	}
	for rcpt, msgs := range got {
		if len(msgs) != 1 {
			t.Errorf("%s got %d copies", rcpt, len(msgs))
		}
	}
}

// TestHeldColumnIsSkippedAndSaysWhy: a held new column is not started by
// any run; the plan and the log say why; release lets the next run send it.
func TestHeldColumnIsSkippedAndSaysWhy(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.addSubscribers("a", 3, subscribers.StatusActive)
	e.writeColumn(31, "Erste")
	var logs testkit.SyncBuffer
	m := e.mailer(func(o *Options) { o.Logger = logs.Logger(slog.LevelInfo) })
	if _, _, err := e.holds().Hold(ctx, 31, HeldByProof); err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.New) != 0 || len(p.Plan.Held) != 1 || !strings.HasPrefix(p.HeldWhy(31), "held from the proof mail at ") {
		t.Fatalf("plan: new %v held %v why %q", p.New, p.Plan.Held, p.HeldWhy(31))
	}
	if res, err := m.RunDue(ctx, RunOptions{}); err != nil || len(res) != 0 {
		t.Fatalf("RunDue: %v %v", res, err)
	}
	if e.srv.Count() != 0 {
		t.Fatal("a held column went out")
	}
	if !strings.Contains(logs.String(), `msg="held column not sent" column=31 why="held from the proof mail at `) {
		t.Errorf("no reason in the log:\n%s", logs.String())
	}
	var he *HeldError
	if _, err := m.StartColumn(ctx, 31); !errors.As(err, &he) || !strings.HasPrefix(err.Error(), "column 031 is held from the proof mail at ") {
		t.Errorf("StartColumn: %v", err)
	}
	if _, _, err := e.holds().Release(ctx, 31); err != nil {
		t.Fatal(err)
	}
	if res, err := m.RunDue(ctx, RunOptions{}); err != nil || len(res) != 1 || res[0].Counts.Sent != 3 {
		t.Fatalf("RunDue after release: %v %v", res, err)
	}
}

func TestHoldRules(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	hs := e.holds()
	first, added, err := hs.Hold(ctx, 31, HeldByProof)
	if err != nil || !added {
		t.Fatal(added, err)
	}
	// Held twice: the first reason stays.
	again, added, err := hs.Hold(ctx, 31, HeldByAdmin)
	if err != nil || added || again != first {
		t.Errorf("second hold: %+v %v %v, first %+v", again, added, err, first)
	}
	if _, held, err := hs.Release(ctx, 30); err != nil || held {
		t.Errorf("release of a column not held: %v %v", held, err)
	}
	// A sent column cannot be held.
	e.addSubscribers("a", 1, subscribers.StatusActive)
	c := e.start(29)
	if _, err := e.mailer().RunCampaign(ctx, c, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hs.Hold(ctx, 29, HeldByAdmin); !errors.Is(err, ErrAlreadySent) {
		t.Errorf("hold of a sent column: %v", err)
	}
	words, err := hs.Words(ctx)
	if err != nil || len(words) != 1 || !strings.HasPrefix(words[31], "from the proof mail at ") {
		t.Errorf("words %v %v", words, err)
	}
}

// TestHoldLinks: a hold link holds its column and nothing else, the page's
// GET changes nothing, a forged or altered link is refused, and the link
// dies when the column has been sent.
func TestHoldLinks(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	hs := e.holds()
	hash := ContentHash([]byte("KNIEPUNKT 031: Eins\n\nText.\n"))
	tok := hs.Token(31, hash)

	tgt, err := hs.CheckToken(ctx, tok)
	if err != nil || tgt.Number != 31 || tgt.Held != nil {
		t.Fatalf("check: %+v %v", tgt, err)
	}
	if _, held, _ := hs.Find(ctx, 31); held {
		t.Fatal("checking the link held the column")
	}
	other := NewHolds(e.db, []byte("another installation's secret key"), time.UTC)
	parts := strings.Split(tok, ".")
	for name, bad := range map[string]string{
		"empty":           "",
		"other column":    "32." + parts[1] + "." + parts[2],
		"other content":   "31." + ContentHash([]byte("x")) + "." + parts[2],
		"other key":       other.Token(31, hash),
		"leading zero":    "031." + parts[1] + "." + parts[2],
		"truncated mac":   tok[:len(tok)-2],
		"unsubscribe-ish": e.store.UnsubscribeToken(1),
	} {
		if _, err := hs.CheckToken(ctx, bad); !errors.Is(err, ErrBadHoldToken) {
			t.Errorf("%s: check = %v", name, err)
		}
		if _, err := hs.HoldByToken(ctx, bad); !errors.Is(err, ErrBadHoldToken) {
			t.Errorf("%s: hold = %v", name, err)
		}
	}
	tgt, err = hs.HoldByToken(ctx, tok)
	if err != nil || tgt.Held == nil || tgt.Held.By != HeldByProof || !strings.HasPrefix(tgt.HeldWords, "from the proof mail at ") {
		t.Fatalf("hold by link: %+v %v", tgt, err)
	}
	if holds, _ := hs.List(ctx); len(holds) != 1 {
		t.Errorf("holds %v: the link held more than its column", holds)
	}
	// Pressing twice is harmless.
	if _, err := hs.HoldByToken(ctx, tok); err != nil {
		t.Errorf("second press: %v", err)
	}

	// Sent: the link is dead.
	if _, _, err := hs.Release(ctx, 31); err != nil {
		t.Fatal(err)
	}
	e.addSubscribers("a", 1, subscribers.StatusActive)
	c := e.start(31)
	if _, err := e.mailer().RunCampaign(ctx, c, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.CheckToken(ctx, tok); !errors.Is(err, ErrAlreadySent) {
		t.Errorf("check after sending: %v", err)
	}
	if _, err := hs.HoldByToken(ctx, tok); !errors.Is(err, ErrAlreadySent) {
		t.Errorf("hold after sending: %v", err)
	}
}
