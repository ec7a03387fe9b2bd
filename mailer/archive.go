package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"newsletter/columns"
	"newsletter/db"
)

// Archive is every column that has a campaign, as it was sent: what the
// web archive shows. A campaign's column never changes (its source is kept
// with it), so each is parsed once and then kept, by campaign id.
type Archive struct {
	db  *db.DB
	loc *time.Location
	log *slog.Logger

	mu     sync.Mutex
	parsed map[int64]*columns.Column // nil: the stored source does not parse
}

// NewArchive returns the archive of the campaigns in d; loc is the time
// zone of publish dates written without one (--timezone).
func NewArchive(d *db.DB, loc *time.Location, log *slog.Logger) *Archive {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Archive{db: d, loc: loc, log: log, parsed: map[int64]*columns.Column{}}
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
	rows, err := a.db.SQL().QueryContext(ctx, `SELECT id, file, started_at FROM campaigns ORDER BY column_number DESC`)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	type campaign struct {
		id      int64
		file    string
		started string
	}
	var camps []campaign
	for rows.Next() {
		var c campaign
		if err := rows.Scan(&c.id, &c.file, &c.started); err != nil {
			rows.Close()
			return nil, fmt.Errorf("archive: %w", err)
		}
		camps = append(camps, c)
	}
	// Closed before the sources are read: no connection is held twice.
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	out := make([]SentColumn, 0, len(camps))
	for _, c := range camps {
		if n > 0 && len(out) == n {
			break
		}
		col, err := a.column(ctx, c.id, c.file)
		if err != nil {
			return nil, err
		}
		if col == nil {
			continue
		}
		started, err := db.ParseTime(c.started)
		if err != nil {
			return nil, fmt.Errorf("archive: campaign %d: %w", c.id, err)
		}
		out = append(out, SentColumn{Column: col, Started: started})
	}
	return out, nil
}

// column is campaign id's column, parsed on first use.
func (a *Archive) column(ctx context.Context, id int64, file string) (*columns.Column, error) {
	a.mu.Lock()
	col, ok := a.parsed[id]
	a.mu.Unlock()
	if ok {
		return col, nil
	}
	src, err := NewCampaignStore(a.db).source(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if col, err = columns.Parse(file, src, a.loc); err != nil {
		a.log.Warn("archive: stored column source does not parse", "campaign", id, "err", err.Error())
	}
	a.mu.Lock()
	a.parsed[id] = col
	a.mu.Unlock()
	return col, nil
}
