package columns

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecideNewAndStates(t *testing.T) {
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
		wantWhy   map[int]string // substring of Plan.Explain
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
			p := Decide(tt.cols, History{Sent: tt.sent, Sending: tt.sending}, now)
			got := numbers(p.New)
			want := tt.wantNew
			if want == nil {
				want = []int{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("New = %v, want %v", got, want)
			}
			states := map[int]State{}
			for _, c := range tt.cols {
				states[c.Number] = p.State(c.Number)
			}
			if !reflect.DeepEqual(states, tt.wantState) {
				t.Errorf("States = %v, want %v", states, tt.wantState)
			}
			for _, c := range tt.cols {
				why := p.Explain(c.Number)
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
	if got := numbers(Decide(cols, History{}, now).New); !reflect.DeepEqual(got, []int{2}) {
		t.Errorf("first run: %v, want [2]", got)
	}
	later := time.Date(2026, 3, 23, 0, 0, 0, 0, loc)
	if got := numbers(Decide(cols, History{Sent: map[int]bool{2: true}}, later).New); !reflect.DeepEqual(got, []int{3}) {
		t.Errorf("a week later: %v, want [3]", got)
	}
}

// TestPlanWhy pins the explanations `newsletter columns` and `send` print.
func TestPlanWhy(t *testing.T) {
	loc := time.UTC
	now := time.Date(2026, 3, 16, 7, 0, 0, 0, loc)
	due := &Column{Number: 30, Date: time.Date(2026, 3, 9, 7, 0, 0, 0, loc)}
	undated := &Column{Number: 31}
	later := &Column{Number: 32, Date: time.Date(2026, 12, 1, 7, 0, 0, 0, loc)}

	p := Decide([]*Column{due}, History{}, now)
	if got, want := p.WhyNew(due), "due since 2026-03-09; first run: only the newest due column is sent"; got != want {
		t.Errorf("first run: WhyNew = %q, want %q", got, want)
	}
	if p.Why() != "" {
		t.Errorf("Why = %q with a new column", p.Why())
	}
	p = Decide([]*Column{due, undated}, History{Sent: map[int]bool{29: true}}, now)
	if got, want := p.WhyNew(undated), "no publish date, numbered above 029, the last one sent"; got != want {
		t.Errorf("WhyNew = %q, want %q", got, want)
	}

	tests := []struct {
		name string
		p    *Plan
		want string
	}{
		{"empty folder", &Plan{Dir: "cols"}, "no column files (*.txt, *.md) in cols"},
		{"only unreadable files", &Plan{Dir: "cols", Problems: []error{errors.New("x")}}, "no readable column in cols (1 file(s) skipped, see above)"},
		{"newest has its campaign", Decide([]*Column{due, undated}, History{Sent: map[int]bool{31: true}, Sending: map[int]bool{31: true}}, now),
			"the newest column, 031, already has its campaign. Add a column numbered above 031 to send more"},
		{"newest is scheduled", Decide([]*Column{undated, later}, History{Sent: map[int]bool{31: true}}, now),
			"newest column 032 is scheduled: publish date 2026-12-01 07:00 UTC"},
	}
	for _, tt := range tests {
		if got := tt.p.Why(); got != tt.want {
			t.Errorf("%s: Why = %q, want %q", tt.name, got, tt.want)
		}
	}

	// A campaign whose file is gone still has its state.
	p = Decide(nil, History{Sent: map[int]bool{5: true, 6: true}, Sending: map[int]bool{6: true}}, now)
	if p.State(5) != StateSent || p.State(6) != StateSending || p.State(7) != "" {
		t.Errorf("states without files: %q %q %q", p.State(5), p.State(6), p.State(7))
	}
}
