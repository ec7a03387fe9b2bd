package templates

import (
	"newsletter/columns"

	"flag"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const testBaseURL = "https://kniepunkt.example"

func testMailOptions() MailOptions {
	return MailOptions{
		Lang:     "de",
		ListName: "KNIEPUNKT",
		Imprint:  "Kniepunkt Verlag, Musterstraße 1, 12345 Musterstadt\nVerantwortlich: Max Muster",
		BaseURL:  testBaseURL + "/",
	}
}

func newTestRenderer(t testing.TB, opts MailOptions) *MailRenderer {
	t.Helper()
	r, err := NewMailRenderer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// renderSample renders the sample column for the preview reader.
func renderSample(t testing.TB, opts MailOptions) (*PreparedMail, RenderedMail) {
	t.Helper()
	c, err := columns.Parse("testdata/030-heisse-ki-luft.txt", readSample(t), berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newTestRenderer(t, opts).Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	return p, p.Personalize(PreviewRecipient(testBaseURL))
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestRenderSampleGolden(t *testing.T) {
	_, m := renderSample(t, testMailOptions())
	if m.Subject != "KNIEPUNKT 030: Heiße KI-Luft" {
		t.Errorf("subject %q", m.Subject)
	}
	golden(t, "030-heisse-ki-luft.golden.txt", m.Text)
	golden(t, "030-heisse-ki-luft.golden.html", m.HTML)
}

func TestRenderIsDeterministic(t *testing.T) {
	_, a := renderSample(t, testMailOptions())
	_, b := renderSample(t, testMailOptions())
	if a != b {
		t.Error("two renderings of the same column differ")
	}
}

func TestRenderSampleLinks(t *testing.T) {
	p, m := renderSample(t, testMailOptions())
	lines := strings.Split(m.Text, "\n")
	for _, l := range p.Column().Links {
		found := false
		for _, line := range lines {
			if line == l.URL || strings.HasSuffix(line, ": "+l.URL) {
				found = true
			}
		}
		if !found {
			t.Errorf("text part: no line ends with the whole URL %s", l.URL)
		}
		if !strings.Contains(m.HTML, `href="`+l.URL+`"`) {
			t.Errorf("HTML part: no href for %s", l.URL)
		}
		if !strings.Contains(m.HTML, ">"+html.EscapeString(l.Label)+"</a>") {
			t.Errorf("HTML part: label %q is not the link text", l.Label)
		}
	}
	for _, want := range []string{
		`href="` + testBaseURL + `/unsubscribe?token=PREVIEW"`,
		`href="` + testBaseURL + `/archive/30"`,
		`<html lang="de">`,
		"Abmelden", "Im Browser ansehen", "Zum Weiterlesen",
		"Musterstadt<br/>Verantwortlich: Max Muster",
		"leser@example.org",
		`class="mail-preheader" style="display:none`,
	} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
	for _, want := range []string{
		"KNIEPUNKT 030: Heiße KI-Luft\n============================\n",
		"\nAbmelden:\n" + testBaseURL + "/unsubscribe?token=PREVIEW\n",
		"Im Browser ansehen: " + testBaseURL + "/archive/30",
		"Verantwortlich: Max Muster",
		"\n-- \n",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
	if p.ArchiveURL() != testBaseURL+"/archive/30" || p.Subject() != m.Subject {
		t.Errorf("ArchiveURL %q Subject %q", p.ArchiveURL(), p.Subject())
	}
}

var urlOnlyLine = regexp.MustCompile(`^https?://\S+$`)

// checkTextWidth fails for any line over 72 runes that is not a single URL.
func checkTextWidth(t *testing.T, text string) {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if utf8.RuneCountInString(l) > MailTextWidth && !urlOnlyLine.MatchString(l) {
			t.Errorf("line %d has %d runes: %q", i+1, utf8.RuneCountInString(l), l)
		}
		if strings.HasSuffix(l, " ") && l != "-- " {
			t.Errorf("line %d has trailing space: %q", i+1, l)
		}
	}
}

func TestRenderTextWidth(t *testing.T) {
	_, m := renderSample(t, testMailOptions())
	checkTextWidth(t, m.Text)

	long := "https://example.org/" + strings.Repeat("sehr-lang/", 10)
	src := "KNIEPUNKT 040: " + strings.Repeat("Überlanger Titel ", 6) + "\n" +
		"Ein Absatz mit einer URL " + long + " mitten im Satz, und äöü " + strings.Repeat("Wörter ", 30) + "\n" +
		"Zum Weiterlesen:\n" +
		strings.Repeat("Sehr lange Beschriftung ", 5) + ": " + long + "\n" +
		"Kurz: https://example.org/k\n" + long + "\n"
	c, err := columns.Parse("040.txt", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newTestRenderer(t, testMailOptions()).Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	text := p.Personalize(Recipient{Email: "a@b.example", UnsubscribeURL: testBaseURL + "/unsubscribe?token=" + strings.Repeat("x", 90)}).Text
	checkTextWidth(t, text)
	if !strings.Contains(text, "\n"+long+"\n") {
		t.Errorf("the long URL is not whole on its own line:\n%s", text)
	}
	if !strings.Contains(text, "\nKurz: https://example.org/k\n") {
		t.Errorf("a short link is not on one line:\n%s", text)
	}
}

func TestRenderXSS(t *testing.T) {
	evil := `<script>alert("x")</script>`
	src := "KNIEPUNKT 041: " + evil + "\n" +
		"Absatz " + evil + " & <img src=x onerror=alert(1)> https://example.org/?a=<b>\n" +
		"Zum Weiterlesen:\n" + evil + ": https://example.org/x\n"
	c, err := columns.Parse("041.txt", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A quote cannot sneak into an href: such a link is refused outright.
	if _, err := columns.Parse("041.txt", []byte(strings.Replace(src, "/x\n", `/"onmouseover="x`+"\n", 1)), nil); err == nil {
		t.Error("a link with a quote in its URL should not parse")
	}
	c.Preheader = evil
	opts := testMailOptions()
	opts.Imprint = evil
	opts.ListName = evil
	p, err := newTestRenderer(t, opts).Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Personalize(Recipient{
		Email:          `"><script>alert(1)</script>@example.org`,
		Name:           evil,
		UnsubscribeURL: `javascript:alert(1)`,
	})
	lower := strings.ToLower(m.HTML)
	for _, bad := range []string{"<script", "<img", "javascript:", `href="`} {
		if bad == `href="` {
			// every href must be one of ours or the column's http(s) links
			for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(lower, -1) {
				if !strings.HasPrefix(m[1], "https://") && !strings.HasPrefix(m[1], "#") {
					t.Errorf("unexpected href %q", m[1])
				}
			}
			continue
		}
		if strings.Contains(lower, bad) {
			i := strings.Index(lower, bad)
			t.Errorf("HTML contains %q: …%s…", bad, m.HTML[max(0, i-60):min(len(m.HTML), i+60)])
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Error("the script tag is not shown as text")
	}
	if !strings.Contains(m.HTML, "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.org") {
		t.Error("the recipient's address is not escaped")
	}
	if !strings.Contains(m.Text, evil) {
		t.Error("the text part should show the column's text as written")
	}
	body := string(p.BodyHTML())
	if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
		t.Errorf("BodyHTML is not escaped: %s", body)
	}

	// Markdown: raw HTML is dropped, javascript: links are not links.
	md := "# KNIEPUNKT 042: T\n\n" + evil + "\n\nText <img src=x onerror=alert(1)> [klick](javascript:alert(1))\n"
	c, err = columns.Parse("042.md", []byte(md), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err = newTestRenderer(t, testMailOptions()).Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	lower = strings.ToLower(p.Personalize(PreviewRecipient(testBaseURL)).HTML)
	for _, bad := range []string{"<script", "<img", `href="javascript`} {
		if strings.Contains(lower, bad) {
			t.Errorf("Markdown HTML contains %q", bad)
		}
	}
}

func TestPersonalize(t *testing.T) {
	p, _ := renderSample(t, testMailOptions())
	a := p.Personalize(Recipient{Email: "anna@example.org", Name: "Anna", UnsubscribeURL: testBaseURL + "/unsubscribe?token=AAA&x=1"})
	b := p.Personalize(Recipient{Email: "bob@example.org", UnsubscribeURL: testBaseURL + "/unsubscribe?token=BBB"})
	if !strings.Contains(a.HTML, "anna@example.org") || strings.Contains(a.HTML, "bob@") {
		t.Error("recipient A's HTML has the wrong address")
	}
	if !strings.Contains(a.HTML, `href="`+testBaseURL+`/unsubscribe?token=AAA&amp;x=1"`) {
		t.Error("the unsubscribe URL is not escaped as an attribute")
	}
	if !strings.Contains(a.Text, "\n"+testBaseURL+"/unsubscribe?token=AAA&x=1\n") {
		t.Error("the text part lacks A's unsubscribe URL")
	}
	if !strings.Contains(b.Text, "token=BBB") || strings.Contains(b.Text, "token=AAA") {
		t.Error("recipient B's text has the wrong token")
	}
	if strings.Contains(a.HTML, "QzQ") || strings.Contains(a.Text, "QzQ") {
		t.Error("a placeholder was left in the mail")
	}
	// Line breaks in a value cannot break the text part's layout.
	c := p.Personalize(Recipient{Email: "x@example.org", UnsubscribeURL: testBaseURL + "/u?token=C\r\nBcc: evil"})
	if strings.Contains(c.Text, "Bcc: evil") && !strings.Contains(c.Text, "#invalid-unsubscribe-url") {
		t.Error("a CRLF in the unsubscribe URL reached the text part")
	}
}

func TestRenderEnglish(t *testing.T) {
	opts := testMailOptions()
	opts.Lang = "en"
	_, m := renderSample(t, opts)
	for _, want := range []string{`<html lang="en">`, "Unsubscribe", "View in browser", "Further reading", "because you subscribed to KNIEPUNKT"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("English HTML lacks %q", want)
		}
	}
	for _, want := range []string{"Unsubscribe:", "View in browser:", "Further reading:", "You are receiving this email"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("English text lacks %q", want)
		}
	}
	if strings.Contains(m.HTML+m.Text, "Abmelden") {
		t.Error("German word in the English mail")
	}
	if _, err := NewMailRenderer(MailOptions{Lang: "fr"}); err == nil {
		t.Error("want an error for an unknown language")
	}
}

func TestRenderMarkdown(t *testing.T) {
	src := "---\ntitle: KNIEPUNKT 043: Markdown\npreheader: Kurz gesagt\n---\n\nEin *Absatz* mit [Link](https://example.org/l) und https://example.org/bare.\n\n" +
		"- eins\n- zwei\n\n> Zitat, lang genug " + strings.Repeat("zum Umbrechen ", 8) + "\n\n## Weiterlesen\n\n- [Quelle](https://example.org/q)\n"
	c, err := columns.Parse("043.md", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newTestRenderer(t, testMailOptions()).Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Personalize(PreviewRecipient(testBaseURL))
	for _, want := range []string{"<em", `href="https://example.org/l"`, `href="https://example.org/bare"`, "<ul", "<blockquote", `href="https://example.org/q"`, ">Quelle</a>", "Kurz gesagt"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, want := range []string{"Ein Absatz mit Link <https://example.org/l>", "\n- eins\n- zwei\n", "\n> Zitat", "Zum Weiterlesen:\n\nQuelle: https://example.org/q"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	checkTextWidth(t, m.Text)
	if strings.Contains(string(p.BodyHTML()), "Quelle") {
		t.Error("BodyHTML should leave the further-reading list to the page")
	}
}

func TestBodyHTML(t *testing.T) {
	p, _ := renderSample(t, testMailOptions())
	body := string(p.BodyHTML())
	if strings.Count(body, "<p>") != 3 || strings.Contains(body, "style=") || strings.Contains(body, "Zum Weiterlesen") {
		t.Errorf("BodyHTML should be the three bare paragraphs:\n%s", body)
	}
	r := newTestRenderer(t, testMailOptions())
	b2, err := r.BodyHTML(p.Column())
	if err != nil || b2 != p.BodyHTML() {
		t.Errorf("MailRenderer.BodyHTML differs: %v", err)
	}
	// Bare URLs in a paragraph become links there.
	c, err := columns.Parse("044.txt", []byte("KNIEPUNKT 044: T\nSiehe https://example.org/a_(b). Und (https://example.org/c).\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := r.BodyHTML(c)
	want := `<p>Siehe <a href="https://example.org/a_%28b%29">https://example.org/a_(b)</a>. Und (<a href="https://example.org/c">https://example.org/c</a>).</p>`
	if !strings.Contains(string(b3), want) {
		t.Errorf("linkify:\n got %s\nwant %s", b3, want)
	}
}

func TestMailTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mail/column.txt.tmpl", "EIGENE VORLAGE {{.Column.TitleLine}}\n{{.Recipient.UnsubscribeURL}}\n")
	opts := testMailOptions()
	opts.OverrideDir = dir
	_, m := renderSample(t, opts)
	if m.Text != "EIGENE VORLAGE KNIEPUNKT 030: Heiße KI-Luft\n"+testBaseURL+"/unsubscribe?token=PREVIEW\n" {
		t.Errorf("override not used: %q", m.Text)
	}
	if !strings.Contains(m.HTML, "Zum Weiterlesen") {
		t.Error("the HTML part should still come from the embedded template")
	}

	// A broken override fails at construction, naming the file.
	write("column.html.tmpl", "<p>{{.Column.Title</p>")
	_, err := NewMailRenderer(opts)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "column.html.tmpl")) {
		t.Errorf("broken override: got %v", err)
	}
	// So does one that parses but fails when executed.
	write("column.html.tmpl", "<p>{{.Column.NoSuchField}}</p>")
	_, err = NewMailRenderer(opts)
	if err == nil || !strings.Contains(err.Error(), "column.html.tmpl") || !strings.Contains(err.Error(), "NoSuchField") {
		t.Errorf("failing override: got %v", err)
	}
}

// BenchmarkPersonalize measures the per-recipient cost of a send: one
// prepared column, many readers, both parts.
func BenchmarkPersonalize(b *testing.B) {
	p, _ := renderSample(b, testMailOptions())
	rc := Recipient{Email: "leserin.mit.langem.namen@example.org", Name: "Leserin & Co", UnsubscribeURL: testBaseURL + "/unsubscribe?token=" + strings.Repeat("Ab3", 22)}
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for b.Loop() {
		m := p.Personalize(rc)
		n += len(m.HTML) + len(m.Text)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n == 0 {
		b.Fatal("empty mail")
	}
}

// BenchmarkPrepare is the once-per-column cost (templates and premailer).
func BenchmarkPrepare(b *testing.B) {
	r := newTestRenderer(b, testMailOptions())
	c, err := columns.Parse("030.txt", readSample(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Prepare(c); err != nil {
			b.Fatal(err)
		}
	}
}
