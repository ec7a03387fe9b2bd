//go:build unix

package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestColumnsRefuseNonText is issue 9's attack: a symbolic link to a secret
// file and a file of random bytes in the columns folder, both numbered above
// the real column 031. Neither becomes a column: `columns` names each with
// the reason, and `send --dry-run` and `send --to` plan column 031 only.
func TestColumnsRefuseNonText(t *testing.T) {
	f := newSendFixture(t, 3)
	secret := filepath.Join(f.dir, "shadow")
	if err := os.WriteFile(secret, []byte("KNIEPUNKT 051: root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(f.columns, "051-x.txt")); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 5<<10)
	r := rand.New(rand.NewPCG(9, 52))
	for i := range noise {
		noise[i] = byte(r.UintN(256))
	}
	if err := os.WriteFile(filepath.Join(f.columns, "052-zufall.txt"), noise, 0o644); err != nil {
		t.Fatal(err)
	}

	// The refused columns by number or file; the temp folder's random
	// name may hold "051" anywhere.
	refused := regexp.MustCompile(`\b05[12]\b|05[12]-`)
	out, errOut, code := f.run(t, "columns")
	if code != 0 {
		t.Fatalf("columns: code %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"051-x.txt: is a symbolic link", "052-zufall.txt:2: not a text file: it contains the control character U+001A"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("columns: stderr lacks %q:\n%s", want, errOut)
		}
	}
	if refused.MatchString(out) || strings.Contains(out+errOut, "root:") {
		t.Errorf("columns shows a refused file:\n%s%s", out, errOut)
	}
	if !strings.Contains(out, "Next: column 031") {
		t.Errorf("columns: next is not 031:\n%s", out)
	}

	out, errOut, code = f.run(t, "send", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: code %d\n%s%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "Would send column 031 ") || refused.MatchString(out) {
		t.Errorf("dry run plans a refused file:\n%s", out)
	}
	if !strings.Contains(errOut, "051-x.txt") || !strings.Contains(errOut, "052-zufall.txt") {
		t.Errorf("dry run does not name the refused files:\n%s", errOut)
	}

	out, errOut, code = f.run(t, "send", "--to", "probe@example.com")
	if code != 0 || !strings.Contains(out, "Test copy of column 031") || f.srv.Count() != 1 {
		t.Fatalf("test copy: code %d, %d messages\n%s%s", code, f.srv.Count(), out, errOut)
	}
	if _, errOut, code = f.run(t, "send", "--to", "probe@example.com", "--column", "51"); code == 0 || f.srv.Count() != 1 {
		t.Fatalf("test copy of the link: code %d, %d messages\n%s", code, f.srv.Count(), errOut)
	}
	if data := string(f.srv.Messages()[0].Data); strings.Contains(data, "root:") {
		t.Errorf("the secret file was mailed:\n%s", data)
	}
}
