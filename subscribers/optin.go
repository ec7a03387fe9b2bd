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
// mail in one transaction; the mailer's outbox worker calls RenderOutbox,
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
	DefaultMaxConfirmsPerIP  = 20
)

// OptInConfig configures double opt-in.
type OptInConfig struct {
	BaseURL           string        // public URL the confirm link points to
	ConfirmTTL        time.Duration // lifetime of a confirm token; DefaultConfirmTTL if zero
	MaxConfirmsPerDay int           // confirmation mails per mailbox (MailboxKey) per 24 h; DefaultMaxConfirmsPerDay if zero
	MaxConfirmsPerIP  int           // confirmation mails per client IPv4 address or IPv6 /64 per 24 h; DefaultMaxConfirmsPerIP if zero
	// Welcome queues a welcome mail with each confirmation (--welcome
	// latest or note; the mailer renders it). False: none.
	Welcome bool
}

// OptIn runs double opt-in on a Store. It also renders confirmation mails
// for the mailer's outbox worker (mailer.OutboxMails).
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
	if cfg.MaxConfirmsPerIP <= 0 {
		cfg.MaxConfirmsPerIP = DefaultMaxConfirmsPerIP
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
	OutcomeLimited SubscribeOutcome = "limited" // too many confirmation mails for the mailbox or the client today; nothing stored
)

// Subscribe records a web subscription: a new or refreshed pending
// subscriber, the `subscribed` evidence, the request (name and language as
// submitted) and the confirmation mail in the outbox, all in one
// transaction. It never waits for SMTP, never demotes a confirmed
// subscriber, and never changes a pending one's name or language: the
// confirmation applies those of the request it confirms.
//
// Past a cap (confirmation mails per mailbox or per client in 24 hours) or
// for an active subscriber nothing is stored. Every path still runs the
// same statements, and those two roll the transaction back at the end: a
// path that did less would answer faster, and tell by its timing whether
// the address is on the list.
func (o *OptIn) Subscribe(ctx context.Context, req SubscribeRequest) (SubscribeOutcome, error) {
	email, key, err := NormalizeEmail(req.Email)
	if err != nil {
		return "", err
	}
	name, err := NormalizeName(req.Name)
	if err != nil {
		return "", err
	}
	r := confirmRequest{mailbox: MailboxKey(email), client: clientNetwork(req.Evidence.IP), name: name, lang: o.pages.Lang(req.Lang)}
	var outcome SubscribeOutcome
	err = o.inTx(ctx, func(tx *db.Tx) error {
		outcome, err = o.subscribeTx(ctx, tx, email, key, r, req.Evidence)
		if err == nil && outcome != OutcomeQueued {
			return errStoreNothing // roll back what subscribeTx wrote
		}
		return err
	})
	if err != nil && !errors.Is(err, errStoreNothing) {
		return "", fmt.Errorf("subscribe: %w", err)
	}
	return outcome, nil
}

// errStoreNothing makes Subscribe's transaction roll back.
var errStoreNothing = errors.New("nothing to store")

// subscribeTx decides the outcome from what is stored, then writes the
// subscriber, the evidence, the request and the outbox row whatever the
// outcome; Subscribe keeps the writes only for OutcomeQueued.
func (o *OptIn) subscribeTx(ctx context.Context, tx *db.Tx, email, key string, r confirmRequest, ev Evidence) (SubscribeOutcome, error) {
	// One read for all decisions: the subscriber if any, the suppression
	// list, and what the caps count.
	var status sql.NullString
	var suppressed bool
	var perMailbox, perClient int
	since := db.FormatTime(tx.Now.Add(-24 * time.Hour))
	if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT status FROM subscribers WHERE email_key = ?),
			EXISTS (SELECT 1 FROM suppressions WHERE hash = ?),
			(SELECT COUNT(*) FROM confirm_requests WHERE mailbox = ? AND created_at > ?),
			(SELECT COUNT(*) FROM confirm_requests WHERE client = ? AND client <> '' AND created_at > ?)`,
		key, o.store.suppressionHash(key), r.mailbox, since, r.client, since).Scan(&status, &suppressed, &perMailbox, &perClient); err != nil {
		return "", fmt.Errorf("check subscriber and limits: %w", err)
	}
	outcome := OutcomeQueued
	switch {
	case Status(status.String) == StatusActive:
		outcome = OutcomeActive
	case perMailbox >= o.cfg.MaxConfirmsPerDay || perClient >= o.cfg.MaxConfirmsPerIP:
		// The caps keep the form from mail-bombing someone: per mailbox
		// whatever the IP, per client whatever the addresses.
		outcome = OutcomeLimited
	}
	switch {
	case status.Valid && Status(status.String) != StatusPending && Status(status.String) != StatusActive:
		ev.Detail = "subscribed again; was " + status.String
	case !status.Valid && suppressed:
		// Erased earlier; a new form submission is new consent, and the
		// suppression goes once it is confirmed.
		ev.Detail = "address is on the suppression list until confirmed"
	}

	// New: a pending row with the request's values. Known: only a departed
	// subscriber changes, back to pending; updated_at marks the fresh
	// request, which keeps PurgePending away.
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, lang, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', ?, ?, ?)
		ON CONFLICT (email_key) DO UPDATE SET updated_at = excluded.updated_at,
			status = CASE WHEN subscribers.status IN ('unsubscribed', 'bounced') THEN 'pending' ELSE subscribers.status END
		RETURNING id, email`, email, key, r.name, r.lang, tx.NowText(), tx.NowText()).Scan(&id, &email); err != nil {
		return "", fmt.Errorf("add subscriber: %w", err)
	}
	if err := RecordEvent(ctx, tx, id, EventSubscribed, ev); err != nil {
		return "", err
	}
	if err := queueConfirmTx(ctx, tx, id, email, r); err != nil {
		return "", err
	}
	return outcome, nil
}

// hashToken is how a confirm token is stored: a leaked database holds no
// usable link.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// newConfirmTokenTx mints a 256-bit random confirm token for the subscriber
// and the request it answers (0: none), and stores its hash.
func (o *OptIn) newConfirmTokenTx(ctx context.Context, tx *db.Tx, subscriberID, requestID int64) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("make confirm token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	var req any
	if requestID != 0 {
		req = requestID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, subscriber_id, purpose, created_at, expires_at, request_id) VALUES (?, ?, ?, ?, ?, ?)`,
		hashToken(tok), subscriberID, purposeConfirm, tx.NowText(), db.FormatTime(tx.Now.Add(o.cfg.ConfirmTTL)), req)
	if err != nil {
		return "", fmt.Errorf("store confirm token: %w", err)
	}
	return tok, nil
}

// ConfirmURL is the link a confirmation mail carries.
func (o *OptIn) ConfirmURL(tok string) string {
	return o.cfg.BaseURL + "/confirm?token=" + url.QueryEscape(tok)
}

// confirmToken is a stored token row with its subscriber and, when it was
// minted for one, the request it answers.
type confirmToken struct {
	hash    string
	sub     *Subscriber
	req     *requestValues
	expired bool
	used    bool
}

// lang is the language to answer the token's holder in: the request's.
func (t *confirmToken) lang() string {
	if t.req != nil {
		return t.req.lang
	}
	return t.sub.Lang
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
	var reqID sql.NullInt64
	var reqName, reqLang sql.NullString
	err := q.QueryRowContext(ctx, `SELECT t.subscriber_id, t.purpose, t.expires_at, COALESCE(t.used_at, ''), r.id, r.name, r.lang
		FROM tokens t LEFT JOIN confirm_requests r ON r.id = t.request_id WHERE t.hash = ?`, h).
		Scan(&id, &purpose, &expires, &used, &reqID, &reqName, &reqLang)
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
	t := &confirmToken{hash: h, sub: sub, expired: !now.Before(exp), used: used != ""}
	if reqID.Valid {
		t.req = &requestValues{id: reqID.Int64, name: reqName.String, lang: reqLang.String}
	}
	return t, nil
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
	return t.lang(), t.check()
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
		// The confirmed request's values win. Without a name in it, a name
		// stays only if it came from an earlier confirmation (or an admin):
		// a never-confirmed row holds what some request typed.
		if t.req != nil {
			if t.req.name != "" || sub.ConfirmedAt.IsZero() {
				sub.Name = t.req.name
			}
			sub.Lang = t.req.lang
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'active', name = ?, lang = ?, confirmed_at = ?, updated_at = ? WHERE id = ?`,
			sub.Name, sub.Lang, tx.NowText(), tx.NowText(), sub.ID); err != nil {
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
//
// It also drops the confirm requests (the name and client network each
// request typed) that no link can use any more: older than a confirm
// token lives and the caps count, with no unexpired token pointing at them.
func (o *OptIn) PurgePending(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := o.inTx(ctx, func(tx *db.Tx) error {
		cutoff := db.FormatTime(tx.Now.Add(-olderThan))
		res, err := tx.ExecContext(ctx, `DELETE FROM subscribers
			WHERE status = 'pending' AND confirmed_at IS NULL AND created_at < ? AND updated_at < ?`, cutoff, cutoff)
		if err != nil {
			return fmt.Errorf("purge pending subscribers: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("purge pending subscribers: %w", err)
		}
		keep := max(o.cfg.ConfirmTTL, 24*time.Hour)
		if _, err := tx.ExecContext(ctx, `DELETE FROM confirm_requests WHERE created_at < ?
			AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.request_id = confirm_requests.id AND t.expires_at > ?)`,
			db.FormatTime(tx.Now.Add(-keep)), tx.NowText()); err != nil {
			return fmt.Errorf("purge spent confirm requests: %w", err)
		}
		return nil
	})
	return n, err
}

// RenderOutbox renders a queued confirmation mail. It mints a fresh confirm
// token each time, so no secret ever sits in the outbox; a retried mail
// simply carries a newer link. A subscriber who is no longer pending needs
// no mail: db.ErrOutboxCancelled.
func (o *OptIn) RenderOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
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
		// The mail answers its own request: in its language, and its
		// link confirms that request's values.
		req, ok, err := outboxRequestTx(ctx, tx, it)
		if err != nil {
			return err
		}
		if ok {
			sub.Name, sub.Lang = req.name, req.lang
		}
		tok, err = o.newConfirmTokenTx(ctx, tx, sub.ID, req.id)
		return err
	})
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("render confirmation mail %d: %w", it.ID, err)
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
