package bounce

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
)

// DefaultMaxSize is how much of a message Parse reads. Reports put their
// own text and delivery-status before the returned message, so the
// beginning is what matters; a longer message is read up to here and
// marked Truncated.
const DefaultMaxSize = 4 << 20

const (
	defaultMaxParts = 100       // MIME parts looked at in one message
	maxDepth        = 8         // nesting of multiparts
	maxPartBytes    = 1 << 20   // decoded bytes read from one part
	maxTextBytes    = 512 << 10 // human-readable text kept over all parts
	maxHeaderBytes  = 64 << 10  // of a returned message's header
)

// Parser reads reports within limits. The zero value uses the defaults;
// a Parser has no state and may be used from several goroutines.
type Parser struct {
	// MaxSize is how many bytes of a message are read (DefaultMaxSize
	// when 0).
	MaxSize int64
	// MaxParts is how many MIME parts are looked at (100 when 0).
	MaxParts int
}

// Parse reads one message with the default limits and says what it states.
func Parse(r io.Reader) (*Report, error) {
	return Parser{}.Parse(r)
}

// Parse reads one message from r (at most MaxSize bytes, plus one to tell
// that there was more) and says what it states. A message that is not mail
// at all gives a Report with Reason Unreadable, not an error; the error is
// for r failing, which the caller may retry.
func (p Parser) Parse(r io.Reader) (*Report, error) {
	limit := p.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	rep := &Report{}
	if int64(len(data)) > limit {
		data = data[:limit]
		rep.Truncated = true
	}
	m := p.read(data, rep)
	if m == nil {
		rep.Reason = Unreadable
		return rep, nil
	}
	recognise(m, rep)
	rep.sanitise()
	return rep, nil
}

// message is what the recognisers look at: the top header and the parts
// that matter, already decoded.
type message struct {
	header     gomessage.Header
	subject    string
	from       string // lower-case address
	reportType string // report-type of a multipart/report, lower-case
	dsn        []fields
	feedback   fields
	original   fields // header of the returned message, nil when none
	plain      []string
	html       []string

	textBytes int
	parts     int
	maxParts  int

	// joined and lowered are text() and lowerText(text()), made once: every
	// recogniser looks at them.
	joined, lowered *string
}

// text is the report's human-readable text: the plain parts, or the HTML
// parts made text when there is no plain one.
func (m *message) text() string {
	if m.joined == nil {
		parts := m.plain
		if len(parts) == 0 {
			parts = m.html
		}
		s := strings.Join(parts, "\n\n")
		m.joined = &s
	}
	return *m.joined
}

// lowerText is text() lower-cased with whitespace runs made single spaces.
func (m *message) lowerText() string {
	if m.lowered == nil {
		s := lowerText(m.text())
		m.lowered = &s
	}
	return *m.lowered
}

func (p Parser) read(data []byte, rep *Report) *message {
	if len(bytes.TrimSpace(data)) == 0 {
		rep.addProblem("empty message")
		return nil
	}
	e, err := gomessage.Read(bytes.NewReader(data))
	if e == nil {
		rep.addProblem(fmt.Sprintf("no mail header: %v", err))
		return nil
	}
	if e.Header.Len() == 0 {
		rep.addProblem("no mail header")
		return nil
	}
	m := &message{header: e.Header, maxParts: p.MaxParts}
	if m.maxParts <= 0 {
		m.maxParts = defaultMaxParts
	}
	m.subject = oneLine(decodeHeaderText(e.Header.Get("Subject")), 500)
	if as := headerAddresses(e.Header.Get("From")); len(as) > 0 {
		m.from = strings.ToLower(as[0])
	}
	fillHeader(m, rep)

	if found := m.entity(e, err, 0, rep); found == 0 && isMultipart(e) {
		// The announced boundary never occurs: read the body as text, so
		// the recognisers still see what the report says.
		rep.addProblem("multipart without parts")
		m.addText(string(rawBody(data)), false)
	}
	return m
}

func isMultipart(e *gomessage.Entity) bool {
	t, _, _ := e.Header.ContentType()
	return strings.HasPrefix(t, "multipart/")
}

// rawBody is what follows the first blank line.
func rawBody(data []byte) []byte {
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(data, []byte(sep)); i >= 0 {
			return data[i+len(sep):]
		}
	}
	return nil
}

// entity takes in one MIME entity and returns how many parts a multipart
// held (1 for a leaf).
func (m *message) entity(e *gomessage.Entity, encErr error, depth int, rep *Report) int {
	m.parts++
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain" // RFC 2045 default, and Sendmail's first part has no header
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth >= maxDepth {
			rep.addProblem("MIME nested too deep")
			return 0
		}
		if mt == "multipart/report" && m.reportType == "" {
			m.reportType = strings.ToLower(params["report-type"])
		}
		mr := e.MultipartReader()
		if mr == nil {
			return 0
		}
		n := 0
		for m.parts < m.maxParts {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if part == nil {
				if n > 0 || depth > 0 {
					rep.addProblem(fmt.Sprintf("broken MIME structure: %v", err))
				}
				break
			}
			n++
			m.entity(part, err, depth+1, rep)
		}
		return n
	case strings.HasSuffix(mt, "delivery-status"): // message/ and message/global-
		m.dsn = append(m.dsn, parseFieldGroups(readPart(e, maxPartBytes, rep))...)
	case mt == "message/feedback-report":
		for _, g := range parseFieldGroups(readPart(e, maxPartBytes, rep)) {
			m.feedback = append(m.feedback, g...)
		}
	case mt == "message/rfc822" || mt == "message/global" || mt == "text/rfc822-headers" ||
		mt == "message/global-headers" || mt == "message/rfc822-headers":
		// The returned message: only its header is of interest; its body
		// is our own mail and must not be read as the report's text.
		if m.original == nil {
			m.original = parseHeaderBlock(readPart(e, maxHeaderBytes, rep))
		}
	case mt == "text/html":
		m.addText(htmlToText([]byte(decodedText(e, encErr, params, rep))), true)
	case strings.HasPrefix(mt, "text/"):
		m.addText(decodedText(e, encErr, params, rep), false)
	}
	return 1
}

// decodedText reads a text part as UTF-8. go-message converts only UTF-8
// and US-ASCII itself (no global charset reader is installed); other
// charsets arrive raw and are converted here.
func decodedText(e *gomessage.Entity, encErr error, params map[string]string, rep *Report) string {
	raw := readPartBytes(e, maxPartBytes, rep)
	if gomessage.IsUnknownCharset(encErr) {
		return decodeCharset(params["charset"], raw)
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// readPart reads up to limit decoded bytes as text.
func readPart(e *gomessage.Entity, limit int64, rep *Report) string {
	return strings.ToValidUTF8(string(readPartBytes(e, limit, rep)), "\uFFFD")
}

// readPartBytes reads up to limit decoded bytes; a part cut short (bad
// base64, a missing closing boundary) keeps what was read.
func readPartBytes(e *gomessage.Entity, limit int64, rep *Report) []byte {
	b, err := io.ReadAll(io.LimitReader(e.Body, limit))
	if err != nil && !errors.Is(err, io.EOF) {
		rep.addProblem(fmt.Sprintf("part cut short: %v", err))
	}
	return b
}

func (m *message) addText(s string, isHTML bool) {
	room := maxTextBytes - m.textBytes
	if room <= 0 {
		return
	}
	if len(s) > room {
		s = strings.ToValidUTF8(s[:room], "")
	}
	m.textBytes += len(s)
	m.joined, m.lowered = nil, nil
	if isHTML {
		m.html = append(m.html, s)
	} else {
		m.plain = append(m.plain, s)
	}
}

// fillHeader takes from the report's own header what identifies it.
func fillHeader(m *message, rep *Report) {
	h := m.header
	rep.MessageID = messageID(h.Get("Message-Id"))
	rep.From = m.from
	rep.Subject = m.subject
	seen := map[string]bool{}
	for _, name := range []string{"Delivered-To", "Envelope-To", "X-Original-To", "To"} {
		for _, v := range h.Values(name) {
			for _, a := range headerAddresses(v) {
				if k := strings.ToLower(a); !seen[k] && len(rep.DeliveredTo) < 20 {
					seen[k] = true
					rep.DeliveredTo = append(rep.DeliveredTo, a)
				}
			}
		}
	}
}
