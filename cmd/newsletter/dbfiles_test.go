package main

import (
	"os"
	"strings"
	"testing"

	"newsletter/mailer/smtptest"
)

// serve warns once at start when an existing database lets other users
// in, naming the file and the fix; a database it creates is private and
// gets no warning.
func TestServeWarnsAboutReadableDatabase(t *testing.T) {
	srv := smtptest.New()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

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
