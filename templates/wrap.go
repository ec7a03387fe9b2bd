package templates

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"newsletter/columns"
)

// MailTextWidth is where the text part wraps. Words, and so URLs, are never
// broken: a longer one stands on a line of its own.
const MailTextWidth = 72

// mailWrap wraps s at width runes on spaces. first prefixes the first line,
// rest every later one (for list items and quotes). A newline in s is kept
// as a line break.
func mailWrap(s string, width int, first, rest string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/width + 8)
	prefix := first
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
			prefix = rest
		}
		b.WriteString(prefix)
		col := utf8.RuneCountInString(prefix)
		lineStart := true
		for _, w := range strings.Fields(line) {
			wl := utf8.RuneCountInString(w)
			if !lineStart && col+1+wl > width {
				b.WriteByte('\n')
				b.WriteString(rest)
				col = utf8.RuneCountInString(rest)
				lineStart = true
			}
			if !lineStart {
				b.WriteByte(' ')
				col++
			}
			b.WriteString(w)
			col += wl
			lineStart = false
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// mailUnderline returns a line of c as long as the longest line of s.
func mailUnderline(c string, s string) string {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, utf8.RuneCountInString(l))
	}
	return strings.Repeat(c, n)
}

// mailLinkLine lays out "Label: URL" on one line when it fits, else the
// label (wrapped) with a colon and the URL alone on the next line.
func mailLinkLine(label, url string) string {
	label = strings.TrimSpace(label)
	if label == "" {
		return url
	}
	if !strings.HasSuffix(label, ":") {
		label += ":"
	}
	if utf8.RuneCountInString(label)+1+utf8.RuneCountInString(url) <= MailTextWidth {
		return label + " " + url
	}
	return mailWrap(label, MailTextWidth, "", "") + "\n" + url
}

// columnText renders the body of c as wrapped plain text: the blocks, then
// the further-reading list under heading.
func columnText(c *columns.Column, heading string) string {
	var b strings.Builder
	prev := columns.BlockKind("")
	for _, bl := range c.Blocks {
		if b.Len() > 0 {
			b.WriteByte('\n')
			// A list reads as one unit: no blank line between its items.
			if !(bl.Kind == columns.BlockListItem && prev == columns.BlockListItem) {
				b.WriteByte('\n')
			}
		}
		prev = bl.Kind
		indent := strings.Repeat("   ", bl.Level)
		switch bl.Kind {
		case columns.BlockHeading:
			t := mailWrap(bl.Text, MailTextWidth, "", "")
			u := "-"
			if bl.Level <= 1 {
				u = "="
			}
			b.WriteString(t + "\n" + mailUnderline(u, t))
		case columns.BlockListItem:
			hang := strings.Repeat(" ", utf8.RuneCountInString(bl.Marker)+1)
			first := indent + hang
			if bl.Marker != "" {
				first = indent + bl.Marker + " "
			}
			b.WriteString(mailWrap(bl.Text, MailTextWidth, first, indent+hang))
		case columns.BlockQuote:
			b.WriteString(mailWrap(bl.Text, MailTextWidth, indent+"> ", indent+"> "))
		case columns.BlockCode:
			lines := strings.Split(bl.Text, "\n")
			for i, l := range lines {
				if i > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(strings.TrimRight(indent+"    "+l, " "))
			}
		case columns.BlockRule:
			b.WriteString("* * *")
		default:
			b.WriteString(mailWrap(bl.Text, MailTextWidth, indent, indent))
		}
	}
	if len(c.Links) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(heading + ":")
		for _, l := range c.Links {
			b.WriteString("\n\n")
			b.WriteString(mailLinkLine(l.Label, l.URL))
		}
	}
	return b.String()
}

// mailSegment is a run of paragraph text, or a URL found in it.
type mailSegment struct {
	Text string
	URL  string // set for a link; Text is then the URL as written
}

var mailURLRe = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"]+`)

// mailLinkify splits plain text into text and URL segments, so bare URLs in
// a paragraph become links. Trailing punctuation is not part of the URL, nor
// is a closing parenthesis that was not opened inside it.
func mailLinkify(s string) []mailSegment {
	locs := mailURLRe.FindAllStringIndex(s, -1)
	if locs == nil {
		return []mailSegment{{Text: s}}
	}
	var out []mailSegment
	last := 0
	for _, loc := range locs {
		start, end := loc[0], loc[1]
		for end > start {
			r, size := utf8.DecodeLastRuneInString(s[start:end])
			if strings.ContainsRune(".,;:!?'\"»«“”‘’", r) ||
				r == ')' && strings.Count(s[start:end], "(") < strings.Count(s[start:end], ")") {
				end -= size
				continue
			}
			break
		}
		u := s[start:end]
		if !columns.IsWebURL(u) {
			continue
		}
		if start > last {
			out = append(out, mailSegment{Text: s[last:start]})
		}
		out = append(out, mailSegment{Text: u, URL: u})
		last = end
	}
	if last < len(s) {
		out = append(out, mailSegment{Text: s[last:]})
	}
	return out
}
