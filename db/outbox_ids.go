package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The outbox by row: a command that queues a mail and wants it out now
// (`newsletter proof`) claims exactly its own rows, never another kind's.

// ClaimOutboxIDs leases the items of ids that are pending, due and not
// leased by another sender to owner until tx.Now+lease, like ClaimOutbox.
func ClaimOutboxIDs(ctx context.Context, tx *Tx, owner string, lease time.Duration, ids []int64) ([]OutboxClaim, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	until := FormatTime(tx.Now.Add(lease))
	args := []any{owner, until, until, tx.NowText()}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, `UPDATE outbox SET lease_owner = ?, lease_until = ?, next_attempt_at = ?
		WHERE state = 'pending' AND next_attempt_at <= ? AND id IN (?`+strings.Repeat(",?", len(ids)-1)+`)
		RETURNING id, kind, COALESCE(subscriber_id, 0), recipient, payload, attempts, created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return scanOutboxClaims(rows)
}

// OutboxByID returns the outbox items of ids as their records stand, by id.
func OutboxByID(ctx context.Context, d *DB, ids []int64) (map[int64]OutboxMail, error) {
	out := map[int64]OutboxMail{}
	for _, id := range ids {
		m, err := scanOutboxMail(d.sql.QueryRowContext(ctx, `SELECT `+outboxMailColumns+` FROM outbox WHERE id = ?`, id))
		if err != nil {
			return nil, fmt.Errorf("read outbox item %d: %w", id, err)
		}
		out[id] = m
	}
	return out, nil
}
