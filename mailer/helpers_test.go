package mailer

import (
	"context"
	"fmt"
	htmlpkg "html"
	"os"
	"path/filepath"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// fakeRenderer renders a tiny, stable body, so tests and the golden file
// pin what this package does (headers, MIME) and not the templates.
type fakeRenderer struct{}

type fakePrepared struct{ c *columns.Column }

func (fakeRenderer) Prepare(c *columns.Column) (ColumnMail, error) { return fakePrepared{c}, nil }

// Personalize, Parts and Values are those of a *templates.PreparedMail,
// so campaigns encode the mail once as they do for the real one.
func (p fakePrepared) Personalize(r templates.Recipient) templates.RenderedMail {
	text, html := p.Parts()
	tv, hv := p.Values(r)
	return templates.RenderedMail{Subject: p.c.Subject, Text: text.Fill(&tv), HTML: html.Fill(&hv), UnsubscribeURL: r.UnsubscribeURL}
}

func (p fakePrepared) Subject() string { return p.c.Subject }

func (p fakePrepared) Parts() (text, html templates.Part) {
	text = templates.Part{
		Static: []string{"Hallo ", ",\n\n" + p.c.TitleLine + "\n\nAbmelden: ", "\n"},
		Slots:  []templates.Slot{templates.SlotName, templates.SlotUnsubscribe},
	}
	html = templates.Part{
		Static: []string{"<!DOCTYPE html>\n<p>Hallo ", ",</p><h1>" + htmlpkg.EscapeString(p.c.TitleLine) + "</h1><p><a href=\"", "\">Abmelden</a></p>\n"},
		Slots:  []templates.Slot{templates.SlotName, templates.SlotUnsubscribe},
	}
	return text, html
}

func (p fakePrepared) Values(r templates.Recipient) (text, html templates.SlotValues) {
	text = templates.SlotValues{templates.SlotEmail: r.Email, templates.SlotName: r.Name, templates.SlotUnsubscribe: r.UnsubscribeURL}
	html = templates.SlotValues{templates.SlotEmail: htmlpkg.EscapeString(r.Email), templates.SlotName: htmlpkg.EscapeString(r.Name),
		templates.SlotUnsubscribe: htmlpkg.EscapeString(r.UnsubscribeURL)}
	return text, html
}

// testEnv is a database, a store, a columns folder, an SMTP server and a
// mailer wired together, on the wall clock: retries really wait.
type testEnv struct {
	t     testing.TB
	db    *db.DB
	store *subscribers.Store
	srv   *testkit.SMTPServer
	dir   string
	opts  Options
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvAt(t, nil)
}

// newTestEnvAt is newTestEnv with the database on clock (nil: the wall
// clock).
func newTestEnvAt(t testing.TB, clock *testkit.Clock) *testEnv {
	t.Helper()
	d := testkit.OpenDB(t, clock)
	key, err := d.SecretKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartSMTP(t)
	dir := filepath.Join(t.TempDir(), "columns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, db: d, store: subscribers.NewStore(d, key), srv: srv, dir: dir}
	e.opts = Options{
		SMTPAddr:     srv.Addr,
		SMTPTLS:      TLSOpportunistic,
		SMTPTimeout:  5 * time.Second,
		From:         "Kniepunkt <kolumne@example.org>",
		BaseURL:      "https://news.example.org",
		ListName:     "Kniepunkt",
		Workers:      4,
		RetryBackoff: 10 * time.Millisecond,
		RetryFor:     time.Hour,
		PollEvery:    20 * time.Millisecond,
		ColumnsDir:   dir,
		Location:     time.UTC,
		Secret:       key,
		Logger:       testkit.Logger(t),
	}
	return e
}

func (e *testEnv) mailer(mod ...func(*Options)) *Mailer {
	e.t.Helper()
	o := e.opts
	for _, f := range mod {
		f(&o)
	}
	m, err := New(e.db, e.store, fakeRenderer{}, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// addSubscribers seeds n subscribers with the given status through the
// store and returns their ids. Addresses are <prefix><i>@example.net.
func (e *testEnv) addSubscribers(prefix string, n int, status subscribers.Status) []int64 {
	e.t.Helper()
	return testkit.AddSubscribers(e.t, e.store, prefix, n, status)
}

// writeColumn puts a plain-text column file into the columns folder.
func (e *testEnv) writeColumn(number int, title string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, fmt.Sprintf("%03d-kolumne.txt", number))
	body := fmt.Sprintf("KNIEPUNKT %03d: %s\n\nEin erster Absatz über %s.\n\nZum Weiterlesen:\nQuelle: https://example.com/%d\n", number, title, title, number)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *testEnv) column(number int) *columns.Column {
	e.t.Helper()
	path := filepath.Join(e.dir, fmt.Sprintf("%03d-kolumne.txt", number))
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	col, err := columns.Parse(path, data, time.UTC)
	if err != nil {
		e.t.Fatal(err)
	}
	return col
}

// campaigns is the campaign store on the test database.
func (e *testEnv) campaigns() *CampaignStore { return NewCampaignStore(e.db) }

func (e *testEnv) start(number int) *Campaign {
	e.t.Helper()
	e.writeColumn(number, "Heiße KI-Luft")
	c, err := e.campaigns().Start(context.Background(), e.column(number))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// subscriberStatus is the subscriber's state, as the store reads it.
func (e *testEnv) subscriberStatus(id int64) subscribers.Status {
	e.t.Helper()
	sub, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return sub.Status
}
