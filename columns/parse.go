package columns

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
	"go.yaml.in/yaml/v3"
)

// ParseFile reads and parses one column file; see Parse.
func ParseFile(path string, loc *time.Location) (*Column, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	return Parse(path, data, loc)
}

// Parse parses a column file's contents. name is the file's path: its
// extension picks the format (.md is Markdown, anything else plain text), its
// leading digits are the fallback number, and errors name it. loc is the
// time zone of dates written without one (nil means UTC). Errors are
// *ParseError.
func Parse(name string, data []byte, loc *time.Location) (*Column, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := &columnParser{file: name, loc: loc}
	return p.parse(data)
}

// columnLine is one source line, right-trimmed, with its 1-based number.
type columnLine struct {
	no   int
	text string
}

// columnParser carries what the parsing steps share, so each step can fail
// with the file name and line.
type columnParser struct {
	file string
	loc  *time.Location
	fm   columnFrontMatter
}

// columnFrontMatter is the optional YAML header. Line numbers point errors
// found later (a disagreeing number) at the right place.
type columnFrontMatter struct {
	present            bool
	title              string
	titleLine          int
	number, numberLine int
	date               time.Time
	subject, preheader string
	endLine            int // line of the closing ---
}

// columnTitleParts is a title split into "SERIES NUMBER: Title".
type columnTitleParts struct {
	line   string // the whole title as written
	series string
	number int
	title  string
}

// The further-reading headings the author uses, lower case, without colon.
var columnLinkHeadings = map[string]bool{
	"zum weiterlesen": true,
	"weiterlesen":     true,
	"further reading": true,
	"links":           true,
}

var (
	// "KNIEPUNKT 030: Heiße KI-Luft"; the series is optional ("030: …").
	columnTitleRe = regexp.MustCompile(`^(?:(\S.*?)\s+)?0*(\d{1,9})\s*:\s*(\S.*)$`)
	// Leading digits of a file name: "030-heisse-ki-luft.txt".
	columnFileNumRe = regexp.MustCompile(`^0*(\d{1,9})`)
	// The line number inside a yaml.v3 error message.
	columnYAMLLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// A bullet the author may put before a link line.
	columnBulletRe = regexp.MustCompile(`^(?:[-*•]|\d+[.)])\s+`)
)

// columnMarkdown is shared: a goldmark.Markdown is safe for concurrent use.
// Without html.WithUnsafe raw HTML is dropped and javascript: links blanked.
var columnMarkdown = goldmark.New(goldmark.WithExtensions(extension.Linkify, extension.Strikethrough))

// columnMaxTitleRunes bounds a first line taken as a title without "SERIES NNN:",
// so that a text file that lacks a title line is an error, not a title made
// of the first paragraph.
const columnMaxTitleRunes = 150

func (p *columnParser) errorf(line int, format string, args ...any) error {
	return &ParseError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *columnParser) parse(data []byte) (*Column, error) {
	lines := splitColumnLines(data)
	body, err := p.frontMatter(lines)
	if err != nil {
		return nil, err
	}
	c := &Column{File: p.file, Format: FormatText}
	if ext := strings.ToLower(filepath.Ext(p.file)); ext == ".md" || ext == ".markdown" {
		c.Format = FormatMarkdown
	}
	var tp columnTitleParts
	if c.Format == FormatMarkdown {
		tp, err = p.markdownBody(c, body)
	} else {
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

// splitColumnLines drops a UTF-8 BOM, accepts CRLF and CR line ends, trims
// trailing blanks and replaces invalid UTF-8, so nothing later has to care.
func splitColumnLines(data []byte) []columnLine {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	raw := strings.Split(s, "\n")
	lines := make([]columnLine, len(raw))
	for i, l := range raw {
		lines[i] = columnLine{no: i + 1, text: strings.TrimRight(l, " \t\f\v\u00a0")}
	}
	return lines
}

// frontMatter parses an optional leading "---" YAML block and returns the
// lines after it.
func (p *columnParser) frontMatter(lines []columnLine) ([]columnLine, error) {
	if len(lines) == 0 || lines[0].text != "---" {
		return lines, nil
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if lines[i].text == "---" || lines[i].text == "..." {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, p.errorf(1, "front matter opened with --- is never closed with ---")
	}
	p.fm.present = true
	p.fm.endLine = lines[end].no
	var src strings.Builder
	for _, l := range lines[1:end] {
		src.WriteString(l.text)
		src.WriteByte('\n')
	}
	if err := p.frontMatterYAML(src.String()); err != nil {
		return nil, err
	}
	return lines[end+1:], nil
}

// columnFMEntry is one "key: value" of the front matter.
type columnFMEntry struct {
	key, value string
	line       int
}

var columnFMLineRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*)[ \t]*:(?:[ \t]+(.*))?$`)

func (p *columnParser) frontMatterYAML(src string) error {
	if strings.TrimSpace(src) == "" {
		return nil
	}
	entries, err := p.yamlEntries(src)
	if err != nil {
		// Authors write "title: KNIEPUNKT 031: Titel" unquoted, which YAML
		// rejects. When every line is plainly "key: value", read it so.
		var ok bool
		if entries, ok = simpleFMEntries(src); !ok {
			return err
		}
	}
	seen := map[string]bool{}
	for _, e := range entries {
		key := strings.ToLower(e.key)
		if seen[key] {
			return p.errorf(e.line, "front matter: %q given twice", e.key)
		}
		seen[key] = true
		val := e.value
		switch key {
		case "title":
			p.fm.title, p.fm.titleLine = columnOneLine(val), e.line
		case "number":
			if val == "" {
				continue
			}
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return p.errorf(e.line, "front matter: number: want a positive whole number, got %q", val)
			}
			p.fm.number, p.fm.numberLine = n, e.line
		case "date":
			if val == "" {
				continue
			}
			t, err := parseColumnDate(val, p.loc)
			if err != nil {
				return p.errorf(e.line, "front matter: date: %v", err)
			}
			p.fm.date = t
		case "subject":
			p.fm.subject = columnOneLine(val)
		case "preheader":
			p.fm.preheader = columnOneLine(val)
		default:
			return p.errorf(e.line, "front matter: unknown key %q (known: title, number, date, subject, preheader)", e.key)
		}
	}
	return nil
}

// yamlEntries reads the front matter as a YAML mapping of scalars.
func (p *columnParser) yamlEntries(src string) (entries []columnFMEntry, err error) {
	// The YAML parser sees the author's text; a bug in it must not take
	// the server down with it.
	defer func() {
		if r := recover(); r != nil {
			entries, err = nil, p.errorf(1, "front matter: cannot parse: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		msg, line := err.Error(), 1
		if m := columnYAMLLineRe.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = n+1, m[2]
		}
		return nil, p.errorf(line, "front matter: %s", strings.TrimPrefix(msg, "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, p.errorf(m.Line+1, "front matter: want \"key: value\" lines (title, number, date, subject, preheader)")
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		line := k.Line + 1 // the YAML starts on the file's second line
		if v.Kind != yaml.ScalarNode {
			return nil, p.errorf(line, "front matter: %s: want a single value", k.Value)
		}
		val := strings.TrimSpace(v.Value)
		if v.Tag == "!!null" {
			val = ""
		}
		entries = append(entries, columnFMEntry{key: k.Value, value: val, line: line})
	}
	return entries, nil
}

// simpleFMEntries reads front matter that is only "key: value" lines,
// splitting at the first colon. ok is false for anything else.
func simpleFMEntries(src string) (entries []columnFMEntry, ok bool) {
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		m := columnFMLineRe.FindStringSubmatch(t)
		if m == nil || l != strings.TrimLeft(l, " \t") {
			return nil, false
		}
		val := strings.TrimSpace(m[2])
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		entries = append(entries, columnFMEntry{key: m[1], value: val, line: i + 2})
	}
	return entries, true
}

// parseColumnDate accepts RFC 3339 and, in loc, YYYY-MM-DD (midnight) and
// the same with a wall-clock time.
func parseColumnDate(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want YYYY-MM-DD or RFC 3339 (2026-03-16T07:00:00+01:00), got %q", s)
}

// columnOneLine collapses whitespace and control characters, so a subject can never carry a line break
// into a mail header.
func columnOneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// splitColumnTitle splits "SERIES NUMBER: Title"; a title without that prefix is
// returned whole, with number 0.
func splitColumnTitle(s string) columnTitleParts {
	s = columnOneLine(s)
	tp := columnTitleParts{line: s, title: s}
	if m := columnTitleRe.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[2]) // at most 9 digits: cannot fail
		if n > 0 {
			tp.series, tp.number, tp.title = m[1], n, m[3]
		}
	}
	return tp
}

// textBody parses the plain-text format: title line, paragraphs, and an
// optional further-reading list.
func (p *columnParser) textBody(c *Column, lines []columnLine) (columnTitleParts, error) {
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i].text) == "" {
		i++
	}
	if i == len(lines) {
		if p.fm.title == "" {
			return columnTitleParts{}, p.errorf(p.fm.endLine+1, "no title line: want \"SERIES NUMBER: Title\", e.g. \"KNIEPUNKT 030: Heiße KI-Luft\"")
		}
		return columnTitleParts{}, p.errorf(p.fm.endLine+1, "the column has no text")
	}
	first := strings.TrimSpace(lines[i].text)
	tp := splitColumnTitle(first)
	switch {
	case tp.number > 0:
		i++
	case p.fm.title != "":
		tp = columnTitleParts{} // the first line is already text
	case utf8.RuneCountInString(first) <= columnMaxTitleRunes && !columnLinkHeadings[columnLinkHeadingKey(first)]:
		i++ // a title without "SERIES NNN:"; the number must come from elsewhere
	default:
		return columnTitleParts{}, p.errorf(lines[i].no, "no title line: want \"SERIES NUMBER: Title\", e.g. \"KNIEPUNKT 030: Heiße KI-Luft\"")
	}
	body := lines[i:]
	end := len(body)
	for j, l := range body {
		if columnLinkHeadings[columnLinkHeadingKey(l.text)] {
			end = j
			break
		}
	}
	c.Blocks = columnTextParagraphs(body[:end])
	if len(c.Blocks) == 0 {
		line := p.fm.endLine + 1
		if len(body) > 0 {
			line = body[0].no
		} else if i > 0 {
			line = lines[i-1].no
		}
		return columnTitleParts{}, p.errorf(line, "the column has no text after the title")
	}
	if end < len(body) {
		links, err := p.textLinks(body[end+1:])
		if err != nil {
			return columnTitleParts{}, err
		}
		c.Links = links
	}
	return tp, nil
}

// columnLinkHeadingKey normalises a line for comparison with columnLinkHeadings.
func columnLinkHeadingKey(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ":")
	return strings.ToLower(strings.TrimSpace(s))
}

// columnTextParagraphs makes paragraphs from lines. The author writes one
// paragraph per line; a body with blank lines between text is read as
// blank-line-separated blocks whose lines are joined, so hard-wrapped text
// works too.
func columnTextParagraphs(lines []columnLine) []Block {
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
		t := columnOneLine(l.text)
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
func (p *columnParser) textLinks(lines []columnLine) ([]Link, error) {
	var links []Link
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(columnBulletRe.ReplaceAllString(strings.TrimSpace(l.text), ""))
		if t == "" {
			continue
		}
		if IsWebURL(t) {
			links = append(links, Link{URL: t})
			continue
		}
		if label, u, ok := columnSplitLinkLine(t); ok {
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
					links = append(links, Link{Label: columnOneLine(strings.TrimSuffix(t, ":")), URL: u})
					i = j
					continue
				}
			}
		}
		return nil, p.errorf(l.no, "under the further-reading heading, want \"Label: URL\" or a URL, got %q", columnClip(t, 60))
	}
	return links, nil
}

// columnSplitLinkLine splits "Label: URL" at the last ": http(s)://", since the
// label may hold colons itself. As a fallback the last word is taken as the
// URL when it is one ("Label – https://…").
func columnSplitLinkLine(t string) (label, u string, ok bool) {
	lower := strings.ToLower(t)
	idx := max(strings.LastIndex(lower, ": http://"), strings.LastIndex(lower, ": https://"))
	if idx >= 0 {
		label, u = strings.TrimSpace(t[:idx]), strings.TrimSpace(t[idx+2:])
		if label != "" && !strings.ContainsAny(u, " \t") {
			return columnOneLine(label), u, true
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
	return columnOneLine(label), u, true
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

func columnClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// finish settles what both formats share: title, number, date, subject and
// preheader.
func (p *columnParser) finish(c *Column, tp columnTitleParts) error {
	fileNum := 0
	if m := columnFileNumRe.FindStringSubmatch(filepath.Base(p.file)); m != nil {
		fileNum, _ = strconv.Atoi(m[1])
	}
	var ft columnTitleParts
	if p.fm.title != "" {
		ft = splitColumnTitle(p.fm.title)
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
		c.Preheader = columnPreheader(c.Blocks)
	}
	return nil
}

// columnPreheaderRunes is about what inbox previews show after the subject.
const columnPreheaderRunes = 100

// columnPreheader takes the start of the first paragraph, cut at a word.
func columnPreheader(blocks []Block) string {
	for _, b := range blocks {
		if b.Kind != BlockParagraph && b.Kind != BlockQuote && b.Kind != BlockListItem {
			continue
		}
		t := columnOneLine(b.Text)
		if t == "" {
			continue
		}
		r := []rune(t)
		if len(r) <= columnPreheaderRunes {
			return t
		}
		cut := columnPreheaderRunes
		for k := columnPreheaderRunes; k > columnPreheaderRunes/2; k-- {
			if r[k] == ' ' {
				cut = k
				break
			}
		}
		return strings.TrimRight(string(r[:cut]), " ,;:–-") + " …"
	}
	return ""
}

// markdownBody parses a Markdown column: the title is front matter title or
// the first level-1 heading; a further-reading heading followed only by
// links becomes Links.
func (p *columnParser) markdownBody(c *Column, lines []columnLine) (columnTitleParts, error) {
	var src strings.Builder
	for _, l := range lines {
		src.WriteString(l.text)
		src.WriteByte('\n')
	}
	source := []byte(src.String())
	doc := columnMarkdown.Parser().Parse(text.NewReader(source))

	var tp columnTitleParts
	if p.fm.title == "" {
		var h1 *ast.Heading
		for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
			if h, ok := n.(*ast.Heading); ok && h.Level == 1 {
				h1 = h
				break
			}
		}
		if h1 == nil {
			return tp, p.errorf(1, "no title: add front matter \"title:\" or a \"# Title\" heading")
		}
		tp = splitColumnTitle(mdInlineText(h1, source))
		doc.RemoveChild(doc, h1)
	}

	for n := doc.FirstChild(); n != nil; {
		h, ok := n.(*ast.Heading)
		if !ok || !columnLinkHeadings[columnLinkHeadingKey(mdInlineText(h, source))] {
			n = n.NextSibling()
			continue
		}
		var section []ast.Node
		next := h.NextSibling()
		for ; next != nil; next = next.NextSibling() {
			if nh, ok := next.(*ast.Heading); ok && nh.Level <= h.Level {
				break
			}
			section = append(section, next)
		}
		if links, ok := mdLinks(section, source); ok {
			c.Links = append(c.Links, links...)
			doc.RemoveChild(doc, h)
			for _, s := range section {
				doc.RemoveChild(doc, s)
			}
		}
		n = next
	}

	c.Blocks = mdBlocks(doc, source, 0, false)
	if len(c.Blocks) == 0 {
		return tp, p.errorf(p.fm.endLine+1, "the column has no text")
	}
	var out bytes.Buffer
	if err := columnMarkdown.Renderer().Render(&out, source, doc); err != nil {
		return tp, p.errorf(0, "render Markdown: %v", err)
	}
	c.mdHTML = out.String()
	return tp, nil
}

// mdLinks reads a further-reading section made only of link lines, in lists
// or paragraphs. ok is false when anything else is there: then the section
// stays in the body as the author wrote it.
func mdLinks(section []ast.Node, source []byte) (links []Link, ok bool) {
	for _, n := range section {
		switch n := n.(type) {
		case *ast.List:
			for item := n.FirstChild(); item != nil; item = item.NextSibling() {
				b := item.FirstChild()
				if b == nil || b.NextSibling() != nil {
					return nil, false
				}
				ls, ok := mdLinkLines(b, source)
				if !ok {
					return nil, false
				}
				links = append(links, ls...)
			}
		case *ast.Paragraph, *ast.TextBlock:
			ls, ok := mdLinkLines(n, source)
			if !ok {
				return nil, false
			}
			links = append(links, ls...)
		default:
			return nil, false
		}
	}
	return links, len(links) > 0
}

// mdLinkLines reads each line of a paragraph as one link: exactly one link
// per line, and the rest of the line's text is its label.
func mdLinkLines(block ast.Node, source []byte) ([]Link, bool) {
	var links []Link
	var label strings.Builder
	dest, nlinks := "", 0
	flush := func() bool {
		if nlinks != 1 {
			return false
		}
		l := strings.TrimRight(columnOneLine(label.String()), " :-–—")
		if l == dest {
			l = ""
		}
		links = append(links, Link{Label: l, URL: dest})
		label.Reset()
		dest, nlinks = "", 0
		return true
	}
	for n := block.FirstChild(); n != nil; n = n.NextSibling() {
		switch n := n.(type) {
		case *ast.Link:
			nlinks++
			dest = string(n.Destination)
			if t := mdInlineText(n, source); t != dest {
				label.WriteString(t)
			}
		case *ast.AutoLink:
			nlinks++
			dest = string(n.URL(source))
		default:
			var b strings.Builder
			mdWriteNode(&b, n, source)
			label.WriteString(b.String())
		}
		if !IsWebURL(dest) && nlinks > 0 {
			return nil, false
		}
		if t, ok := n.(*ast.Text); ok && (t.SoftLineBreak() || t.HardLineBreak()) {
			if !flush() {
				return nil, false
			}
		}
	}
	if nlinks > 0 || strings.TrimSpace(label.String()) != "" {
		if !flush() {
			return nil, false
		}
	}
	return links, len(links) > 0
}

// mdBlocks flattens the children of a Markdown node into plain-text blocks
// for the text part of the mail.
func mdBlocks(n ast.Node, source []byte, depth int, quote bool) []Block {
	var out []Block
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		out = append(out, mdBlock(c, source, depth, quote)...)
	}
	return out
}

func mdBlock(c ast.Node, source []byte, depth int, quote bool) []Block {
	switch c := c.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		kind := BlockParagraph
		if quote {
			kind = BlockQuote
		}
		if t := strings.TrimSpace(mdInlineText(c, source)); t != "" {
			return []Block{{Kind: kind, Text: t, Level: depth}}
		}
		return nil
	case *ast.Heading:
		return []Block{{Kind: BlockHeading, Text: columnOneLine(mdInlineText(c, source)), Level: c.Level}}
	case *ast.List:
		var out []Block
		num := c.Start
		for item := c.FirstChild(); item != nil; item = item.NextSibling() {
			marker := "-"
			if c.IsOrdered() {
				marker = strconv.Itoa(num) + "."
				num++
			}
			if item.FirstChild() == nil {
				out = append(out, Block{Kind: BlockListItem, Marker: marker, Level: depth})
			}
			for ic := item.FirstChild(); ic != nil; ic = ic.NextSibling() {
				switch ic.(type) {
				case *ast.Paragraph, *ast.TextBlock:
					b := Block{Kind: BlockListItem, Text: strings.TrimSpace(mdInlineText(ic, source)), Level: depth}
					if ic == item.FirstChild() {
						b.Marker = marker // later paragraphs continue the item
					}
					out = append(out, b)
				default:
					out = append(out, mdBlock(ic, source, depth+1, quote)...)
				}
			}
		}
		return out
	case *ast.Blockquote:
		return mdBlocks(c, source, depth, true)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		var b strings.Builder
		lines := c.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			b.Write(seg.Value(source))
		}
		return []Block{{Kind: BlockCode, Text: strings.TrimRight(b.String(), "\n"), Level: depth}}
	case *ast.ThematicBreak:
		return []Block{{Kind: BlockRule}}
	case *ast.HTMLBlock:
		return nil // raw HTML is left out of the HTML part too
	default:
		return mdBlocks(c, source, depth, quote)
	}
}

// mdInlineText is the plain text of a node's inline content. A link whose
// text differs from its target keeps the target in angle brackets, so the
// text part loses no address.
func mdInlineText(n ast.Node, source []byte) string {
	var b strings.Builder
	mdWriteInline(&b, n, source)
	return b.String()
}

func mdWriteInline(b *strings.Builder, n ast.Node, source []byte) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		mdWriteNode(b, c, source)
	}
}

// mdWriteNode writes the plain text of one inline node.
func mdWriteNode(b *strings.Builder, n ast.Node, source []byte) {
	switch n := n.(type) {
	case *ast.Text:
		b.Write(n.Value(source))
		switch {
		case n.HardLineBreak():
			b.WriteByte('\n')
		case n.SoftLineBreak():
			b.WriteByte(' ')
		}
	case *ast.String:
		b.Write(n.Value)
	case *ast.AutoLink:
		b.Write(n.URL(source))
	case *ast.Link:
		t, dest := mdInlineText(n, source), string(n.Destination)
		switch {
		case !IsWebURL(dest) && !strings.HasPrefix(strings.ToLower(dest), "mailto:"):
			b.WriteString(t) // relative or unsafe: the HTML part drops it too
		case t == "" || t == dest:
			b.WriteString(dest)
		default:
			b.WriteString(t + " <" + dest + ">")
		}
	case *ast.RawHTML:
		// dropped, as in the HTML part
	default:
		mdWriteInline(b, n, source)
	}
}
