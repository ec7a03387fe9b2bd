package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// newOptIn is double opt-in on d as serve builds it.
func newOptIn(t *testing.T, d *db.DB) *subscribers.OptIn {
	t.Helper()
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT", Imprint: "Impressum"})
	if err != nil {
		t.Fatal(err)
	}
	return subscribers.NewOptIn(testkit.NewStore(t, d), pages, subscribers.OptInConfig{BaseURL: "https://news.example.org"})
}

// newCopyFixture is a SQLite list with a row in (nearly) every table: 12
// readers who got column 031 with VERP, a bounce and a reader's reply
// ingested, a pending sign-up whose confirmation mail went out (its
// confirm token is returned), an erased reader, a held column.
func newCopyFixture(t *testing.T) (*bounceFixture, string) {
	t.Helper()
	dir := t.TempDir()
	sf := &sendFixture{dir: dir, dbPath: filepath.Join(dir, "list.db"), columns: filepath.Join(dir, "columns")}
	if err := os.Mkdir(sf.columns, 0o755); err != nil {
		t.Fatal(err)
	}
	sf.writeColumn(t, 31, "Heiße KI-Luft", "")
	sf.writeColumn(t, 32, "Später", "2099-01-05")
	d := testkit.OpenDBFile(t, sf.dbPath, nil)
	testkit.ImportSubscribers(t, testkit.NewStore(t, d), "leser", 12, subscribers.StatusActive)
	d.Close()
	sf.srv = testkit.StartSMTP(t)
	f := &bounceFixture{sendFixture: sf, vars: sf.env()}
	f.vars["NEWSLETTER_BOUNCE_ADDRESS"] = "bounces@example.org"
	steps := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"send"}},
		{"", []string{"hold", "32"}},
		{readerReply, []string{"bounces", "ingest"}},
	}
	for _, s := range steps {
		if out, errOut, code := f.cmd(t, s.stdin, s.args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", s.args, code, out, errOut)
		}
	}
	f.seen = f.mailsOf(t, 31)
	dsn := postfixDSN(t, "leser1@example.net", f.seen["leser1@example.net"])
	if out, errOut, code := f.cmd(t, dsn, "bounces", "ingest"); code != 0 {
		t.Fatalf("ingest: exit %d\n%s%s", code, out, errOut)
	}

	// A sign-up whose confirmation mail is rendered (which mints the token)
	// but not yet confirmed when the list moves.
	ctx := context.Background()
	d = testkit.OpenDBFile(t, sf.dbPath, nil)
	o := newOptIn(t, d)
	if _, err := o.Subscribe(ctx, subscribers.SubscribeRequest{Email: "neu@example.net", Lang: "de",
		Evidence: subscribers.Evidence{IP: "192.0.2.7", ConsentText: "Ja, ich will."}}); err != nil {
		t.Fatal(err)
	}
	var confirm string
	for _, it := range testkit.DueOutbox(t, d) {
		if it.Recipient == "neu@example.net" {
			m, err := o.RenderOutbox(ctx, it)
			if err != nil {
				t.Fatal(err)
			}
			link := testkit.ConfirmLink(t, m.Text)
			confirm = link[strings.Index(link, "token=")+len("token="):]
		}
	}
	if confirm == "" {
		t.Fatal("no confirmation mail for the sign-up")
	}
	d.Close()
	if out, errOut, code := f.cmd(t, "", "subscribers", "add", "weg@example.net"); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	// The newest subscriber erased: its id must stay unused on the copy too.
	if out, errOut, code := f.cmd(t, "", "subscribers", "forget", "weg@example.net"); code != 0 {
		t.Fatalf("forget: exit %d\n%s%s", code, out, errOut)
	}
	return f, confirm
}

// dumpTables is every copied table's rows, one line per row with its
// columns by name, in key order: equal dumps are equal lists, whatever
// the engine (bytes and text, int32 and int64 print alike).
func dumpTables(t *testing.T, dsn string) map[string][]string {
	t.Helper()
	d := testkit.OpenDBFile(t, dsn, nil)
	defer d.Close()
	out := map[string][]string{}
	for _, table := range db.CopyTables {
		out[table] = dumpTable(t, d.SQL(), table)
	}
	return out
}

func dumpTable(t *testing.T, q *sql.DB, table string) []string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), `SELECT * FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fields := make([]string, len(cols))
		for i, v := range vals {
			s := "NULL"
			switch x := v.(type) {
			case nil:
			case []byte:
				s = fmt.Sprintf("%q", x)
			case string:
				s = fmt.Sprintf("%q", x)
			default:
				s = fmt.Sprint(x)
			}
			fields[i] = cols[i] + "=" + s
		}
		slices.Sort(fields)
		lines = append(lines, strings.Join(fields, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

// SQLite → PostgreSQL → SQLite: every row arrives as it was, and the
// copies behave like the original.
func TestCopyDBRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	f, confirm := newCopyFixture(t)
	pg := testkit.PostgresURL(t, true) // skips without the server binaries
	back := filepath.Join(t.TempDir(), "back.db")

	orig := dumpTables(t, f.dbPath)
	for _, table := range db.CopyTables {
		if len(orig[table]) == 0 && table != "proofs" {
			t.Errorf("the fixture leaves %s empty: the round trip would not test it", table)
		}
	}

	out, errOut, code := f.cmd(t, "", "copy-db", "--to", pg)
	if code != 0 {
		t.Fatalf("copy-db to PostgreSQL: exit %d\n%s%s", code, out, errOut)
	}
	for _, table := range db.CopyTables {
		want := fmt.Sprintf("%-18s %8d\n", table, len(orig[table]))
		if !strings.Contains(out, want) {
			t.Errorf("copy-db output lacks %q:\n%s", want, out)
		}
	}
	pgVars := maps(f.vars, "NEWSLETTER_DB", pg)
	if out, errOut, code := runWith(pgVars, "", "copy-db", "--to", back); code != 0 {
		t.Fatalf("copy-db back to SQLite: exit %d\n%s%s", code, out, errOut)
	}
	for name, dsn := range map[string]string{"postgres": pg, "sqlite again": back} {
		got := dumpTables(t, dsn)
		for _, table := range db.CopyTables {
			if !slices.Equal(got[table], orig[table]) {
				t.Errorf("%s: %s differs:\n got %q\nwant %q", name, table, got[table], orig[table])
			}
		}
	}

	// An unsubscribe link from a mail sent before the move works on the copy.
	src := testkit.OpenDBFile(t, f.dbPath, nil)
	origStore := testkit.NewStore(t, src)
	anna, err := origStore.FindByEmail(context.Background(), "leser3@example.net")
	if err != nil {
		t.Fatal(err)
	}
	tok := origStore.UnsubscribeToken(anna.ID)
	src.Close()
	for name, dsn := range map[string]string{"postgres": pg, "sqlite again": back} {
		d := testkit.OpenDBFile(t, dsn, nil)
		store := testkit.NewStore(t, d)
		id, err := store.ParseUnsubscribeToken(tok)
		if err != nil || id != anna.ID {
			t.Errorf("%s: old unsubscribe link: id %d, %v; want %d", name, id, err, anna.ID)
		}
		if _, err := store.Unsubscribe(context.Background(), id, subscribers.Evidence{}); err != nil {
			t.Errorf("%s: unsubscribe through the old link: %v", name, err)
		}
		// So does the confirm link mailed before the move.
		if s, err := newOptIn(t, d).Confirm(context.Background(), confirm, subscribers.Evidence{}); err != nil || s.Email != "neu@example.net" {
			t.Errorf("%s: old confirm link: %v, %v", name, s, err)
		}
		d.Close()
	}

	// The sent column stays sent: send finds nothing new on either copy.
	before := f.srv.Count()
	for _, vars := range []map[string]string{pgVars, maps(f.vars, "NEWSLETTER_DB", back)} {
		out, errOut, code := runWith(vars, "", "send")
		if code != 0 || !strings.Contains(out, "Nothing to send") {
			t.Errorf("send on the copy: exit %d\n%s%s", code, out, errOut)
		}
	}
	if f.srv.Count() != before {
		t.Errorf("send on the copies mailed %d messages", f.srv.Count()-before)
	}

	// New ids continue past the copied ones, and past erased ones: weg@
	// (id 14, the newest) was erased, its id stays unused as on the original.
	for _, dsn := range []string{pg, back} {
		if out, errOut, code := runWith(maps(f.vars, "NEWSLETTER_DB", dsn), "", "subscribers", "add", "spaeter@example.net"); code != 0 {
			t.Fatalf("add on the copy: exit %d\n%s%s", code, out, errOut)
		}
		d := testkit.OpenDBFile(t, dsn, nil)
		later, err := testkit.NewStore(t, d).FindByEmail(context.Background(), "spaeter@example.net")
		if err != nil {
			t.Fatal(err)
		}
		if later.ID != 15 {
			t.Errorf("%s: new subscriber got id %d, want 15", db.EngineOf(dsn), later.ID)
		}
		d.Close()
	}
}

// maps is vars with key set to value, vars itself unchanged.
func maps(vars map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(vars)+1)
	for k, v := range vars {
		out[k] = v
	}
	out[key] = value
	return out
}

func TestCopyDBRefuses(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.db")
	vars := map[string]string{"NEWSLETTER_DB": full}
	if out, errOut, code := runWith(vars, "", "subscribers", "add", "--confirmed", "--consent-note", "test", "a@example.net"); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	other := filepath.Join(dir, "other.db")
	if out, errOut, code := runWith(maps(vars, "NEWSLETTER_DB", other), "", "subscribers", "add", "--confirmed", "--consent-note", "test", "b@example.net"); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"non-empty target", vars, []string{"copy-db", "--to", other}, "already holds data"},
		{"missing source", maps(vars, "NEWSLETTER_DB", filepath.Join(dir, "typo.db")), []string{"copy-db", "--to", filepath.Join(dir, "new.db")}, "no database at"},
		{"empty source file", maps(vars, "NEWSLETTER_DB", empty), []string{"copy-db", "--to", filepath.Join(dir, "new.db")}, "no database at"},
		{"no target", vars, []string{"copy-db"}, "give --to URL"},
		{"itself", vars, []string{"copy-db", "--to", full}, "itself"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runWith(c.vars, "", c.args...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, want an error saying %q\n%s%s", code, c.want, out, errOut)
			}
		})
	}
	// The refused copy left the target as it was: one subscriber.
	d := testkit.OpenDBFile(t, other, nil)
	if n := len(dumpTable(t, d.SQL(), "subscribers")); n != 1 {
		t.Errorf("target has %d subscribers after the refused copy, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		t.Error("a refused copy from a missing source created the target")
	}
}
