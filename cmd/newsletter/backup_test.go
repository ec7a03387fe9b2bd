package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
)

// restore does what docs/operations.md tells the admin: the database and
// its -wal and -shm go, the backup is copied into place.
func restore(t *testing.T, backup, dbPath string) {
	t.Helper()
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dbPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBackupCommand(t *testing.T) {
	testkit.SQLiteOnly(t, "backup copies the SQLite file; its refusal of a postgres:// --db is checked in the SQLite run")
	f := newSendFixture(t, 5)
	file := filepath.Join(f.dir, "backup.db")

	out, errOut, code := f.run(t, "backup", file)
	if code != 0 || !strings.HasPrefix(out, "Backed up "+f.dbPath+" to "+file+" (") || errOut != "" {
		t.Fatalf("backup: code %d\n%s%s", code, out, errOut)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}

	// A second run keeps the first backup unless told otherwise.
	before, _ := os.ReadFile(file)
	_, errOut, code = f.run(t, "backup", file)
	if code != 1 || errOut != "newsletter: "+file+" already exists; give --force to replace it\n" {
		t.Fatalf("overwrite: code %d\n%s", code, errOut)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatal("the existing backup was changed")
	}
	out, errOut, code = f.run(t, "backup", "--force", file)
	if code != 0 || !strings.HasPrefix(out, "Backed up ") {
		t.Fatalf("--force: code %d\n%s%s", code, out, errOut)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced backup mode %v, want 0600", fi.Mode().Perm())
	}

	// The copy is a database db.Open takes, with the same subscribers.
	b := testkit.OpenDBFile(t, file, nil)
	counts, err := testkit.NewStore(t, b).CountByStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if n := counts[subscribers.StatusActive]; n != 5 {
		t.Errorf("backup holds %d active subscribers, want 5", n)
	}

	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"backup"}, 2, "newsletter: backup: give one FILE to write the copy to\n"},
		{[]string{"backup", "a.db", "b.db"}, 2, "newsletter: backup: give one FILE to write the copy to\n"},
		{[]string{"backup", "--db", f.dbPath, f.dbPath, "--force"}, 1, "is the database itself"},
		{[]string{"backup", "--db", filepath.Join(f.dir, "typo.db"), filepath.Join(f.dir, "t.db")}, 1,
			"newsletter: --db: no database at " + filepath.Join(f.dir, "typo.db") + " (check the path"},
		{[]string{"backup", "--db", "postgres://news@db.example.org/news", filepath.Join(f.dir, "p.db")}, 1, "pg_dump"},
		{[]string{"backup", "--db", "postgresql://news@db.example.org/news", filepath.Join(f.dir, "p.db")}, 1, "point-in-time recovery"},
	} {
		_, errOut, code := f.run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) || strings.Count(errOut, "\n") > 2 {
			t.Errorf("%v: code %d, want %d with %q\n%s", tc.args, code, tc.code, tc.err, errOut)
		}
	}
	for _, p := range []string{"typo.db", "t.db", "p.db"} {
		if _, err := os.Stat(filepath.Join(f.dir, p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
}

// TestBackupRestore backs up, loses the database, restores the copy: the
// list is there and the next column goes out.
func TestBackupRestore(t *testing.T) {
	testkit.SQLiteOnly(t, "backup copies the SQLite file; its refusal of a postgres:// --db is checked in the SQLite run")
	f := newSendFixture(t, 5)
	file := filepath.Join(f.dir, "backup.db")
	if out, errOut, code := f.run(t, "backup", file); code != 0 {
		t.Fatalf("backup: code %d\n%s%s", code, out, errOut)
	}
	restore(t, file, f.dbPath)

	out, errOut, code := f.run(t, "subscribers", "list", "--format", "csv")
	if code != 0 {
		t.Fatalf("list: code %d\n%s", code, errOut)
	}
	for i := range 5 {
		if !strings.Contains(out, fmt.Sprintf("leser%d@example.net,Leserin leser%d,active", i, i)) {
			t.Errorf("restored list lacks leser%d:\n%s", i, out)
		}
	}
	out, errOut, code = f.run(t, "send")
	if code != 0 || !strings.Contains(out, "sent                5") || f.srv.Count() != 5 {
		t.Fatalf("send after restore: code %d, %d messages\n%s%s", code, f.srv.Count(), out, errOut)
	}
	if fi, _ := os.Stat(f.dbPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("restored database mode %v", fi.Mode().Perm())
	}
}

// TestBackupDuringCampaignResumes is issue 9's "done when": a backup taken
// while a campaign is being sent restores to a database on which the
// campaign resumes, and every subscriber gets the column exactly once
// counting the messages of the server before the loss and the one after.
func TestBackupDuringCampaignResumes(t *testing.T) {
	testkit.SQLiteOnly(t, "backup copies the SQLite file; its refusal of a postgres:// --db is checked in the SQLite run")
	const n, accepted, workers = 40, 15, 4
	f := newSendFixture(t, n)

	// The first server accepts `accepted` messages, then holds every
	// further one at RCPT until the backup is taken, and refuses it then:
	// the backup is taken with every connection mid-message.
	first := f.srv
	var granted, held atomic.Int32
	gate := make(chan struct{})
	first.Rcpt = func(rcpt string, attempt int) error {
		if granted.Add(1) <= accepted {
			return nil
		}
		held.Add(1)
		<-gate
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "going down"}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := f.env()
	sendDone := make(chan string, 1)
	go func() {
		var out, errb strings.Builder
		code := run(ctx, []string{"newsletter", "send"}, func(k string) string { return env[k] },
			strings.NewReader(""), &out, &errb)
		sendDone <- fmt.Sprintf("code %d\n%s%s", code, out.String(), errb.String())
	}()

	// Wait until the accepted messages are recorded and every connection
	// waits at the gate.
	watch := testkit.OpenDBFile(t, f.dbPath, nil)
	campaigns := mailer.NewCampaignStore(watch)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sent int
		if c, err := campaigns.Find(context.Background(), 31); err == nil {
			n, _ := campaigns.Counts(context.Background(), c.ID)
			sent = n.Sent
		}
		if sent == accepted && held.Load() == workers && first.Count() == accepted {
			break
		}
		if time.Now().After(deadline) {
			close(gate)
			t.Fatalf("campaign did not reach the gate: %d recorded, %d held, %d accepted\n%s", sent, held.Load(), first.Count(), <-sendDone)
		}
		time.Sleep(5 * time.Millisecond)
	}
	watch.Close()

	file := filepath.Join(f.dir, "backup.db")
	if out, errOut, code := f.run(t, "backup", file); code != 0 {
		close(gate)
		t.Fatalf("backup: code %d\n%s%s", code, out, errOut)
	}

	// The machine goes down: the held messages are refused, the sender
	// stops, the database is lost.
	close(gate)
	cancel()
	select {
	case <-sendDone:
	case <-time.After(30 * time.Second):
		t.Fatal("send did not stop")
	}
	first.Stop()
	if first.Count() != accepted {
		t.Fatalf("first server accepted %d, want %d", first.Count(), accepted)
	}
	restore(t, file, f.dbPath)

	// A new machine, a new relay: send resumes the campaign (after the
	// leases of the lost sender in the backup run out).
	second := testkit.NewSMTPServer()
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	f.srv = second
	out, errOut, code := f.run(t, "send")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("sent                %d", n)) {
		t.Fatalf("resumed send: code %d\n%s%s", code, out, errOut)
	}

	got := map[string]int{}
	for _, srv := range []*testkit.SMTPServer{first, second} {
		for rcpt, msgs := range srv.ByRecipient() {
			got[rcpt] += len(msgs)
		}
	}
	for i := range n {
		rcpt := fmt.Sprintf("leser%d@example.net", i)
		if got[rcpt] != 1 {
			t.Errorf("%s got the column %d times", rcpt, got[rcpt])
		}
	}
	if len(got) != n || second.Count() != n-accepted {
		t.Errorf("%d recipients; the second server sent %d, want %d", len(got), second.Count(), n-accepted)
	}
}
