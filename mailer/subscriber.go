package mailer

import (
	"context"
	"fmt"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
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

// recipientPage is how many addresses one query of a recipient walk reads.
const recipientPage = 1000

// EachActiveSubscriber streams the address of every active subscriber, in
// id order, to fn: who a campaign started now would go to. Memory stays
// flat however long the list is. It returns how many there were.
func (m *Mailer) EachActiveSubscriber(ctx context.Context, fn func(email string) error) (int, error) {
	n := 0
	err := m.store.List(ctx, subscribers.Filter{Status: subscribers.StatusActive}, func(s *subscribers.Subscriber) error {
		n++
		return fn(s.Email)
	})
	return n, err
}

// EachPendingRecipient streams the address of every subscriber a campaign
// still has to send to (pending deliveries whose subscriber is still
// active; the others will be skipped), in delivery order, a page at a
// time. It returns how many there were.
func EachPendingRecipient(ctx context.Context, d *db.DB, campaignID int64, fn func(email string) error) (int, error) {
	n := 0
	var after int64
	for {
		rows, err := d.SQL().QueryContext(ctx, `SELECT dl.id, s.email FROM deliveries dl JOIN subscribers s ON s.id = dl.subscriber_id
			WHERE dl.campaign_id = ? AND dl.state = 'pending' AND s.status = 'active' AND dl.id > ?
			ORDER BY dl.id LIMIT ?`, campaignID, after, recipientPage)
		if err != nil {
			return n, fmt.Errorf("pending recipients: %w", err)
		}
		page := make([]string, 0, recipientPage)
		for rows.Next() {
			var email string
			if err := rows.Scan(&after, &email); err != nil {
				rows.Close()
				return n, fmt.Errorf("pending recipients: %w", err)
			}
			page = append(page, email)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return n, fmt.Errorf("pending recipients: %w", err)
		}
		rows.Close()
		// fn runs outside the query, so it may use the database itself.
		for _, email := range page {
			n++
			if err := fn(email); err != nil {
				return n, err
			}
		}
		if len(page) < recipientPage {
			return n, nil
		}
	}
}
