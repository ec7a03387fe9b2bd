package mailer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
)

// The delivery log as the bounce intake reads it, and the intake's own
// table of mail kept for review.

var _ subscribers.DeliveryHistory = (*CampaignStore)(nil)

// errNoDelivery is a mail the delivery log does not know.
var errNoDelivery = errors.New("no such delivery")

// sentMail is one column mail of the delivery log.
type sentMail struct {
	CampaignID   int64
	SubscriberID int64 // 0 when the subscriber was erased
	Column       int
}

// findDelivery returns the delivery of the campaign to the subscriber.
func (cs *CampaignStore) findDelivery(ctx context.Context, campaignID, subscriberID int64) (sentMail, error) {
	return cs.findSent(ctx, `SELECT dl.campaign_id, COALESCE(dl.subscriber_id, 0), c.column_number
		FROM deliveries dl JOIN campaigns c ON c.id = dl.campaign_id
		WHERE dl.campaign_id = ? AND dl.subscriber_id = ?`, campaignID, subscriberID)
}

// findByMessageID returns the delivery that was sent with that Message-ID.
func (cs *CampaignStore) findByMessageID(ctx context.Context, messageID string) (sentMail, error) {
	if messageID == "" {
		return sentMail{}, errNoDelivery
	}
	// `message_id <> ''` lets SQLite use the partial index deliveries_message_id.
	return cs.findSent(ctx, `SELECT dl.campaign_id, COALESCE(dl.subscriber_id, 0), c.column_number
		FROM deliveries dl JOIN campaigns c ON c.id = dl.campaign_id
		WHERE dl.message_id = ? AND dl.message_id <> '' LIMIT 1`, messageID)
}

func (cs *CampaignStore) findSent(ctx context.Context, q string, args ...any) (sentMail, error) {
	return findSent(ctx, cs.db.SQL(), q, args...)
}

func findSent(ctx context.Context, qr querier, q string, args ...any) (sentMail, error) {
	var m sentMail
	err := qr.QueryRowContext(ctx, q, args...).Scan(&m.CampaignID, &m.SubscriberID, &m.Column)
	if errors.Is(err, sql.ErrNoRows) {
		return sentMail{}, errNoDelivery
	}
	if err != nil {
		return sentMail{}, fmt.Errorf("find delivery: %w", err)
	}
	return m, nil
}

// RecentAttempts returns up to n campaigns whose mail to the subscriber
// was accepted or refused for good, newest first: the soft-bounce rule's
// view of the delivery log (subscribers.DeliveryHistory).
func (cs *CampaignStore) RecentAttempts(ctx context.Context, tx *db.Tx, subscriberID int64, n int) ([]subscribers.Attempt, error) {
	rows, err := tx.QueryContext(ctx, `SELECT campaign_id, state = 'failed' FROM deliveries
		WHERE subscriber_id = ? AND state IN ('sent', 'failed')
		ORDER BY campaign_id DESC LIMIT ?`, subscriberID, n)
	if err != nil {
		return nil, fmt.Errorf("recent deliveries: %w", err)
	}
	defer rows.Close()
	var out []subscribers.Attempt
	for rows.Next() {
		var a subscribers.Attempt
		if err := rows.Scan(&a.CampaignID, &a.Failed); err != nil {
			return nil, fmt.Errorf("recent deliveries: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// latestSentTx is the newest campaign whose mail the subscriber's server
// accepted: where a report that names only the recipient most likely
// comes from.
func (cs *CampaignStore) latestSentTx(ctx context.Context, tx *db.Tx, subscriberID int64) (sentMail, error) {
	return findSent(ctx, tx, `SELECT dl.campaign_id, COALESCE(dl.subscriber_id, 0), c.column_number
		FROM deliveries dl JOIN campaigns c ON c.id = dl.campaign_id
		WHERE dl.subscriber_id = ? AND dl.state = 'sent'
		ORDER BY dl.campaign_id DESC LIMIT 1`, subscriberID)
}

// MaxReviewBytes is how much of a message kept for review is stored: the
// beginning, where a report says what it is.
const MaxReviewBytes = 256 << 10

// ReviewItem is one message the intake kept for review.
type ReviewItem struct {
	ID      int64
	At      time.Time
	Source  string
	Reason  string
	From    string // from outside
	Subject string // from outside
	Size    int    // of the whole message; at most MaxReviewBytes are kept
}

// keepForReview stores a message once (by key) in the review table.
func keepForReview(ctx context.Context, tx *db.Tx, key, source, reason, from, subject string, raw []byte) error {
	size := len(raw)
	if len(raw) > MaxReviewBytes {
		raw = raw[:MaxReviewBytes]
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO intake_review (at, source, reason, report_key, sender, subject, size, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (report_key) DO NOTHING`,
		tx.NowText(), source, reason, key, clip(from, 500), clip(subject, 500), size, raw)
	if err != nil {
		return fmt.Errorf("keep message for review: %w", err)
	}
	return nil
}

// clip cuts s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Review returns the messages kept for review, newest first.
func (in *Intake) Review(ctx context.Context, limit int) ([]ReviewItem, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := in.db.SQL().QueryContext(ctx, `SELECT id, at, source, reason, sender, subject, size
		FROM intake_review ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read review: %w", err)
	}
	defer rows.Close()
	var out []ReviewItem
	for rows.Next() {
		var it ReviewItem
		var at string
		if err := rows.Scan(&it.ID, &at, &it.Source, &it.Reason, &it.From, &it.Subject, &it.Size); err != nil {
			return nil, fmt.Errorf("read review: %w", err)
		}
		if it.At, err = db.ParseTime(at); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read review: %w", err)
	}
	return out, nil
}

// ReviewMessage returns the stored bytes of a message kept for review.
func (in *Intake) ReviewMessage(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	err := in.db.SQL().QueryRowContext(ctx, `SELECT raw FROM intake_review WHERE id = ?`, id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no message %d kept for review", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read review: %w", err)
	}
	return raw, nil
}
