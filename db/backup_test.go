package db_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// subscriberRows is every subscriber with status (empty: all) as
// "id email", in id order, as the subscribers store lists them.
func subscriberRows(t *testing.T, d *db.DB, status subscribers.Status) []string {
	t.Helper()
	var out []string
	err := testkit.NewStore(t, d).List(context.Background(), subscribers.Filter{Status: status}, func(s *subscribers.Subscriber) error {
		out = append(out, fmt.Sprintf("%d %s", s.ID, s.Email))
		return nil
	})
	if err != nil {
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
	testkit.ImportSubscribers(t, testkit.NewStore(t, d), "leser", n, subscribers.StatusActive)
	return dir, src, d
}

func TestBackupWhileAnotherConnectionWrites(t *testing.T) {
	ctx := context.Background()
	dir, src, d := newSource(t, 2000)
	key, err := d.SecretKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := subscriberRows(t, d, subscribers.StatusActive)

	// Another connection commits two pending subscribers per transaction
	// (one import) all the while: a consistent copy holds an even number of
	// them.
	w, err := db.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ws := subscribers.NewStore(w, key)
	var stop atomic.Bool
	var commits atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; !stop.Load(); i++ {
			rows := fmt.Sprintf("email,status\nw%d-a@example.net,pending\nw%d-b@example.net,pending\n", i, i)
			res, err := ws.Import(ctx, strings.NewReader(rows), subscribers.ImportOptions{}, func(subscribers.ImportProblem) {})
			if err == nil && res.Added != 2 {
				err = fmt.Errorf("import added %d of 2", res.Added)
			}
			if err != nil {
				done <- err
				return
			}
			commits.Add(1)
		}
		done <- nil
	}()
	testkit.Eventually(t, "the writer's first 20 transactions", func() bool { return commits.Load() >= 20 })

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
		written := len(subscriberRows(t, b, subscribers.StatusPending))
		if written%2 != 0 || written == 0 {
			t.Errorf("backup holds %d of the writer's rows: a transaction torn apart, or none", written)
		}
		if got := subscriberRows(t, b, subscribers.StatusActive); fmt.Sprint(got) != fmt.Sprint(want) {
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
	if got := subscriberRows(t, b, ""); len(got) != 3 {
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
