package mailer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"newsletter/columns"
	"newsletter/db"
)

// Campaign is the sending of one column to the subscribers who were active
// when it started.
type Campaign struct {
	ID         int64
	Number     int
	Title      string
	Subject    string
	File       string
	Recipients int // size of the snapshot
	StartedAt  time.Time
	FinishedAt time.Time // zero while deliveries are pending

	// Column is the column this campaign sends, when CampaignStore.Start began
	// it in this process: a run renders it without parsing it again. A
	// campaign read from the database has none; a run parses its stored
	// source.
	Column *columns.Column
}

// Finished reports whether no delivery is pending any more.
func (c *Campaign) Finished() bool { return !c.FinishedAt.IsZero() }

// Counts are a campaign's deliveries by state. Waiting is the part of
// Pending that failed temporarily and waits for a retry.
type Counts struct {
	Pending int
	Waiting int
	Sent    int
	Failed  int
	Skipped int
}

// Total is every delivery of the campaign.
func (c Counts) Total() int { return c.Pending + c.Sent + c.Failed + c.Skipped }

// ErrCampaignExists is returned when a column already has its campaign:
// there is one per column, ever.
var ErrCampaignExists = errors.New("column already has a campaign")

// ErrNoCampaign is returned when a column has no campaign.
var ErrNoCampaign = errors.New("column has no campaign")

// ErrNoRecipients refuses to start a campaign no subscriber would get: it
// would finish at once and burn the column for good (one campaign per
// column, ever), say on a mistyped database path. The column stays new and
// goes out once someone has confirmed.
var ErrNoRecipients = errors.New("no confirmed subscriber to send it to")

// CampaignStore reads and writes the tables mailer owns: campaigns and the
// delivery log. Subscribers are read only through the view their package
// defines (subscriber_mailability, migration 0004).
type CampaignStore struct {
	db *db.DB
}

// NewCampaignStore returns the campaign store on d.
func NewCampaignStore(d *db.DB) *CampaignStore { return &CampaignStore{db: d} }

const campaignColumns = `id, column_number, title, subject, file, recipients, started_at, COALESCE(finished_at, '')`

func scanCampaign(r interface{ Scan(...any) error }) (*Campaign, error) {
	var c Campaign
	var started, finished string
	if err := r.Scan(&c.ID, &c.Number, &c.Title, &c.Subject, &c.File, &c.Recipients, &started, &finished); err != nil {
		return nil, err
	}
	var err error
	if c.StartedAt, err = db.ParseTime(started); err != nil {
		return nil, err
	}
	if c.FinishedAt, err = db.ParseTime(finished); err != nil {
		return nil, err
	}
	return &c, nil
}

// Start creates the column's campaign and snapshots the mailable
// subscribers into one pending delivery each, all in one transaction: the
// campaign exists exactly with its full recipient list. The same
// transaction keeps col.Source, the bytes col was parsed from: every run of
// the campaign sends them, and an edit or a deletion of the file afterwards
// changes nothing for it. A column that already has a campaign gets
// ErrCampaignExists; one that no subscriber would get is not started and
// gets ErrNoRecipients.
func (cs *CampaignStore) Start(ctx context.Context, col *columns.Column) (*Campaign, error) {
	src := col.Source
	if src == nil {
		return nil, fmt.Errorf("start campaign for column %03d: the column has no source to keep", col.Number)
	}
	var id int64
	err := cs.db.InTx(ctx, func(tx *db.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO campaigns (column_number, title, subject, file, source, started_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (column_number) DO NOTHING RETURNING id`,
			col.Number, col.TitleLine, col.Subject, col.File, src, tx.NowText()).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("column %03d: %w", col.Number, ErrCampaignExists)
		}
		if err != nil {
			return fmt.Errorf("start campaign for column %03d: %w", col.Number, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (campaign_id, subscriber_id, next_attempt_at)
			SELECT ?, id, ? FROM subscriber_mailability WHERE mailable ORDER BY id`, id, tx.NowText())
		if err != nil {
			return fmt.Errorf("snapshot recipients of column %03d: %w", col.Number, err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			// Rolled back with the campaign row: the column stays new.
			return fmt.Errorf("column %03d: %w", col.Number, ErrNoRecipients)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET recipients = ? WHERE id = ?`, n, id); err != nil {
			return fmt.Errorf("snapshot recipients of column %03d: %w", col.Number, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c, err := cs.FindByID(ctx, id)
	if err != nil {
		return nil, err
	}
	c.Column = col
	return c, nil
}

// source returns the column file's bytes kept when the campaign started.
// Start always keeps them, so a campaign without them is damage.
func (cs *CampaignStore) source(ctx context.Context, campaignID int64) ([]byte, error) {
	var src []byte
	err := cs.db.SQL().QueryRowContext(ctx, `SELECT source FROM campaigns WHERE id = ?`, campaignID).Scan(&src)
	if err != nil {
		return nil, fmt.Errorf("read campaign source: %w", err)
	}
	if src == nil {
		return nil, fmt.Errorf("campaign %d has no stored column source: the campaigns table is damaged", campaignID)
	}
	return src, nil
}

// column parses the source kept with campaign c (see source): its column
// as it was when the campaign started. loc is the time zone of dates
// written without one. A source that does not parse is a
// *columns.ParseError.
func (cs *CampaignStore) column(ctx context.Context, c *Campaign, loc *time.Location) (*columns.Column, error) {
	src, err := cs.source(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	col, err := columns.Parse(c.File, src, loc)
	if err != nil {
		return nil, fmt.Errorf("campaign of column %03d: stored source: %w", c.Number, err)
	}
	return col, nil
}

// Find returns the campaign of column number, or ErrNoCampaign.
func (cs *CampaignStore) Find(ctx context.Context, number int) (*Campaign, error) {
	c, err := scanCampaign(cs.db.SQL().QueryRowContext(ctx,
		`SELECT `+campaignColumns+` FROM campaigns WHERE column_number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("column %03d: %w", number, ErrNoCampaign)
	}
	if err != nil {
		return nil, fmt.Errorf("find campaign: %w", err)
	}
	return c, nil
}

// FindByID returns the campaign with that id, or ErrNoCampaign.
func (cs *CampaignStore) FindByID(ctx context.Context, id int64) (*Campaign, error) {
	c, err := scanCampaign(cs.db.SQL().QueryRowContext(ctx,
		`SELECT `+campaignColumns+` FROM campaigns WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("campaign %d: %w", id, ErrNoCampaign)
	}
	if err != nil {
		return nil, fmt.Errorf("find campaign: %w", err)
	}
	return c, nil
}

// CampaignFilter selects campaigns for List.
type CampaignFilter struct {
	Unfinished bool // only those with pending deliveries
}

// List returns the campaigns f selects, by column number.
func (cs *CampaignStore) List(ctx context.Context, f CampaignFilter) ([]*Campaign, error) {
	q := `SELECT ` + campaignColumns + ` FROM campaigns`
	if f.Unfinished {
		q += ` WHERE finished_at IS NULL`
	}
	rows, err := cs.db.SQL().QueryContext(ctx, q+` ORDER BY column_number`)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	defer rows.Close()
	var out []*Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, fmt.Errorf("list campaigns: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return out, nil
}

// Counts counts a campaign's deliveries by state. One pass with a filter
// per figure instead of GROUP BY: grouping made SQLite sort the campaign's
// rows, at a million 1.7 MB of its memory and an 18 MB temporary file at
// the end of every run.
func (cs *CampaignStore) Counts(ctx context.Context, campaignID int64) (Counts, error) {
	var c Counts
	err := cs.db.SQL().QueryRowContext(ctx, `SELECT
		COUNT(*) FILTER (WHERE state = 'pending'),
		COUNT(*) FILTER (WHERE state = 'pending' AND attempts > 0),
		COUNT(*) FILTER (WHERE state = 'sent'),
		COUNT(*) FILTER (WHERE state = 'failed'),
		COUNT(*) FILTER (WHERE state = 'skipped')
		FROM deliveries WHERE campaign_id = ?`, campaignID).Scan(&c.Pending, &c.Waiting, &c.Sent, &c.Failed, &c.Skipped)
	if err != nil {
		return Counts{}, fmt.Errorf("count deliveries: %w", err)
	}
	return c, nil
}

// ReplyCount is how many deliveries ended with one reply.
type ReplyCount struct {
	Reply string
	Count int
}

// failureReplies groups a campaign's failed deliveries by the server's
// reply, most frequent first.
func (cs *CampaignStore) failureReplies(ctx context.Context, campaignID int64, limit int) ([]ReplyCount, error) {
	rows, err := cs.db.SQL().QueryContext(ctx, `SELECT last_reply, COUNT(*) AS n FROM deliveries
		WHERE campaign_id = ? AND state = 'failed' GROUP BY last_reply ORDER BY n DESC, last_reply LIMIT ?`,
		campaignID, limit)
	if err != nil {
		return nil, fmt.Errorf("group failures: %w", err)
	}
	defer rows.Close()
	var out []ReplyCount
	for rows.Next() {
		var rc ReplyCount
		if err := rows.Scan(&rc.Reply, &rc.Count); err != nil {
			return nil, fmt.Errorf("group failures: %w", err)
		}
		out = append(out, rc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("group failures: %w", err)
	}
	return out, nil
}

// finishIfDone closes the campaign when nothing is pending any more and
// reports whether it is finished.
func (cs *CampaignStore) finishIfDone(ctx context.Context, campaignID int64) (bool, error) {
	var done bool
	err := cs.db.InTx(ctx, func(tx *db.Tx) error {
		done = false // InTx may run this again on PostgreSQL
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE campaign_id = ? AND state = 'pending'`,
			campaignID).Scan(&pending); err != nil {
			return fmt.Errorf("check campaign: %w", err)
		}
		if pending > 0 {
			return nil
		}
		done = true
		_, err := tx.ExecContext(ctx, `UPDATE campaigns SET finished_at = ? WHERE id = ? AND finished_at IS NULL`,
			tx.NowText(), campaignID)
		if err != nil {
			return fmt.Errorf("finish campaign: %w", err)
		}
		return nil
	})
	return done, err
}

// nextDue returns when the campaign's earliest pending delivery comes due
// (a retry, or the end of another sender's lease); ok is false when none is
// pending.
func (cs *CampaignStore) nextDue(ctx context.Context, campaignID int64) (t time.Time, ok bool, err error) {
	var s sql.NullString
	err = cs.db.SQL().QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM deliveries
		WHERE campaign_id = ? AND state = 'pending'`, campaignID).Scan(&s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due delivery: %w", err)
	}
	if !s.Valid {
		return time.Time{}, false, nil
	}
	t, err = db.ParseTime(s.String)
	return t, err == nil, err
}
