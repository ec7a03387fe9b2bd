package testkit

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
)

// ParseMail reads a received message.
func ParseMail(tb testing.TB, raw []byte) *mail.Message {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("unparseable message: %v\n%s", err, raw)
	}
	return msg
}

// MailText is the text/plain part of a received message, transfer encoding
// undone (quoted-printable or base64), whether the message is multipart or
// not.
func MailText(tb testing.TB, raw []byte) string {
	tb.Helper()
	text, ok := mailPart(tb, raw, "text/plain")
	if !ok {
		tb.Fatalf("no text part in message:\n%s", raw)
	}
	return text
}

// ReceivedMail is a received message as a reader sees it.
type ReceivedMail struct {
	Header  mail.Header
	Subject string // RFC 2047 decoded
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded; "" if there is none
}

// ReadMail decodes a received message: its headers, subject and parts.
func ReadMail(tb testing.TB, raw []byte) ReceivedMail {
	tb.Helper()
	msg := ParseMail(tb, raw)
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		tb.Fatalf("subject: %v", err)
	}
	html, _ := mailPart(tb, raw, "text/html")
	return ReceivedMail{Header: msg.Header, Subject: subj, Text: MailText(tb, raw), HTML: html}
}

// mailPart is the first part of type want in raw, decoded.
func mailPart(tb testing.TB, raw []byte, want string) (string, bool) {
	tb.Helper()
	msg := ParseMail(tb, raw)
	s, ok, err := findPart(want, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		tb.Fatalf("read %s part: %v\n%s", want, err, raw)
	}
	return s, ok
}

// findPart returns the first part of type want below a part with the
// given headers.
func findPart(want, contentType, encoding string, body io.Reader) (string, bool, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		return "", false, err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return "", false, nil
			}
			if err != nil {
				return "", false, err
			}
			// NextPart has already undone quoted-printable (and dropped
			// the header); base64 is left to us.
			if text, ok, err := findPart(want, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); ok || err != nil {
				return text, ok, err
			}
		}
	}
	if mt != want {
		return "", false, nil
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err == nil, err
}

var (
	confirmLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/confirm\?token=[A-Za-z0-9_%-]+`)
	holdLinkRE    = regexp.MustCompile(`https?://[^\s"<>]+/hold\?token=[A-Za-z0-9._-]+`)
)

// ConfirmLink is the confirm link in the text of a confirmation mail (a
// rendered mail's Text, or MailText of a received one).
func ConfirmLink(tb testing.TB, text string) string {
	tb.Helper()
	return findLink(tb, confirmLinkRE, "confirm", text)
}

// HoldLink is the hold link in the text of a proof mail.
func HoldLink(tb testing.TB, text string) string {
	tb.Helper()
	return findLink(tb, holdLinkRE, "hold", text)
}

func findLink(tb testing.TB, re *regexp.Regexp, what, text string) string {
	tb.Helper()
	link := re.FindString(text)
	if link == "" {
		tb.Fatalf("no %s link in mail:\n%s", what, text)
	}
	return link
}
