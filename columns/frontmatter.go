package columns

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// frontMatter is the optional YAML header. Line numbers point errors
// found later (a disagreeing number) at the right place.
type frontMatter struct {
	present            bool
	title              string
	titleLine          int
	number, numberLine int
	date               time.Time
	subject, preheader string
	endLine            int // line of the closing ---
}

// splitFrontMatter parses an optional leading "---" YAML block and returns the
// lines after it.
func (p *parser) splitFrontMatter(lines []srcLine) ([]srcLine, error) {
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

// fmEntry is one "key: value" of the front matter.
type fmEntry struct {
	key, value string
	line       int
}

var fmLineRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*)[ \t]*:(?:[ \t]+(.*))?$`)

// The line number inside a yaml.v3 error message.
var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) frontMatterYAML(src string) error {
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
			p.fm.title, p.fm.titleLine = oneLine(val), e.line
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
			t, err := parseDate(val, p.loc)
			if err != nil {
				return p.errorf(e.line, "front matter: date: %v", err)
			}
			p.fm.date = t
		case "subject":
			p.fm.subject = oneLine(val)
		case "preheader":
			p.fm.preheader = oneLine(val)
		default:
			return p.errorf(e.line, "front matter: unknown key %q (known: title, number, date, subject, preheader)", e.key)
		}
	}
	return nil
}

// yamlEntries reads the front matter as a YAML mapping of scalars.
func (p *parser) yamlEntries(src string) (entries []fmEntry, err error) {
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
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
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
		entries = append(entries, fmEntry{key: k.Value, value: val, line: line})
	}
	return entries, nil
}

// simpleFMEntries reads front matter that is only "key: value" lines,
// splitting at the first colon. ok is false for anything else.
func simpleFMEntries(src string) (entries []fmEntry, ok bool) {
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		m := fmLineRe.FindStringSubmatch(t)
		if m == nil || l != strings.TrimLeft(l, " \t") {
			return nil, false
		}
		val := strings.TrimSpace(m[2])
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		entries = append(entries, fmEntry{key: m[1], value: val, line: i + 2})
	}
	return entries, true
}

// parseDate accepts RFC 3339 and, in loc, YYYY-MM-DD (midnight) and
// the same with a wall-clock time.
func parseDate(s string, loc *time.Location) (time.Time, error) {
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
