package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"newsletter/columns"
)

// Archive is every column that has a campaign, as it was sent: what the
// web archive shows. A campaign's column never changes (its source is kept
// with it), so each is parsed once and then kept, by campaign id.
type Archive struct {
	campaigns *CampaignStore
	loc       *time.Location
	log       *slog.Logger

	mu     sync.Mutex
	parsed map[int64]*columns.Column // nil: the stored source does not parse
}

// NewArchive returns the archive of campaigns; loc is the time zone of
// publish dates written without one (--timezone).
func NewArchive(campaigns *CampaignStore, loc *time.Location, log *slog.Logger) *Archive {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Archive{campaigns: campaigns, loc: loc, log: log, parsed: map[int64]*columns.Column{}}
}

// SentColumn is a column that has a campaign, with when the campaign
// started (the feed dates a column without a publish date by it).
type SentColumn struct {
	Column  *columns.Column
	Started time.Time
}

// Sent returns every column that has a campaign, finished or still
// sending (its subscribers have it, so it is public), newest first, parsed
// from the source kept with the campaign: a later edit or deletion of the
// file changes nothing here. The columns are shared between calls; do not
// change them. A stored source that does not parse is logged once and
// left out.
func (a *Archive) Sent(ctx context.Context) ([]*columns.Column, error) {
	sent, err := a.Newest(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := make([]*columns.Column, len(sent))
	for i, s := range sent {
		out[i] = s.Column
	}
	return out, nil
}

// Newest returns the n newest sent columns (all with n <= 0), newest
// first, with their campaigns' start, as Sent reads them: the welcome mail
// takes the first, the feed twenty.
func (a *Archive) Newest(ctx context.Context, n int) ([]SentColumn, error) {
	camps, err := a.campaigns.List(ctx, CampaignFilter{})
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	out := make([]SentColumn, 0, len(camps))
	for i := len(camps) - 1; i >= 0; i-- { // List is by column number: newest last
		c := camps[i]
		if n > 0 && len(out) == n {
			break
		}
		col, err := a.column(ctx, c)
		if err != nil {
			return nil, err
		}
		if col == nil {
			continue
		}
		out = append(out, SentColumn{Column: col, Started: c.StartedAt})
	}
	return out, nil
}

// column is campaign c's column, parsed on first use.
func (a *Archive) column(ctx context.Context, c *Campaign) (*columns.Column, error) {
	a.mu.Lock()
	col, ok := a.parsed[c.ID]
	a.mu.Unlock()
	if ok {
		return col, nil
	}
	col, err := a.campaigns.column(ctx, c, a.loc)
	var pe *columns.ParseError
	if errors.As(err, &pe) {
		a.log.Warn("archive: stored column source does not parse", "campaign", c.ID, "err", err.Error())
	} else if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	a.mu.Lock()
	a.parsed[c.ID] = col
	a.mu.Unlock()
	return col, nil
}
