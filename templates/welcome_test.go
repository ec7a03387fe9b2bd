package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testWelcomeOptions() WelcomeOptions {
	o := testMailOptions()
	return WelcomeOptions{ListName: o.ListName, Imprint: o.Imprint, BaseURL: o.BaseURL}
}

func mustLoadWelcome(t *testing.T, opts WelcomeOptions) *WelcomeMail {
	t.Helper()
	w, err := LoadWelcome(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// testReader is the reader the welcome goldens are rendered for.
func testReader() WelcomeData {
	return WelcomeData{
		Email:          "leser@example.org",
		Name:           "Leserin",
		UnsubscribeURL: testBaseURL + "/unsubscribe?token=READER",
	}
}

// TestWelcomeGolden pins both forms in both languages: the note alone, and
// the greeting above the sample column as the reader gets it.
func TestWelcomeGolden(t *testing.T) {
	w := mustLoadWelcome(t, testWelcomeOptions())
	prep, _ := renderSample(t, testMailOptions())
	d := testReader()
	column := prep.Personalize(Recipient{Email: d.Email, Name: d.Name, UnsubscribeURL: d.UnsubscribeURL})
	for _, tc := range []struct {
		lang, form, subject string
	}{
		{"de", "note", "Willkommen bei KNIEPUNKT"},
		{"de", "latest", "Willkommen bei KNIEPUNKT – zum Einstieg: Heiße KI-Luft"},
		{"en", "note", "Welcome to KNIEPUNKT"},
		{"en", "latest", "Welcome to KNIEPUNKT – to start with: Heiße KI-Luft"},
	} {
		t.Run(tc.lang+"-"+tc.form, func(t *testing.T) {
			var m RenderedMail
			var err error
			if tc.form == "note" {
				m, err = w.Note(tc.lang, d)
			} else {
				dc := d
				dc.Column = prep.Column()
				m, err = w.WithColumn(tc.lang, dc, column)
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.subject {
				t.Errorf("subject %q, want %q", m.Subject, tc.subject)
			}
			for _, part := range []string{m.Text, m.HTML} {
				for _, want := range []string{testBaseURL + "/archive", d.UnsubscribeURL, "Musterstadt"} {
					if !strings.Contains(part, want) {
						t.Errorf("%s part lacks %q", tc.form, want)
					}
				}
			}
			if tc.form == "latest" {
				// The column mail follows the greeting unchanged.
				if !strings.HasSuffix(m.Text, "\n"+column.Text) {
					t.Error("text part: the column mail does not follow the greeting as it is")
				}
				dc := d
				dc.Column = prep.Column()
				g, err := w.renderHTML(tc.lang, w.fill(dc))
				if err != nil {
					t.Fatal(err)
				}
				if strings.Replace(m.HTML, "\n"+g, "", 1) != column.HTML {
					t.Error("HTML part: the column mail is not kept as it is")
				}
				// At the top of <body>, before the preheader: inbox
				// previews show the greeting.
				if i, j := strings.Index(m.HTML, g), strings.Index(m.HTML, `class="mail-preheader"`); i < 0 || i > j ||
					!strings.HasSuffix(strings.TrimSuffix(m.HTML[:i], "\n"), ">") || !strings.Contains(m.HTML[:i], "<body") {
					t.Error("HTML part: the greeting is not right after <body>")
				}
			}
			golden(t, "welcome-"+tc.lang+"-"+tc.form+".golden.txt", m.Text)
			golden(t, "welcome-"+tc.lang+"-"+tc.form+".golden.html", m.HTML)
		})
	}
}

// TestWelcomeEscapesTheReader: a name is the reader's own text; in the
// HTML part it stays text.
func TestWelcomeEscapesTheReader(t *testing.T) {
	w := mustLoadWelcome(t, testWelcomeOptions())
	d := testReader()
	d.Name = `<img src=x onerror="alert(1)">`
	m, err := w.Note("en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<img") || !strings.Contains(m.HTML, "&lt;img") {
		t.Errorf("name not escaped in HTML:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, "Hello "+d.Name+",") {
		t.Errorf("text part: %q", m.Text)
	}
}

func TestWelcomeLanguageFallback(t *testing.T) {
	w := mustLoadWelcome(t, testWelcomeOptions())
	m, err := w.Note("fr", testReader())
	if err != nil || !strings.HasPrefix(m.Text, "Hallo Leserin,") {
		t.Errorf("unknown language: want German, got %q, %v", m.Text, err)
	}
	if _, err := w.WithColumn("de", testReader(), RenderedMail{}); err == nil {
		t.Error("WithColumn without a column: want an error")
	}
}

func TestWelcomeOverride(t *testing.T) {
	write := func(t *testing.T, dir, name, src string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "welcome"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "welcome", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("used", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "en.txt", `{{define "subject"}}Hi from {{.ListName}}{{end}}{{define "greeting"}}Hi {{.Name}}{{end}}OVERRIDDEN {{template "greeting" .}} {{.UnsubscribeURL}}`)
		// A bare DIR/en.txt is the confirmation mail's override, not this.
		if err := os.WriteFile(filepath.Join(dir, "de.txt"), []byte(`{{.Broken`), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := testWelcomeOptions()
		opts.OverrideDir = dir
		m, err := mustLoadWelcome(t, opts).Note("en", testReader())
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Hi from KNIEPUNKT" || !strings.HasPrefix(m.Text, "OVERRIDDEN Hi Leserin") {
			t.Errorf("override not used: %q %q", m.Subject, m.Text)
		}
	})
	for _, tc := range []struct{ name, file, src, want string }{
		{"parse error", "de.html", `{{define "greeting"}}{{.Nope`, "de.html"},
		{"unknown field", "en.txt", `{{define "subject"}}x{{end}}{{define "greeting"}}{{.Nope}}{{end}}{{template "greeting" .}}`, "en.txt"},
		{"no subject", "de.txt", `{{define "greeting"}}x{{end}}`, `"subject"`},
		{"no greeting", "en.html", `<p>{{.Email}}</p>`, `"greeting"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tc.file, tc.src)
			opts := testWelcomeOptions()
			opts.OverrideDir = dir
			_, err := LoadWelcome(opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(dir, "welcome", tc.file)) {
				t.Errorf("want an error naming %s and %s, got %v", filepath.Join(dir, "welcome", tc.file), tc.want, err)
			}
		})
	}
}
