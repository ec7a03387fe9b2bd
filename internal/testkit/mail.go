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
	msg := ParseMail(tb, raw)
	text, ok, err := findText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil || !ok {
		tb.Fatalf("no text part (%v) in message:\n%s", err, raw)
	}
	return text
}

// findText returns the first text/plain part below a part with the given
// headers.
func findText(contentType, encoding string, body io.Reader) (string, bool, error) {
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
			if text, ok, err := findText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); ok || err != nil {
				return text, ok, err
			}
		}
	}
	if mt != "text/plain" {
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
