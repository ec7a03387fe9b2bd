package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// ErrBadToken is returned for a token that is malformed, forged, expired or
// meant for another purpose.
var ErrBadToken = errors.New("the link is invalid or has expired")

// Unsubscribe tokens are derived, not stored: HMAC-SHA256 over the purpose
// and the subscriber id, truncated to 128 bits. Every mail of a campaign can
// carry one without a database write, a resent copy carries the same one,
// and without the installation secret none can be forged.

func (s *Store) unsubscribeMAC(id uint64) []byte {
	m := hmac.New(sha256.New, s.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	m.Write([]byte("unsubscribe\x00"))
	m.Write(b[:])
	return m.Sum(nil)[:16]
}

// UnsubscribeToken returns the subscriber's unsubscribe token.
func (s *Store) UnsubscribeToken(subscriberID int64) string {
	buf := binary.AppendUvarint(nil, uint64(subscriberID))
	buf = append(buf, s.unsubscribeMAC(uint64(subscriberID))...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// ParseUnsubscribeToken returns the subscriber id a token was made for.
func (s *Store) ParseUnsubscribeToken(tok string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 17 || len(raw) > 26 {
		return 0, ErrBadToken
	}
	id, n := binary.Uvarint(raw)
	if n <= 0 || n+16 != len(raw) || id == 0 || id > 1<<62 {
		return 0, ErrBadToken
	}
	if !hmac.Equal(raw[n:], s.unsubscribeMAC(id)) {
		return 0, ErrBadToken
	}
	return int64(id), nil
}
