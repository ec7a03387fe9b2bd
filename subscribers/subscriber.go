package subscribers

import (
	"errors"
	"fmt"
	"time"
)

// Status is where a subscriber stands.
type Status string

// The subscriber states.
const (
	StatusPending      Status = "pending"      // subscribed, not yet confirmed
	StatusActive       Status = "active"       // confirmed: receives columns
	StatusUnsubscribed Status = "unsubscribed" // left; evidence kept
	StatusBounced      Status = "bounced"      // the address was refused for good
)

// ParseStatus checks a status typed by a user.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusPending, StatusActive, StatusUnsubscribed, StatusBounced:
		return st, nil
	}
	return "", fmt.Errorf("unknown status %q (want pending, active, unsubscribed or bounced)", s)
}

// Subscriber is one person on the list.
type Subscriber struct {
	ID             int64
	Email          string
	Name           string
	Status         Status
	Lang           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ConfirmedAt    time.Time // zero if never confirmed
	UnsubscribedAt time.Time // zero if never unsubscribed
}

// Mailable reports whether the subscriber gets mail from the list now:
// confirmed and still on it. The subscriber_mailability view (migration
// 0004) is the same rule for SQL.
func (s *Subscriber) Mailable() bool { return s.Status == StatusActive }

// Event kinds in the consent evidence log.
const (
	EventSubscribed       = "subscribed"        // web form submitted (double opt-in step 1)
	EventConfirmationSent = "confirmation_sent" // confirmation mail accepted by SMTP
	EventConfirmed        = "confirmed"         // double opt-in step 2, or admin with consent note
	EventUnsubscribed     = "unsubscribed"
	EventBounced          = "bounced"
	EventAdminAdded       = "admin_added" // added pending by an admin
	EventImported         = "imported"
)

// Event is one entry of a subscriber's append-only consent evidence.
type Event struct {
	ID          int64
	Kind        string
	At          time.Time
	IP          string
	UserAgent   string
	ConsentText string // the exact consent wording shown, if any
	Detail      string
}

// Evidence is what we record about the request that caused an event.
type Evidence struct {
	IP          string
	UserAgent   string
	ConsentText string
	Detail      string
}

// Errors of the store, mapped to messages and HTTP statuses at the edges.
var (
	ErrNotFound   = errors.New("no such subscriber")
	ErrExists     = errors.New("subscriber already exists")
	ErrSuppressed = errors.New("this address was erased at the person's request and is on the suppression list; it can only come back through the subscribe form")
)
