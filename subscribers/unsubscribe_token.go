package subscribers

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"

	"newsletter/internal/keyedmac"
)

// ErrBadToken is returned for a token that is malformed, forged, expired or
// meant for another purpose.
var ErrBadToken = errors.New("the link is invalid or has expired")

// Unsubscribe tokens are derived, not stored, so every mail of a campaign
// can carry one without a database write and a resent copy carries the
// same one. A token is the subscriber id encrypted under a key derived from
// the installation secret (one AES block: 8 zero bytes and the id), then
// an HMAC-SHA256 of that block truncated to 128 bits: 32 bytes, 43
// characters. Every token has that length and looks random, so it tells a
// reader neither the row id nor how long the list is, and without the
// installation secret none can be made or read. The keys are derived for
// this purpose only.
//
// The first format (until issue 9) put the id in the clear: a varint of
// the id, then the HMAC over purpose and id. Mails already sent carry it,
// so ParseUnsubscribeToken still takes it; nothing makes new ones.

const unsubscribeTokenLen = 2 * aes.BlockSize

// unsubscribeKeys are the keys of the current token format.
type unsubscribeKeys struct {
	block cipher.Block
	mac   *keyedmac.MAC // a campaign makes a token per message
}

func newUnsubscribeKeys(secret []byte) unsubscribeKeys {
	block, err := aes.NewCipher(keyedmac.Derive(secret, "unsubscribe token v2: encryption"))
	if err != nil {
		panic(err) // a 32-byte key is always a valid AES key
	}
	return unsubscribeKeys{block: block, mac: keyedmac.New(keyedmac.Derive(secret, "unsubscribe token v2: authentication"))}
}

// tag appends the MAC of the sealed block, truncated to 128 bits, to dst.
func (k unsubscribeKeys) tag(dst, sealed []byte) []byte {
	return k.mac.Sum(dst, sealed)[:len(dst)+16]
}

// UnsubscribeToken returns the subscriber's unsubscribe token.
func (s *Store) UnsubscribeToken(subscriberID int64) string {
	var plain [aes.BlockSize]byte
	binary.BigEndian.PutUint64(plain[8:], uint64(subscriberID))
	var b [aes.BlockSize + sha256.Size]byte // the sealed block, then its full MAC
	buf := b[:aes.BlockSize]
	s.unsub.block.Encrypt(buf, plain[:])
	return base64.RawURLEncoding.EncodeToString(s.unsub.tag(buf, buf))
}

// ParseUnsubscribeToken returns the subscriber id a token was made for. It
// takes tokens of both formats.
func (s *Store) ParseUnsubscribeToken(tok string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, ErrBadToken
	}
	var id uint64
	switch {
	case len(raw) == unsubscribeTokenLen:
		sealed := raw[:aes.BlockSize]
		var t [sha256.Size]byte
		if !hmac.Equal(raw[aes.BlockSize:], s.unsub.tag(t[:0], sealed)) {
			return 0, ErrBadToken
		}
		var plain [aes.BlockSize]byte
		s.unsub.block.Decrypt(plain[:], sealed)
		if binary.BigEndian.Uint64(plain[:8]) != 0 {
			return 0, ErrBadToken
		}
		id = binary.BigEndian.Uint64(plain[8:])
	case len(raw) >= 17 && len(raw) <= 26:
		var n int
		id, n = binary.Uvarint(raw)
		if n <= 0 || n+16 != len(raw) || !hmac.Equal(raw[n:], s.firstFormatMAC(id)) {
			return 0, ErrBadToken
		}
	default:
		return 0, ErrBadToken
	}
	if id == 0 || id > 1<<62 {
		return 0, ErrBadToken
	}
	return int64(id), nil
}

// firstFormatMAC is the MAC of the first token format, kept to verify
// links in mails sent before.
func (s *Store) firstFormatMAC(id uint64) []byte {
	m := hmac.New(sha256.New, s.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	m.Write([]byte("unsubscribe\x00"))
	m.Write(b[:])
	return m.Sum(nil)[:16]
}
