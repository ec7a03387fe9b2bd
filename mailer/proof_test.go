package mailer

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// Monday 2026-03-16 and 2026-03-23, 07:00 UTC: runs of "0 7 * * 1".
var (
	monday16 = time.Date(2026, 3, 16, 7, 0, 0, 0, time.UTC)
	monday23 = time.Date(2026, 3, 23, 7, 0, 0, 0, time.UTC)
)

// proofEnv is a test environment on a settable clock with proofs to two
// authors, a day before the weekly Monday 07:00 run.
type proofEnv struct {
	*testEnv
	clock  *testkit.Clock
	m      *Mailer
	proofs *Proofs
}

func newProofEnv(t *testing.T, lang string) *proofEnv {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	e := newTestEnvAt(t, clock)
	m := e.mailer()
	sched, err := NewRunSchedule("0 7 * * 1", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	banner, err := templates.LoadProofBanner(templates.ProofOptions{Lang: lang})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.NewProofs(ProofOptions{To: []string{"autorin@example.org", "lektor@example.org"}, Before: 24 * time.Hour,
		Schedule: sched, Banner: banner})
	if err != nil {
		t.Fatal(err)
	}
	// One reader: a campaign never starts without one.
	e.addSubscribers("r", 1, subscribers.StatusActive)
	return &proofEnv{testEnv: e, clock: clock, m: m, proofs: p}
}

// writeDated puts column number into the folder with a publish date (zero:
// none) and a body.
func (e *proofEnv) writeDated(number int, date time.Time, body string) {
	e.t.Helper()
	front := ""
	if !date.IsZero() {
		front = "---\ndate: " + date.Format(time.RFC3339) + "\n---\n"
	}
	text := fmt.Sprintf("%sKNIEPUNKT %03d: Kolumne %d\n\n%s\n", front, number, number, body)
	if err := os.WriteFile(filepath.Join(e.dir, fmt.Sprintf("%03d-kolumne.txt", number)), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// queueAt moves the clock to at and queues what is due; it returns the
// column numbers and planned runs queued.
func (e *proofEnv) queueAt(at time.Time) []string {
	e.t.Helper()
	e.clock.Set(at)
	qs, err := e.proofs.QueueDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		if len(q.OutboxIDs) != 2 {
			e.t.Errorf("proof of %03d queued %d mails, want one per address", q.Column.Number, len(q.OutboxIDs))
		}
		out = append(out, fmt.Sprintf("%03d@%s", q.Column.Number, q.Planned.UTC().Format("01-02T15:04")))
	}
	return out
}

// sent gives column number a finished campaign.
func (e *proofEnv) sent(number int) {
	e.t.Helper()
	e.writeDated(number, time.Time{}, "Alt.")
	c, err := e.campaigns().Start(context.Background(), e.column(number))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.m.RunCampaign(context.Background(), c, RunOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// TestProofIsDueExactlyProofBeforeItsRun walks the clock up to the moment
// a proof is due, for a column that is new now and for future-dated ones:
// nothing a second before, the proof at that moment, and only once.
func TestProofIsDueExactlyProofBeforeItsRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *proofEnv)
		run   time.Time // the run that will send it
		want  string
	}{
		{
			name:  "a new due column goes out on the next run",
			setup: func(e *proofEnv) { e.writeDated(31, time.Time{}, "Neu.") },
			run:   monday16,
			want:  "031@03-16T07:00",
		},
		{
			name: "a future-dated column goes out on the first run after its date",
			setup: func(e *proofEnv) {
				e.sent(30)
				e.writeDated(31, time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC), "Mittwochs datiert.")
			},
			run:  monday23,
			want: "031@03-23T07:00",
		},
		{
			name: "a column dated exactly at a run goes out on that run",
			setup: func(e *proofEnv) {
				e.sent(30)
				e.writeDated(31, monday23, "Auf die Minute.")
			},
			run:  monday23,
			want: "031@03-23T07:00",
		},
		{
			name: "first run: only the newest due column",
			setup: func(e *proofEnv) {
				e.writeDated(29, time.Time{}, "Alt.")
				e.writeDated(30, time.Time{}, "Neuer.")
			},
			run:  monday16,
			want: "030@03-16T07:00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newProofEnv(t, "de")
			tt.setup(e)
			due := tt.run.Add(-24 * time.Hour)
			if tt.run.After(monday16) {
				// The run before its date is near: no proof for it yet.
				if got := e.queueAt(monday16.Add(-time.Hour)); len(got) != 0 {
					t.Fatalf("before the run ahead of its date: queued %v", got)
				}
			}
			if got := e.queueAt(due.Add(-time.Second)); len(got) != 0 {
				t.Fatalf("a second early: queued %v", got)
			}
			if got := e.queueAt(due); strings.Join(got, " ") != tt.want {
				t.Fatalf("at --proof-before: queued %v, want %s", got, tt.want)
			}
			for _, later := range []time.Duration{time.Minute, time.Hour, 23 * time.Hour} {
				if got := e.queueAt(due.Add(later)); len(got) != 0 {
					t.Fatalf("%s later: queued %v again", later, got)
				}
			}
			if n := len(testkit.DueOutbox(t, e.db)); n != 2 {
				t.Errorf("%d mails in the outbox, want 2", n)
			}
		})
	}
}

func TestProofAfterEditNearRunAndHold(t *testing.T) {
	e := newProofEnv(t, "de")
	ctx := context.Background()

	// Written ten minutes before the run: the proof goes at once.
	e.writeDated(31, time.Time{}, "Erste Fassung.")
	if got := e.queueAt(monday16.Add(-10 * time.Minute)); strings.Join(got, " ") != "031@03-16T07:00" {
		t.Fatalf("queued %v", got)
	}
	// An edit is new content: a new proof.
	e.writeDated(31, time.Time{}, "Zweite Fassung, ohne Tippfehler.")
	if got := e.queueAt(monday16.Add(-5 * time.Minute)); strings.Join(got, " ") != "031@03-16T07:00" {
		t.Fatalf("after the edit: queued %v", got)
	}
	if got := e.queueAt(monday16.Add(-4 * time.Minute)); len(got) != 0 {
		t.Fatalf("again: %v", got)
	}
	// Back to the first content: proofed already, nothing new.
	e.writeDated(31, time.Time{}, "Erste Fassung.")
	if got := e.queueAt(monday16.Add(-3 * time.Minute)); len(got) != 0 {
		t.Fatalf("first content again: %v", got)
	}

	// A held column goes nowhere, so it gets no proof until released.
	e.writeDated(31, time.Time{}, "Dritte Fassung.")
	if _, _, err := e.m.Holds().Hold(ctx, 31, HeldByProof); err != nil {
		t.Fatal(err)
	}
	if got := e.queueAt(monday16.Add(-2 * time.Minute)); len(got) != 0 {
		t.Fatalf("held: %v", got)
	}
	if _, _, err := e.m.Holds().Release(ctx, 31); err != nil {
		t.Fatal(err)
	}
	if got := e.queueAt(monday16.Add(-time.Minute)); strings.Join(got, " ") != "031@03-16T07:00" {
		t.Fatalf("released: %v", got)
	}

	// Once the run has started the campaign, the column is not upcoming
	// any more.
	if _, err := e.campaigns().Start(ctx, e.column(31)); err != nil {
		t.Fatal(err)
	}
	e.writeDated(31, time.Time{}, "Vierte Fassung, zu spät.")
	if got := e.queueAt(monday16.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("after the campaign started: %v", got)
	}
}

// TestProofMail sends a proof through the outbox to the in-test SMTP
// server and reads it as the author would: the column mail under the
// banner, the subscriber's headers with a placeholder unsubscribe link,
// and a hold link that holds this column.
func TestProofMail(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			e := newProofEnv(t, lang)
			ctx := context.Background()
			e.addSubscribers("a", 2, subscribers.StatusActive) // and the one of newProofEnv
			e.addSubscribers("p", 2, subscribers.StatusPending)
			e.writeDated(31, time.Time{}, "Der Text.")
			e.clock.Set(monday16.Add(-time.Hour))
			tgt, err := e.proofs.Target(ctx, 0)
			if err != nil || tgt.Column.Number != 31 || !tgt.Planned.Equal(monday16) {
				t.Fatalf("target %+v %v", tgt, err)
			}
			q, recs, err := e.proofs.SendNow(ctx, tgt)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range q.OutboxIDs {
				if recs[id].State != "sent" {
					t.Errorf("outbox %d: %+v", id, recs[id])
				}
			}
			msgs := e.srv.ByRecipient()
			if len(msgs) != 2 || len(msgs["autorin@example.org"]) != 1 || len(msgs["lektor@example.org"]) != 1 {
				t.Fatalf("proofs went to %v", msgs)
			}
			raw := msgs["autorin@example.org"][0].Data
			h := testkit.ParseMail(t, raw).Header
			text := testkit.MailText(t, raw)
			subject, planned, count := "[Korrektur] KNIEPUNKT 031: Kolumne 31", "Geplanter Versand: Montag, 16.03.2026, 07:00 UTC", "so erhalten 3 Empfänger"
			if lang == "en" {
				subject, planned, count = "[Proof] KNIEPUNKT 031: Kolumne 31", "Planned send: Monday, 16 March 2026, 07:00 UTC", "as 3 subscribers"
			}
			if got := decodeHeader(t, h.Get("Subject")); got != subject {
				t.Errorf("subject %q, want %q", got, subject)
			}
			for _, want := range []string{planned, count, "KNIEPUNKT 031: Kolumne 31", "newsletter release 031"} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			if got := h.Get("List-Unsubscribe"); got != "<https://news.example.org/unsubscribe?token=PROOF>" {
				t.Errorf("List-Unsubscribe %q", got)
			}
			if h.Get("List-Id") == "" || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
				t.Errorf("list headers %v", h)
			}
			if !strings.Contains(text, "Abmelden: https://news.example.org/unsubscribe?token=PROOF") {
				t.Errorf("the footer does not carry the placeholder:\n%s", text)
			}
			link := testkit.HoldLink(t, text)
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			tgtHold, err := e.m.Holds().HoldByToken(ctx, u.Query().Get("token"))
			if err != nil || tgtHold.Number != 31 || tgtHold.Title != "KNIEPUNKT 031: Kolumne 31" {
				t.Fatalf("hold by the mail's link: %+v %v", tgtHold, err)
			}
		})
	}
}

// TestProofSurvivesOutage: with the SMTP server down, `proof` leaves the
// proof queued, uncharged, and the outbox worker sends it once the server
// is back.
func TestProofSurvivesOutage(t *testing.T) {
	e := newProofEnv(t, "de")
	ctx := context.Background()
	e.writeDated(31, time.Time{}, "Text.")
	e.clock.Set(monday16.Add(-time.Hour))
	e.srv.Stop()
	tgt, err := e.proofs.Target(ctx, 31)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.proofs.SendNow(ctx, tgt)
	if !errors.Is(err, ErrSMTPUnreachable) {
		t.Fatalf("SendNow with the server down: %v", err)
	}
	due := testkit.DueOutbox(t, e.db)
	if len(due) != 2 || due[0].Kind != db.OutboxKindProof || due[0].Attempts != 0 {
		t.Fatalf("outbox after the outage: %+v", due)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	// A fresh mailer: the failed one waits out its outage backoff.
	m := e.mailer()
	testkit.RunUntil(t, "both proofs", func(ctx context.Context) { m.RunOutbox(ctx, e.proofs, 20*time.Millisecond) },
		func() bool { return e.srv.Count() == 2 })
}

func TestProofTarget(t *testing.T) {
	e := newProofEnv(t, "en")
	ctx := context.Background()
	e.clock.Set(monday16.Add(-48 * time.Hour))
	if _, err := e.proofs.Target(ctx, 0); !errors.Is(err, ErrNothingToProof) {
		t.Errorf("empty folder: %v", err)
	}
	e.sent(29)
	e.writeDated(30, time.Time{}, "Neu.")
	e.writeDated(31, time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), "Später.")
	for _, tt := range []struct {
		number  int
		planned time.Time
		why     string
		err     error
	}{
		{0, monday16, "", nil},
		{30, monday16, "", nil},
		{31, monday23, "", nil},
		{29, time.Time{}, "", ErrAlreadySent},
		{32, time.Time{}, "", ErrNoColumn},
	} {
		got, err := e.proofs.Target(ctx, tt.number)
		if !errors.Is(err, tt.err) || (err == nil && (!got.Planned.Equal(tt.planned) || got.NotPlanned != tt.why)) {
			t.Errorf("Target(%d) = %v %q %v", tt.number, got.Planned, got.NotPlanned, err)
		}
	}
	if _, _, err := e.m.Holds().Hold(ctx, 30, HeldByAdmin); err != nil {
		t.Fatal(err)
	}
	got, err := e.proofs.Target(ctx, 30)
	if err != nil || !got.Planned.IsZero() || !strings.HasPrefix(got.NotPlanned, "held: by admin at ") {
		t.Errorf("held column: %+v %v", got, err)
	}
	// With 30 held, the next to go out is 31 (30 would be skipped once 31 is sent).
	if got, err := e.proofs.Target(ctx, 0); err != nil || got.Column.Number != 31 {
		t.Errorf("next with 30 held: %+v %v", got, err)
	}
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("header %q: %v", v, err)
	}
	return s
}
