package columns

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// A bullet the author may put before a link line.
var bulletRe = regexp.MustCompile(`^(?:[-*•]|\d+[.)])\s+`)

// maxTitleRunes bounds a first line taken as a title without "SERIES NNN:",
// so that a text file that lacks a title line is an error, not a title made
// of the first paragraph.
const maxTitleRunes = 150

// textBody parses the plain-text format: title line, paragraphs, and an
// optional further-reading list.
func (p *parser) textBody(c *Column, lines []srcLine) (titleParts, error) {
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i].text) == "" {
		i++
	}
	if i == len(lines) {
		if p.fm.title == "" {
			return titleParts{}, p.errorf(p.fm.endLine+1, "no title line: want \"SERIES NUMBER: Title\", e.g. \"KNIEPUNKT 030: Heiße KI-Luft\"")
		}
		return titleParts{}, p.errorf(p.fm.endLine+1, "the column has no text")
	}
	first := strings.TrimSpace(lines[i].text)
	tp := splitTitle(first)
	switch {
	case tp.number > 0:
		i++
	case p.fm.title != "":
		tp = titleParts{} // the first line is already text
	case utf8.RuneCountInString(first) <= maxTitleRunes && !linkHeadings[headingKey(first)]:
		i++ // a title without "SERIES NNN:"; the number must come from elsewhere
	default:
		return titleParts{}, p.errorf(lines[i].no, "no title line: want \"SERIES NUMBER: Title\", e.g. \"KNIEPUNKT 030: Heiße KI-Luft\"")
	}
	body := lines[i:]
	end := len(body)
	for j, l := range body {
		if linkHeadings[headingKey(l.text)] {
			end = j
			break
		}
	}
	c.Blocks = textParagraphs(body[:end])
	if len(c.Blocks) == 0 {
		line := p.fm.endLine + 1
		if len(body) > 0 {
			line = body[0].no
		} else if i > 0 {
			line = lines[i-1].no
		}
		return titleParts{}, p.errorf(line, "the column has no text after the title")
	}
	if end < len(body) {
		links, err := p.textLinks(body[end+1:])
		if err != nil {
			return titleParts{}, err
		}
		c.Links = links
	}
	return tp, nil
}

// textParagraphs makes paragraphs from lines. The author writes one
// paragraph per line; a body with blank lines between text is read as
// blank-line-separated blocks whose lines are joined, so hard-wrapped text
// works too.
func textParagraphs(lines []srcLine) []Block {
	blockMode := false
	seenText, seenGap := false, false
	for _, l := range lines {
		blank := strings.TrimSpace(l.text) == ""
		switch {
		case !blank && seenGap:
			blockMode = true
		case !blank:
			seenText = true
		case seenText:
			seenGap = true
		}
	}
	var blocks []Block
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, Block{Kind: BlockParagraph, Text: strings.Join(cur, " ")})
			cur = cur[:0]
		}
	}
	for _, l := range lines {
		t := oneLine(l.text)
		if t == "" {
			flush()
			continue
		}
		cur = append(cur, t)
		if !blockMode {
			flush()
		}
	}
	flush()
	return blocks
}

// textLinks parses the lines under a further-reading heading.
func (p *parser) textLinks(lines []srcLine) ([]Link, error) {
	var links []Link
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(bulletRe.ReplaceAllString(strings.TrimSpace(l.text), ""))
		if t == "" {
			continue
		}
		if IsWebURL(t) {
			links = append(links, Link{URL: t})
			continue
		}
		if label, u, ok := splitLinkLine(t); ok {
			if !IsWebURL(u) {
				return nil, p.errorf(l.no, "%q is not a web address (http:// or https://)", u)
			}
			links = append(links, Link{Label: label, URL: u})
			continue
		}
		// "Label:" with the URL on the next line, as the text mail prints
		// long entries.
		if strings.HasSuffix(t, ":") {
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j].text) == "" {
				j++
			}
			if j < len(lines) {
				if u := strings.TrimSpace(lines[j].text); IsWebURL(u) {
					links = append(links, Link{Label: oneLine(strings.TrimSuffix(t, ":")), URL: u})
					i = j
					continue
				}
			}
		}
		return nil, p.errorf(l.no, "under the further-reading heading, want \"Label: URL\" or a URL, got %q", clip(t, 60))
	}
	return links, nil
}

// splitLinkLine splits "Label: URL" at the last ": http(s)://", since the
// label may hold colons itself. As a fallback the last word is taken as the
// URL when it is one ("Label – https://…").
func splitLinkLine(t string) (label, u string, ok bool) {
	lower := strings.ToLower(t)
	idx := max(strings.LastIndex(lower, ": http://"), strings.LastIndex(lower, ": https://"))
	if idx >= 0 {
		label, u = strings.TrimSpace(t[:idx]), strings.TrimSpace(t[idx+2:])
		if label != "" && !strings.ContainsAny(u, " \t") {
			return oneLine(label), u, true
		}
	}
	sp := strings.LastIndexAny(t, " \t")
	if sp < 0 {
		return "", "", false
	}
	u = t[sp+1:]
	if !IsWebURL(u) {
		return "", "", false
	}
	label = strings.TrimRight(strings.TrimSpace(t[:sp]), " :-–—")
	if label == "" {
		return "", "", false
	}
	return oneLine(label), u, true
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
