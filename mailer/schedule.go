package mailer

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// RunSchedule tells when the scheduled runs come: the proof of a column
// goes out --proof-before the run that will send it.
type RunSchedule struct {
	s   cron.Schedule
	loc *time.Location
}

// NewRunSchedule reads spec as NewScheduler does (standard 5 fields or a
// descriptor), in loc.
func NewRunSchedule(spec string, loc *time.Location) (*RunSchedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return &RunSchedule{s: s, loc: loc}, nil
}

// Next is the first run after t; zero when the schedule never fires again.
// An "@every D" schedule counts from t, as it counts from the scheduler's
// start: for it, the times are as near as that schedule can say.
func (r *RunSchedule) Next(t time.Time) time.Time {
	return r.s.Next(t.In(r.loc))
}

// AtOrAfter is the first run at t or after it: the run that sends a
// column dated t.
func (r *RunSchedule) AtOrAfter(t time.Time) time.Time {
	// cron works in whole seconds and looks strictly after its argument.
	return r.Next(t.Add(-time.Nanosecond))
}
