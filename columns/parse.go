package columns

import (
	"bytes"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Parse parses a column file's contents. name is the file's path: its
// extension picks the format (.md is Markdown, .html the HTML a feed item
// is kept as, anything else plain text), its
// leading digits are the fallback number, and errors name it. loc is the
// time zone of dates written without one (nil means UTC). Errors are
// *ParseError. Only UTF-8 text up to MaxFileSize is a column: binary
// content is refused (see checkText). The column keeps data as its Source;
// the caller must not change it afterwards.
func Parse(name string, data []byte, loc *time.Location) (*Column, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(name, int64(len(data)))
	}
	if line, why := checkText(data); why != "" {
		return nil, &ParseError{File: name, Line: line, Msg: "not a text file: " + why}
	}
	p := &parser{file: name, loc: loc}
	return p.parse(data)
}

// srcLine is one source line, right-trimmed, with its 1-based number.
type srcLine struct {
	no   int
	text string
}

// parser carries what the parsing steps share, so each step can fail
// with the file name and line.
type parser struct {
	file string
	loc  *time.Location
	fm   frontMatter
}

// titleParts is a title split into "SERIES NUMBER: Title".
type titleParts struct {
	line   string // the whole title as written
	series string
	number int
	title  string
}

// The further-reading headings the author uses, lower case, without colon.
var linkHeadings = map[string]bool{
	"zum weiterlesen": true,
	"weiterlesen":     true,
	"further reading": true,
	"links":           true,
}

var (
	// "KNIEPUNKT 030: Heiße KI-Luft"; the series is optional ("030: …").
	titleRe = regexp.MustCompile(`^(?:(\S.*?)\s+)?0*(\d{1,9})\s*:\s*(\S.*)$`)
	// Leading digits of a file name: "030-heisse-ki-luft.txt".
	fileNumberRe = regexp.MustCompile(`^0*(\d{1,9})`)
)

func (p *parser) errorf(line int, format string, args ...any) error {
	return &ParseError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(data []byte) (*Column, error) {
	lines := splitLines(data)
	body, err := p.splitFrontMatter(lines)
	if err != nil {
		return nil, err
	}
	c := &Column{File: p.file, Format: FormatText, Source: data}
	switch strings.ToLower(filepath.Ext(p.file)) {
	case ".md", ".markdown":
		c.Format = FormatMarkdown
	case ".html", ".htm":
		c.Format = FormatHTML
	}
	var tp titleParts
	switch c.Format {
	case FormatMarkdown:
		tp, err = p.markdownBody(c, body)
	case FormatHTML:
		tp, err = p.htmlBody(c, body)
	default:
		tp, err = p.textBody(c, body)
	}
	if err != nil {
		return nil, err
	}
	if err := p.finish(c, tp); err != nil {
		return nil, err
	}
	return c, nil
}

// splitLines drops a UTF-8 BOM, accepts CRLF and CR line ends, trims
// trailing blanks and replaces invalid UTF-8 (which Parse has refused
// already: this is a second line of defence), so nothing later has to care.
func splitLines(data []byte) []srcLine {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	raw := strings.Split(s, "\n")
	lines := make([]srcLine, len(raw))
	for i, l := range raw {
		lines[i] = srcLine{no: i + 1, text: strings.TrimRight(l, " \t\f\v\u00a0")}
	}
	return lines
}

// oneLine collapses whitespace and control characters, so a subject can
// never carry a line break into a mail header.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// splitTitle splits "SERIES NUMBER: Title"; a title without that prefix is
// returned whole, with number 0.
func splitTitle(s string) titleParts {
	s = oneLine(s)
	tp := titleParts{line: s, title: s}
	if m := titleRe.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[2]) // at most 9 digits: cannot fail
		if n > 0 {
			tp.series, tp.number, tp.title = m[1], n, m[3]
		}
	}
	return tp
}

// headingKey normalises a line for comparison with linkHeadings.
func headingKey(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ":")
	return strings.ToLower(strings.TrimSpace(s))
}

// IsWebURL reports whether s is a single absolute http(s) URL.
func IsWebURL(s string) bool {
	if strings.ContainsAny(s, " \t\n<>\"") {
		return false
	}
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Host != ""
}

// finish settles what both formats share: title, number, date, subject and
// preheader.
func (p *parser) finish(c *Column, tp titleParts) error {
	fileNum := 0
	if m := fileNumberRe.FindStringSubmatch(filepath.Base(p.file)); m != nil {
		fileNum, _ = strconv.Atoi(m[1])
	}
	var ft titleParts
	if p.fm.title != "" {
		ft = splitTitle(p.fm.title)
	}
	titleNum := tp.number
	if ft.number > 0 {
		if titleNum > 0 && titleNum != ft.number {
			return p.errorf(p.fm.titleLine, "front matter title says number %d, the title line %d", ft.number, titleNum)
		}
		titleNum = ft.number
	}
	if titleNum > 0 && p.fm.number > 0 && titleNum != p.fm.number {
		return p.errorf(p.fm.numberLine, "front matter number %d disagrees with the title's number %d", p.fm.number, titleNum)
	}
	switch {
	case titleNum > 0:
		c.Number = titleNum
	case p.fm.number > 0:
		c.Number = p.fm.number
	case fileNum > 0:
		c.Number = fileNum
	default:
		return p.errorf(1, "no column number: write \"SERIES NUMBER: Title\", front matter \"number:\", or start the file name with it (030-title.txt)")
	}

	if p.fm.title != "" {
		c.Series, c.Title = ft.series, ft.title
		if c.Series == "" {
			c.Series = tp.series
		}
	} else {
		c.Series, c.Title = tp.series, tp.title
	}
	if c.Title == "" {
		return p.errorf(1, "no title")
	}
	if c.Series != "" {
		c.TitleLine = c.Series + " " + c.NumberString() + ": " + c.Title
	} else {
		c.TitleLine = c.Title
	}
	if p.fm.title == "" && tp.line != "" {
		c.TitleLine = tp.line // exactly as the author wrote it
	}

	c.Date = p.fm.date
	c.Subject = p.fm.subject
	if c.Subject == "" {
		c.Subject = c.TitleLine
	}
	c.Preheader = p.fm.preheader
	if c.Preheader == "" {
		c.Preheader = preheaderOf(c.Blocks)
	}
	return nil
}

// preheaderRunes is about what inbox previews show after the subject.
const preheaderRunes = 100

// preheaderOf takes the start of the first paragraph, cut at a word.
func preheaderOf(blocks []Block) string {
	for _, b := range blocks {
		if b.Kind != BlockParagraph && b.Kind != BlockQuote && b.Kind != BlockListItem {
			continue
		}
		t := oneLine(b.Text)
		if t == "" {
			continue
		}
		r := []rune(t)
		if len(r) <= preheaderRunes {
			return t
		}
		cut := preheaderRunes
		for k := preheaderRunes; k > preheaderRunes/2; k-- {
			if r[k] == ' ' {
				cut = k
				break
			}
		}
		return strings.TrimRight(string(r[:cut]), " ,;:–-") + " …"
	}
	return ""
}
