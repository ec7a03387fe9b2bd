package subscribers

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"newsletter/db"
)

// consentTextID stores a consent wording once and returns its id, so every
// event can point at the exact text the person saw.
func consentTextID(ctx context.Context, tx *db.Tx, body string) (sql.NullInt64, error) {
	if body == "" {
		return sql.NullInt64{}, nil
	}
	sum := sha256.Sum256([]byte(body))
	h := hex.EncodeToString(sum[:])
	// Nearly always the wording is stored already: one read then.
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM consent_texts WHERE sha256 = ?`, h).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `INSERT INTO consent_texts (sha256, body, created_at) VALUES (?, ?, ?) RETURNING id`,
			h, body, tx.NowText()).Scan(&id)
	}
	if err != nil {
		return sql.NullInt64{}, fmt.Errorf("store consent text: %w", err)
	}
	return sql.NullInt64{Int64: id, Valid: true}, nil
}

// RecordEvent appends one entry to the subscriber's consent evidence.
func RecordEvent(ctx context.Context, tx *db.Tx, subscriberID int64, kind string, ev Evidence) error {
	textID, err := consentTextID(ctx, tx, ev.ConsentText)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO consent_events (subscriber_id, kind, at, ip, user_agent, consent_text_id, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, subscriberID, kind, tx.NowText(), ev.IP, ev.UserAgent, textID, ev.Detail)
	if err != nil {
		return fmt.Errorf("record %s event: %w", kind, err)
	}
	return nil
}

// Events returns the subscriber's evidence, oldest first.
func (s *Store) Events(ctx context.Context, subscriberID int64) ([]Event, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT e.id, e.kind, e.at, e.ip, e.user_agent, COALESCE(t.body, ''), e.detail
		FROM consent_events e LEFT JOIN consent_texts t ON t.id = e.consent_text_id
		WHERE e.subscriber_id = ? ORDER BY e.id`, subscriberID)
	if err != nil {
		return nil, fmt.Errorf("read consent events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at string
		if err := rows.Scan(&e.ID, &e.Kind, &at, &e.IP, &e.UserAgent, &e.ConsentText, &e.Detail); err != nil {
			return nil, fmt.Errorf("read consent events: %w", err)
		}
		if e.At, err = db.ParseTime(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read consent events: %w", err)
	}
	return out, nil
}
