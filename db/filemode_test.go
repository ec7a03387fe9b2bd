package db_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"newsletter/db"
)

// The database, its WAL and its SHM hold every address, the consent
// evidence and the token key: they are created readable by the owner only,
// also under the usual umask 022 (which would leave SQLite's own 0644).
// The -wal and -shm files are created by SQLite, after Open's own file.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022) // no test in this package runs in parallel
	defer syscall.Umask(old)

	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "list") // created by Open
	path := filepath.Join(dir, "n.db")
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder: %v, %v; want drwx------", fi.Mode(), err)
	}
	if _, err := db.Open(ctx, filepath.Join(t.TempDir(), "typo", "list", "n.db")); err == nil {
		t.Error("a missing parent folder was created")
	}
	// A write makes sure the WAL and the shared memory file exist.
	if _, err := d.SQL().ExecContext(ctx, `CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", filepath.Base(p), got)
		}
	}
}

// An existing file keeps the mode its owner gave it: Open changes no
// permissions behind the admin's back (serve warns instead).
func TestOpenKeepsModeOfExistingFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.db")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o640 {
		t.Errorf("mode %v, want 0640", got)
	}
}
