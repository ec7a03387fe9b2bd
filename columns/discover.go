package columns

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DuplicateError reports files that claim the same column number.
// None of them is used until the author resolves it: sending the wrong one
// cannot be undone.
type DuplicateError struct {
	Number int
	Files  []string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: all are column %03d; none of them is used until only one is left",
		strings.Join(e.Files, ", "), e.Number)
}

// Discover parses every *.txt and *.md file in dir (not hidden
// files, not subfolders) and returns the columns sorted by number. A file
// that fails to parse, or shares its number with another file, is reported
// in problems and left out; the other columns are unaffected. err is only
// for a folder that cannot be read.
func Discover(dir string, loc *time.Location) (cols []*Column, problems []error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read columns folder: %w", err)
	}
	byNumber := map[int][]*Column{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		ext := strings.ToLower(filepath.Ext(name))
		if ext != ".txt" && ext != ".md" {
			continue
		}
		path := filepath.Join(dir, name)
		if e.IsDir() {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				continue
			}
		}
		c, err := ParseFile(path, loc)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		byNumber[c.Number] = append(byNumber[c.Number], c)
	}
	for n, cs := range byNumber {
		if len(cs) == 1 {
			cols = append(cols, cs[0])
			continue
		}
		d := &DuplicateError{Number: n}
		for _, c := range cs {
			d.Files = append(d.Files, c.File)
		}
		sort.Strings(d.Files)
		problems = append(problems, d)
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i].Number < cols[j].Number })
	// ReadDir is sorted by name and map order is random: sort problems by
	// their text so reports are stable.
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
	return cols, problems, nil
}

// Find returns the column with the given number, or the highest
// numbered one for number 0; nil when there is none.
func Find(cols []*Column, number int) *Column {
	var found *Column
	for _, c := range cols {
		if number == 0 && (found == nil || c.Number > found.Number) || number != 0 && c.Number == number {
			found = c
		}
	}
	return found
}

// State is where a column stands, as `newsletter columns` shows it.
type State string

// The states of a column. Sent and sending come from the campaigns the
// caller knows of; the rest follows from the publish date and the numbers.
const (
	StateNew       State = "new"       // due and will be sent on the next run
	StateScheduled State = "scheduled" // publish date still in the future
	StateSending   State = "sending"   // a campaign is under way
	StateSent      State = "sent"      // its campaign is done
	StateSkipped   State = "skipped"   // due, never sent, and never will be
)

// NewColumns returns the columns to send now, lowest number first: those
// that are due at now and numbered above every column in sent (every
// column with a campaign, finished or not). When sent is empty (the first
// run) only the highest-numbered due column is new, so an archive of old
// columns is never sent out at once.
func NewColumns(cols []*Column, sent map[int]bool, now time.Time) []*Column {
	maxSent, anySent := 0, false
	for n, ok := range sent {
		if ok {
			anySent = true
			maxSent = max(maxSent, n)
		}
	}
	var out []*Column
	var newest *Column
	for _, c := range cols {
		if !c.Due(now) {
			continue
		}
		if !anySent {
			if newest == nil || c.Number > newest.Number {
				newest = c
			}
			continue
		}
		if c.Number > maxSent {
			out = append(out, c)
		}
	}
	if !anySent {
		if newest == nil {
			return nil
		}
		return []*Column{newest}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// States gives every column its state at now. A number in sending
// is StateSending even if also in sent; both count as sent for the "new"
// rule.
func States(cols []*Column, sent, sending map[int]bool, now time.Time) map[int]State {
	st := newColumnStatus(cols, sent, sending, now)
	out := make(map[int]State, len(cols))
	for _, c := range cols {
		out[c.Number], _ = st.state(c)
	}
	return out
}

// Explain says in a few words why c has its state among cols, e.g.
// "new: will be sent on the next run", "skipped: 031 was already sent",
// "scheduled: publish date 2026-12-01 07:00 CET".
func Explain(c *Column, cols []*Column, sent, sending map[int]bool, now time.Time) string {
	s, why := newColumnStatus(cols, sent, sending, now).state(c)
	return string(s) + ": " + why
}

// columnStatus holds what the state of any one column depends on.
type columnStatus struct {
	sent, sending map[int]bool
	now           time.Time
	maxSent       int
	isNew         map[int]bool
	newest        int // highest due number, for the first-run explanation
}

func newColumnStatus(cols []*Column, sent, sending map[int]bool, now time.Time) *columnStatus {
	all := make(map[int]bool, len(sent)+len(sending))
	st := &columnStatus{sent: sent, sending: sending, now: now, isNew: map[int]bool{}}
	for _, m := range []map[int]bool{sent, sending} {
		for n, ok := range m {
			if ok {
				all[n] = true
				st.maxSent = max(st.maxSent, n)
			}
		}
	}
	for _, c := range NewColumns(cols, all, now) {
		st.isNew[c.Number] = true
	}
	for _, c := range cols {
		if c.Due(now) {
			st.newest = max(st.newest, c.Number)
		}
	}
	return st
}

func (st *columnStatus) state(c *Column) (State, string) {
	n := c.Number
	switch {
	case st.sending[n]:
		return StateSending, "a campaign is under way"
	case st.sent[n]:
		return StateSent, "sent"
	case !c.Due(st.now):
		why := "publish date " + c.Date.Format("2006-01-02 15:04 MST")
		if st.maxSent > n {
			why += fmt.Sprintf("; will be skipped, %03d was already sent", st.maxSent)
		}
		return StateScheduled, why
	case st.isNew[n]:
		return StateNew, "will be sent on the next run"
	case st.maxSent > n:
		return StateSkipped, fmt.Sprintf("%03d was already sent", st.maxSent)
	default:
		return StateSkipped, fmt.Sprintf("first run sends only the newest due column, %03d", st.newest)
	}
}
