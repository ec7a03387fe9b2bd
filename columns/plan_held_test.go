package columns

import (
	"reflect"
	"testing"
	"time"
)

// TestDecideHeld pins what a hold does to the "new" rule: the held column
// is reported, never new, and nothing else changes.
func TestDecideHeld(t *testing.T) {
	now := time.Date(2026, 3, 16, 7, 0, 0, 0, time.UTC)
	future := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	col := func(n int, date time.Time) *Column { return &Column{Number: n, Date: date} }
	const by = "by admin at 2026-03-16 06:55 UTC"

	tests := []struct {
		name      string
		cols      []*Column
		h         History
		wantNew   []int
		wantHeld  []int
		wantState map[int]State
		wantWhy   map[int]string // Plan.Explain
	}{
		{
			name:      "first run, the newest is held: nothing older stands in",
			cols:      []*Column{col(29, time.Time{}), col(30, time.Time{})},
			h:         History{Held: map[int]string{30: by}},
			wantNew:   []int{},
			wantHeld:  []int{30},
			wantState: map[int]State{29: StateSkipped, 30: StateHeld},
			wantWhy:   map[int]string{30: "held: " + by},
		},
		{
			name:      "held among two new: the other still goes",
			cols:      []*Column{col(30, time.Time{}), col(31, time.Time{})},
			h:         History{Sent: map[int]bool{29: true}, Held: map[int]string{30: by}},
			wantNew:   []int{31},
			wantHeld:  []int{30},
			wantState: map[int]State{30: StateHeld, 31: StateNew},
		},
		{
			name:      "held and not yet due: held, not in Held (no run would send it now)",
			cols:      []*Column{col(31, future)},
			h:         History{Sent: map[int]bool{29: true}, Held: map[int]string{31: by}},
			wantNew:   []int{},
			wantHeld:  []int{},
			wantState: map[int]State{31: StateHeld},
		},
		{
			name:      "held campaign under way",
			cols:      []*Column{col(31, time.Time{})},
			h:         History{Sent: map[int]bool{31: true}, Sending: map[int]bool{31: true}, Held: map[int]string{31: by}},
			wantNew:   []int{},
			wantHeld:  []int{},
			wantState: map[int]State{31: StateHeld},
			wantWhy:   map[int]string{31: "held: " + by + "; its campaign is under way and its pending deliveries wait"},
		},
		{
			name:      "a hold on a sent column changes nothing",
			cols:      []*Column{col(31, time.Time{})},
			h:         History{Sent: map[int]bool{31: true}, Held: map[int]string{31: by}},
			wantNew:   []int{},
			wantHeld:  []int{},
			wantState: map[int]State{31: StateSent},
		},
		{
			name:      "held below the last sent: will be skipped",
			cols:      []*Column{col(30, time.Time{}), col(31, time.Time{})},
			h:         History{Sent: map[int]bool{31: true}, Held: map[int]string{30: by}},
			wantNew:   []int{},
			wantHeld:  []int{},
			wantState: map[int]State{30: StateHeld, 31: StateSent},
			wantWhy:   map[int]string{30: "held: " + by + "; will be skipped, 031 was already sent"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.cols, tt.h, now)
			if got := numbers(p.New); !reflect.DeepEqual(got, tt.wantNew) {
				t.Errorf("New = %v, want %v", got, tt.wantNew)
			}
			if got := numbers(p.Held); !reflect.DeepEqual(got, tt.wantHeld) {
				t.Errorf("Held = %v, want %v", got, tt.wantHeld)
			}
			for n, want := range tt.wantState {
				if got := p.State(n); got != want {
					t.Errorf("State(%d) = %s, want %s", n, got, want)
				}
			}
			for n, want := range tt.wantWhy {
				if got := p.Explain(n); got != want {
					t.Errorf("Explain(%d) = %q, want %q", n, got, want)
				}
			}
		})
	}
}

func TestPlanWhyHeld(t *testing.T) {
	now := time.Date(2026, 3, 16, 7, 0, 0, 0, time.UTC)
	p := Decide([]*Column{{Number: 31}}, History{Held: map[int]string{31: "from the proof mail at 2026-03-16 06:55 UTC"}}, now)
	if got, want := p.Why(), "newest column 031 is held: from the proof mail at 2026-03-16 06:55 UTC"; got != want {
		t.Errorf("Why = %q, want %q", got, want)
	}
	if why, ok := p.HeldWhy(31); !ok || why != "held from the proof mail at 2026-03-16 06:55 UTC" {
		t.Errorf("HeldWhy = %q, %v", why, ok)
	}
	if _, ok := p.HeldWhy(30); ok {
		t.Error("HeldWhy of a column that is not held")
	}
}
