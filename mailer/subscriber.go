package mailer

import (
	"context"
	"fmt"

	"newsletter/db"
	"newsletter/subscribers"
)

// The campaign store's view of the subscribers: who gets mail, and what
// the delivery log holds about one person.

var _ subscribers.DeliveryLog = (*CampaignStore)(nil)

// Deliveries returns every delivery-log record of a subscriber, newest
// campaign first: the columns part of the GDPR access report.
func (cs *CampaignStore) Deliveries(ctx context.Context, subscriberID int64) ([]subscribers.DeliveryRecord, error) {
	rows, err := cs.db.SQL().QueryContext(ctx, `SELECT c.column_number, c.subject, dl.state, dl.attempts, dl.last_reply,
			dl.message_id, COALESCE(dl.sent_at, '')
		FROM deliveries dl JOIN campaigns c ON c.id = dl.campaign_id
		WHERE dl.subscriber_id = ?
		ORDER BY c.started_at DESC, c.id DESC`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of subscriber %d: %w", subscriberID, err)
	}
	defer rows.Close()
	var out []subscribers.DeliveryRecord
	for rows.Next() {
		var r subscribers.DeliveryRecord
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

// Recipients streams the address of every mailable subscriber, in id
// order, to fn: who a campaign started now would go to (the snapshot of
// Start reads the same view). Memory stays flat however long the list is.
// It returns how many there were.
func (cs *CampaignStore) Recipients(ctx context.Context, fn func(email string) error) (int, error) {
	return cs.eachRecipient(ctx, `SELECT id, email FROM subscriber_mailability
		WHERE mailable AND id > ? ORDER BY id LIMIT ?`, nil, fn)
}

// PendingRecipients streams the address of every subscriber a campaign
// still has to send to (pending deliveries whose subscriber is still
// mailable; the others will be skipped), in delivery order. It returns how
// many there were.
func (cs *CampaignStore) PendingRecipients(ctx context.Context, campaignID int64, fn func(email string) error) (int, error) {
	return cs.eachRecipient(ctx, `SELECT dl.id, s.email
		FROM deliveries dl JOIN subscriber_mailability s ON s.id = dl.subscriber_id
		WHERE dl.campaign_id = ? AND dl.state = 'pending' AND s.mailable AND dl.id > ?
		ORDER BY dl.id LIMIT ?`, []any{campaignID}, fn)
}

// eachRecipient walks q a page at a time. q selects a key and an address,
// takes args, then the last key seen and the page size, and orders by the
// key.
func (cs *CampaignStore) eachRecipient(ctx context.Context, q string, args []any, fn func(email string) error) (int, error) {
	n := 0
	var after int64
	for {
		rows, err := cs.db.SQL().QueryContext(ctx, q, append(args[:len(args):len(args)], after, recipientPage)...)
		if err != nil {
			return n, fmt.Errorf("recipients: %w", err)
		}
		page := make([]string, 0, recipientPage)
		for rows.Next() {
			var email string
			if err := rows.Scan(&after, &email); err != nil {
				rows.Close()
				return n, fmt.Errorf("recipients: %w", err)
			}
			page = append(page, email)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return n, fmt.Errorf("recipients: %w", err)
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
