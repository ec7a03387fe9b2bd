package columns

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a column stands, as `newsletter columns` shows it.
type State string

// The states of a column. Sent and sending come from the campaigns (see
// History); the rest follows from the publish date and the numbers.
const (
	StateNew       State = "new"       // due and will be sent on the next run
	StateScheduled State = "scheduled" // publish date still in the future
	StateSending   State = "sending"   // a campaign is under way
	StateSent      State = "sent"      // its campaign is done
	StateSkipped   State = "skipped"   // due, never sent, and never will be
	StateHeld      State = "held"      // on hold: no run sends it until it is released
)

// History is what the campaigns tell the "new" rule: the column numbers
// that have a campaign. A number in either set counts as sent for the
// rule; Sending shows as StateSending even when it is in Sent too.
//
// Held are the columns on hold, each with by whom and since when in a few
// words ("by admin at 2026-03-16 06:55 CET"). A held column is never new,
// and a held campaign under way shows as StateHeld; holding changes nothing
// else of the rule (a higher column that is new still goes out).
type History struct {
	Sent    map[int]bool   // every column with a campaign, finished or not
	Sending map[int]bool   // those whose campaign is still under way
	Held    map[int]string // columns on hold → "by admin at TIME"
}

// Plan is the "new" rule applied at one moment: where each column stands,
// which columns the next run sends, and why. It is the one place that
// rule lives; `newsletter columns`, `send` and the scheduler all read it.
type Plan struct {
	Dir      string    // the folder the columns came from, for Why
	Columns  []*Column // every usable column, as given (Discover sorts them by number)
	Problems []error   // the files (and feed items) that were skipped
	// Sources names the sources beside the folder (DecideSources).
	Sources []string
	// Unread are the sources that could not be read this time. While
	// there is one, New is empty: without all columns the rule cannot
	// tell what is new (a number might be claimed twice, or a first run
	// be mistaken), and the next run tries again.
	Unread []*SourceError
	// New are the columns to send now, lowest number first: those due at
	// now and numbered above every column with a campaign. On the first
	// run (no campaign yet) only the highest-numbered due column is new,
	// so an archive of old columns is never sent out at once.
	New []*Column
	// Held are the columns the rule would send now but that are on hold,
	// lowest number first: what a run skips and says so.
	Held []*Column

	history History
	now     time.Time
	byNum   map[int]*Column
	isNew   map[int]bool
	anySent bool
	maxSent int // highest number with a campaign
	newest  int // highest due number, for the first-run explanation
}

// Decide applies the "new" rule to cols at now, given the campaigns'
// history.
func Decide(cols []*Column, h History, now time.Time) *Plan {
	p := &Plan{Columns: cols, history: h, now: now, byNum: map[int]*Column{}, isNew: map[int]bool{}}
	for _, m := range []map[int]bool{h.Sent, h.Sending} {
		for n, ok := range m {
			if ok {
				p.anySent = true
				p.maxSent = max(p.maxSent, n)
			}
		}
	}
	var newest *Column
	for _, c := range cols {
		p.byNum[c.Number] = c
		if !c.Due(now) {
			continue
		}
		p.newest = max(p.newest, c.Number)
		switch {
		case !p.anySent:
			if newest == nil || c.Number > newest.Number {
				newest = c
			}
		case c.Number > p.maxSent:
			p.New = append(p.New, c)
		}
	}
	if newest != nil {
		p.New = []*Column{newest}
	}
	slices.SortStableFunc(p.New, func(a, b *Column) int { return cmp.Compare(a.Number, b.Number) })
	// A held column keeps its place in the rule but goes nowhere: on a
	// first run whose newest column is held, nothing older stands in.
	p.New = slices.DeleteFunc(p.New, func(c *Column) bool {
		if _, held := h.Held[c.Number]; held {
			p.Held = append(p.Held, c)
			return true
		}
		return false
	})
	for _, c := range p.New {
		p.isNew[c.Number] = true
	}
	return p
}

// DecideSources discovers the columns in dir and those of sources (the
// feed) beside them (see DiscoverSources), and applies the "new" rule to
// them. err is only for a folder that cannot be read; files that cannot be
// used are in Problems, and a source that cannot be read is in Unread, and
// then nothing is New.
func DecideSources(ctx context.Context, dir string, loc *time.Location, sources []Provider, h History, now time.Time) (*Plan, error) {
	cols, problems, unread, err := DiscoverSources(ctx, dir, loc, sources)
	if err != nil {
		return nil, err
	}
	p := Decide(cols, h, now)
	p.Dir, p.Problems, p.Unread = dir, problems, unread
	for _, s := range sources {
		p.Sources = append(p.Sources, s.Name())
	}
	if len(unread) > 0 {
		p.New = nil // isNew still says what would be new: "waits" in Explain
	}
	return p, nil
}

// State is where column number stands. A number with a campaign but no
// column (its file is gone) is StateSent or StateSending; a number that is
// neither gets "".
func (p *Plan) State(number int) State {
	s, _ := p.state(number)
	return s
}

// Explain says in a few words why column number has its state, e.g.
// "new: will be sent on the next run", "skipped: 031 was already sent",
// "scheduled: publish date 2026-12-01 07:00 CET".
func (p *Plan) Explain(number int) string {
	s, why := p.state(number)
	return string(s) + ": " + why
}

// HeldWhy says why column number is held, e.g. "held by admin at
// 2026-03-16 06:55 CET"; ok is false when it is not held.
func (p *Plan) HeldWhy(number int) (why string, ok bool) {
	by, ok := p.history.Held[number]
	if !ok {
		return "", false
	}
	return "held " + by, true
}

func (p *Plan) state(n int) (State, string) {
	c := p.byNum[n]
	by, held := p.history.Held[n]
	switch {
	case held && p.history.Sending[n]:
		return StateHeld, by + "; its campaign is under way and its pending deliveries wait"
	case p.history.Sending[n]:
		return StateSending, "a campaign is under way"
	case p.history.Sent[n]:
		return StateSent, "sent"
	case c == nil:
		return "", "no such column"
	case held:
		if p.maxSent > n {
			by += fmt.Sprintf("; will be skipped, %03d was already sent", p.maxSent)
		}
		return StateHeld, by
	case !c.Due(p.now):
		why := "publish date " + c.Date.Format("2006-01-02 15:04 MST")
		if p.maxSent > n {
			why += fmt.Sprintf("; will be skipped, %03d was already sent", p.maxSent)
		}
		return StateScheduled, why
	case p.isNew[n] && len(p.Unread) > 0:
		return StateNew, "waits until " + p.Unread[0].Source + " can be read"
	case p.isNew[n]:
		return StateNew, "will be sent on the next run"
	case p.maxSent > n:
		return StateSkipped, fmt.Sprintf("%03d was already sent", p.maxSent)
	default:
		return StateSkipped, fmt.Sprintf("first run sends only the newest due column, %03d", p.newest)
	}
}

// WhyNew says why a column of New is new, e.g. "due since 2026-03-23,
// numbered above 030, the last one sent".
func (p *Plan) WhyNew(c *Column) string {
	due := "no publish date"
	if !c.Date.IsZero() {
		due = "due since " + c.Date.Format("2006-01-02")
	}
	if !p.anySent {
		return due + "; first run: only the newest due column is sent"
	}
	return fmt.Sprintf("%s, numbered above %03d, the last one sent", due, p.maxSent)
}

// Why says why nothing is new; "" when something is.
func (p *Plan) Why() string {
	where := ""
	if p.Dir != "" {
		where = " in " + p.Dir
	}
	newest := Find(p.Columns, 0)
	switch {
	case len(p.New) > 0:
		return ""
	case len(p.Unread) > 0:
		return p.Unread[0].Error() + "; nothing new goes out until it can be read (tried again on the next run)"
	case newest == nil && len(p.Problems) > 0:
		return fmt.Sprintf("no readable column%s (%d file(s) skipped, see above)", where, len(p.Problems))
	case newest == nil && len(p.Sources) > 0:
		return "no column files (*.txt, *.md)" + where + " and no items in " + strings.Join(p.Sources, ", ")
	case newest == nil:
		return "no column files (*.txt, *.md)" + where
	}
	switch n := newest.Number; p.State(n) {
	case StateSent, StateSending:
		return fmt.Sprintf("the newest column, %03d, already has its campaign. Add a column numbered above %03d to send more", n, n)
	default:
		return fmt.Sprintf("newest column %03d is %s", n, p.Explain(n))
	}
}
