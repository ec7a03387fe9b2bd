package mailer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"newsletter/internal/keyedmac"
)

// VERP (DESIGN "Mail"): with --bounce-address local@domain every mail
// leaves with the envelope sender local+TAG@domain, and a report that comes
// back to that address says by its TAG which mail bounced. The TAG is one
// AES block, encode-then-encipher: kind and row ids followed by a 48-bit
// HMAC of them, enciphered under a key derived from the installation
// secret. Enciphered, the ids show nothing (no row id, no list size); a
// block that was not made here decrypts to noise whose MAC fails (odds
// 2^-48), so a forged or damaged tag is told apart from ours. The same
// mail always gets the same tag (retries, a resend after a crash).
//
// In lower-case base32 the tag is 26 characters, so local+TAG stays within
// RFC 5321's 64 characters for a local part of up to 37; MTAs that
// lower-case local parts (some do) change nothing, since base32 is read
// without regard to case.

// refKind is what kind of mail a VERP tag names.
type refKind byte

const (
	refCampaign refKind = 1 // a column to a subscriber: campaign and subscriber
	refOutbox   refKind = 2 // an outbox mail (confirmation, welcome, proof): its row
	refTest     refKind = 3 // a test copy (`send --to`): records nothing, so no ids
)

// mailRef names one mail.
type mailRef struct {
	Kind         refKind
	CampaignID   int64 // refCampaign
	SubscriberID int64 // refCampaign
	OutboxID     int64 // refOutbox
}

// Field widths in the block: 1 kind byte, 9 bytes of ids, 6 bytes of MAC.
const (
	verpIDBytes  = 9
	verpMACBytes = 6
	// VERPTagLen is the length of a tag in characters.
	VERPTagLen = 26
	// MaxBounceLocalLen is the longest local part --bounce-address may
	// have: local+TAG must fit in 64 characters.
	MaxBounceLocalLen = 64 - 1 - VERPTagLen
)

// maxCampaignID and maxSubscriberID are what fits in the 9 id bytes (4 + 5):
// four billion campaigns, a trillion subscriber rows.
const (
	maxCampaignID   = 1<<32 - 1
	maxSubscriberID = 1<<40 - 1
)

var verpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// errForgedTag is a tag that was not made with this installation's key.
var errForgedTag = errors.New("VERP tag does not verify")

// verp makes and reads the return paths of one bounce address.
type verp struct {
	local  string // as configured
	domain string // lower-cased
	block  cipher.Block
	mac    *keyedmac.MAC // a return path per message
}

// newVERP prepares the return paths of address ("local@domain") under the
// installation secret.
func newVERP(address string, secret []byte) (*verp, error) {
	local, domain, err := SplitBounceAddress(address)
	if err != nil {
		return nil, err
	}
	if len(secret) == 0 {
		return nil, errors.New("VERP needs the installation secret")
	}
	block, err := aes.NewCipher(keyedmac.Derive(secret, "verp-cipher")[:16])
	if err != nil {
		return nil, fmt.Errorf("VERP cipher: %w", err)
	}
	return &verp{local: local, domain: strings.ToLower(domain), block: block, mac: keyedmac.New(keyedmac.Derive(secret, "verp-mac"))}, nil
}

// SplitBounceAddress checks a --bounce-address: a bare address local@domain
// (no display name) whose local part leaves room for the tag.
func SplitBounceAddress(address string) (local, domain string, err error) {
	a, err := mail.ParseAddress(address)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(address) {
		return "", "", fmt.Errorf("%q is not a bare address like bounces@example.org", address)
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(local, `"\ `) {
		return "", "", fmt.Errorf("%q is not a bare address like bounces@example.org", address)
	}
	if len(local) > MaxBounceLocalLen {
		return "", "", fmt.Errorf("%q: the local part may have at most %d characters, so that it still fits with +TAG (%d more)", address, MaxBounceLocalLen, VERPTagLen+1)
	}
	return local, domain, nil
}

// address is the return path of the mail ref names: local+TAG@domain.
// A mail whose ids do not fit in a tag (never, in practice) gets the bare
// bounce address: its bounces come back untagged and are identified by
// their Message-ID instead.
func (v *verp) address(ref mailRef) string {
	tag, ok := v.tag(ref)
	if !ok {
		return v.local + "@" + v.domain
	}
	return v.local + "+" + tag + "@" + v.domain
}

// tag enciphers ref; ok is false when its ids are out of range.
func (v *verp) tag(ref mailRef) (string, bool) {
	var b [aes.BlockSize]byte
	b[0] = byte(ref.Kind)
	ids := b[1 : 1+verpIDBytes]
	switch ref.Kind {
	case refCampaign:
		if ref.CampaignID < 0 || ref.CampaignID > maxCampaignID || ref.SubscriberID < 0 || ref.SubscriberID > maxSubscriberID {
			return "", false
		}
		binary.BigEndian.PutUint32(ids[0:4], uint32(ref.CampaignID))
		s := uint64(ref.SubscriberID)
		ids[4], ids[5], ids[6], ids[7], ids[8] = byte(s>>32), byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	case refOutbox:
		if ref.OutboxID < 0 {
			return "", false
		}
		binary.BigEndian.PutUint64(ids[0:8], uint64(ref.OutboxID))
	case refTest:
	default:
		return "", false
	}
	copy(b[1+verpIDBytes:], v.sum(b[:1+verpIDBytes]))
	v.block.Encrypt(b[:], b[:])
	return strings.ToLower(verpEncoding.EncodeToString(b[:])), true
}

// sum is the truncated MAC of plain.
func (v *verp) sum(plain []byte) []byte {
	var sum [sha256.Size]byte
	return v.mac.Sum(sum[:0], plain)[:verpMACBytes]
}

// open reads a tag back; any tag this installation did not make (wrong
// length or alphabet, another key, a changed character) is errForgedTag.
func (v *verp) open(tag string) (mailRef, error) {
	if len(tag) != VERPTagLen {
		return mailRef{}, errForgedTag
	}
	upper := strings.ToUpper(tag)
	raw, err := verpEncoding.DecodeString(upper)
	// The last character carries 3 bits and 2 unused ones: a tag spelled
	// with those set is not one we made.
	if err != nil || len(raw) != aes.BlockSize || verpEncoding.EncodeToString(raw) != upper {
		return mailRef{}, errForgedTag
	}
	var b [aes.BlockSize]byte
	v.block.Decrypt(b[:], raw)
	if !hmac.Equal(b[1+verpIDBytes:], v.sum(b[:1+verpIDBytes])) {
		return mailRef{}, errForgedTag
	}
	ids := b[1 : 1+verpIDBytes]
	ref := mailRef{Kind: refKind(b[0])}
	switch ref.Kind {
	case refCampaign:
		ref.CampaignID = int64(binary.BigEndian.Uint32(ids[0:4]))
		ref.SubscriberID = int64(ids[4])<<32 | int64(ids[5])<<24 | int64(ids[6])<<16 | int64(ids[7])<<8 | int64(ids[8])
	case refOutbox:
		ref.OutboxID = int64(binary.BigEndian.Uint64(ids[0:8]))
	case refTest:
	default:
		// Made with our key but of no kind we know: a newer version's.
		return mailRef{}, errForgedTag
	}
	return ref, nil
}

// tagOf returns the tag of addr when addr is this bounce address with a tag
// (local+TAG@domain, compared without regard to case: MTAs may lower-case
// a local part). tagged is false for any other address, the bare bounce
// address included.
func (v *verp) tagOf(addr string) (tag string, tagged bool) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || addr[at+1:] != v.domain {
		return "", false
	}
	rest, ok := strings.CutPrefix(addr[:at], strings.ToLower(v.local)+"+")
	if !ok {
		return "", false
	}
	return rest, true
}

// returnPath is the envelope sender of the mail ref names: its VERP
// address with --bounce-address, else "" (the sender's own, From).
func (m *Mailer) returnPath(ref mailRef) string {
	if m.verp == nil {
		return ""
	}
	return m.verp.address(ref)
}
