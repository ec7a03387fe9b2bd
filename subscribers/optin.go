package subscribers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"newsletter/db"
	"newsletter/templates"
)

// Double opt-in: Subscribe records the request and queues the confirmation
// mail in one transaction; the mailer's outbox worker calls ComposeOutbox,
// which mints the confirm token, and OutboxSent once SMTP accepted it;
// Confirm activates.

// ErrTokenExpired is returned for a confirm token older than its lifetime.
var ErrTokenExpired = errors.New("the confirmation link has expired")

// purposeConfirm is the tokens.purpose of double opt-in tokens.
const purposeConfirm = "confirm"

// Defaults of OptInConfig.
const (
	DefaultConfirmTTL        = 7 * 24 * time.Hour
	DefaultMaxConfirmsPerDay = 3
)

// OptInConfig configures double opt-in.
type OptInConfig struct {
	BaseURL           string        // public URL the confirm link points to
	ConfirmTTL        time.Duration // lifetime of a confirm token; DefaultConfirmTTL if zero
	MaxConfirmsPerDay int           // confirmation mails per address per 24 h; DefaultMaxConfirmsPerDay if zero
	// Welcome queues a welcome mail with each confirmation (--welcome
	// latest or note; the mailer composes it). False: none.
	Welcome bool
}

// OptIn runs double opt-in on a Store. It also implements the mailer's
// OutboxComposer for confirmation mails.
type OptIn struct {
	store *Store
	pages *templates.Pages
	cfg   OptInConfig
}

// inTx runs fn in a write transaction; db.InTx queues this process's
// writers so a burst of subscribes does not meet SQLite's busy handler.
func (o *OptIn) inTx(ctx context.Context, fn func(tx *db.Tx) error) error {
	return o.store.db.InTx(ctx, fn)
}

// NewOptIn returns double opt-in on store, rendering confirmation mails with pages.
func NewOptIn(store *Store, pages *templates.Pages, cfg OptInConfig) *OptIn {
	if cfg.ConfirmTTL <= 0 {
		cfg.ConfirmTTL = DefaultConfirmTTL
	}
	if cfg.MaxConfirmsPerDay <= 0 {
		cfg.MaxConfirmsPerDay = DefaultMaxConfirmsPerDay
	}
	return &OptIn{store: store, pages: pages, cfg: cfg}
}

// SubscribeRequest is one submission of the subscribe form.
type SubscribeRequest struct {
	Email    string
	Name     string
	Lang     string
	Evidence Evidence // IP, user agent and the consent sentence shown
}

// SubscribeOutcome says what Subscribe did. It is for logs, metrics and
// tests only: the person always sees the same answer, so nobody can learn
// whether an address is on the list.
type SubscribeOutcome string

// The outcomes of Subscribe.
const (
	OutcomeQueued  SubscribeOutcome = "queued"  // pending; confirmation mail queued
	OutcomeActive  SubscribeOutcome = "active"  // already confirmed; nothing changed
	OutcomeLimited SubscribeOutcome = "limited" // too many confirmation mails for the address today; nothing stored
)

// Subscribe records a web subscription: a new or refreshed pending
// subscriber, the `subscribed` evidence and the confirmation mail in the
// outbox, all in one transaction. It never waits for SMTP and never demotes
// a confirmed subscriber.
func (o *OptIn) Subscribe(ctx context.Context, req SubscribeRequest) (SubscribeOutcome, error) {
	email, key, err := NormalizeEmail(req.Email)
	if err != nil {
		return "", err
	}
	name, err := NormalizeName(req.Name)
	if err != nil {
		return "", err
	}
	lang := o.pages.Lang(req.Lang)
	var outcome SubscribeOutcome
	err = o.inTx(ctx, func(tx *db.Tx) error {
		// The mail goes to the stored address of a known subscriber; a
		// local, as InTx may run this again on PostgreSQL.
		recipient := email
		sub, err := findByKeyTx(ctx, tx, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if sub != nil && sub.Status == StatusActive {
			outcome = OutcomeActive
			return nil
		}
		ev := req.Evidence
		var id int64
		if sub == nil {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE hash = ?`, o.store.suppressionHash(key)).Scan(&n); err != nil {
				return fmt.Errorf("check suppression list: %w", err)
			}
			if n > 0 {
				// Erased earlier; a new form submission is new consent,
				// and the suppression goes once it is confirmed.
				ev.Detail = "address is on the suppression list until confirmed"
			}
			if err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, lang, created_at, updated_at)
				VALUES (?, ?, ?, 'pending', ?, ?, ?) RETURNING id`, email, key, name, lang, tx.NowText(), tx.NowText()).Scan(&id); err != nil {
				return fmt.Errorf("add subscriber: %w", err)
			}
		} else {
			id, recipient = sub.ID, sub.Email
			// The per-address limit keeps the form from mail-bombing
			// someone, whatever the IP; over it we store nothing at all.
			sent, err := db.CountOutboxSince(ctx, tx, recipient, db.OutboxKindConfirm, tx.Now.Add(-24*time.Hour))
			if err != nil {
				return fmt.Errorf("count confirmation mails: %w", err)
			}
			if sent >= o.cfg.MaxConfirmsPerDay {
				outcome = OutcomeLimited
				return nil
			}
			if sub.Status != StatusPending {
				ev.Detail = "subscribed again; was " + string(sub.Status)
			}
			// A pending or departed subscriber starts double opt-in anew;
			// the name is taken only when one was given.
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'pending', lang = ?,
				name = CASE WHEN ? <> '' THEN ? ELSE name END, updated_at = ? WHERE id = ?`,
				lang, name, name, tx.NowText(), id); err != nil {
				return fmt.Errorf("refresh subscriber: %w", err)
			}
		}
		if err := RecordEvent(ctx, tx, id, EventSubscribed, ev); err != nil {
			return err
		}
		if _, err := db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindConfirm, SubscriberID: id, Recipient: recipient}); err != nil {
			return err
		}
		outcome = OutcomeQueued
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("subscribe: %w", err)
	}
	return outcome, nil
}

func findByKeyTx(ctx context.Context, tx *db.Tx, key string) (*Subscriber, error) {
	sub, err := scanSubscriber(tx.QueryRowContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE email_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find subscriber: %w", err)
	}
	return sub, nil
}

// hashToken is how a confirm token is stored: a leaked database holds no
// usable link.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// newConfirmTokenTx mints a 256-bit random confirm token for the subscriber
// and stores its hash.
func (o *OptIn) newConfirmTokenTx(ctx context.Context, tx *db.Tx, subscriberID int64) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("make confirm token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, subscriber_id, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hashToken(tok), subscriberID, purposeConfirm, tx.NowText(), db.FormatTime(tx.Now.Add(o.cfg.ConfirmTTL)))
	if err != nil {
		return "", fmt.Errorf("store confirm token: %w", err)
	}
	return tok, nil
}

// ConfirmURL is the link a confirmation mail carries.
func (o *OptIn) ConfirmURL(tok string) string {
	return o.cfg.BaseURL + "/confirm?token=" + url.QueryEscape(tok)
}

// confirmToken is a stored token row with its subscriber.
type confirmToken struct {
	hash    string
	sub     *Subscriber
	expired bool
	used    bool
}

// lookupConfirmToken reads a token; q is a tx or the pool.
func (o *OptIn) lookupConfirmToken(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, tok string, now time.Time) (*confirmToken, error) {
	// A token is 43 base64url characters; anything else cannot be ours,
	// and refusing early keeps odd input away from the database.
	if len(tok) != 43 {
		return nil, ErrBadToken
	}
	if _, err := base64.RawURLEncoding.DecodeString(tok); err != nil {
		return nil, ErrBadToken
	}
	h := hashToken(tok)
	var id int64
	var purpose, expires, used string
	err := q.QueryRowContext(ctx, `SELECT subscriber_id, purpose, expires_at, COALESCE(used_at, '') FROM tokens WHERE hash = ?`, h).
		Scan(&id, &purpose, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && purpose != purposeConfirm) {
		return nil, ErrBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("read confirm token: %w", err)
	}
	exp, err := db.ParseTime(expires)
	if err != nil {
		return nil, err
	}
	sub, err := scanSubscriber(q.QueryRowContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("read confirm token: %w", err)
	}
	return &confirmToken{hash: h, sub: sub, expired: !now.Before(exp), used: used != ""}, nil
}

// check says whether Confirm would succeed with this token. A used token
// still works while its subscriber is active, so a replay is harmless; it
// never brings back someone who left since.
func (t *confirmToken) check() error {
	switch {
	case t.used || t.sub.Status == StatusActive:
		if t.sub.Status == StatusActive {
			return nil
		}
		return ErrBadToken
	case t.expired:
		return ErrTokenExpired
	case t.sub.Status != StatusPending:
		return ErrBadToken
	}
	return nil
}

// CheckConfirmToken reports, without changing anything, whether tok would
// confirm; the GET page uses it to show the button or a clear error. It
// returns the language to answer in.
func (o *OptIn) CheckConfirmToken(ctx context.Context, tok string) (lang string, err error) {
	t, err := o.lookupConfirmToken(ctx, o.store.db.SQL(), tok, o.store.db.Now().UTC())
	if err != nil {
		return "", err
	}
	return t.sub.Lang, t.check()
}

// Confirm activates the subscriber tok was minted for, records the
// `confirmed` evidence and, with OptInConfig.Welcome, queues the welcome
// mail in the same transaction. Confirming again is harmless and records
// nothing.
func (o *OptIn) Confirm(ctx context.Context, tok string, ev Evidence) (*Subscriber, error) {
	var sub *Subscriber
	err := o.inTx(ctx, func(tx *db.Tx) error {
		t, err := o.lookupConfirmToken(ctx, tx, tok, tx.Now)
		if err != nil {
			return err
		}
		if err := t.check(); err != nil {
			return err
		}
		sub = t.sub
		if sub.Status == StatusActive {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'active', confirmed_at = ?, updated_at = ? WHERE id = ?`,
			tx.NowText(), tx.NowText(), sub.ID); err != nil {
			return fmt.Errorf("activate subscriber: %w", err)
		}
		// Every outstanding confirm link of this person is spent now, so
		// an old mail cannot re-activate them after they unsubscribe.
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET used_at = ? WHERE subscriber_id = ? AND purpose = ? AND used_at IS NULL`,
			tx.NowText(), sub.ID, purposeConfirm); err != nil {
			return fmt.Errorf("spend confirm tokens: %w", err)
		}
		if err := o.store.Unsuppress(ctx, tx, emailKey(sub.Email)); err != nil {
			return err
		}
		if err := RecordEvent(ctx, tx, sub.ID, EventConfirmed, ev); err != nil {
			return err
		}
		// Queued with the confirmation, so there is one welcome per
		// subscription: a replay returned above, and only a new
		// subscription (after leaving) comes through here again.
		if o.cfg.Welcome {
			if _, err := db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindWelcome, SubscriberID: sub.ID, Recipient: sub.Email}); err != nil {
				return err
			}
		}
		sub.Status, sub.ConfirmedAt = StatusActive, tx.Now
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}
	return sub, nil
}

// emailKey is the uniqueness key of a stored (already normalised) address.
func emailKey(email string) string {
	_, key, err := NormalizeEmail(email)
	if err != nil {
		return email
	}
	return key
}

// UnsubscribeByToken unsubscribes the person an unsubscribe token names and
// records the evidence. A subscriber who is gone (forgotten or purged) is
// as unsubscribed as can be, so that is success too.
func (o *OptIn) UnsubscribeByToken(ctx context.Context, tok string, ev Evidence) error {
	id, err := o.store.ParseUnsubscribeToken(tok)
	if err != nil {
		return err
	}
	err = o.inTx(ctx, func(tx *db.Tx) error { return UnsubscribeTx(ctx, tx, id, ev) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// CheckUnsubscribeToken reports whether tok is a valid unsubscribe token
// and the language to answer in, without changing anything.
func (o *OptIn) CheckUnsubscribeToken(ctx context.Context, tok string) (lang string, err error) {
	id, err := o.store.ParseUnsubscribeToken(tok)
	if err != nil {
		return "", err
	}
	sub, err := o.store.FindByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return sub.Lang, nil
}

// PurgePending deletes subscribers who never confirmed and whose last
// subscribe request is older than olderThan: their consent was never
// given, so nothing about them is worth keeping. Someone who confirmed
// once and later re-subscribed is never purged. It returns how many went.
func (o *OptIn) PurgePending(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := o.inTx(ctx, func(tx *db.Tx) error {
		cutoff := db.FormatTime(tx.Now.Add(-olderThan))
		res, err := tx.ExecContext(ctx, `DELETE FROM subscribers
			WHERE status = 'pending' AND confirmed_at IS NULL AND created_at < ? AND updated_at < ?`, cutoff, cutoff)
		if err != nil {
			return fmt.Errorf("purge pending subscribers: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// ComposeOutbox renders a queued confirmation mail. It mints a fresh confirm
// token each time, so no secret ever sits in the outbox; a retried mail
// simply carries a newer link. A subscriber who is no longer pending needs
// no mail: db.ErrOutboxCancelled.
func (o *OptIn) ComposeOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
	if it.Kind != db.OutboxKindConfirm {
		return templates.RenderedMail{}, fmt.Errorf("outbox item %d: kind %q is not a confirmation mail", it.ID, it.Kind)
	}
	var sub *Subscriber
	var tok string
	err := o.inTx(ctx, func(tx *db.Tx) error {
		var err error
		sub, err = FindByIDTx(ctx, tx, it.SubscriberID)
		if errors.Is(err, ErrNotFound) {
			return db.ErrOutboxCancelled
		}
		if err != nil {
			return err
		}
		if sub.Status != StatusPending {
			return db.ErrOutboxCancelled
		}
		tok, err = o.newConfirmTokenTx(ctx, tx, sub.ID)
		return err
	})
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("compose confirmation mail %d: %w", it.ID, err)
	}
	return o.pages.RenderConfirmMail(sub.Lang, templates.ConfirmMailData{
		ConfirmURL:  o.ConfirmURL(tok),
		Email:       sub.Email,
		Name:        sub.Name,
		BaseURL:     o.cfg.BaseURL,
		ExpiresDays: int(o.cfg.ConfirmTTL / (24 * time.Hour)),
	})
}

// OutboxSent records that the SMTP server accepted the confirmation mail,
// in the mailer's transaction that marks the outbox row sent.
func (o *OptIn) OutboxSent(ctx context.Context, tx *db.Tx, it db.OutboxItem, messageID string) error {
	if it.Kind != db.OutboxKindConfirm {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscribers WHERE id = ?`, it.SubscriberID).Scan(&n); err != nil {
		return fmt.Errorf("record confirmation sent: %w", err)
	}
	if n == 0 {
		return nil // forgotten while the mail was on its way
	}
	return RecordEvent(ctx, tx, it.SubscriberID, EventConfirmationSent, Evidence{Detail: "Message-ID " + messageID})
}
