package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// The banner of the author's proof copy, per language: LANG.txt above the
// text part, LANG.html right after <body> of the HTML part.
//
//go:embed proof
var proofFS embed.FS

// ProofOptions configures LoadProofBanner.
type ProofOptions struct {
	Lang string // "de" (default) or "en", as the column mail
	// OverrideDir is --templates DIR: DIR/proof/NAME replaces the embedded
	// proof/NAME. Only there: a bare DIR/de.txt already means the
	// confirmation mail.
	OverrideDir string
}

// ProofData is what the banner templates get.
type ProofData struct {
	Number     string    // "031"
	Planned    time.Time // the run that will send it, in --timezone; zero when none will
	NotPlanned string    // why no run will send it, when Planned is zero
	Recipients int       // mailable subscribers now
	HoldURL    string    // BASE_URL/hold?token=T
}

// ProofBanner puts the proof banner on a column mail. Its templates are
// parsed once, in LoadProofBanner; it is safe for concurrent use.
type ProofBanner struct {
	lang string
	text *texttemplate.Template
	html *htmltemplate.Template
}

// LoadProofBanner parses the banner templates of opts.Lang (and their
// overrides) and renders them once, so a broken template fails at
// start-up, naming its file.
func LoadProofBanner(opts ProofOptions) (*ProofBanner, error) {
	switch opts.Lang {
	case "":
		opts.Lang = "de"
	case "de", "en":
	default:
		return nil, fmt.Errorf("proof language %q: want de or en", opts.Lang)
	}
	b := &ProofBanner{lang: opts.Lang}
	funcs := map[string]any{"planned": func(t time.Time) string { return PlannedText(opts.Lang, t) }}
	src, origin, err := readProofFile(opts.OverrideDir, opts.Lang+".txt")
	if err != nil {
		return nil, err
	}
	if b.text, err = texttemplate.New(opts.Lang + ".txt").Funcs(funcs).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("proof template %s: %w", origin, err)
	}
	sample := ProofData{Number: "001", Planned: time.Date(2026, 3, 16, 7, 0, 0, 0, time.UTC), Recipients: 1, HoldURL: "https://example.org/hold?token=SAMPLE"}
	if _, err := b.renderText(sample); err != nil {
		return nil, fmt.Errorf("proof template %s: %w", origin, err)
	}
	if src, origin, err = readProofFile(opts.OverrideDir, opts.Lang+".html"); err != nil {
		return nil, err
	}
	if b.html, err = htmltemplate.New(opts.Lang + ".html").Funcs(funcs).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("proof template %s: %w", origin, err)
	}
	if _, err := b.renderHTML(sample); err != nil {
		return nil, fmt.Errorf("proof template %s: %w", origin, err)
	}
	return b, nil
}

// readProofFile returns DIR/proof/name when the override folder has it,
// else the embedded file, and where it came from.
func readProofFile(dir, name string) (src, origin string, err error) {
	b, origin, err := readOverridable(proofFS, dir, "proof", name, "proof template", false)
	return string(b), origin, err
}

// ProofSubjectPrefix marks a proof in the subject line.
func ProofSubjectPrefix(lang string) string {
	if lang == "en" {
		return "[Proof] "
	}
	return "[Korrektur] "
}

// Apply returns mail, a column mail as a subscriber gets it, as its proof:
// the subject prefixed (ProofSubjectPrefix), the banner above the text
// part and right after <body> of the HTML part. Nothing else changes.
func (b *ProofBanner) Apply(mail RenderedMail, d ProofData) (RenderedMail, error) {
	text, err := b.renderText(d)
	if err != nil {
		return RenderedMail{}, err
	}
	html, err := b.renderHTML(d)
	if err != nil {
		return RenderedMail{}, err
	}
	mail.Subject = ProofSubjectPrefix(b.lang) + mail.Subject
	mail.Text = text + mail.Text
	mail.HTML = afterBodyTag(mail.HTML, html)
	return mail, nil
}

func (b *ProofBanner) renderText(d ProofData) (string, error) {
	var buf bytes.Buffer
	if err := b.text.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("render proof banner (text): %w", err)
	}
	return strings.TrimLeft(buf.String(), "\n"), nil
}

func (b *ProofBanner) renderHTML(d ProofData) (string, error) {
	var buf bytes.Buffer
	if err := b.html.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("render proof banner (HTML): %w", err)
	}
	return strings.TrimSpace(buf.String()), nil
}

var weekdaysDE = [...]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"}

// PlannedText writes a planned send time the way readers of lang expect,
// in t's time zone: "Montag, 23.03.2026, 07:00 CET" or "Monday, 23 March
// 2026, 07:00 CET".
func PlannedText(lang string, t time.Time) string {
	if lang == "en" {
		return t.Format("Monday, 2 January 2006, 15:04 MST")
	}
	return weekdaysDE[t.Weekday()] + ", " + t.Format("02.01.2006, 15:04 MST")
}
