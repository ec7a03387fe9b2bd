package columns

import (
	"context"
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
	parsed, problems, err := parseFolder(dir, loc)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, s := range sources {
		sc, sp, err := s.Columns(ctx)
		if err != nil {
			unread = append(unread, &SourceError{Source: s.Name(), Err: err})
			continue
		}
		parsed = append(parsed, sc...)
		problems = append(problems, sp...)
	}
	cols, problems = group(parsed, problems)
	return cols, problems, unread, nil
}
