package columns

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseHTMLBlocks(t *testing.T) {
	src := "---\ntitle: \"KNIEPUNKT 031: Strom: frisst Zukunft\"\nnumber: 31\ndate: \"2026-03-23T07:00:00+01:00\"\n---\n" +
		"<p>Absatz mit <b>fett</b> und <a href=\"https://example.org/x\">Link</a>,\nüber zwei Zeilen.<br>Neue Zeile.</p>\n" +
		"<h2>Teil</h2>\n<ol start=\"3\"><li>drei</li><li><p>vier</p><ul><li>tief</li></ul></li></ol>\n" +
		"<blockquote><p>Zitat</p></blockquote>\n<pre>code  here\n  indented</pre>\n<hr>\n" +
		"<div>lose <em>Worte</em><p>im div</p></div>\n<p><img src=\"https://example.org/a.png\" alt=\"Ein Bild\"></p>\n" +
		"<h2>Zum Weiterlesen</h2>\n<ul><li>Quelle: <a href=\"https://example.org/q\">Die Quelle</a></li><li><a href=\"https://example.org/b\">https://example.org/b</a></li></ul>\n"
	c, err := Parse("feed-031.html", []byte(src), berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != FormatHTML || c.Number != 31 || c.Series != "KNIEPUNKT" || c.Title != "Strom: frisst Zukunft" ||
		c.TitleLine != "KNIEPUNKT 031: Strom: frisst Zukunft" || c.Subject != c.TitleLine ||
		!c.Date.Equal(time.Date(2026, 3, 23, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("header: %+v", c)
	}
	want := []Block{
		{Kind: BlockParagraph, Text: "Absatz mit fett und Link <https://example.org/x>, über zwei Zeilen.\nNeue Zeile."},
		{Kind: BlockHeading, Text: "Teil", Level: 2},
		{Kind: BlockListItem, Text: "drei", Marker: "3."},
		{Kind: BlockListItem, Text: "vier", Marker: "4."},
		{Kind: BlockListItem, Text: "tief", Marker: "-", Level: 1},
		{Kind: BlockQuote, Text: "Zitat"},
		{Kind: BlockCode, Text: "code  here\n  indented"},
		{Kind: BlockRule},
		{Kind: BlockParagraph, Text: "lose Worte"},
		{Kind: BlockParagraph, Text: "im div"},
		{Kind: BlockParagraph, Text: "Ein Bild"},
	}
	if !reflect.DeepEqual(c.Blocks, want) {
		t.Errorf("blocks:\n got %+v\nwant %+v", c.Blocks, want)
	}
	wantLinks := []Link{{Label: "Quelle: Die Quelle", URL: "https://example.org/q"}, {URL: "https://example.org/b"}}
	if !reflect.DeepEqual(c.Links, wantLinks) {
		t.Errorf("links:\n got %+v\nwant %+v", c.Links, wantLinks)
	}
	h := c.MarkdownHTML()
	for _, want := range []string{`<a href="https://example.org/x">Link</a>`, `<ol start="3">`, "<blockquote>", "<pre>code  here",
		`<img src="https://example.org/a.png" alt="Ein Bild" style="max-width:100%;height:auto"/>`} {
		if !strings.Contains(h, want) {
			t.Errorf("body HTML lacks %s:\n%s", want, h)
		}
	}
	if strings.Contains(h, "Weiterlesen") || strings.Contains(h, "example.org/q") {
		t.Errorf("further reading left in the body:\n%s", h)
	}
	if c.Preheader != "Absatz mit fett und Link <https://example.org/x>, über zwei Zeilen. Neue Zeile." {
		t.Errorf("preheader %q", c.Preheader)
	}
}

func TestParseHTMLTitleFromH1(t *testing.T) {
	c, err := Parse("x.html", []byte("<h1>KNIEPUNKT 007: Sieben</h1><p>Text.</p>"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Number != 7 || c.Title != "Sieben" || len(c.Blocks) != 1 || strings.Contains(c.MarkdownHTML(), "<h1>") {
		t.Errorf("%+v\n%s", c, c.MarkdownHTML())
	}
}

func TestParseHTMLErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"no title", "<p>Text.</p>", "x.html:1: no title"},
		{"no text", "---\ntitle: \"T 1: x\"\n---\n<p> </p><script>alert(1)</script>", "x.html:4: the column has no text"},
		{"only unsafe", "---\ntitle: \"T 1: x\"\n---\n<iframe src=\"https://evil.example/\">frame text</iframe>", "no text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.html", []byte(tt.src), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// Whatever a feed sends, the parsed column carries no active content, in
// the HTML body nor in the text blocks.
func TestParseHTMLSanitises(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		keep      []string // in the HTML body
		forbidden []string // in the HTML body or the text
	}{
		{"script", `<p>vorher</p><script>alert("x")</script><p>nachher</p>`, []string{"<p>vorher</p>", "<p>nachher</p>"}, []string{"script", "alert"}},
		{"event handler", `<p onclick="steal()">Text <img src="https://example.org/x.png" onerror="steal()" alt="Bild"></p>`, []string{"Text", "x.png"}, []string{"onclick", "onerror", "steal"}},
		{"javascript link", `<p><a href="javascript:steal()">klick</a> und <a href="JaVaScRiPt:steal()">auch</a></p>`, []string{"klick", "auch"}, []string{"javascript", "JaVaScRiPt", "href", "steal"}},
		{"data link", `<p><a href="data:text/html;base64,PHNjcmlwdD4=">daten</a></p>`, []string{"daten"}, []string{"data:", "href"}},
		{"iframe", `<p>vor</p><iframe src="https://evil.example/"></iframe><p>nach</p>`, []string{"vor", "nach"}, []string{"iframe", "evil"}},
		{"style", `<style>p{display:none}</style><p style="color:red">rot</p>`, []string{"<p>rot</p>"}, []string{"style", "display", "color"}},
		{"form", `<p>Text</p><form action="https://evil.example/"><input name="pw"><button>Senden</button></form>`, []string{"Text"}, []string{"form", "input", "Senden", "evil"}},
		{"object and embed", `<p>ok</p><object data="x.swf"></object><embed src="x.swf">`, []string{"ok"}, []string{"object", "embed", "swf"}},
		{"meta refresh", `<meta http-equiv="refresh" content="0;url=https://evil.example/"><p>ok</p>`, []string{"ok"}, []string{"meta", "refresh", "evil"}},
		{"svg", `<p>ok</p><svg onload="steal()"><script>x()</script></svg>`, []string{"ok"}, []string{"svg", "onload", "steal"}},
		{"relative link", `<p><a href="/intern">intern</a></p>`, []string{"intern"}, []string{"href"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "---\ntitle: \"T 1: x\"\n---\n" + tt.body
			c, err := Parse("x.html", []byte(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			h := c.MarkdownHTML()
			var text strings.Builder
			for _, b := range c.Blocks {
				text.WriteString(b.Text + "\n")
			}
			for _, k := range tt.keep {
				if !strings.Contains(h, k) {
					t.Errorf("HTML lacks %q: %s", k, h)
				}
			}
			for _, f := range tt.forbidden {
				if strings.Contains(strings.ToLower(h), strings.ToLower(f)) && !(f == "style" && strings.Contains(h, `style="max-width:100%;height:auto"`)) {
					t.Errorf("HTML keeps %q: %s", f, h)
				}
				if f != "href" && strings.Contains(strings.ToLower(text.String()), strings.ToLower(f)) {
					t.Errorf("text keeps %q: %s", f, text.String())
				}
			}
		})
	}
}

// A feed item's source parses back into the same column: what a campaign
// keeps renders as it was sent.
func TestFeedSourceRoundTrip(t *testing.T) {
	loc := berlin(t)
	date := time.Date(2026, 3, 23, 7, 0, 0, 0, loc)
	tests := []struct {
		title  string
		number int
		date   time.Time
	}{
		{"KNIEPUNKT 031: Strom frisst Zukunft", 31, date},
		{`Ein Titel: mit "Anführung" und 'Apostroph' # kein Kommentar`, 4, date},
		{"---", 2, time.Time{}},
		{"yes", 3, date},
		{strings.Repeat("Sehr langer Titel ", 12), 9, date},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			src, err := feedSource(tt.title, tt.number, tt.date, "<p>Text mit <a href=\"https://example.org/\">Link</a>.</p>")
			if err != nil {
				t.Fatal(err)
			}
			a, err := Parse(feedFileName(tt.number), src, loc)
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			if a.Number != tt.number || a.TitleLine != oneLine(tt.title) || !a.Date.Equal(tt.date) {
				t.Errorf("got %d %q %v\n%s", a.Number, a.TitleLine, a.Date, src)
			}
			b, err := Parse(feedFileName(tt.number), append([]byte(nil), a.Source...), loc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("second parse differs:\n%+v\n%+v", a, b)
			}
		})
	}
}
