package db_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"newsletter/db"
)

// insertSubscribers inserts the addresses with the given status.
func insertSubscribers(tx *db.Tx, status string, emails ...string) error {
	for _, email := range emails {
		if _, err := tx.Exec(`INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, email, email, status, tx.NowText(), tx.NowText()); err != nil {
			return err
		}
	}
	return nil
}

// addSubscribers inserts n active subscribers named PREFIXi@example.net.
func addSubscribers(t *testing.T, d *db.DB, prefix string, n int) {
	t.Helper()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("%s%d@example.net", prefix, i)
	}
	err := d.InTx(context.Background(), func(tx *db.Tx) error { return insertSubscribers(tx, "active", emails...) })
	if err != nil {
		t.Fatal(err)
	}
}

// subscriberRows is every subscriber as "id email", in id order.
func subscriberRows(t *testing.T, d *db.DB, where string) []string {
	t.Helper()
	rows, err := d.SQL().Query(`SELECT id, email FROM subscribers WHERE ` + where + ` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		var email string
		if err := rows.Scan(&id, &email); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s", id, email))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// newSource is a database n.db in a fresh folder with n active subscribers.
func newSource(t *testing.T, n int) (dir, src string, d *db.DB) {
	t.Helper()
	dir = t.TempDir()
	src = filepath.Join(dir, "n.db")
	d, err := db.Open(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	addSubscribers(t, d, "leser", n)
	return dir, src, d
}

func TestBackupWhileAnotherConnectionWrites(t *testing.T) {
	ctx := context.Background()
	dir, src, d := newSource(t, 2000)
	key, err := d.SecretKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := subscriberRows(t, d, `email LIKE 'leser%'`)

	// Another connection commits two rows per transaction all the while: a
	// consistent copy holds an even number of them.
	w, err := db.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stop atomic.Bool
	var commits atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; !stop.Load(); i++ {
			err := w.InTx(ctx, func(tx *db.Tx) error {
				return insertSubscribers(tx, "pending", fmt.Sprintf("w%d-a@example.net", i), fmt.Sprintf("w%d-b@example.net", i))
			})
			if err != nil {
				done <- err
				return
			}
			commits.Add(1)
		}
		done <- nil
	}()
	for commits.Load() < 20 {
		time.Sleep(time.Millisecond)
	}

	for round := range 3 {
		before := commits.Load()
		out := filepath.Join(dir, fmt.Sprintf("backup-%d.db", round))
		if err := db.Backup(ctx, src, out, false); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
		}
		b, err := db.Open(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		var check string
		if err := b.SQL().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Errorf("integrity_check: %q, %v", check, err)
		}
		var written int
		b.SQL().QueryRow(`SELECT COUNT(*) FROM subscribers WHERE email LIKE 'w%'`).Scan(&written)
		if written%2 != 0 || written == 0 {
			t.Errorf("backup holds %d of the writer's rows: a transaction torn apart, or none", written)
		}
		if got := subscriberRows(t, b, `email LIKE 'leser%'`); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("backup holds %d subscribers (ids and addresses differ), want %d", len(got), len(want))
		}
		// The key signs every unsubscribe link sent so far.
		if k, err := b.SecretKey(ctx); err != nil || string(k) != string(key) {
			t.Errorf("backup's secret key differs: %v", err)
		}
		b.Close()
		t.Logf("round %d: %d rows of the writer copied; it committed %d transactions meanwhile", round, written, commits.Load()-before)
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if commits.Load() < 40 {
		t.Errorf("the writer committed only %d transactions: the backups held it up", commits.Load())
	}
	// Nothing but the databases and the backups: no temporary file left.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); n[0] == '.' {
			t.Errorf("left behind: %s", n)
		}
	}
}

func TestBackupRefusesOverwriteUnlessReplace(t *testing.T) {
	ctx := context.Background()
	dir, src, d := newSource(t, 3)
	d.Close() // no -wal or -shm beside it now: the read-only open must cope

	out := filepath.Join(dir, "b.db")
	if err := os.WriteFile(out, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := db.Backup(ctx, src, out, false)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("backup over an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "an older backup" {
		t.Fatal("the existing file was changed")
	}
	if err := db.Backup(ctx, src, out, true); err != nil {
		t.Fatal(err)
	}
	b, err := db.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := subscriberRows(t, b, "1"); len(got) != 3 {
		t.Fatalf("replaced backup holds %v", got)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestBackupRefusesMissingDatabaseAndItself(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "typo.db")
	err := db.Backup(ctx, src, filepath.Join(dir, "b.db"), false)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing database: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files created: %v", entries)
	}

	src = filepath.Join(dir, "n.db")
	d, err := db.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, target := range []string{src, src + "-wal", src + "-shm"} {
		if err := db.Backup(ctx, src, target, true); err == nil {
			t.Errorf("backup onto %s was allowed", target)
		}
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
