package mailer

import (
	"context"
	"fmt"
	"time"

	"newsletter/db"
)

// DeliveryRecord is one campaign's delivery to one subscriber, as the
// delivery log holds it: what a GDPR access request is answered with.
type DeliveryRecord struct {
	Column    int
	Subject   string
	State     string // pending, sent, failed or skipped
	Attempts  int
	LastReply string // the SMTP server's last reply, or why it was skipped
	MessageID string
	SentAt    time.Time // zero unless sent
}

// SubscriberDeliveries returns every delivery-log record of a subscriber,
// newest campaign first.
func SubscriberDeliveries(ctx context.Context, d *db.DB, subscriberID int64) ([]DeliveryRecord, error) {
	rows, err := d.SQL().QueryContext(ctx, `SELECT c.column_number, c.subject, dl.state, dl.attempts, dl.last_reply,
			dl.message_id, COALESCE(dl.sent_at, '')
		FROM deliveries dl JOIN campaigns c ON c.id = dl.campaign_id
		WHERE dl.subscriber_id = ?
		ORDER BY c.started_at DESC, c.id DESC`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of subscriber %d: %w", subscriberID, err)
	}
	defer rows.Close()
	var out []DeliveryRecord
	for rows.Next() {
		var r DeliveryRecord
		var sent string
		if err := rows.Scan(&r.Column, &r.Subject, &r.State, &r.Attempts, &r.LastReply, &r.MessageID, &sent); err != nil {
			return nil, fmt.Errorf("deliveries of subscriber %d: %w", subscriberID, err)
		}
		if r.SentAt, err = db.ParseTime(sent); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries of subscriber %d: %w", subscriberID, err)
	}
	return out, nil
}
