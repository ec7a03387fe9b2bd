package subscribers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"newsletter/db"
)

// A confirm request is one confirmation mail queued: the subscribe request
// it answers (table confirm_requests, migration 0005). The outbox row
// names it in its payload, the confirm token minted for the mail points at
// it, and Confirm applies its name and language. The caps on confirmation
// mails count these rows.

// confirmRequest is what a request asked for and what the caps count.
type confirmRequest struct {
	mailbox string // MailboxKey of the address
	client  string // clientNetwork of the requester; '' for an admin
	name    string
	lang    string
}

// confirmPayload is the outbox payload of a confirmation mail: the request
// it answers. An outbox row queued before requests existed has none.
type confirmPayload struct {
	Request int64 `json:"request,omitempty"`
}

// clientNetwork is what the per-client cap counts: an IPv4 address, or the
// /64 of an IPv6 address (one subscriber line gets a whole /64, so counting
// single IPv6 addresses would count nothing). Text that is no address is
// counted as it is; no text is no client (an admin).
func clientNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// queueConfirmTx records the request and queues its confirmation mail.
func queueConfirmTx(ctx context.Context, tx *db.Tx, subscriberID int64, email string, r confirmRequest) error {
	var reqID int64
	err := tx.QueryRowContext(ctx, `INSERT INTO confirm_requests (subscriber_id, mailbox, client, name, lang, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, subscriberID, r.mailbox, r.client, r.name, r.lang, tx.NowText()).Scan(&reqID)
	if err != nil {
		return fmt.Errorf("record confirm request: %w", err)
	}
	payload, err := json.Marshal(confirmPayload{Request: reqID})
	if err != nil {
		return fmt.Errorf("record confirm request: %w", err)
	}
	_, err = db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindConfirm, SubscriberID: subscriberID, Recipient: email, Payload: string(payload)})
	return err
}

// requestValues are a request's name and language as a confirmation
// mail and Confirm use them.
type requestValues struct {
	id         int64
	name, lang string
}

// outboxRequestTx reads the request an outbox item answers. ok is false
// for an item queued before requests existed, or whose request is gone.
func outboxRequestTx(ctx context.Context, tx *db.Tx, it db.OutboxItem) (r requestValues, ok bool, err error) {
	var p confirmPayload
	if it.Payload != "" {
		if err := json.Unmarshal([]byte(it.Payload), &p); err != nil {
			return r, false, fmt.Errorf("outbox item %d: payload: %w", it.ID, err)
		}
	}
	if p.Request == 0 {
		return r, false, nil
	}
	err = tx.QueryRowContext(ctx, `SELECT id, name, lang FROM confirm_requests WHERE id = ? AND subscriber_id = ?`,
		p.Request, it.SubscriberID).Scan(&r.id, &r.name, &r.lang)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read confirm request: %w", err)
	}
	return r, true, nil
}

// ConfirmRequest is a subscribe request that got a confirmation mail, kept
// until its links have expired: what it asked for, and from where.
type ConfirmRequest struct {
	At     time.Time
	Name   string // as submitted; applied only if this request is confirmed
	Lang   string
	Client string // the requester's IPv4 address or IPv6 /64; empty for an admin
}

// ConfirmRequests returns the subscriber's stored requests, oldest first.
func (s *Store) ConfirmRequests(ctx context.Context, subscriberID int64) ([]ConfirmRequest, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT created_at, name, lang, client FROM confirm_requests
		WHERE subscriber_id = ? ORDER BY id`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("read confirm requests: %w", err)
	}
	defer rows.Close()
	var out []ConfirmRequest
	for rows.Next() {
		var r ConfirmRequest
		var at string
		if err := rows.Scan(&at, &r.Name, &r.Lang, &r.Client); err != nil {
			return nil, fmt.Errorf("read confirm requests: %w", err)
		}
		if r.At, err = db.ParseTime(at); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read confirm requests: %w", err)
	}
	return out, nil
}
