package mailer

import (
	"context"

	"newsletter/db"
)

// SendOutboxNow sends the outbox items ids at once, over one connection,
// exactly as the outbox worker would (same composing, headers, recording
// and retry rules), and returns their records as they stand afterwards:
// `newsletter proof` queues the proof and sends it while the admin waits.
// An item another sender holds is left to it. The error is only for an
// SMTP server that cannot be reached or used (ErrSMTPUnreachable,
// ErrSMTPConfig): the items then stay queued, uncharged, for serve.
func (m *Mailer) SendOutboxNow(ctx context.Context, mails OutboxMails, ids []int64) (map[int64]db.OutboxMail, error) {
	var claims []db.OutboxClaim
	err := m.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		claims, err = db.ClaimOutboxIDs(ctx, tx, m.owner, m.opts.Lease, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	var conn *smtpConn
	sendErr := m.sendClaims(ctx, mails, &conn, claims)
	if conn != nil {
		conn.close()
	}
	bg := context.WithoutCancel(ctx)
	recs, err := db.OutboxByID(bg, m.db, ids)
	if err != nil {
		return nil, err
	}
	return recs, sendErr
}
