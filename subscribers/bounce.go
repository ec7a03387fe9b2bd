package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"newsletter/db"
)

// What a bounce or a complaint does to a subscriber (DESIGN "Bounces and
// complaints"): this package owns the rule and the table of events
// (bounce_events); the mailer's intake finds the subscriber and the mail a
// report is about and calls ApplyBounce.

// BounceKind is what an event means for the address.
type BounceKind string

// The event kinds.
const (
	BounceHard      BounceKind = "hard"      // the address does not exist or takes no mail
	BounceSoft      BounceKind = "soft"      // this one mail failed
	BounceComplaint BounceKind = "complaint" // the reader reported the mail as abuse
)

// EventComplained is the consent event of a complaint: the reader's "this
// is spam" is an objection, recorded like an unsubscribe.
const EventComplained = "complained"

// DefaultSoftBounceLimit is --soft-bounce-limit's default.
const DefaultSoftBounceLimit = 3

// BounceEvent is one bounce or complaint about one subscriber, as stored.
type BounceEvent struct {
	ID           int64
	At           time.Time
	SubscriberID int64
	Address      string // the subscriber's address when the event came
	Kind         BounceKind
	Status       string // enhanced status code, "" when the report gives none
	Diagnostic   string // the remote server's words, one line
	CampaignID   int64  // the campaign whose mail bounced; 0 when none
	Column       int    // its column number; 0 when none
	Mail         string // what bounced: "column", an outbox kind ("confirm", "welcome", ...), "" unknown
	Source       string // how the report came: pipe, file, mbox, maildir, imap, webhook:mailgun, ...
	IdentifiedBy string // verp, message-id or final-recipient
	Effect       string // what it did to the subscriber, in words
	ReportKey    string // the report's Message-ID or the provider's event id
}

// DeliveryHistory is what the soft-bounce rule needs of the delivery log:
// mailer.CampaignStore is one.
type DeliveryHistory interface {
	// RecentAttempts returns up to n campaigns whose mail to the subscriber
	// was attempted and settled (accepted or refused for good), newest
	// first.
	RecentAttempts(ctx context.Context, tx *db.Tx, subscriberID int64, n int) ([]Attempt, error)
}

// Attempt is one campaign's settled delivery to a subscriber.
type Attempt struct {
	CampaignID int64
	Failed     bool // refused at SMTP time (or given up): counts like a soft bounce
}

// BounceRules are the settings of ApplyBounce.
type BounceRules struct {
	// SoftLimit is how many campaigns in a row with a soft bounce make the
	// subscriber bounced (--soft-bounce-limit); DefaultSoftBounceLimit
	// when 0.
	SoftLimit int
	// History is the delivery log; without it a soft bounce is only
	// recorded.
	History DeliveryHistory
}

// Effects in BounceEvent.Effect.
const (
	EffectBounced      = "bounced"
	EffectUnsubscribed = "unsubscribed"
	EffectCounted      = "counted"
	EffectRecorded     = "recorded" // a soft bounce of no campaign: kept, counts towards nothing
)

// ApplyBounce records the event and does what it means, in the caller's
// transaction, once: an event already recorded (same ReportKey, subscriber
// and kind) changes nothing and returns applied false with the stored
// event. A hard bounce makes an active or pending subscriber bounced; a
// soft bounce is counted for its campaign, and SoftLimit campaigns in a row
// with one (a campaign whose mail was accepted and did not bounce ends the
// run) make the subscriber bounced; a complaint unsubscribes at once,
// recorded as a `complained` consent event. A subscriber who is already
// out (unsubscribed, or bounced for a bounce) keeps their state.
func ApplyBounce(ctx context.Context, tx *db.Tx, ev BounceEvent, rules BounceRules) (stored BounceEvent, applied bool, err error) {
	if ev.ReportKey == "" {
		return BounceEvent{}, false, errors.New("bounce event without a report key")
	}
	switch ev.Kind {
	case BounceHard, BounceSoft, BounceComplaint:
	default:
		return BounceEvent{}, false, fmt.Errorf("bounce event of unknown kind %q", ev.Kind)
	}
	if prev, err := findBounceEvent(ctx, tx, ev.ReportKey, ev.SubscriberID, ev.Kind); err == nil {
		return *prev, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return BounceEvent{}, false, err
	}
	sub, err := FindByIDTx(ctx, tx, ev.SubscriberID)
	if err != nil {
		return BounceEvent{}, false, err
	}
	ev.Address = sub.Email
	ev.At = tx.Now
	detail := bounceDetail(ev)
	out := sub.Status == StatusUnsubscribed || sub.Status == StatusBounced
	switch ev.Kind {
	case BounceHard:
		ev.Effect = "none: already " + string(sub.Status)
		if !out {
			if err := MarkBounced(ctx, tx, sub.ID, "hard bounce: "+detail); err != nil {
				return BounceEvent{}, false, err
			}
			ev.Effect = EffectBounced
		}
	case BounceComplaint:
		ev.Effect = "none: already " + string(sub.Status)
		if sub.Status != StatusUnsubscribed {
			if err := complained(ctx, tx, sub.ID, detail); err != nil {
				return BounceEvent{}, false, err
			}
			ev.Effect = EffectUnsubscribed
		}
	case BounceSoft:
		ev.Effect = EffectRecorded
		if ev.CampaignID != 0 && rules.History != nil {
			limit := rules.SoftLimit
			if limit <= 0 {
				limit = DefaultSoftBounceLimit
			}
			run, err := softRun(ctx, tx, rules.History, ev.SubscriberID, ev.CampaignID, limit)
			if err != nil {
				return BounceEvent{}, false, err
			}
			ev.Effect = fmt.Sprintf("%s (%d of %d in a row)", EffectCounted, run, limit)
			if run >= limit {
				ev.Effect = "none: already " + string(sub.Status)
				if !out {
					why := fmt.Sprintf("%d campaigns in a row with a soft bounce, the last: %s", run, detail)
					if err := MarkBounced(ctx, tx, sub.ID, why); err != nil {
						return BounceEvent{}, false, err
					}
					ev.Effect = fmt.Sprintf("%s (%d soft bounces in a row)", EffectBounced, run)
				}
			}
		}
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO bounce_events (at, subscriber_id, address, kind, status, diagnostic,
			campaign_id, column_number, mail, source, identified_by, effect, report_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		tx.NowText(), ev.SubscriberID, ev.Address, ev.Kind, ev.Status, ev.Diagnostic,
		nullID(ev.CampaignID), nullInt(ev.Column), ev.Mail, ev.Source, ev.IdentifiedBy, ev.Effect, ev.ReportKey).Scan(&ev.ID)
	if err != nil {
		return BounceEvent{}, false, fmt.Errorf("record bounce event: %w", err)
	}
	return ev, true, nil
}

// softRun counts the campaigns in a row, newest first, whose mail to the
// subscriber bounced, taking campaignID's as bounced now. A campaign whose
// mail was accepted and has no bounce on record ends the run (so a late
// report about an older campaign may count 0 in a row); campaigns the
// subscriber was skipped in, or whose mail is still being tried, are no
// part of it.
func softRun(ctx context.Context, tx *db.Tx, h DeliveryHistory, subscriberID, campaignID int64, limit int) (int, error) {
	attempts, err := h.RecentAttempts(ctx, tx, subscriberID, limit)
	if err != nil {
		return 0, err
	}
	// The bounced campaign belongs in the run even when the log does not
	// show its delivery as settled yet (a report faster than the record).
	// Campaign ids grow with time, so their order is the campaigns' order.
	found := false
	for i, a := range attempts {
		if a.CampaignID == campaignID {
			found = true
			break
		}
		if a.CampaignID < campaignID {
			attempts = append(attempts[:i], append([]Attempt{{CampaignID: campaignID}}, attempts[i:]...)...)
			found = true
			break
		}
	}
	if !found {
		attempts = append(attempts, Attempt{CampaignID: campaignID})
	}
	ids := make([]any, 0, len(attempts)+1)
	ids = append(ids, subscriberID)
	for _, a := range attempts {
		ids = append(ids, a.CampaignID)
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT campaign_id FROM bounce_events
		WHERE subscriber_id = ? AND kind IN ('hard', 'soft') AND campaign_id IN (?`+strings.Repeat(",?", len(attempts)-1)+`)`, ids...)
	if err != nil {
		return 0, fmt.Errorf("count soft bounces: %w", err)
	}
	defer rows.Close()
	bounced := map[int64]bool{campaignID: true}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("count soft bounces: %w", err)
		}
		bounced[id] = true
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("count soft bounces: %w", err)
	}
	run := 0
	for _, a := range attempts {
		if !a.Failed && !bounced[a.CampaignID] {
			break
		}
		run++
	}
	return run, nil
}

// complained unsubscribes the subscriber after a complaint.
func complained(ctx context.Context, tx *db.Tx, id int64, detail string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, updated_at = ?
		WHERE id = ?`, tx.NowText(), tx.NowText(), id); err != nil {
		return fmt.Errorf("unsubscribe after complaint: %w", err)
	}
	if err := db.CancelOutbox(ctx, tx, id, "cancelled: complaint"); err != nil {
		return fmt.Errorf("unsubscribe after complaint: %w", err)
	}
	return RecordEvent(ctx, tx, id, EventComplained, Evidence{Detail: "complaint: " + detail})
}

// bounceDetail is the evidence text of an event: what was reported, about
// which mail, how it came and how it was tied to the subscriber.
func bounceDetail(ev BounceEvent) string {
	var b strings.Builder
	if ev.Status != "" {
		b.WriteString(ev.Status + " ")
	}
	if ev.Diagnostic != "" {
		b.WriteString(clipBytes(ev.Diagnostic, 300) + " ")
	}
	switch {
	case ev.Column != 0:
		fmt.Fprintf(&b, "(column %03d, ", ev.Column)
	case ev.Mail != "":
		fmt.Fprintf(&b, "(%s mail, ", ev.Mail)
	default:
		b.WriteString("(")
	}
	fmt.Fprintf(&b, "report via %s, identified by %s, report %s)", ev.Source, ev.IdentifiedBy, ev.ReportKey)
	return b.String()
}

// clipBytes cuts s to at most n bytes on a character boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

const bounceEventColumns = `id, at, subscriber_id, address, kind, status, diagnostic, COALESCE(campaign_id, 0),
	COALESCE(column_number, 0), mail, source, identified_by, effect, report_key`

func scanBounceEvent(r rowScanner) (*BounceEvent, error) {
	var ev BounceEvent
	var at string
	if err := r.Scan(&ev.ID, &at, &ev.SubscriberID, &ev.Address, &ev.Kind, &ev.Status, &ev.Diagnostic, &ev.CampaignID,
		&ev.Column, &ev.Mail, &ev.Source, &ev.IdentifiedBy, &ev.Effect, &ev.ReportKey); err != nil {
		return nil, err
	}
	var err error
	if ev.At, err = db.ParseTime(at); err != nil {
		return nil, err
	}
	return &ev, nil
}

func findBounceEvent(ctx context.Context, tx *db.Tx, key string, subscriberID int64, kind BounceKind) (*BounceEvent, error) {
	ev, err := scanBounceEvent(tx.QueryRowContext(ctx, `SELECT `+bounceEventColumns+` FROM bounce_events
		WHERE report_key = ? AND subscriber_id = ? AND kind = ?`, key, subscriberID, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find bounce event: %w", err)
	}
	return ev, nil
}

// BounceFilter selects events for BounceEvents.
type BounceFilter struct {
	SubscriberID int64 // 0: everyone's
	Limit        int   // 0: 50
}

// BounceEvents returns recorded events, newest first.
func (s *Store) BounceEvents(ctx context.Context, f BounceFilter) ([]BounceEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := `SELECT ` + bounceEventColumns + ` FROM bounce_events ORDER BY id DESC LIMIT ?`
	args := []any{f.Limit}
	if f.SubscriberID != 0 {
		q = `SELECT ` + bounceEventColumns + ` FROM bounce_events WHERE subscriber_id = ? ORDER BY id DESC LIMIT ?`
		args = []any{f.SubscriberID, f.Limit}
	}
	rows, err := s.db.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read bounce events: %w", err)
	}
	defer rows.Close()
	var out []BounceEvent
	for rows.Next() {
		ev, err := scanBounceEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read bounce events: %w", err)
		}
		out = append(out, *ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read bounce events: %w", err)
	}
	return out, nil
}

// BounceCount is how many events of one kind came from one source.
type BounceCount struct {
	Kind   BounceKind
	Source string
	N      int
}

// CountBounceEvents counts the recorded events by kind and source (for
// /metrics). An erased subscriber's events go with them.
func (s *Store) CountBounceEvents(ctx context.Context) ([]BounceCount, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT kind, source, COUNT(*) FROM bounce_events GROUP BY kind, source`)
	if err != nil {
		return nil, fmt.Errorf("count bounce events: %w", err)
	}
	defer rows.Close()
	var out []BounceCount
	for rows.Next() {
		var c BounceCount
		if err := rows.Scan(&c.Kind, &c.Source, &c.N); err != nil {
			return nil, fmt.Errorf("count bounce events: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
