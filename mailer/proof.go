package mailer

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/templates"
)

// Proofs sends the author the proof of each column before the run that
// will send it (--proof-to, --proof-before): the column exactly as a
// subscriber will get it, under a banner with the planned send time, the
// number of recipients now and a hold link (see Holds).
//
// A proof goes through the durable outbox, not straight over SMTP: it is
// queued in the transaction that records it (table proofs), so an SMTP
// outage delays it but never loses it, and the outbox's retry rules apply.
// A proof lost in an outage would be worse than none: the author would
// take the silence for "nothing goes out".
type Proofs struct {
	m    *Mailer
	opts ProofOptions
}

// ProofOptions configures Proofs.
type ProofOptions struct {
	To       []string               // --proof-to: the author's addresses, validated
	Before   time.Duration          // --proof-before: how long before its run a proof goes out
	Schedule *RunSchedule           // when the scheduled runs come (--schedule, --timezone)
	Banner   *templates.ProofBanner // in the column mail's language (--lang)
}

var _ OutboxMails = (*Proofs)(nil)

// NewProofs returns the proofs of m's columns. With no address in
// opts.To it queues none but still renders those queued before.
func (m *Mailer) NewProofs(opts ProofOptions) (*Proofs, error) {
	switch {
	case opts.Before <= 0:
		return nil, fmt.Errorf("proofs: lead time %s must be positive", opts.Before)
	case opts.Schedule == nil || opts.Banner == nil:
		return nil, errors.New("proofs: need the schedule and the banner")
	}
	return &Proofs{m: m, opts: opts}, nil
}

// ProofTarget is a column a proof is made of, and when it goes out.
type ProofTarget struct {
	Column *columns.Column
	Hash   string // ContentHash of Column.Source
	// Planned is the scheduled run that will send it; zero when none will
	// as things stand, and NotPlanned says why ("held: by admin at …").
	Planned    time.Time
	NotPlanned string
}

// QueuedProof is a proof put in the outbox, one mail per address.
type QueuedProof struct {
	ProofTarget
	To        []string
	OutboxIDs []int64
}

// upcoming is what the scheduled runs up to horizon will send, in the
// order they send it: for a column that is new now, the next run; for a
// future-dated column, the first run at or after its date (as far as the
// runs before it leave it new). The plan of each run is the "new" rule at
// the run's time, with the columns of the runs before counted as sent.
// Held columns go nowhere, so they get no proof until released.
func (p *Proofs) upcoming(ctx context.Context, horizon time.Time) ([]ProofTarget, *Plan, error) {
	pl, err := p.m.Plan(ctx)
	if err != nil {
		return nil, nil, err
	}
	h := columns.History{Sent: maps.Clone(pl.history.Sent), Sending: pl.history.Sending, Held: pl.history.Held}
	if h.Sent == nil {
		h.Sent = map[int]bool{}
	}
	now := p.m.db.Now()
	first := p.opts.Schedule.Next(now)
	if first.IsZero() {
		return nil, pl, nil
	}
	// The plan changes only when a column comes due, so the runs worth
	// looking at are the next one and the first at or after each date.
	runs := []time.Time{first}
	for _, c := range pl.Columns {
		if c.Date.After(first) {
			if t := p.opts.Schedule.AtOrAfter(c.Date); !t.IsZero() {
				runs = append(runs, t)
			}
		}
	}
	slices.SortFunc(runs, func(a, b time.Time) int { return a.Compare(b) })
	runs = slices.CompactFunc(runs, time.Time.Equal)
	var out []ProofTarget
	for _, run := range runs {
		if run.After(horizon) {
			break
		}
		for _, c := range columns.Decide(pl.Columns, h, run).New {
			out = append(out, ProofTarget{Column: c, Hash: ContentHash(c.Source), Planned: run})
			h.Sent[c.Number] = true
		}
	}
	return out, pl, nil
}

// QueueDue queues the proof of every column whose run is within
// --proof-before from now (or nearer already), once per column and
// content: a column proofed before gets a new proof only after its file
// changed. It returns what it queued.
func (p *Proofs) QueueDue(ctx context.Context) ([]QueuedProof, error) {
	if len(p.opts.To) == 0 {
		return nil, nil
	}
	targets, _, err := p.upcoming(ctx, p.m.db.Now().Add(p.opts.Before))
	if err != nil {
		return nil, err
	}
	var out []QueuedProof
	for _, t := range targets {
		q, ok, err := p.queue(ctx, t, true)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, q)
		}
	}
	return out, nil
}

// ErrNothingToProof is returned when no column is due to go out.
var ErrNothingToProof = errors.New("no column is due to go out")

// Target is the proof `newsletter proof N` sends: column number (0: the
// next to go out), with the run that will send it.
func (p *Proofs) Target(ctx context.Context, number int) (ProofTarget, error) {
	// Far enough to reach every dated column.
	targets, pl, err := p.upcoming(ctx, p.m.db.Now().AddDate(100, 0, 0))
	if err != nil {
		return ProofTarget{}, err
	}
	if number == 0 {
		if len(targets) == 0 {
			why := pl.Why()
			if why == "" && len(pl.Plan.New) > 0 {
				why = "the schedule never runs again"
			}
			if why == "" {
				why = "nothing is new"
			}
			for _, c := range pl.Plan.Held {
				why += fmt.Sprintf("; column %03d is %s", c.Number, pl.HeldWhy(c.Number))
			}
			return ProofTarget{}, fmt.Errorf("%w: %s", ErrNothingToProof, why)
		}
		return targets[0], nil
	}
	for _, t := range targets {
		if t.Column.Number == number {
			return t, nil
		}
	}
	switch pl.State(number) {
	case columns.StateSent:
		return ProofTarget{}, fmt.Errorf("column %03d: %w; a proof would come too late", number, ErrAlreadySent)
	case columns.StateSending:
		return ProofTarget{}, fmt.Errorf("column %03d: its campaign is under way; a proof would come too late", number)
	}
	col := columns.Find(pl.Columns, number)
	if col == nil {
		return ProofTarget{}, fmt.Errorf("column %03d: %w in %s", number, ErrNoColumn, p.m.opts.ColumnsDir)
	}
	return ProofTarget{Column: col, Hash: ContentHash(col.Source), NotPlanned: pl.Explain(number)}, nil
}

// SendNow queues the proof of t to every address whether or not one was
// sent before, and sends it at once (see Mailer.SendOutboxNow). The
// records say how each mail ended; the error is for an SMTP server that
// cannot be reached or used, in which case the proof stays queued for
// serve.
func (p *Proofs) SendNow(ctx context.Context, t ProofTarget) (QueuedProof, map[int64]db.OutboxMail, error) {
	if len(p.opts.To) == 0 {
		return QueuedProof{}, nil, errors.New("proofs: no address to send them to")
	}
	q, _, err := p.queue(ctx, t, false)
	if err != nil {
		return QueuedProof{}, nil, err
	}
	recs, err := p.m.SendOutboxNow(ctx, p, q.OutboxIDs)
	return q, recs, err
}

// proofPayload is what a proof's outbox row carries (no token: the hold
// link is made when the mail is rendered).
type proofPayload struct {
	Column     int    `json:"column"`
	Hash       string `json:"hash"`
	Planned    string `json:"planned,omitempty"` // db.TimeFormat
	NotPlanned string `json:"not_planned,omitempty"`
}

// queue records the proof of t and queues one mail per address, in one
// transaction. With once, a column and content proofed before is left
// alone (ok false).
func (p *Proofs) queue(ctx context.Context, t ProofTarget, once bool) (q QueuedProof, ok bool, err error) {
	col := t.Column
	if col.Source == nil {
		return q, false, fmt.Errorf("proof of column %03d: the column has no source", col.Number)
	}
	var planned any
	pl := proofPayload{Column: col.Number, Hash: t.Hash, NotPlanned: t.NotPlanned}
	if !t.Planned.IsZero() {
		pl.Planned = db.FormatTime(t.Planned)
		planned = pl.Planned
	}
	payload, err := json.Marshal(pl)
	if err != nil {
		return q, false, fmt.Errorf("proof of column %03d: %w", col.Number, err)
	}
	q = QueuedProof{ProofTarget: t, To: p.opts.To}
	err = p.m.db.InTx(ctx, func(tx *db.Tx) error {
		q.OutboxIDs = q.OutboxIDs[:0]
		upsert := ` ON CONFLICT (column_number, content_hash) DO NOTHING`
		if !once {
			upsert = ` ON CONFLICT (column_number, content_hash) DO UPDATE SET planned_at = excluded.planned_at, recipients = excluded.recipients`
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO proofs (column_number, content_hash, file, title, source, planned_at, recipients, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`+upsert,
			col.Number, t.Hash, col.File, col.TitleLine, col.Source, planned, strings.Join(p.opts.To, ","), tx.NowText())
		if err != nil {
			return fmt.Errorf("record proof of column %03d: %w", col.Number, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // proofed before, this very content
		}
		ok = true
		for _, to := range p.opts.To {
			id, err := db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindProof, Recipient: to, Payload: string(payload)})
			if err != nil {
				return err
			}
			q.OutboxIDs = append(q.OutboxIDs, id)
		}
		return nil
	})
	return q, ok, err
}

// Run queues due proofs (QueueDue) at once and then every interval until
// ctx ends; serve's outbox worker sends them.
func (p *Proofs) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		queued, err := p.QueueDue(ctx)
		for _, q := range queued {
			args := []any{"column", q.Column.Number, "to", strings.Join(q.To, ", "), "planned", q.Planned.In(p.m.opts.Location).Format(time.RFC3339)}
			p.m.log.Info("proof queued", args...)
		}
		switch {
		case err == nil:
			lastErr = ""
		case ctx.Err() == nil && err.Error() != lastErr:
			p.m.log.Error("proofs", "err", err)
			lastErr = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// proofUnsubscribeURL stands in for the reader's unsubscribe link in a
// proof: the author gets the mail as a subscriber would, but is none.
func (m *Mailer) proofUnsubscribeURL() string {
	return strings.TrimRight(m.opts.BaseURL, "/") + "/unsubscribe?token=PROOF"
}

// RenderOutbox renders a queued proof: the column as it was when the
// proof was queued, rendered and personalised as for a subscriber (with
// the placeholder unsubscribe link), under the banner. A column whose
// campaign has finished meanwhile needs no proof: db.ErrOutboxCancelled.
func (p *Proofs) RenderOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
	if it.Kind != db.OutboxKindProof {
		return templates.RenderedMail{}, fmt.Errorf("outbox item %d: kind %q is not a proof", it.ID, it.Kind)
	}
	var pl proofPayload
	if err := json.Unmarshal([]byte(it.Payload), &pl); err != nil {
		return templates.RenderedMail{}, fmt.Errorf("proof %d: payload: %w", it.ID, err)
	}
	var file string
	var src []byte
	err := p.m.db.SQL().QueryRowContext(ctx, `SELECT file, source FROM proofs WHERE column_number = ? AND content_hash = ?`,
		pl.Column, pl.Hash).Scan(&file, &src)
	if errors.Is(err, sql.ErrNoRows) {
		return templates.RenderedMail{}, db.ErrOutboxCancelled
	}
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("proof %d: %w", it.ID, err)
	}
	if c, err := p.m.campaigns.Find(ctx, pl.Column); err == nil && c.Finished() {
		return templates.RenderedMail{}, db.ErrOutboxCancelled
	}
	col, err := columns.Parse(file, src, p.m.opts.Location)
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("proof %d: stored source: %w", it.ID, err)
	}
	planned, err := db.ParseTime(pl.Planned)
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("proof %d: %w", it.ID, err)
	}
	if !planned.IsZero() {
		planned = planned.In(p.m.opts.Location)
	}
	n, err := p.m.campaigns.countRecipients(ctx)
	if err != nil {
		return templates.RenderedMail{}, err
	}
	prep, err := p.m.renderer.Prepare(col)
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("render column %03d: %w", col.Number, err)
	}
	rm := prep.Personalize(templates.Recipient{Email: it.Recipient, UnsubscribeURL: p.m.proofUnsubscribeURL()})
	return p.opts.Banner.Apply(rm, templates.ProofData{
		Number:     col.NumberString(),
		Planned:    planned,
		NotPlanned: cmp.Or(pl.NotPlanned, "-"),
		Recipients: n,
		HoldURL:    strings.TrimRight(p.m.opts.BaseURL, "/") + "/hold?token=" + p.m.holds.Token(col.Number, pl.Hash),
	})
}

// OutboxSent has nothing to record: the proofs row and the outbox row are
// the record.
func (p *Proofs) OutboxSent(context.Context, *db.Tx, db.OutboxItem, string) error { return nil }

// countRecipients is how many subscribers a campaign started now would
// go to (the snapshot of Start reads the same view).
func (cs *CampaignStore) countRecipients(ctx context.Context) (int, error) {
	var n int
	if err := cs.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriber_mailability WHERE mailable`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	return n, nil
}
