package bounce

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
)

// decodeCharset converts text in the named charset to UTF-8. Unknown
// charsets and invalid bytes do not fail: the text is kept with the
// invalid bytes replaced, since a report in a strange charset usually
// still has its addresses and codes in ASCII.
func decodeCharset(label string, b []byte) string {
	label = strings.ToLower(strings.TrimSpace(label))
	if label != "" && label != "utf-8" && label != "us-ascii" && label != "utf8" {
		if r, err := charset.NewReaderLabel(label, bytes.NewReader(b)); err == nil {
			// A byte of a single-byte charset may become three of UTF-8.
			if out, err := io.ReadAll(io.LimitReader(r, int64(3*len(b)+16))); err == nil || len(out) > 0 {
				b = out
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// wordDecoder decodes RFC 2047 encoded words in any charset the html
// charset package knows, without touching go-message's global reader.
var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
		return charset.NewReaderLabel(label, r)
	},
}

func decodeHeaderText(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		s = d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// htmlToText keeps the text of an HTML part, a line per block element, for
// reports that come as HTML only.
func htmlToText(b []byte) string {
	var out strings.Builder
	z := html.NewTokenizer(bytes.NewReader(b))
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out.String()
		case html.TextToken:
			if skip == 0 {
				out.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "pre", "blockquote":
				out.WriteByte('\n')
			case "td", "th":
				out.WriteByte(' ')
			}
		}
	}
}

// oneLine collapses whitespace and clips s to max bytes on a rune
// boundary, so a diagnostic fits on one line of `bounces list`.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// lowerText is s lower-cased with all whitespace runs made one space, the
// form the phrase tables are matched against.
func lowerText(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func containsAny(s string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// indexAny is the position of the first of phrases in s, -1 when none.
func indexAny(s string, phrases []string) (int, string) {
	best, which := -1, ""
	for _, p := range phrases {
		if i := strings.Index(s, p); i >= 0 && (best < 0 || i < best) {
			best, which = i, p
		}
	}
	return best, which
}

// addrInText finds mail addresses in prose, internationalised ones (RFC
// 6531) included.
var addrInText = lazyRegexp(`[\p{L}\p{N}.!#$%&'*+/=?^_{|}~-]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)+`)

// cleanAddress turns a DSN or ARF address field ("rfc822; <A@B.example>")
// into a lower-case address, "" when it holds none.
func cleanAddress(s string) string {
	return strings.ToLower(addressOf(s))
}

// addressOf is the address in a DSN or ARF address field as written: a
// VERP tag keeps its case.
func addressOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ';'); i >= 0 && !strings.Contains(s[:i], "@") {
		s = strings.TrimSpace(s[i+1:])
	}
	s = strings.Trim(s, "<>\"' \t")
	if i := strings.LastIndexByte(s, '<'); i >= 0 { // "Name <a@b>"
		s = strings.Trim(s[i:], "<> ")
	}
	s = decodeXtext(s)
	return addrInText().FindString(s)
}

// decodeXtext undoes RFC 3461 xtext ("+2B" for "+") as some MTAs leave it
// in Original-Recipient. Only the characters xtext must encode are decoded,
// so a literal "+tag" stays as it is.
func decodeXtext(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) {
			if v, ok := hexByte(s[i+1], s[i+2]); ok && (v == '+' || v == '=' || v < 33 || v > 126) {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hexByte(a, b byte) (byte, bool) {
	h, ok1 := hexDigit(a)
	l, ok2 := hexDigit(b)
	return h<<4 | l, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// headerAddresses lists the addresses in an address header (To, From,
// Delivered-To) as written; it falls back to a plain search when the
// header does not parse.
func headerAddresses(value string) []string {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil
	}
	if list, err := mail.ParseAddressList(value); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	return addrInText().FindAllString(value, 20)
}

// messageID strips the angle brackets and any comment from a Message-ID.
func messageID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return strings.TrimSpace(s[i+1 : i+j])
		}
	}
	if f := strings.Fields(s); len(f) > 0 {
		return strings.Trim(f[0], "<>")
	}
	return ""
}

// listID is the id of a List-Id header, the part in angle brackets.
func listID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return strings.TrimSpace(s[i+1 : i+j])
		}
	}
	return s
}

// lazyRegexp compiles expr on first use. The patterns with Unicode classes
// (\p{L}, \p{N}) compile to ~400 KB of tables; compiled at start-up they
// would sit in the heap of every process, also of `send` and `serve`,
// which never read a bounce, and the collector lets the heap grow to twice
// what stays live. Add each new pattern to TestLazyPatternsCompile.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
