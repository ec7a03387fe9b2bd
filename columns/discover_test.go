package columns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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

func TestNewColumnsAndStates(t *testing.T) {
	loc := berlin(t)
	now := time.Date(2026, 3, 16, 7, 0, 0, 0, loc)
	col := func(n int, date time.Time) *Column {
		return &Column{Number: n, Date: date}
	}
	past, future := now.Add(-48*time.Hour), time.Date(2026, 12, 1, 7, 0, 0, 0, loc)
	cols := []*Column{col(28, time.Time{}), col(29, past), col(30, now), col(31, future)}

	tests := []struct {
		name      string
		cols      []*Column
		sent      map[int]bool
		sending   map[int]bool
		wantNew   []int
		wantState map[int]State
		wantWhy   map[int]string // substring of Explain
	}{
		{
			name:    "first run: only the highest due column",
			cols:    cols,
			wantNew: []int{30},
			wantState: map[int]State{
				28: StateSkipped, 29: StateSkipped, 30: StateNew, 31: StateScheduled,
			},
			wantWhy: map[int]string{
				28: "skipped: first run sends only the newest due column, 030",
				30: "new: will be sent on the next run",
				31: "scheduled: publish date 2026-12-01 07:00 CET",
			},
		},
		{
			name:    "after 28 was sent: 29 and 30 are new, oldest first",
			cols:    []*Column{cols[2], cols[3], cols[1], cols[0]},
			sent:    map[int]bool{28: true},
			wantNew: []int{29, 30},
			wantState: map[int]State{
				28: StateSent, 29: StateNew, 30: StateNew, 31: StateScheduled,
			},
		},
		{
			name:    "a higher number was sent: lower ones are skipped",
			cols:    cols,
			sent:    map[int]bool{30: true},
			wantNew: nil,
			wantState: map[int]State{
				28: StateSkipped, 29: StateSkipped, 30: StateSent, 31: StateScheduled,
			},
			wantWhy: map[int]string{29: "skipped: 030 was already sent"},
		},
		{
			name:      "a campaign under way counts as sent",
			cols:      cols,
			sent:      map[int]bool{},
			sending:   map[int]bool{29: true},
			wantNew:   []int{30},
			wantState: map[int]State{28: StateSkipped, 29: StateSending, 30: StateNew, 31: StateScheduled},
		},
		{
			name:      "scheduled below the last sent will be skipped",
			cols:      []*Column{col(5, future), col(6, past)},
			sent:      map[int]bool{6: true},
			wantState: map[int]State{5: StateScheduled, 6: StateSent},
			wantWhy:   map[int]string{5: "will be skipped, 006 was already sent"},
		},
		{
			name:      "nothing due",
			cols:      []*Column{col(31, future)},
			wantState: map[int]State{31: StateScheduled},
		},
		{
			name:      "exactly due at now",
			cols:      []*Column{col(30, now)},
			sent:      map[int]bool{29: true},
			wantNew:   []int{30},
			wantState: map[int]State{30: StateNew},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sentAll := map[int]bool{}
			for n := range tt.sent {
				sentAll[n] = true
			}
			for n := range tt.sending {
				sentAll[n] = true
			}
			got := numbers(NewColumns(tt.cols, sentAll, now))
			want := tt.wantNew
			if want == nil {
				want = []int{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("NewColumns = %v, want %v", got, want)
			}
			states := States(tt.cols, tt.sent, tt.sending, now)
			if !reflect.DeepEqual(states, tt.wantState) {
				t.Errorf("States = %v, want %v", states, tt.wantState)
			}
			for _, c := range tt.cols {
				why := Explain(c, tt.cols, tt.sent, tt.sending, now)
				if !strings.HasPrefix(why, string(states[c.Number])+": ") {
					t.Errorf("Explain(%d) = %q, state %s", c.Number, why, states[c.Number])
				}
				if w, ok := tt.wantWhy[c.Number]; ok && !strings.Contains(why, w) {
					t.Errorf("Explain(%d) = %q, want %q", c.Number, why, w)
				}
			}
		})
	}
}

// TestDiscoverThenNew runs the rule on files, as `send` does.
func TestDiscoverThenNew(t *testing.T) {
	loc := berlin(t)
	dir := writeColumns(t, map[string]string{
		"001.txt": colText(1, ""),
		"002.txt": colText(2, "2026-03-09"),
		"003.txt": colText(3, "2026-03-23"),
	})
	cols, problems, err := Discover(dir, loc)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	now := time.Date(2026, 3, 16, 7, 0, 0, 0, loc)
	if got := numbers(NewColumns(cols, nil, now)); !reflect.DeepEqual(got, []int{2}) {
		t.Errorf("first run: %v, want [2]", got)
	}
	later := time.Date(2026, 3, 23, 0, 0, 0, 0, loc)
	if got := numbers(NewColumns(cols, map[int]bool{2: true}, later)); !reflect.DeepEqual(got, []int{3}) {
		t.Errorf("a week later: %v, want [3]", got)
	}
}
