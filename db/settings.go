package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// SecretKey returns the installation's 32-byte secret, creating it on first
// use. It keys unsubscribe tokens and the suppression-list hashes, so it
// lives with the data it protects and is never printed.
func (d *DB) SecretKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := d.InTx(ctx, func(tx *Tx) error {
		var v string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'secret_key'`).Scan(&v)
		if err == nil {
			key, err = hex.DecodeString(v)
			if err != nil || len(key) != 32 {
				return errors.New("stored secret key is damaged")
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read secret key: %w", err)
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("generate secret key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('secret_key', ?)`, hex.EncodeToString(key)); err != nil {
			return fmt.Errorf("store secret key: %w", err)
		}
		return nil
	})
	return key, err
}
