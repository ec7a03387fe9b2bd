package columns

import (
	"context"
	"slices"
	"sort"
	"time"
)

// Provider is a place columns come from besides the folder: the feed
// (*Feed). Its columns join the folder's under the same rules: one column
// per number, the same "new" rule. (A Column's Source is its bytes.)
type Provider interface {
	// Name says which source it is in messages: "feed https://…".
	Name() string
	// Columns reads the source now. problems are single columns that
	// cannot be used (reported and skipped, like a bad file); err is for
	// a source that could not be read at all.
	Columns(ctx context.Context) (cols []*Column, problems []error, err error)
}

// SourceError is a source that could not be read this time. While a
// plan has one, it starts nothing new (see DecideSources).
type SourceError struct {
	Source string // Provider.Name()
	Err    error
}

func (e *SourceError) Error() string { return e.Source + " could not be read: " + e.Err.Error() }

func (e *SourceError) Unwrap() error { return e.Err }

// DiscoverSources is Discover with the columns of sources beside the
// folder's. A number claimed twice, by two files, a file and a feed item,
// or two feed items, is a DuplicateError naming all of them, and none of
// them is used. A source that cannot be read is returned in unread; the
// columns of the folder and the other sources are still returned. err is
// only for a folder that cannot be read.
func DiscoverSources(ctx context.Context, dir string, loc *time.Location, sources []Provider) (cols []*Column, problems []error, unread []*SourceError, err error) {
	cols, problems, err = Discover(dir, loc)
	if err != nil {
		return nil, nil, nil, err
	}
	var extra []*Column
	for _, s := range sources {
		sc, sp, err := s.Columns(ctx)
		if err != nil {
			unread = append(unread, &SourceError{Source: s.Name(), Err: err})
			continue
		}
		extra = append(extra, sc...)
		problems = append(problems, sp...)
	}
	cols, problems = mergeColumns(cols, problems, extra)
	return cols, problems, unread, nil
}

// mergeColumns adds extra to the folder's columns, which Discover has
// already freed of duplicates (those are DuplicateErrors in problems).
func mergeColumns(cols []*Column, problems []error, extra []*Column) ([]*Column, []error) {
	if len(extra) == 0 {
		return cols, problems
	}
	byNumber := map[int][]*Column{}
	for _, c := range cols {
		byNumber[c.Number] = append(byNumber[c.Number], c)
	}
	for _, c := range extra {
		byNumber[c.Number] = append(byNumber[c.Number], c)
	}
	dups := map[int]*DuplicateError{}
	for _, p := range problems {
		if d, ok := p.(*DuplicateError); ok {
			dups[d.Number] = d
		}
	}
	cols = cols[:0:0]
	for n, cs := range byNumber {
		d := dups[n]
		if len(cs) == 1 && d == nil {
			cols = append(cols, cs[0])
			continue
		}
		if d == nil {
			d = &DuplicateError{Number: n}
			problems = append(problems, d)
		}
		for _, c := range cs {
			if !slices.Contains(d.Files, c.Where()) {
				d.Files = append(d.Files, c.Where())
			}
		}
		sort.Strings(d.Files)
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i].Number < cols[j].Number })
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
	return cols, problems
}
