package subscribers

import (
	"context"
	"time"

	"newsletter/db"
)

// Report is everything stored about one person: the answer to a GDPR
// access request (Art. 15).
type Report struct {
	Subscriber   *Subscriber
	Events       []Event          // consent evidence, oldest first
	Requests     []ConfirmRequest // subscribe requests whose links may still be used, oldest first
	ServiceMails []db.OutboxMail  // confirmation and welcome mails from the outbox, oldest first
	Deliveries   []DeliveryRecord // columns, newest campaign first
	Bounces      []BounceEvent    // bounce and complaint events, newest first
}

// DeliveryRecord is one campaign's delivery to the subscriber, as the
// delivery log holds it.
type DeliveryRecord struct {
	Column    int
	Subject   string
	State     string // pending, sent, failed or skipped
	Attempts  int
	LastReply string // the SMTP server's last reply, or why it was skipped
	MessageID string
	SentAt    time.Time // zero unless sent
}

// DeliveryLog is the campaign history a report includes; the mailer keeps
// it (mailer.CampaignStore).
type DeliveryLog interface {
	Deliveries(ctx context.Context, subscriberID int64) ([]DeliveryRecord, error)
}

// Report gathers everything stored about the subscriber with that address:
// the subscriber, the consent evidence, the subscribe requests kept, the
// service mails and the column deliveries from log. An unknown address
// gets ErrNotFound.
func (s *Store) Report(ctx context.Context, email string, log DeliveryLog) (*Report, error) {
	sub, err := s.FindByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	r := &Report{Subscriber: sub}
	if r.Events, err = s.Events(ctx, sub.ID); err != nil {
		return nil, err
	}
	if r.Requests, err = s.ConfirmRequests(ctx, sub.ID); err != nil {
		return nil, err
	}
	if r.ServiceMails, err = db.SubscriberOutbox(ctx, s.db, sub.ID); err != nil {
		return nil, err
	}
	if r.Deliveries, err = log.Deliveries(ctx, sub.ID); err != nil {
		return nil, err
	}
	if r.Bounces, err = s.BounceEvents(ctx, BounceFilter{SubscriberID: sub.ID, Limit: 1000}); err != nil {
		return nil, err
	}
	return r, nil
}
