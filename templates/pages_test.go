package templates

import (
	"newsletter/columns"

	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustLoadPages(t *testing.T, opts PageOptions) *Pages {
	t.Helper()
	p, err := LoadPages(opts)
	if err != nil {
		t.Fatalf("LoadPages: %v", err)
	}
	return p
}

// pageSamples gives each page the data its handler passes.
func pageSamples() map[string]any {
	type form struct {
		Email, Name string
		Errors      map[string]string
	}
	type entry struct {
		Number    int
		Title     string
		TitleLine string
		Date      time.Time
		BodyHTML  any
		Links     []columns.Link
	}
	col := entry{Number: 30, Title: "Heiße KI-Luft", TitleLine: "KNIEPUNKT 030: Heiße KI-Luft",
		Date: time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC), BodyHTML: "<p>Text</p>",
		Links: []columns.Link{{Label: "Quelle: eins", URL: "https://example.org/a?b=1&c=2"}}}
	return map[string]any{
		"index":        form{Email: "a@b", Name: "<Ann>", Errors: map[string]string{"email": "bad <email>"}},
		"subscribed":   nil,
		"confirm":      struct{ Token string }{"tok\"<en>"},
		"confirmed":    nil,
		"unsubscribe":  struct{ Token string }{"tok"},
		"unsubscribed": nil,
		"error": struct {
			Heading, Message string
			Resubscribe      bool
		}{"Oops", "Something <b>", true},
		"archive": struct{ Columns []entry }{[]entry{col}},
		"hold":    struct{ Token, Number, Title, HeldWords string }{"31.abc.<x>", "031", "KNIEPUNKT 031: <Titel>", "by admin at 2026-03-16 06:55 CET"},
		"held":    struct{ Number, HeldWords string }{"031", "from the proof mail at 2026-03-16 06:55 CET"},
		"column":  col,
	}
}

func TestRenderEveryPage(t *testing.T) {
	p := mustLoadPages(t, PageOptions{ListName: "KNIEPUNKT", Imprint: "Max Muster\nStraße 1, 12345 Stadt"})
	samples := pageSamples()
	for _, lang := range PageLangs() {
		for _, name := range PageNames() {
			data, ok := samples[name]
			if !ok {
				t.Fatalf("no sample data for page %s", name)
			}
			var b strings.Builder
			if err := p.Render(&b, name, lang, "index_title", data); err != nil {
				t.Fatalf("%s/%s: %v", lang, name, err)
			}
			out := b.String()
			for _, want := range []string{`<html lang="` + lang + `">`, "KNIEPUNKT", "Max Muster", `href="/static/style.css"`} {
				if !strings.Contains(out, want) {
					t.Errorf("%s/%s: missing %q", lang, name, want)
				}
			}
			if strings.Contains(out, "<no value>") || strings.Contains(out, "{list}") {
				t.Errorf("%s/%s: unfilled placeholder in\n%s", lang, name, out)
			}
			if strings.Contains(out, "<script") || strings.Contains(out, "style=") {
				t.Errorf("%s/%s: inline script or style would break the CSP", lang, name)
			}
			if strings.Contains(out, "<Ann>") || strings.Contains(out, "<b>") || strings.Contains(out, `tok"<en>`) {
				t.Errorf("%s/%s: data not escaped", lang, name)
			}
		}
	}
}

func TestIndexFormIsAccessible(t *testing.T) {
	p := mustLoadPages(t, PageOptions{ListName: "KNIEPUNKT"})
	var b strings.Builder
	if err := p.Render(&b, "index", "de", "", pageSamples()["index"]); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`<label for="email">`, `id="email"`, `<label for="name">`, `aria-invalid="true"`, `aria-describedby="email-error"`,
		`name="website"`, p.ConsentText("de")} {
		if !strings.Contains(out, want) {
			t.Errorf("index: missing %q", want)
		}
	}
}

func TestStringsComplete(t *testing.T) {
	p := mustLoadPages(t, PageOptions{ListName: "KNIEPUNKT"})
	for k := range p.strings["de"] {
		if p.strings["en"][k] == "" || p.strings["de"][k] == "" {
			t.Errorf("key %s empty in one language", k)
		}
	}
	if !strings.Contains(p.ConsentText("de"), "KNIEPUNKT") || p.ConsentText("de") == p.ConsentText("en") {
		t.Errorf("consent texts: %q / %q", p.ConsentText("de"), p.ConsentText("en"))
	}
	if p.Lang("fr") != "de" || p.Lang("en") != "en" {
		t.Error("Lang fallback wrong")
	}
}

func TestRenderConfirmMail(t *testing.T) {
	p := mustLoadPages(t, PageOptions{ListName: "KNIEPUNKT", Imprint: "Impressum Zeile"})
	for _, lang := range PageLangs() {
		m, err := p.RenderConfirmMail(lang, ConfirmMailData{ConfirmURL: "https://x.example/confirm?token=abc&x=1", Email: "a@example.org", Name: "Ann <b>", ExpiresDays: 7})
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if !strings.Contains(m.Subject, "KNIEPUNKT") || strings.Contains(m.Subject, "\n") {
			t.Errorf("%s subject %q", lang, m.Subject)
		}
		if !strings.Contains(m.Text, "https://x.example/confirm?token=abc&x=1") || !strings.Contains(m.Text, "Impressum Zeile") {
			t.Errorf("%s text:\n%s", lang, m.Text)
		}
		if !strings.Contains(m.HTML, `href="https://x.example/confirm?token=abc&amp;x=1"`) || strings.Contains(m.HTML, "<b>") {
			t.Errorf("%s html:\n%s", lang, m.HTML)
		}
		for _, line := range strings.Split(m.Text, "\n") {
			if len([]rune(line)) > 78 && !strings.Contains(line, "http") {
				t.Errorf("%s text line too long: %q", lang, line)
			}
		}
	}
}

func TestPageOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pages"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pages", "subscribed.html"), []byte(`{{define "content"}}<p>OVERRIDDEN {{.T.subscribed_title}}</p>{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "style.css"), []byte(`body{color:red}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := mustLoadPages(t, PageOptions{ListName: "L", OverrideDir: dir})
	var b strings.Builder
	if err := p.Render(&b, "subscribed", "en", "", nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "OVERRIDDEN Almost done") {
		t.Errorf("override not used:\n%s", b.String())
	}
	if string(p.CSS()) != "body{color:red}" {
		t.Errorf("css override not used")
	}
	if err := os.WriteFile(filepath.Join(dir, "pages", "confirm.html"), []byte(`{{define "content"}}{{.Nope`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPages(PageOptions{OverrideDir: dir}); err == nil || !strings.Contains(err.Error(), "confirm.html") {
		t.Errorf("broken override: want error naming the file, got %v", err)
	}
}
