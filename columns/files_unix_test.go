//go:build unix

package columns

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:*:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "051-x.txt")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	_, err := parseFile(link, nil)
	mustRefuse(t, err, "051-x.txt", "symbolic link")
	if strings.Contains(err.Error(), "root") {
		t.Errorf("error shows the target's content: %q", err)
	}

	// A link to a perfectly good column is refused all the same: the
	// folder is what the author controls, not where a link points.
	good := filepath.Join(t.TempDir(), "052-gut.txt")
	if err := os.WriteFile(good, []byte(colText(52, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	link = filepath.Join(dir, "052-gut.txt")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	_, err = parseFile(link, nil)
	mustRefuse(t, err, "052-gut.txt", "symbolic link")
}

func TestParseFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "053-fifo.txt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	sub := filepath.Join(dir, "054-ordner.txt")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// Reading a FIFO with no writer would block for ever: the check must
	// come before any open that waits.
	done := make(chan error, 1)
	go func() { _, err := parseFile(fifo, nil); done <- err }()
	select {
	case err := <-done:
		mustRefuse(t, err, "053-fifo.txt", "not a regular file")
	case <-time.After(10 * time.Second):
		t.Fatal("parseFile blocks on a FIFO")
	}
	_, err := parseFile(sub, nil)
	mustRefuse(t, err, "054-ordner.txt", "not a regular file")
	if _, err := os.Stat("/dev/null"); err == nil {
		_, err := parseFile("/dev/null", nil)
		mustRefuse(t, err, "/dev/null", "not a regular file")
	}
}

func TestOpenRegularNoticesSwap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "040-x.txt")
	if err := os.WriteFile(path, []byte(colText(40, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	checked, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}

	secret := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(secret, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".tmp")
	if err := os.WriteFile(other, []byte(colText(40, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, swap := range []struct {
		what string
		do   func() error
	}{
		// Renamed aside, not removed: a removed file's inode may be reused
		// at once, and then no check could tell the new file from the old.
		{"a symlink", func() error {
			if err := os.Rename(path, filepath.Join(dir, ".old")); err != nil {
				return err
			}
			return os.Symlink(secret, path)
		}},
		{"another regular file", func() error { return os.Rename(other, path) }},
	} {
		if err := swap.do(); err != nil {
			t.Fatal(err)
		}
		f, err := openChecked(path, checked)
		if err == nil {
			f.Close()
			t.Fatalf("%s swapped in after the check was opened", swap.what)
		}
		mustRefuse(t, err, "040-x.txt", "changed")
	}
}

// TestDiscoverRefusesNonText: in a folder with good columns and every kind
// of file that must not become one, only the good ones are columns and each
// other file is one problem naming it.
func TestDiscoverRefusesNonText(t *testing.T) {
	dir := writeColumns(t, map[string]string{
		"030-gut.txt":    colText(30, ""),
		"050-gut.md":     "# KNIEPUNKT 050: Gut\n\nText.\n",
		"031-zufall.txt": string(randomBytes(5 << 10)),
		"032-nul.md":     "# KNIEPUNKT 032: Titel\n\nText\x00.\n",
	})
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:*:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "051-x.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(dir, "052-link-auf-ordner.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "053-ordner.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "054-fifo.txt"), 0o644); err != nil {
		t.Fatal(err)
	}

	cols, problems, err := Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := numbers(cols); !reflect.DeepEqual(got, []int{30, 50}) {
		t.Errorf("columns %v, want [30 50]", got)
	}
	want := []string{"031-zufall.txt", "032-nul.md", "051-x.txt", "052-link-auf-ordner.md", "053-ordner.txt", "054-fifo.txt"}
	if len(problems) != len(want) {
		t.Fatalf("problems %q, want one for each of %v", problems, want)
	}
	for i, p := range problems {
		if !strings.Contains(p.Error(), want[i]) {
			t.Errorf("problem %d: %q, want one naming %s", i, p, want[i])
		}
		if strings.Contains(p.Error(), "root") {
			t.Errorf("problem shows a file's content: %q", p)
		}
	}
}
