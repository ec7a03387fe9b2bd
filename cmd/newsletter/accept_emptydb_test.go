package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A zero-byte --db file is no database: the commands that refuse a
// missing one refuse it with the same message, and leave it as it was
// (before, send turned it into a database with the file's mode 0644).
func TestEmptyDatabaseFileRefused(t *testing.T) {
	f := newSendFixture(t, 1)
	empty := filepath.Join(f.dir, "empty.db")
	for _, args := range [][]string{
		{"send"}, {"send", "--dry-run"}, {"columns"}, {"backup", filepath.Join(f.dir, "copy.db")},
		{"subscribers", "list"}, {"subscribers", "export"}, {"hold", "31"}, {"bounces", "list"},
	} {
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := f.run(t, append(args, "--db", empty)...)
		if code != 1 || !strings.Contains(errOut, "--db: no database at "+empty) {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
		if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
			t.Errorf("%q changed the empty file: %v %v", args, fi.Size(), err)
		}
		for _, side := range []string{"-wal", "-shm"} {
			os.Remove(empty + side)
		}
	}
}
