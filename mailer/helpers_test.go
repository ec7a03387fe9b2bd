package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/mailer/smtptest"
	"newsletter/subscribers"
	"newsletter/templates"
)

// fakeRenderer renders a tiny, stable body, so tests and the golden file
// pin what this package does (headers, MIME) and not the templates.
type fakeRenderer struct{}

type fakePrepared struct{ c *columns.Column }

func (fakeRenderer) Prepare(c *columns.Column) (PreparedMail, error) { return fakePrepared{c}, nil }

func (p fakePrepared) Personalize(r templates.Recipient) templates.RenderedMail {
	return templates.RenderedMail{
		Subject: p.c.Subject,
		Text:    fmt.Sprintf("Hallo %s,\n\n%s\n\nAbmelden: %s\n", r.Name, p.c.TitleLine, r.UnsubscribeURL),
		HTML:    fmt.Sprintf("<!DOCTYPE html>\n<p>Hallo %s,</p><h1>%s</h1><p><a href=\"%s\">Abmelden</a></p>\n", r.Name, p.c.TitleLine, r.UnsubscribeURL),
	}
}

// testEnv is a database, a store, a columns folder, an SMTP server and a
// mailer wired together.
type testEnv struct {
	t     testing.TB
	db    *db.DB
	store *subscribers.Store
	srv   *smtptest.Server
	dir   string
	opts  Options
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	key, err := d.SecretKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv := smtptest.New()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
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
		Logger:       testLogger(t),
	}
	return e
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
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

// addSubscribers inserts n subscribers with the given status in one
// transaction and returns their ids. Addresses are r<prefix><i>@example.net.
func (e *testEnv) addSubscribers(prefix string, n int, status subscribers.Status) []int64 {
	e.t.Helper()
	ids := make([]int64, 0, n)
	err := e.db.InTx(context.Background(), func(tx *db.Tx) error {
		st, err := tx.Prepare(`INSERT INTO subscribers (email, email_key, name, status, lang, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'de', ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range n {
			email := fmt.Sprintf("%s%d@example.net", prefix, i)
			res, err := st.Exec(email, email, fmt.Sprintf("Leserin %s%d", prefix, i), status, tx.NowText(), tx.NowText())
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
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
	col, err := columns.ParseFile(filepath.Join(e.dir, fmt.Sprintf("%03d-kolumne.txt", number)), time.UTC)
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

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parse reads a received message.
func parse(t testing.TB, data []byte) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("unparseable message: %v\n%s", err, data)
	}
	return msg
}

func subscriberStatus(t testing.TB, d *db.DB, id int64) string {
	t.Helper()
	var s string
	if err := d.SQL().QueryRow(`SELECT status FROM subscribers WHERE id = ?`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
