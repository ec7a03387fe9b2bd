package subscribers

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text that came from outside (names, user agents, SMTP replies, rows of
// an import) is printed to an admin's terminal. Control characters there
// are commands: ESC and the C1 CSI (U+009B) move the cursor, recolour or
// clear the screen; CR and LF fake new lines of a report; and the bidi
// overrides and isolates turn "exe.txt" into "txt.exe". EscapeText and
// EscapeJSON show such characters as escapes instead, and are the one
// place that decides which characters those are.

// mustEscape reports whether r may act on a terminal instead of showing.
func mustEscape(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f: // C0 controls and DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 controls, among them CSI U+009B and NEL U+0085
		return true
	case r >= 0x202a && r <= 0x202e: // bidi embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c: // bidi marks
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// EscapeText returns s fit for a terminal: every character that could act
// on it is written as an escape (\t, \n, \r, \x1b, \u009b, \u202e) and
// every byte that is not UTF-8 as \xNN. Other text, non-Latin scripts
// included, is left as it is.
func EscapeText(s string) string {
	return ClipText(s, -1)
}

// ClipText is EscapeText that stops after max characters of output (max
// < 0: no limit) and then says how much it left out, so a one-megabyte
// field costs one short line.
func ClipText(s string, max int) string {
	if !needsEscape(s) && (max < 0 || len(s) <= max) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\t':
			piece = `\t`
		case r == '\n':
			piece = `\n`
		case r == '\r':
			piece = `\r`
		case r < 0x80 && mustEscape(r):
			piece = fmt.Sprintf(`\x%02x`, r)
		case mustEscape(r):
			piece = fmt.Sprintf(`\u%04x`, r)
		default:
			piece = s[i : i+size]
		}
		if max >= 0 && n+utf8.RuneCountInString(piece) > max {
			fmt.Fprintf(&b, "… (%d more bytes)", len(s)-i)
			break
		}
		b.WriteString(piece)
		n += utf8.RuneCountInString(piece)
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || mustEscape(r) {
			return true
		}
	}
	return false
}

// EscapeJSON rewrites encoded JSON so that the characters EscapeText
// escapes appear as \uXXXX escapes: still valid JSON that decodes to the
// same strings, but safe to print. encoding/json already escapes C0
// controls; C1 controls and the bidi characters it writes as they are.
// Outside strings JSON has no such characters, so replacing them anywhere
// is replacing them inside strings.
func EscapeJSON(b []byte) []byte {
	if !needsEscape(string(b)) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		// Below U+0080 only DEL: a raw C0 character in encoded JSON is the
		// white space between tokens, and must stay.
		if r == 0x7f || r >= 0x80 && r != utf8.RuneError && mustEscape(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[i : i+size])
		}
		i += size
	}
	return out.Bytes()
}
