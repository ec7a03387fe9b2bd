package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// TestSendCrashChild is not a test: TestSendSurvivesKill runs the test
// binary again with NEWSLETTER_CRASH_CHILD=1, and then this runs `newsletter
// send` through run, configured by the NEWSLETTER_* variables, in a real
// child process that can be killed with SIGKILL.
func TestSendCrashChild(t *testing.T) {
	if os.Getenv("NEWSLETTER_CRASH_CHILD") != "1" {
		t.Skip("helper process for TestSendSurvivesKill")
	}
	os.Exit(run(context.Background(), []string{"newsletter", "send"}, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// sendFixture is a database with active subscribers, a columns folder with
// one column and an SMTP server.
type sendFixture struct {
	dir, dbPath, columns string
	srv                  *testkit.SMTPServer
	vars                 map[string]string // NEWSLETTER_* set over env's
}

func newSendFixture(t *testing.T, n int) *sendFixture {
	t.Helper()
	return newSendFixtureAt(t, n, testkit.NewDBName(t)) // a file, or a PostgreSQL URL
}

// newSendFixtureAt is newSendFixture on the database dsn names.
func newSendFixtureAt(t testing.TB, n int, dsn string) *sendFixture {
	t.Helper()
	f := &sendFixture{dir: t.TempDir(), dbPath: dsn}
	f.columns = filepath.Join(f.dir, "columns")
	if err := os.Mkdir(f.columns, 0o755); err != nil {
		t.Fatal(err)
	}
	f.writeColumn(t, 31, "Heiße KI-Luft", "")
	d := testkit.OpenDBFile(t, f.dbPath, nil)
	testkit.ImportSubscribers(t, testkit.NewStore(t, d), "leser", n, subscribers.StatusActive)
	d.Close() // the runs under test open the file themselves
	f.srv = testkit.StartSMTP(t)
	return f
}

func (f *sendFixture) writeColumn(t testing.TB, number int, title, date string) {
	t.Helper()
	body := fmt.Sprintf("KNIEPUNKT %03d: %s\n\nEin Absatz.\n\nZum Weiterlesen:\nQuelle: https://example.com/%d\n", number, title, number)
	if date != "" {
		body = "---\ndate: " + date + "\n---\n" + body
	}
	if err := os.WriteFile(filepath.Join(f.columns, fmt.Sprintf("%03d-kolumne.txt", number)), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// env is the configuration as NEWSLETTER_* variables.
func (f *sendFixture) env() map[string]string {
	env := map[string]string{
		"NEWSLETTER_DB":            f.dbPath,
		"NEWSLETTER_COLUMNS":       f.columns,
		"NEWSLETTER_SMTP_ADDR":     f.srv.Addr,
		"NEWSLETTER_SMTP_TLS":      "off",
		"NEWSLETTER_FROM":          "Kniepunkt <kolumne@example.org>",
		"NEWSLETTER_BASE_URL":      "https://news.example.org",
		"NEWSLETTER_WORKERS":       "4",
		"NEWSLETTER_RETRY_BACKOFF": "10ms",
		"NEWSLETTER_WAIT":          "1m",
		"NEWSLETTER_TIMEZONE":      "UTC",
		"NEWSLETTER_LEASE":         "2s",
	}
	for k, v := range f.vars {
		env[k] = v
	}
	return env
}

func (f *sendFixture) child(t testing.TB, out *bytes.Buffer) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSendCrashChild$")
	cmd.Env = append(os.Environ(), "NEWSLETTER_CRASH_CHILD=1")
	for k, v := range f.env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}

func TestSendSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	const n, workers = 300, 4
	f := newSendFixture(t, n)
	f.srv.SetDelay(10 * time.Millisecond) // slow enough to kill mid-campaign

	var out1 bytes.Buffer
	first := f.child(t, &out1)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for f.srv.Count() < n/4 {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("first sender made no progress:\n%s", out1.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill := f.srv.Count()
	if atKill >= n {
		t.Fatalf("the first sender finished (%d messages) before it was killed; slow the server down", atKill)
	}

	// The second run takes over the dead sender's leases once they expire.
	var out2 bytes.Buffer
	if err := f.child(t, &out2).Run(); err != nil {
		t.Fatalf("second send: %v\n%s", err, out2.String())
	}
	if !strings.Contains(out2.String(), fmt.Sprintf("sent                %d", n)) {
		t.Errorf("summary does not report %d sent:\n%s", n, out2.String())
	}

	dups := checkOnce(t, f, n)
	if dups > workers {
		t.Errorf("%d duplicates, want at most %d (one in flight per connection)", dups, workers)
	}
	t.Logf("killed after %d messages; %d duplicates", atKill, dups)
}
