package columns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeColumns makes a columns folder from name → content.
func writeColumns(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func colText(n int, date string) string {
	fm := ""
	if date != "" {
		fm = "---\ndate: " + date + "\n---\n"
	}
	return fm + fmt.Sprintf("KNIEPUNKT %03d: Titel\nText.\n", n)
}

func numbers(cols []*Column) []int {
	out := []int{}
	for _, c := range cols {
		out = append(out, c.Number)
	}
	return out
}

func TestDiscoverColumns(t *testing.T) {
	dir := writeColumns(t, map[string]string{
		"030-heisse-ki-luft.txt": string(readSample(t)),
		"010-alt.md":             "# KNIEPUNKT 010: Alt\n\nText.\n",
		"020-kaputt.txt":         "---\nautor: x\n---\nKNIEPUNKT 020: Kaputt\nText.\n",
		"025-a.txt":              colText(25, ""),
		"025-b.md":               "# KNIEPUNKT 025: Doppelt\n\nText.\n",
		".031-hidden.txt":        colText(31, ""),
		"032-notes.docx":         "nope",
		"sub/033-in-subdir.txt":  colText(33, ""),
		"README":                 "not a column",
	})
	cols, problems, err := Discover(dir, berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := numbers(cols); !reflect.DeepEqual(got, []int{10, 30}) {
		t.Errorf("columns %v, want [10 30]", got)
	}
	if len(problems) != 2 {
		t.Fatalf("problems %q, want 2", problems)
	}
	var dup *DuplicateError
	var pe *ParseError
	for _, p := range problems {
		switch {
		case errors.As(p, &dup):
			if dup.Number != 25 || !strings.Contains(p.Error(), "025-a.txt") || !strings.Contains(p.Error(), "025-b.md") {
				t.Errorf("duplicate problem %q", p)
			}
		case errors.As(p, &pe):
			if !strings.HasSuffix(pe.File, "020-kaputt.txt") || pe.Line != 2 {
				t.Errorf("parse problem %q", p)
			}
		default:
			t.Errorf("unexpected problem %q", p)
		}
	}
	if dup == nil || pe == nil {
		t.Errorf("want one duplicate and one parse problem, got %q", problems)
	}
}

func TestDiscoverColumnsUnreadableDir(t *testing.T) {
	if _, _, err := Discover(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("want an error for a missing folder")
	}
}

func TestFindColumn(t *testing.T) {
	cols := []*Column{{Number: 3}, {Number: 7}, {Number: 5}}
	if c := Find(cols, 0); c == nil || c.Number != 7 {
		t.Errorf("newest: %v", c)
	}
	if c := Find(cols, 5); c == nil || c.Number != 5 {
		t.Errorf("5: %v", c)
	}
	if c := Find(cols, 4); c != nil {
		t.Errorf("4: %v", c)
	}
}
