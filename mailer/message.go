package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"newsletter/internal/keyedmac"
	"newsletter/templates"
)

// userAgent names us in User-Agent and X-Mailer instead of go-mail's default.
const userAgent = "newsletter"

// envelope is one message to compose: who gets it, what it says, and the
// headers that differ per recipient.
type envelope struct {
	ToEmail        string
	ToName         string
	Mail           templates.RenderedMail
	MessageID      string // without angle brackets
	UnsubscribeURL string // empty for confirmation mails: no List-* headers
	Date           time.Time
}

// composer writes messages as bytes, signed when DKIM is configured.
type composer struct {
	from     fromAddress
	listID   string // preformatted List-Id value
	feedback string
	boundary string
	dkim     *dkimSigner
}

func newComposer(o *Options, from fromAddress, dk *dkimSigner) *composer {
	return &composer{
		from:     from,
		listID:   listIDHeader(o.ListName, listDomain(o.BaseURL, from.domain)),
		feedback: o.FeedbackID,
		boundary: o.Boundary,
		dkim:     dk,
	}
}

// compose writes the finished message into buf (which it resets). It is
// the general path, for every mail; a campaign encodes its column's mail
// once and per recipient only what differs (see campaignMail), with the
// same bytes as this.
func (c *composer) compose(e envelope, buf *bytes.Buffer) error {
	msg, err := c.message(e)
	if err != nil {
		return err
	}
	buf.Reset()
	if c.dkim == nil {
		if _, err := msg.WriteTo(buf); err != nil {
			return fmt.Errorf("write message: %w", err)
		}
		return nil
	}
	var raw bytes.Buffer
	if _, err := msg.WriteTo(&raw); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return c.dkim.sign(buf, raw.Bytes())
}

// message builds the go-mail message of e, unsigned.
func (c *composer) message(e envelope) (*gomail.Msg, error) {
	opts := []gomail.MsgOption{gomail.WithNoDefaultUserAgent()}
	if c.boundary != "" {
		opts = append(opts, gomail.WithBoundary(c.boundary))
	}
	msg := gomail.NewMsg(opts...)
	msg.FromMailAddress(c.from.addr)
	if err := msg.AddToFormat(e.ToName, e.ToEmail); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", e.ToEmail, err)
	}
	msg.Subject(e.Mail.Subject)
	msg.SetDateWithValue(e.Date)
	msg.SetMessageIDWithValue(e.MessageID)
	msg.SetUserAgent(userAgent)
	if e.UnsubscribeURL != "" {
		// List-Unsubscribe is preformatted so go-mail does not fold the long
		// URL onto a continuation line. It must stay the only preformatted
		// header: go-mail writes those in map order, which would make the
		// bytes vary from run to run. The other values are ASCII, which
		// go-mail's generic headers leave as they are.
		msg.SetListUnsubscribe(e.UnsubscribeURL)
		msg.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		msg.SetGenHeader("List-Id", c.listID)
		if c.feedback != "" {
			msg.SetGenHeader("Feedback-ID", c.feedback)
		}
	}
	msg.SetBodyString(gomail.TypeTextPlain, e.Mail.Text)
	if e.Mail.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, e.Mail.HTML)
	}
	return msg, nil
}

// campaignMessageID is the same for every attempt to send column number to
// one subscriber, so a copy resent after a crash is recognisably the same
// mail. Only the column number shows: the subscriber is in the keyed MAC,
// so the ID reveals no row id (nor how long the list is) and cannot be
// guessed for anyone else.
func campaignMessageID(ids *keyedmac.MAC, number int, subscriberID int64, domain string) string {
	c := "c" + strconv.Itoa(number)
	return c + "." + idMAC(ids, c+".s"+strconv.FormatInt(subscriberID, 10)) + "@" + domain
}

// outboxMessageID identifies a confirmation mail the same way across
// retries, without its row id.
func outboxMessageID(ids *keyedmac.MAC, outboxID int64, domain string) string {
	return "o." + idMAC(ids, "o"+strconv.FormatInt(outboxID, 10)) + "@" + domain
}

// idMAC is 120 bits of HMAC-SHA256 over s under the installation secret,
// in lower-case base32: unique enough for every mail a list will ever send,
// and valid in a Message-ID's dot-atom. The "message-id" label keeps it
// apart from the other MACs under the same key.
func idMAC(ids *keyedmac.MAC, s string) string {
	data := append([]byte("message-id\x00"), s...)
	var sum [sha256.Size]byte
	return strings.ToLower(base32.StdEncoding.EncodeToString(ids.Sum(sum[:0], data)[:15]))
}

// listDomain is the host of the public URL, else the From domain.
func listDomain(baseURL, fromDomain string) string {
	if u, err := url.Parse(baseURL); err == nil && u.Hostname() != "" {
		h := strings.ToLower(u.Hostname())
		// An IP or localhost is no namespace; the From domain is.
		if strings.Contains(h, ".") && strings.IndexFunc(h, unicode.IsLetter) >= 0 {
			return h
		}
	}
	return fromDomain
}

// listIDHeader builds RFC 2919's `phrase <label.domain>`; the label is the
// list name in lower-case letters, digits and dashes.
func listIDHeader(name, domain string) string {
	var label strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			label.WriteRune(r)
			dash = false
		case r == 'ä':
			label.WriteString("ae")
		case r == 'ö':
			label.WriteString("oe")
		case r == 'ü':
			label.WriteString("ue")
		case r == 'ß':
			label.WriteString("ss")
		default:
			if !dash && label.Len() > 0 {
				label.WriteByte('-')
				dash = true
			}
		}
	}
	l := strings.Trim(label.String(), "-")
	if l == "" {
		l = "newsletter"
	}
	id := "<" + l + "." + domain + ">"
	if strings.TrimSpace(name) == "" {
		return id
	}
	return phrase(name) + " " + id
}

// phrase makes a display name a valid RFC 5322 phrase: as it is when it is
// plain words, a quoted-string when it holds specials such as `"`, `<` or
// `>`, and RFC 2047 encoded-words when it is not ASCII. Those are
// Q-encoded (readable in the raw header) only when every ASCII character
// is one RFC 2047 allows in a phrase's encoded-word as it is; otherwise
// base64 ("B"), since Go's Q encoder leaves `"`, `<`, `,` and the like
// unencoded. Control characters are dropped.
func phrase(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	ascii, qSafe := true, true
	for _, r := range s {
		switch {
		case r > unicode.MaxASCII:
			ascii = false
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" !*+-/", r):
		default:
			qSafe = false
		}
	}
	switch {
	case !ascii && qSafe:
		return mime.QEncoding.Encode("utf-8", s)
	case !ascii:
		return mime.BEncoding.Encode("utf-8", s)
	case strings.ContainsAny(s, `()<>[]:;@\,."`):
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
		return b.String()
	}
	return s
}
