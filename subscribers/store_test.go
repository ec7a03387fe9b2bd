package subscribers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// newStore is a store on a fresh test database.
func newStore(t testing.TB) *subscribers.Store {
	t.Helper()
	return testkit.NewStore(t, testkit.OpenDB(t, nil))
}

func TestAddPendingQueuesConfirmation(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	st := testkit.NewStore(t, d)
	ctx := context.Background()
	s, err := st.Add(ctx, subscribers.AddParams{Email: " Leser@Example.ORG", Name: " Lea "})
	if err != nil {
		t.Fatal(err)
	}
	if s.Email != "Leser@example.org" || s.Name != "Lea" || s.Status != subscribers.StatusPending {
		t.Fatalf("got %+v", s)
	}
	mails, err := db.SubscriberOutbox(ctx, d, s.ID)
	n := 0
	for _, m := range mails {
		if m.Kind == db.OutboxKindConfirm && m.State == "pending" {
			n++
		}
	}
	if err != nil || n != 1 {
		t.Fatalf("outbox rows = %d, want 1 (%+v, %v)", n, mails, err)
	}
	if _, err := st.Add(ctx, subscribers.AddParams{Email: "leser@EXAMPLE.org"}); !errors.Is(err, subscribers.ErrExists) {
		t.Fatalf("duplicate add: err = %v, want ErrExists", err)
	}
}

func TestAddConfirmedNeedsConsentNote(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	_, err := st.Add(ctx, subscribers.AddParams{Email: "a@example.org", Confirmed: true})
	var ie *subscribers.InvalidError
	if !errors.As(err, &ie) || ie.Field != "consent-note" {
		t.Fatalf("err = %v, want consent-note error", err)
	}
	s, err := st.Add(ctx, subscribers.AddParams{Email: "a@example.org", Confirmed: true, ConsentNote: "Formular auf Papier, 2026-11-01"})
	if err != nil || s.Status != subscribers.StatusActive || s.ConfirmedAt.IsZero() {
		t.Fatalf("got %+v, %v", s, err)
	}
	evs, err := st.Events(ctx, s.ID)
	if err != nil || len(evs) != 1 || evs[0].Kind != subscribers.EventConfirmed || evs[0].ConsentText != "Formular auf Papier, 2026-11-01" {
		t.Fatalf("events %+v, %v", evs, err)
	}
}

func TestUnsubscribeKeepsEvidenceAndIsIdempotent(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	s, _ := st.Add(ctx, subscribers.AddParams{Email: "a@example.org", Confirmed: true, ConsentNote: "x"})
	for i := 0; i < 2; i++ {
		got, err := st.Unsubscribe(ctx, s.ID, subscribers.Evidence{IP: "192.0.2.1", UserAgent: "UA"})
		if err != nil || got.Status != subscribers.StatusUnsubscribed {
			t.Fatalf("unsubscribe %d: %+v %v", i, got, err)
		}
	}
	evs, _ := st.Events(ctx, s.ID)
	if len(evs) != 2 || evs[1].Kind != subscribers.EventUnsubscribed || evs[1].IP != "192.0.2.1" {
		t.Fatalf("events %+v", evs)
	}
	if _, err := st.Unsubscribe(ctx, 9999, subscribers.Evidence{}); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestForgetErasesAndSuppresses(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	st := testkit.NewStore(t, d)
	ctx := context.Background()
	s, _ := st.Add(ctx, subscribers.AddParams{Email: "weg@example.org", Name: "Weg"})
	other, _ := st.Add(ctx, subscribers.AddParams{Email: "bleibt@example.org", Confirmed: true, ConsentNote: "shared wording"})
	if _, err := st.Unsubscribe(ctx, s.ID, subscribers.Evidence{ConsentText: "Notiz: Herr Weg rief an"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Forget(ctx, "WEG@example.org"); err != nil {
		t.Fatal(err)
	}
	var texts int
	d.SQL().QueryRow(`SELECT COUNT(*) FROM consent_texts WHERE body LIKE '%Weg%'`).Scan(&texts)
	if texts != 0 {
		t.Fatal("a consent text only the erased person used is still stored")
	}
	if evs, _ := st.Events(ctx, other.ID); len(evs) != 1 || evs[0].ConsentText != "shared wording" {
		t.Fatalf("other subscriber's evidence damaged: %+v", evs)
	}
	if _, err := st.FindByEmail(ctx, "weg@example.org"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("still found: %v", err)
	}
	var n int
	d.SQL().QueryRow(`SELECT COUNT(*) FROM consent_events WHERE subscriber_id = ?`, s.ID).Scan(&n)
	if n != 0 {
		t.Fatalf("consent_events: %d rows left", n)
	}
	if mails, err := db.SubscriberOutbox(ctx, d, s.ID); err != nil || len(mails) != 0 {
		t.Fatalf("outbox: %d rows left (%v)", len(mails), err)
	}
	var hash string
	d.SQL().QueryRow(`SELECT hash FROM suppressions`).Scan(&hash)
	if hash == "" || strings.Contains(hash, "weg") {
		t.Fatalf("suppression hash %q", hash)
	}
	if _, err := st.Add(ctx, subscribers.AddParams{Email: "weg@example.org"}); !errors.Is(err, subscribers.ErrSuppressed) {
		t.Fatalf("re-add: %v", err)
	}
	var problems []subscribers.ImportProblem
	res, err := st.Import(ctx, strings.NewReader("email\nweg@example.org\n"), subscribers.ImportOptions{}, func(p subscribers.ImportProblem) { problems = append(problems, p) })
	if err != nil || res.Added != 0 || res.Rejected != 1 || len(problems) != 1 || problems[0].Line != 2 {
		t.Fatalf("re-import: %+v %+v %v", res, problems, err)
	}
	if err := st.Forget(ctx, "weg@example.org"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("second forget: %v", err)
	}
}

// Erasure must reach the bytes on disk, not only the rows we can query.
func TestForgetLeavesNoTraceInTheFile(t *testing.T) {
	testkit.SQLiteOnly(t, "PostgreSQL keeps erased rows' bytes until VACUUM FULL and WAL recycling (docs/operations.md)")
	d := testkit.OpenDB(t, nil)
	st := testkit.NewStore(t, d)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		st.Add(ctx, subscribers.AddParams{Email: fmt.Sprintf("other%d@example.org", i), Confirmed: true, ConsentNote: "x"})
	}
	if _, err := st.Add(ctx, subscribers.AddParams{Email: "geheim.person@example.org", Name: "Gerda Geheim"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Forget(ctx, "geheim.person@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(d.Path() + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, needle := range []string{"geheim.person", "Gerda Geheim"} {
			if bytes.Contains(data, []byte(needle)) {
				t.Errorf("%q still in the database file%s after forget", needle, suffix)
			}
		}
	}
}

func TestImportReportsBadRowsKeepsGoodOnes(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	csvText := "Email,Name,Status,subscribed_at,notes\n" +
		"gut@example.org,Gut,,2026-01-02,x\n" +
		"kein-at.example.org,,,,\n" +
		"zwei@example.org,,weird,,\n" +
		"drei@example.org,,active,,\n" +
		"vier@example.org,,unsubscribed,2026-01-02T10:00:00Z,\n" +
		"fuenf@example.org,,,gestern,\n" +
		"GUT@example.org,Doppelt,,,\n"
	var problems []subscribers.ImportProblem
	res, err := st.Import(ctx, strings.NewReader(csvText), subscribers.ImportOptions{Source: "liste.csv"}, func(p subscribers.ImportProblem) { problems = append(problems, p) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 || res.Unchanged != 1 || res.Rejected != 4 {
		t.Fatalf("result %+v", res)
	}
	wantLines := []int{3, 4, 5, 7}
	for i, p := range problems {
		if p.Line != wantLines[i] {
			t.Errorf("problem %d at line %d, want %d (%s)", i, p.Line, wantLines[i], p.Reason)
		}
	}
	if len(res.IgnoredColumns) != 1 || res.IgnoredColumns[0] != "notes" {
		t.Errorf("ignored columns %v", res.IgnoredColumns)
	}
	s, err := st.FindByEmail(ctx, "gut@example.org")
	if err != nil || s.Status != subscribers.StatusPending || s.CreatedAt.Format("2006-01-02") != "2026-01-02" {
		t.Fatalf("gut: %+v %v", s, err)
	}
}

func TestImportBadQuotesKeepsEarlierRows(t *testing.T) {
	st := newStore(t)
	var problems []subscribers.ImportProblem
	in := "email,name\nfrueh@example.org,Frueh\n\"unterminated,foo\nok@example.com,x\n"
	res, err := st.Import(context.Background(), strings.NewReader(in), subscribers.ImportOptions{}, func(p subscribers.ImportProblem) { problems = append(problems, p) })
	if err != nil || res.Added != 1 || len(problems) != 1 || problems[0].Line != 3 {
		t.Fatalf("res %+v problems %+v err %v", res, problems, err)
	}
	in = "email\nbare\"quote@example.org\nok@example.com\n"
	problems = nil
	res, err = st.Import(context.Background(), strings.NewReader(in), subscribers.ImportOptions{}, func(p subscribers.ImportProblem) { problems = append(problems, p) })
	if err != nil || res.Added != 1 || len(problems) != 1 || problems[0].Line != 2 {
		t.Fatalf("bare quote: res %+v problems %+v err %v", res, problems, err)
	}
}

func TestImportErrors(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"no email column", "name\nx\n", "no email column"},
		{"duplicate column", "email,email\n", "twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.Import(ctx, strings.NewReader(tt.in), subscribers.ImportOptions{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := st.Import(ctx, strings.NewReader("email\n"), subscribers.ImportOptions{Confirmed: true}, nil); err == nil {
		t.Fatal("--confirmed without a note accepted")
	}
}

// TestImportLargeExportReimport streams a generated 100k-row CSV, checks a
// re-import changes nothing, and that the export reads back identically.
func TestImportLargeExportReimport(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	st := newStore(t)
	ctx := context.Background()
	var b bytes.Buffer
	b.WriteString("email,name,status\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "leser%06d@example.org,Leser %d,active\n", i, i)
	}
	data := b.Bytes()
	opts := subscribers.ImportOptions{ConsentNote: "Liste aus dem alten System, Double-Opt-in 2025", BatchSize: 2000}
	res, err := st.Import(ctx, bytes.NewReader(data), opts, func(p subscribers.ImportProblem) { t.Errorf("problem %+v", p) })
	if err != nil || res.Added != n {
		t.Fatalf("import: %+v %v", res, err)
	}
	res, err = st.Import(ctx, bytes.NewReader(data), opts, nil)
	if err != nil || res.Added != 0 || res.Unchanged != n {
		t.Fatalf("re-import: %+v %v", res, err)
	}
	counts, _ := st.CountByStatus(ctx)
	if counts[subscribers.StatusActive] != n {
		t.Fatalf("active = %d", counts[subscribers.StatusActive])
	}
	var export bytes.Buffer
	if err := st.Export(ctx, &export); err != nil {
		t.Fatal(err)
	}
	other := newStore(t)
	res, err = other.Import(ctx, bytes.NewReader(export.Bytes()), opts, func(p subscribers.ImportProblem) { t.Errorf("problem %+v", p) })
	if err != nil || res.Added != n {
		t.Fatalf("import of export: %+v %v", res, err)
	}
	var export2 bytes.Buffer
	other.Export(ctx, &export2)
	if export.String() != export2.String() {
		t.Fatal("export of re-imported list differs from the original export")
	}
}

func TestListStreamsAllPages(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("email,status\n")
	for i := 0; i < 2500; i++ {
		st := "pending"
		if i%2 == 0 {
			st = "unsubscribed"
		}
		fmt.Fprintf(&b, "l%d@example.org,%s\n", i, st)
	}
	if _, err := st.Import(ctx, strings.NewReader(b.String()), subscribers.ImportOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	count := func(f subscribers.Filter) int {
		n := 0
		if err := st.List(ctx, f, func(*subscribers.Subscriber) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count(subscribers.Filter{}); got != 2500 {
		t.Fatalf("all = %d", got)
	}
	if got := count(subscribers.Filter{Status: subscribers.StatusPending}); got != 1250 {
		t.Fatalf("pending = %d", got)
	}
}

func TestUnsubscribeToken(t *testing.T) {
	st := newStore(t)
	other := newStore(t)
	tok := st.UnsubscribeToken(42)
	if id, err := st.ParseUnsubscribeToken(tok); err != nil || id != 42 {
		t.Fatalf("parse own token: %d %v", id, err)
	}
	if st.UnsubscribeToken(42) != tok {
		t.Fatal("token is not deterministic")
	}
	bad := []string{"", "x", tok[:len(tok)-1], other.UnsubscribeToken(42), st.UnsubscribeToken(43)[:3] + tok[3:], strings.Repeat("A", 40)}
	for _, b := range bad {
		if _, err := st.ParseUnsubscribeToken(b); !errors.Is(err, subscribers.ErrBadToken) {
			t.Errorf("token %q accepted", b)
		}
	}
}

func TestClockInjected(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	st := testkit.NewStore(t, testkit.OpenDB(t, testkit.NewClock(at)))
	s, err := st.Add(context.Background(), subscribers.AddParams{Email: "a@example.org"})
	if err != nil || !s.CreatedAt.Equal(at) {
		t.Fatalf("created %v, %v", s.CreatedAt, err)
	}
}

// BenchmarkImport measures import rows/s and memory for a 100k-row CSV.
func BenchmarkImport(b *testing.B) {
	const n = 100_000
	var buf bytes.Buffer
	buf.WriteString("email,name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&buf, "leser%06d@example.org,Leser %d\n", i, i)
	}
	data := buf.Bytes()
	// The live heap: import must not grow with the file.
	peak := testkit.PeakMem(func(ms *runtime.MemStats) uint64 { return ms.HeapAlloc })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := newStore(b)
		b.StartTimer()
		res, err := st.Import(context.Background(), bytes.NewReader(data), subscribers.ImportOptions{}, nil)
		if err != nil || res.Added != n {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// An erased subscriber's id must never go to someone else: the old
// unsubscribe link would otherwise unsubscribe the newcomer.
func TestIDsNeverReused(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	a, _ := st.Add(ctx, subscribers.AddParams{Email: "a@example.org", Confirmed: true, ConsentNote: "x"})
	b, _ := st.Add(ctx, subscribers.AddParams{Email: "b@example.org", Confirmed: true, ConsentNote: "x"})
	oldToken := st.UnsubscribeToken(b.ID)
	if err := st.Forget(ctx, "b@example.org"); err != nil {
		t.Fatal(err)
	}
	c, err := st.Add(ctx, subscribers.AddParams{Email: "c@example.org", Confirmed: true, ConsentNote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == b.ID || c.ID == a.ID {
		t.Fatalf("id %d reused", c.ID)
	}
	id, err := st.ParseUnsubscribeToken(oldToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindByID(ctx, id); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("old token resolves to a subscriber: %v", err)
	}
}
