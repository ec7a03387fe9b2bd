package columns

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// randomBytes is n bytes of noise, the same on every run.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(9, 31))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// mustRefuse checks that err is a refusal naming file and saying why.
func mustRefuse(t *testing.T, err error, file string, why ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s became a column", file)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %v is not a *ParseError", file, err)
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name %s", err, file)
	}
	for _, w := range why {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestParseRefusesBinary(t *testing.T) {
	for _, tt := range []struct {
		name, file, src string
		line            int
	}{
		{"random bytes", "031-zufall.txt", string(randomBytes(5 << 10)), 1},
		{"random bytes as Markdown", "031-zufall.md", string(randomBytes(5 << 10)), 1},
		{"NUL", "032-nul.txt", "KNIEPUNKT 032: Titel\nText\x00mit NUL.\n", 2},
		{"Latin-1", "033-latin1.txt", "KNIEPUNKT 033: Hei\xdfe KI-Luft\nText.\n", 1},
		{"UTF-16", "034-utf16.txt", "\xff\xfeK\x00N\x00", 1},
		{"escape sequence", "035-esc.txt", "KNIEPUNKT 035: Titel\n\n\x1b[2JText.\n", 3},
		{"DEL", "036-del.md", "# KNIEPUNKT 036: Titel\n\nText\x7f.\n", 3},
		{"C1 control", "037-c1.txt", "KNIEPUNKT 037: Titel\u009b31m\nText.\n", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.file, []byte(tt.src), nil)
			mustRefuse(t, err, tt.file, "not a text file")
			if c != nil {
				t.Errorf("column returned with the error: %+v", c)
			}
			var pe *ParseError
			if errors.As(err, &pe) && pe.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, tt.line, err)
			}
			// The file on disk is refused the same way.
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = parseFile(path, nil)
			mustRefuse(t, err, tt.file, "not a text file")
		})
	}
}

func TestParseAcceptsTextControls(t *testing.T) {
	// TAB, CR (CRLF and old Mac line ends) and form feed are text.
	src := "KNIEPUNKT 038: Titel\r\nErster\tAbsatz.\r\n\f\r\nZweiter Absatz.\rDritter.\n"
	c, err := Parse("038.txt", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Number != 38 || len(c.Blocks) == 0 {
		t.Errorf("column %+v", c)
	}
}

func TestParseFileRefusesTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "039-riesig.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(colText(39, "")); err != nil {
		t.Fatal(err)
	}
	// Sparse: the size is what counts, and it is checked before reading.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = parseFile(path, nil)
	mustRefuse(t, err, "039-riesig.txt", "larger than 10 MiB")

	big := make([]byte, MaxFileSize+1)
	copy(big, colText(39, ""))
	_, err = Parse("039-riesig.txt", big, nil)
	mustRefuse(t, err, "039-riesig.txt", "larger than 10 MiB")
}

// TestOpenRegularNoticesSwap: a file replaced between the check and the
// open (by a symlink or another file) is refused, not read.
// TestDiscoverRefusesNonText: in a folder with good columns and every kind
// of file that must not become one, only the good ones are columns and each
// other file is one problem naming it.
