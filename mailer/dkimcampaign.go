package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// campaignDKIM signs a campaign's messages (relaxed/relaxed, SHA-256, the
// same tags and headers as dkimSigner) knowing which parts of them are the
// same for everyone: the canonical body up to the first line with a
// per-recipient value is hashed once, and so are the canonical forms of the
// shared header fields. Per message it hashes the rest of the body (the
// HTML part, mostly) and the fields that differ, and signs. go-msgauth's
// Sign reads, canonicalises and hashes the whole message each time, through
// a pipe and a goroutine; its verifier checks what this writes (tests).
type campaignDKIM struct {
	key       crypto.Signer
	hashOpt   crypto.SignerOpts // crypto.SHA256 for RSA, none for Ed25519 (RFC 8463)
	algo      string            // a= tag
	domain    string
	selector  string
	keys      string         // h= tag
	signed    []int          // header field signed for each name of keys; -1 when absent
	canon     map[int][]byte // relaxed canonical form of the shared signed fields
	prefix    hash.Cloner    // SHA-256 over the canonical body before chunk first
	first     int
	bodyCanon [][]byte // relaxed canonical form of the shared body chunks from first on
}

func newCampaignDKIM(s *dkimSigner, header []headerField, body []bodyChunk) (*campaignDKIM, error) {
	d := &campaignDKIM{
		key:      s.opts.Signer,
		domain:   s.opts.Domain,
		selector: s.opts.Selector,
		keys:     strings.Join(s.opts.HeaderKeys, ":"),
		canon:    map[int][]byte{},
	}
	switch s.opts.Signer.Public().(type) {
	case *rsa.PublicKey:
		d.algo, d.hashOpt = "rsa-sha256", crypto.SHA256
	case ed25519.PublicKey:
		d.algo, d.hashOpt = "ed25519-sha256", crypto.Hash(0)
	default:
		return nil, fmt.Errorf("DKIM: key type %T is not supported", s.opts.Signer.Public())
	}
	for _, k := range s.opts.HeaderKeys {
		at := -1
		for i := len(header) - 1; i >= 0; i-- {
			if strings.EqualFold(header[i].name, k) {
				at = i
				break
			}
		}
		d.signed = append(d.signed, at)
		if at >= 0 && header[at].kind == fieldStatic {
			d.canon[at] = appendRelaxedHeader(nil, header[at].raw)
		}
	}
	// Cutting the canonical body at chunk boundaries must not change it:
	// no shared chunk may end in white space or a CR (the per-recipient
	// lines are quoted-printable, which never ends so), and the body ends
	// in one line break, so no empty lines at its end are dropped.
	for _, ch := range body {
		if ch.lines != nil || len(ch.enc) == 0 {
			continue
		}
		switch ch.enc[len(ch.enc)-1] {
		case ' ', '\t', '\r':
			return nil, errors.New("campaign mail: DKIM: a shared chunk ends in white space")
		}
	}
	last := body[len(body)-1].enc
	if n := len(last); body[len(body)-1].lines != nil || n < 3 || !bytes.HasSuffix(last, []byte("\r\n")) || last[n-3] == '\n' {
		return nil, errors.New("campaign mail: DKIM: the body does not end in one line break")
	}
	h := sha256.New()
	d.first = len(body)
	d.bodyCanon = make([][]byte, len(body))
	for i, ch := range body {
		if ch.lines != nil && d.first == len(body) {
			d.first = i
		}
		if ch.lines != nil {
			continue
		}
		c := appendRelaxedBody(nil, ch.enc)
		if d.first == len(body) {
			h.Write(c)
		} else {
			d.bodyCanon[i] = c
		}
	}
	cl, ok := h.(hash.Cloner)
	if !ok {
		return nil, errors.New("campaign mail: DKIM: SHA-256 state cannot be cloned")
	}
	d.prefix = cl
	return d, nil
}

// sign writes the DKIM-Signature field of the message w holds.
func (d *campaignDKIM) sign(dst *bytes.Buffer, w *campaignWriter, at time.Time) error {
	msg, offs := w.msg.Bytes(), w.offs
	nh := len(w.cm.header)
	c, err := d.prefix.Clone()
	if err != nil {
		return fmt.Errorf("DKIM sign: %w", err)
	}
	bh := c.(hash.Hash)
	for j := d.first; j < len(w.cm.body); j++ {
		if w.cm.body[j].lines == nil {
			bh.Write(d.bodyCanon[j])
			continue
		}
		w.canon = appendRelaxedBody(w.canon[:0], msg[offs[nh+1+j]:offs[nh+2+j]])
		bh.Write(w.canon)
	}
	tags := d.tags(base64.StdEncoding.EncodeToString(bh.Sum(nil)), at)

	hh := sha256.New()
	for _, i := range d.signed {
		switch {
		case i < 0:
		case w.cm.header[i].kind == fieldStatic:
			hh.Write(d.canon[i])
		default:
			w.canon = appendRelaxedHeader(w.canon[:0], msg[offs[i]:offs[i+1]])
			hh.Write(w.canon)
		}
	}
	w.canon = appendRelaxedHeader(w.canon[:0], []byte(formatDKIMField(tags, "")))
	hh.Write(bytes.TrimRight(w.canon, "\r\n"))
	sig, err := d.key.Sign(rand.Reader, hh.Sum(nil), d.hashOpt)
	if err != nil {
		return fmt.Errorf("DKIM sign: %w", err)
	}
	dst.WriteString(formatDKIMField(tags, base64.StdEncoding.EncodeToString(sig)))
	return nil
}

// tags are the signature's tags but b=, in go-msgauth's order (sorted).
func (d *campaignDKIM) tags(bh string, at time.Time) [][2]string {
	return [][2]string{
		{"a", d.algo}, {"bh", bh}, {"c", "relaxed/relaxed"}, {"d", d.domain},
		{"h", d.keys}, {"s", d.selector}, {"t", strconv.FormatInt(at.Unix(), 10)}, {"v", "1"},
	}
}

// formatDKIMField lays the field out as go-msgauth does: tags on lines of
// at most 75 characters, then b= on lines of its own.
func formatDKIMField(tags [][2]string, b string) string {
	var s strings.Builder
	s.WriteString("DKIM-Signature:")
	line := ""
	for _, t := range tags {
		if 3+len(line)+len(t[0])+len(t[1]) > 75 {
			s.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + t[0] + "=" + t[1] + ";"
	}
	s.WriteString(line)
	s.WriteString("\r\n")
	rest := " b=" + b
	for first := true; ; first = false {
		if !first {
			s.WriteString("\r\n ")
		}
		n := min(len(rest), 75)
		s.WriteString(rest[:n])
		rest = rest[n:]
		if rest == "" {
			break
		}
	}
	s.WriteString("\r\n")
	return s.String()
}

// appendRelaxedHeader appends the relaxed canonical form of a header field
// (RFC 6376 3.4.2): the name in lower case, the value unfolded with runs of
// white space made one space and none at either end.
func appendRelaxedHeader(dst, field []byte) []byte {
	name, value, _ := bytes.Cut(field, []byte(":"))
	for _, c := range bytes.TrimSpace(name) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	space, started := false, false
	for _, c := range value {
		switch c {
		case ' ', '\t', '\r', '\n':
			space = started
		default:
			if space {
				dst = append(dst, ' ')
				space = false
			}
			started = true
			dst = append(dst, c)
		}
	}
	return append(dst, '\r', '\n')
}

// appendRelaxedBody appends the relaxed canonical form of whole body lines
// (RFC 6376 3.4.4): runs of white space made one space, none at the end of
// a line.
func appendRelaxedBody(dst, b []byte) []byte {
	space := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case ' ', '\t':
			space = true
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				dst = append(dst, '\r', '\n')
				i++
				space = false
				continue
			}
			fallthrough
		default:
			if space {
				dst = append(dst, ' ')
				space = false
			}
			dst = append(dst, c)
		}
	}
	if space {
		dst = append(dst, ' ')
	}
	return dst
}
