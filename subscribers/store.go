package subscribers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"newsletter/db"
)

// Store reads and writes subscribers and their consent evidence.
type Store struct {
	db    *db.DB
	key   []byte          // installation secret: keys unsubscribe tokens and suppression hashes
	unsub unsubscribeKeys // derived from key, once
}

// NewStore returns a store on d. key is the installation secret (db.SecretKey).
func NewStore(d *db.DB, key []byte) *Store {
	return &Store{db: d, key: key, unsub: newUnsubscribeKeys(key)}
}

const subscriberColumns = `id, email, name, status, lang, created_at, updated_at, COALESCE(confirmed_at, ''), COALESCE(unsubscribed_at, '')`

type rowScanner interface{ Scan(dest ...any) error }

func scanSubscriber(r rowScanner) (*Subscriber, error) {
	var sub Subscriber
	var created, updated, confirmed, unsub string
	if err := r.Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Status, &sub.Lang, &created, &updated, &confirmed, &unsub); err != nil {
		return nil, err
	}
	var err error
	if sub.CreatedAt, err = db.ParseTime(created); err != nil {
		return nil, err
	}
	if sub.UpdatedAt, err = db.ParseTime(updated); err != nil {
		return nil, err
	}
	if sub.ConfirmedAt, err = db.ParseTime(confirmed); err != nil {
		return nil, err
	}
	if sub.UnsubscribedAt, err = db.ParseTime(unsub); err != nil {
		return nil, err
	}
	return &sub, nil
}

// suppressionHash is the keyed hash kept for an erased address: it proves
// nothing about the address to anyone without the installation secret.
func (s *Store) suppressionHash(key string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("suppress\x00" + key))
	return hex.EncodeToString(m.Sum(nil))
}

// IsSuppressed reports whether the address was erased earlier.
func (s *Store) IsSuppressed(ctx context.Context, email string) (bool, error) {
	_, key, err := NormalizeEmail(email)
	if err != nil {
		return false, err
	}
	var n int
	err = s.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE hash = ?`, s.suppressionHash(key)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check suppression list: %w", err)
	}
	return n > 0, nil
}

// queryRower is what both *sql.DB and *db.Tx offer for single-row reads.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// findOne reads the subscriber matching where (a column = ? condition).
func findOne(ctx context.Context, q queryRower, where string, arg any) (*Subscriber, error) {
	sub, err := scanSubscriber(q.QueryRowContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find subscriber: %w", err)
	}
	return sub, nil
}

// FindByEmail returns the subscriber with that address.
func (s *Store) FindByEmail(ctx context.Context, email string) (*Subscriber, error) {
	_, key, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	return findOne(ctx, s.db.SQL(), "email_key", key)
}

// FindByID returns the subscriber with that id.
func (s *Store) FindByID(ctx context.Context, id int64) (*Subscriber, error) {
	return findOne(ctx, s.db.SQL(), "id", id)
}

// FindByIDTx is FindByID inside a transaction.
func FindByIDTx(ctx context.Context, tx *db.Tx, id int64) (*Subscriber, error) {
	return findOne(ctx, tx, "id", id)
}

// Filter selects subscribers for List.
type Filter struct {
	Status  Status // empty: all
	AfterID int64  // resume after this id (keyset pagination)
}

// List streams subscribers in id order to fn, a page at a time, so memory
// stays flat however long the list is. fn returning an error stops the walk.
func (s *Store) List(ctx context.Context, f Filter, fn func(*Subscriber) error) error {
	const page = 1000
	after := f.AfterID
	for {
		var rows *sql.Rows
		var err error
		if f.Status != "" {
			rows, err = s.db.SQL().QueryContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers
				WHERE status = ? AND id > ? ORDER BY id LIMIT ?`, f.Status, after, page)
		} else {
			rows, err = s.db.SQL().QueryContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers
				WHERE id > ? ORDER BY id LIMIT ?`, after, page)
		}
		if err != nil {
			return fmt.Errorf("list subscribers: %w", err)
		}
		batch := make([]*Subscriber, 0, page)
		for rows.Next() {
			sub, err := scanSubscriber(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("list subscribers: %w", err)
			}
			batch = append(batch, sub)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("list subscribers: %w", err)
		}
		rows.Close()
		// Call fn outside the query so fn may itself use the database.
		for _, sub := range batch {
			if err := fn(sub); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// CountByStatus counts subscribers per state (for metrics and summaries).
func (s *Store) CountByStatus(ctx context.Context) (map[Status]int, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT status, COUNT(*) FROM subscribers GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count subscribers: %w", err)
	}
	defer rows.Close()
	out := map[Status]int{StatusPending: 0, StatusActive: 0, StatusUnsubscribed: 0, StatusBounced: 0}
	for rows.Next() {
		var st Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count subscribers: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// AddParams describes an admin's add.
type AddParams struct {
	Email       string
	Name        string
	Lang        string
	Confirmed   bool   // active at once; requires ConsentNote
	ConsentNote string // how consent was obtained (evidence), required with Confirmed
	Evidence    Evidence
}

// ErrNoConsentNote refuses to store people as confirmed (AddParams or
// ImportOptions with Confirmed) without a ConsentNote: it is the only
// evidence of their consent. The error is an *InvalidError of the field
// "consent-note".
var ErrNoConsentNote = errors.New("a consent note is required to store people as confirmed")

func errNoConsentNote() error {
	return &InvalidError{Field: "consent-note", Msg: "is required to store people as confirmed: say how and when they consented", is: ErrNoConsentNote}
}

// Add creates a subscriber on an admin's behalf. Without Confirmed the
// subscriber is pending and a confirmation mail is queued in the outbox in
// the same transaction.
func (s *Store) Add(ctx context.Context, p AddParams) (*Subscriber, error) {
	email, key, err := NormalizeEmail(p.Email)
	if err != nil {
		return nil, err
	}
	name, err := NormalizeName(p.Name)
	if err != nil {
		return nil, err
	}
	if p.Confirmed && strings.TrimSpace(p.ConsentNote) == "" {
		return nil, errNoConsentNote()
	}
	if p.Lang == "" {
		p.Lang = "de"
	}
	var id int64
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE hash = ?`, s.suppressionHash(key)).Scan(&n); err != nil {
			return fmt.Errorf("check suppression list: %w", err)
		}
		if n > 0 {
			return ErrSuppressed
		}
		status, confirmedAt := StatusPending, any(nil)
		if p.Confirmed {
			status, confirmedAt = StatusActive, tx.NowText()
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, lang, created_at, updated_at, confirmed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email_key) DO NOTHING RETURNING id`,
			email, key, name, status, p.Lang, tx.NowText(), tx.NowText(), confirmedAt).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrExists
		}
		if err != nil {
			return fmt.Errorf("add subscriber: %w", err)
		}
		ev := p.Evidence
		if p.Confirmed {
			ev.ConsentText = p.ConsentNote
			ev.Detail = "added as confirmed by an admin"
			return RecordEvent(ctx, tx, id, EventConfirmed, ev)
		}
		ev.Detail = "added by an admin; confirmation mail queued"
		if err := RecordEvent(ctx, tx, id, EventAdminAdded, ev); err != nil {
			return err
		}
		return queueConfirmTx(ctx, tx, id, email, confirmRequest{mailbox: MailboxKey(email), name: name, lang: p.Lang})
	})
	if err != nil {
		return nil, err
	}
	return s.FindByID(ctx, id)
}

// Unsubscribe marks the subscriber unsubscribed and records why. Doing it
// twice is harmless: the second call records nothing new.
func (s *Store) Unsubscribe(ctx context.Context, id int64, ev Evidence) (*Subscriber, error) {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		return UnsubscribeTx(ctx, tx, id, ev)
	})
	if err != nil {
		return nil, err
	}
	return s.FindByID(ctx, id)
}

// UnsubscribeTx is Unsubscribe inside the caller's transaction.
func UnsubscribeTx(ctx context.Context, tx *db.Tx, id int64, ev Evidence) error {
	res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, updated_at = ?
		WHERE id = ? AND status <> 'unsubscribed'`, tx.NowText(), tx.NowText(), id)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscribers WHERE id = ?`, id).Scan(&exists); err != nil {
			return fmt.Errorf("unsubscribe: %w", err)
		}
		if exists == 0 {
			return ErrNotFound
		}
		return nil
	}
	// Pending confirmation mails are pointless now.
	if err := db.CancelOutbox(ctx, tx, id, "cancelled: unsubscribed"); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return RecordEvent(ctx, tx, id, EventUnsubscribed, ev)
}

// MarkBounced records a hard bounce (an SMTP reply or a bounce report,
// why says which): the address is not mailed again and its pending mails
// are closed. Someone already out (unsubscribed or bounced) keeps that
// state: an unsubscribe that came while a mail to them was in flight is
// not turned into a bounce.
func MarkBounced(ctx context.Context, tx *db.Tx, id int64, why string) error {
	res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'bounced', updated_at = ?
		WHERE id = ? AND status NOT IN ('unsubscribed', 'bounced')`, tx.NowText(), id)
	if err != nil {
		return fmt.Errorf("mark bounced: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	if err := db.CancelOutbox(ctx, tx, id, "cancelled: address bounced"); err != nil {
		return fmt.Errorf("mark bounced: %w", err)
	}
	return RecordEvent(ctx, tx, id, EventBounced, Evidence{Detail: why})
}

// Forget erases everything stored about the person (GDPR Art. 17) and keeps
// only a keyed hash of the address on the suppression list, so an import
// cannot silently bring it back.
func (s *Store) Forget(ctx context.Context, email string) error {
	_, key, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM subscribers WHERE email_key = ?`, key).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		// Events, tokens and outbox rows go with the subscriber (ON DELETE CASCADE).
		if _, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, id); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		// A consent wording only this person's events used may itself hold
		// personal data (an admin's note): it goes too.
		if _, err := tx.ExecContext(ctx, `DELETE FROM consent_texts WHERE id NOT IN
			(SELECT consent_text_id FROM consent_events WHERE consent_text_id IS NOT NULL)`); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'erased on request', ?)
			ON CONFLICT (hash) DO NOTHING`, s.suppressionHash(key), tx.NowText()); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// secure_delete zeroed the rows in the file; the old pages may still
	// sit in the write-ahead log until it is checkpointed.
	if complete, err := s.db.Checkpoint(ctx); err != nil || !complete {
		return ErrErasedWALBusy
	}
	return nil
}

// ErrErasedWALBusy says Forget erased the person, but another process held
// the database open, so old copies stay in the write-ahead log until its
// next checkpoint (at the latest when that process stops).
var ErrErasedWALBusy = errors.New("erased, but the database is in use by another process; old copies leave its write-ahead log at the next checkpoint (at the latest when that process stops)")

// Unsuppress lifts the suppression of an address: used when the person
// subscribes again through the form and confirms, which is new consent.
func (s *Store) Unsuppress(ctx context.Context, tx *db.Tx, emailKey string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE hash = ?`, s.suppressionHash(emailKey))
	if err != nil {
		return fmt.Errorf("lift suppression: %w", err)
	}
	return nil
}
