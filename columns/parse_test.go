package columns

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// berlin is the default --timezone; tests fall back to a fixed zone when
// the system has no zoneinfo.
func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

func readSample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/030-heisse-ki-luft.txt")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseColumnSample(t *testing.T) {
	c, err := parseFile("testdata/030-heisse-ki-luft.txt", berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Series != "KNIEPUNKT" || c.Number != 30 || c.Title != "Heiße KI-Luft" ||
		c.TitleLine != "KNIEPUNKT 030: Heiße KI-Luft" || c.Subject != c.TitleLine {
		t.Errorf("title parts: %q %d %q %q %q", c.Series, c.Number, c.Title, c.TitleLine, c.Subject)
	}
	if c.Format != FormatText || !c.Date.IsZero() || c.File != "testdata/030-heisse-ki-luft.txt" {
		t.Errorf("format %q date %v file %q", c.Format, c.Date, c.File)
	}
	if len(c.Blocks) != 3 {
		t.Fatalf("got %d paragraphs, want 3", len(c.Blocks))
	}
	if !strings.HasPrefix(c.Blocks[1].Text, "Doch diese metaphorische") {
		t.Errorf("second paragraph: %q", c.Blocks[1].Text)
	}
	want := []Link{
		{"Zum Cursor-Kimi-Etikettenschwindel und den eingestandenen Fehlern", "https://the-decoder.de/cursors-neues-coding-modell-basiert-auf-kimi-k2-5-gruender-raeumt-fehler-ein/"},
		{"Zu den chinesischen Modellen mit Selbst-Evolution", "https://www.minimax.io/news/minimax-m27-en"},
		{"Zu den Meta-Massenentlassungen aufgrund der KI-Infrastrukturkosten", "https://www.reuters.com/business/world-at-work/meta-planning-sweeping-layoffs-ai-costs-mount-2026-03-14/"},
	}
	if !reflect.DeepEqual(c.Links, want) {
		t.Errorf("links:\n got %q\nwant %q", c.Links, want)
	}
	if c.Preheader != "Im Silicon Valley wird derzeit so viel heiße Luft produziert, dass man damit problemlos einen …" {
		t.Errorf("preheader %q", c.Preheader)
	}
}

// TestParseColumn checks one rule per case. Only the fields a case sets in
// want are compared (zero values are skipped), plus paragraphs and links
// when given.
func TestParseColumn(t *testing.T) {
	loc := berlin(t)
	type want struct {
		series, title, titleLine, subject, preheader string
		number                                       int
		date                                         time.Time
		format                                       Format
		paras                                        []string
		links                                        []Link
	}
	tests := []struct {
		name, file, src string
		want            want
		errLine         int    // > 0: want a *ParseError at this line
		errHas          string // and this in its message
	}{
		{
			name: "one paragraph per line",
			file: "001-a.txt",
			src:  "KNIEPUNKT 001: Eins\nErster Absatz.\nZweiter Absatz.\n",
			want: want{series: "KNIEPUNKT", number: 1, title: "Eins", titleLine: "KNIEPUNKT 001: Eins", paras: []string{"Erster Absatz.", "Zweiter Absatz."}},
		},
		{
			name: "blank-line separated blocks are joined",
			file: "x.txt",
			src:  "KNIEPUNKT 002: Zwei\n\nErste Zeile\nzweite Zeile.\n\n\nNeuer Absatz\nweiter.\n",
			want: want{number: 2, paras: []string{"Erste Zeile zweite Zeile.", "Neuer Absatz weiter."}},
		},
		{
			name: "CRLF, BOM and trailing spaces",
			file: "x.txt",
			src:  "\uFEFFKNIEPUNKT 003: Drei  \r\nAbsatz eins.   \r\nAbsatz zwei.\t\r\n\r\nZum Weiterlesen:  \r\nLabel: https://example.org/a  \r\n",
			want: want{series: "KNIEPUNKT", number: 3, title: "Drei", titleLine: "KNIEPUNKT 003: Drei",
				paras: []string{"Absatz eins.", "Absatz zwei."}, links: []Link{{"Label", "https://example.org/a"}}},
		},
		{
			name: "colon in label: split at the last colon before the URL",
			file: "x.txt",
			src:  "KNIEPUNKT 004: Vier\nText.\nWeiterlesen:\nStudie: KI: Hype oder Wende: https://example.org/a?b=c:d\n",
			want: want{links: []Link{{"Studie: KI: Hype oder Wende", "https://example.org/a?b=c:d"}}},
		},
		{
			name: "bare URL, bullets, label on its own line, case-insensitive heading",
			file: "x.txt",
			src:  "KNIEPUNKT 005: Fünf\nText.\nFURTHER READING\nhttps://example.org/bare\n- Bullet: https://example.org/b\nLange Beschriftung:\nhttps://example.org/c\nMit Strich – http://example.org/d\n",
			want: want{links: []Link{{"", "https://example.org/bare"}, {"Bullet", "https://example.org/b"}, {"Lange Beschriftung", "https://example.org/c"}, {"Mit Strich", "http://example.org/d"}}},
		},
		{
			name: "Links: heading",
			file: "x.txt",
			src:  "KNIEPUNKT 006: Sechs\nText.\n\nlinks:\n\nA: https://a.example/\n",
			want: want{paras: []string{"Text."}, links: []Link{{"A", "https://a.example/"}}},
		},
		{
			name:    "not a link under the heading",
			file:    "x.txt",
			src:     "KNIEPUNKT 007: Sieben\nText.\nZum Weiterlesen:\nDas ist kein Link\n",
			errLine: 4, errHas: "Label: URL",
		},
		{
			name:    "link that is not http",
			file:    "x.txt",
			src:     "KNIEPUNKT 007: Sieben\nText.\nZum Weiterlesen:\nA: ftp://example.org/x\n",
			errLine: 4,
		},
		{
			name: "front matter in txt",
			file: "x.txt",
			src:  "---\nnumber: 8\ndate: 2026-03-16\nsubject: Betreff\npreheader: Vorschau\n---\nKNIEPUNKT 008: Acht\nText.\n",
			want: want{number: 8, title: "Acht", subject: "Betreff", preheader: "Vorschau", date: time.Date(2026, 3, 16, 0, 0, 0, 0, loc)},
		},
		{
			name: "front matter title in txt without title line",
			file: "009.txt",
			src:  "---\ntitle: KNIEPUNKT 009: Neun\n---\nGleich der Text.\n",
			want: want{series: "KNIEPUNKT", number: 9, title: "Neun", titleLine: "KNIEPUNKT 009: Neun", paras: []string{"Gleich der Text."}},
		},
		{
			name: "RFC 3339 date",
			file: "x.txt",
			src:  "---\ndate: 2026-03-16T07:00:00+01:00\n---\nKNIEPUNKT 010: Zehn\nText.\n",
			want: want{date: time.Date(2026, 3, 16, 6, 0, 0, 0, time.UTC)},
		},
		{
			name:    "bad date",
			file:    "x.txt",
			src:     "---\nsubject: S\ndate: 16.03.2026\n---\nKNIEPUNKT 011: Elf\nText.\n",
			errLine: 3, errHas: "date",
		},
		{
			name:    "unknown key",
			file:    "030-x.txt",
			src:     "---\ntitle: T\n\nautor: Knie\n---\nText.\n",
			errLine: 4, errHas: `unknown key "autor"`,
		},
		{
			name:    "front matter not closed",
			file:    "x.txt",
			src:     "---\ntitle: T\nText.\n",
			errLine: 1, errHas: "never closed",
		},
		{
			name:    "front matter twice the same key",
			file:    "x.txt",
			src:     "---\nnumber: 1\nnumber: 2\n---\nT\nText.\n",
			errLine: 3, errHas: "twice",
		},
		{
			name:    "bad number",
			file:    "x.txt",
			src:     "---\nnumber: drei\n---\nT\nText.\n",
			errLine: 2, errHas: "number",
		},
		{
			name: "number from the file name",
			file: "columns/042-ohne-nummer.txt",
			src:  "Ein Titel ohne Nummer\nText.\n",
			want: want{number: 42, series: "", title: "Ein Titel ohne Nummer", titleLine: "Ein Titel ohne Nummer"},
		},
		{
			name: "title line beats the file name",
			file: "099-alt.txt",
			src:  "KNIEPUNKT 030: Titel\nText.\n",
			want: want{number: 30},
		},
		{
			name:    "title line and front matter disagree",
			file:    "x.txt",
			src:     "---\nnumber: 31\n---\nKNIEPUNKT 030: Titel\nText.\n",
			errLine: 2, errHas: "disagrees",
		},
		{
			name:    "no number anywhere",
			file:    "ohne.txt",
			src:     "Titel\nText.\n",
			errLine: 1, errHas: "no column number",
		},
		{
			name:    "missing title: empty file",
			file:    "001.txt",
			src:     "\n\n",
			errLine: 1, errHas: "no title",
		},
		{
			name:    "missing title: first line is a paragraph",
			file:    "001.txt",
			src:     strings.Repeat("Ein langer Absatz ohne Titelzeile. ", 10) + "\n",
			errLine: 1, errHas: "no title line",
		},
		{
			name:    "title but no text",
			file:    "001.txt",
			src:     "KNIEPUNKT 001: Leer\n\nZum Weiterlesen:\nhttps://example.org/\n",
			errHas:  "no text",
			errLine: 2,
		},
		{
			name: "markdown with front matter",
			file: "012-md.md",
			src: "---\ntitle: KNIEPUNKT 012: Zwölf\ndate: 2026-04-01 07:30\n---\n\nErster *Absatz* mit [Link](https://example.org/l).\n\n" +
				"- eins\n- zwei\n\n## Zum Weiterlesen\n\n- [Label A](https://example.org/a)\n- Label B: https://example.org/b\n- <https://example.org/c>\n",
			want: want{series: "KNIEPUNKT", number: 12, title: "Zwölf", format: FormatMarkdown,
				date:  time.Date(2026, 4, 1, 7, 30, 0, 0, loc),
				links: []Link{{"Label A", "https://example.org/a"}, {"Label B", "https://example.org/b"}, {"", "https://example.org/c"}}},
		},
		{
			name: "markdown title from the first heading",
			file: "x.md",
			src:  "# KNIEPUNKT 013: Dreizehn\n\nText.\n",
			want: want{series: "KNIEPUNKT", number: 13, title: "Dreizehn", titleLine: "KNIEPUNKT 013: Dreizehn", paras: []string{"Text."}},
		},
		{
			name:    "markdown without title",
			file:    "014.md",
			src:     "Nur Text.\n\n## Zwischenüberschrift\n",
			errLine: 1, errHas: "no title",
		},
		{
			name: "markdown front matter with CRLF and BOM",
			file: "015.md",
			src:  "\uFEFF---\r\ntitle: Titel\r\nnumber: 15\r\n---\r\nText.\r\n",
			want: want{number: 15, title: "Titel", titleLine: "Titel"},
		},
		{
			name: "unquoted colon in front matter title",
			file: "x.md",
			src:  "---\ntitle: KNIEPUNKT 016: KI: Hype\n---\nText.\n",
			want: want{number: 16, title: "KI: Hype"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.file, []byte(tt.src), loc)
			if tt.errLine > 0 || tt.errHas != "" {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("got %v, %v; want a *ParseError", c, err)
				}
				if pe.File != tt.file || pe.Line != tt.errLine || !strings.Contains(pe.Msg, tt.errHas) {
					t.Fatalf("got %q (line %d); want %s:%d containing %q", err, pe.Line, tt.file, tt.errLine, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			check := func(field string, got, want any) {
				t.Helper()
				if !reflect.ValueOf(want).IsZero() && !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			check("Series", c.Series, w.series)
			check("Number", c.Number, w.number)
			check("Title", c.Title, w.title)
			check("TitleLine", c.TitleLine, w.titleLine)
			check("Subject", c.Subject, w.subject)
			check("Preheader", c.Preheader, w.preheader)
			check("Format", c.Format, w.format)
			check("Links", c.Links, w.links)
			if !w.date.IsZero() && !c.Date.Equal(w.date) {
				t.Errorf("Date = %v, want %v", c.Date, w.date)
			}
			if w.paras != nil {
				var got []string
				for _, b := range c.Blocks {
					got = append(got, b.Text)
				}
				check("paragraphs", got, w.paras)
			}
			if c.Subject == "" || strings.ContainsAny(c.Subject, "\r\n") {
				t.Errorf("Subject %q: want one non-empty line", c.Subject)
			}
		})
	}
}

func TestParseErrorFormat(t *testing.T) {
	e := &ParseError{File: "030-x.txt", Line: 3, Msg: "kaputt"}
	if e.Error() != "030-x.txt:3: kaputt" {
		t.Errorf("got %q", e.Error())
	}
	e.Line = 0
	if e.Error() != "030-x.txt: kaputt" {
		t.Errorf("got %q", e.Error())
	}
}
