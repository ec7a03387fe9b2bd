package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"newsletter/internal/testkit"
)

// serve warns once at start when an existing database lets other users
// in, naming the file and the fix; a database it creates is private and
// gets no warning.
func TestServeWarnsAboutReadableDatabase(t *testing.T) {
	testkit.SQLiteOnly(t, "file modes of the SQLite files")
	srv := testkit.StartSMTP(t)

	dbPath, columns := serveFolder(t)
	p := startServe(t, dbPath, columns, srv.Addr)
	p.stop(t)
	if strings.Contains(p.errs.String(), "chmod 600") {
		t.Errorf("a database serve created is reported as open:\n%s", p.errs.String())
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("serve created the database %v", fi.Mode().Perm())
	}

	if err := os.Chmod(dbPath, 0o644); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, dbPath, columns, srv.Addr)
	p.stop(t)
	out := p.errs.String()
	if n := countWarnings(out, "open to other users"); n != 1 {
		t.Fatalf("%d warnings about the open database, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, dbPath) || !strings.Contains(out, `fix="chmod 600 `+dbPath) {
		t.Errorf("the warning does not name the file and the fix:\n%s", out)
	}
}

func countWarnings(log, what string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, what) {
			n++
		}
	}
	return n
}

// A mistyped --db is an error for send and columns, as for `subscribers
// list`: it never becomes a new empty database on which a campaign would
// burn the column.
func TestSendAndColumnsRefuseMissingDatabase(t *testing.T) {
	f := newSendFixture(t, 2)
	typo := filepath.Join(f.dir, "typo.db")
	for _, args := range [][]string{
		{"send"}, {"send", "--column", "31"}, {"send", "--dry-run"}, {"send", "--to", "probe@example.com"}, {"columns"},
	} {
		out, errOut, code := f.run(t, append(args, "--db", typo)...)
		if code != 1 || !strings.Contains(errOut, "no database at "+typo) || strings.Count(errOut, "newsletter: ") != 1 {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
		if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%q created %s: %v", args, typo, err)
		}
	}
	if f.srv.Count() != 0 {
		t.Errorf("%d messages sent", f.srv.Count())
	}
}

// With nobody to send to, send starts no campaign: the summary says why
// and the column stays new (before, it was "finished (0 sent)" for good).
func TestSendWithoutRecipientsKeepsColumnNew(t *testing.T) {
	f := newSendFixture(t, 0)
	out, errOut, code := f.run(t, "send")
	if code != 0 || !strings.Contains(out, `Column 031 "KNIEPUNKT 031: Heiße KI-Luft" not sent: no confirmed subscriber to send it to; it stays new`) {
		t.Fatalf("send: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = f.run(t, "send", "--column", "31")
	if code != 1 || !strings.Contains(errOut, "column 031: no confirmed subscriber to send it to; nothing was started, the column stays new") {
		t.Fatalf("send --column: exit %d\n%s", code, errOut)
	}
	out, _, code = f.run(t, "send", "--dry-run")
	if code != 0 || !strings.Contains(out, "would go to 0 active subscribers.\nIt would not be sent: no confirmed subscriber") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	out, errOut, code = f.run(t, "columns")
	if code != 0 || !regexp.MustCompile(`(?m)^031 .*\bnew\s*$`).MatchString(out) || !strings.Contains(out, "Next: column 031") {
		t.Fatalf("columns: exit %d\n%s%s", code, out, errOut)
	}

	// Someone confirms: the next send delivers column 031.
	if _, errOut, code := f.run(t, "subscribers", "add", "leser@example.net", "--confirmed", "--consent-note", "Test"); code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	out, errOut, code = f.run(t, "send")
	if code != 0 || !strings.Contains(out, "sent                1") || f.srv.Count() != 1 {
		t.Fatalf("send after a confirmation: exit %d, %d messages\n%s%s", code, f.srv.Count(), out, errOut)
	}
}
