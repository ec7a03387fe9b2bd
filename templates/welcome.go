package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"newsletter/columns"
)

// The welcome mail after a confirmation, per language: DE.txt holds the
// subject, the greeting and the text part of the note form; DE.html the
// greeting and the HTML part of the note form.
//
//go:embed welcome
var welcomeFS embed.FS

// WelcomeOptions configures LoadWelcome.
type WelcomeOptions struct {
	ListName string // shown in the greeting and the subject
	Imprint  string // footer of the note form (the column mail has its own)
	BaseURL  string // public URL, for the archive link
	// OverrideDir is --templates DIR: DIR/welcome/NAME replaces the
	// embedded welcome/NAME. Only there: a bare DIR/de.txt already means
	// the confirmation mail.
	OverrideDir string
}

// WelcomeData is what the welcome templates get.
type WelcomeData struct {
	Email          string
	Name           string
	ListName       string
	ArchiveURL     string
	UnsubscribeURL string // the reader's own one-click link
	Imprint        string
	ImprintLines   []string
	// Column is the newest sent column that follows the greeting
	// (--welcome latest); nil in the note form.
	Column *columns.Column
}

// WelcomeMail renders welcome mails. Its templates are parsed once, in
// LoadWelcome; it is safe for concurrent use.
type WelcomeMail struct {
	opts WelcomeOptions
	text map[string]*texttemplate.Template // lang → text part with "subject" and "greeting"
	html map[string]*htmltemplate.Template // lang → HTML part with "greeting"
}

// LoadWelcome parses the welcome templates (and overrides) of every
// language and renders each form once, so a broken template fails at
// start-up, naming its file.
func LoadWelcome(opts WelcomeOptions) (*WelcomeMail, error) {
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	w := &WelcomeMail{opts: opts, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, lang := range PageLangs() {
		src, origin, err := readWelcomeFile(opts.OverrideDir, lang+".txt")
		if err != nil {
			return nil, err
		}
		t, err := texttemplate.New(lang + ".txt").Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("welcome mail template %s: %w", origin, err)
		}
		for _, def := range []string{"subject", "greeting"} {
			if t.Lookup(def) == nil {
				return nil, fmt.Errorf("welcome mail template %s: needs {{define %q}}", origin, def)
			}
		}
		w.text[lang] = t
		if err := w.check(lang, origin, true); err != nil {
			return nil, err
		}

		if src, origin, err = readWelcomeFile(opts.OverrideDir, lang+".html"); err != nil {
			return nil, err
		}
		h, err := htmltemplate.New(lang + ".html").Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("welcome mail template %s: %w", origin, err)
		}
		if h.Lookup("greeting") == nil {
			return nil, fmt.Errorf("welcome mail template %s: needs {{define \"greeting\"}}", origin)
		}
		w.html[lang] = h
		if err := w.check(lang, origin, false); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// check renders lang's text or HTML template in both forms with sample
// data, naming origin when that fails.
func (w *WelcomeMail) check(lang, origin string, text bool) error {
	d := WelcomeData{Email: "leser@example.org", Name: "Leserin", UnsubscribeURL: "https://example.org/unsubscribe?token=SAMPLE"}
	for _, col := range []*columns.Column{nil, mailSampleColumn()} {
		d.Column = col
		d = w.fill(d)
		var err error
		if text {
			_, _, err = w.renderText(lang, d)
		} else {
			_, err = w.renderHTML(lang, d)
		}
		if err != nil {
			return fmt.Errorf("welcome mail template %s: %w", origin, err)
		}
	}
	return nil
}

// readWelcomeFile returns DIR/welcome/name when the override folder has
// it, else the embedded file, and where it came from.
func readWelcomeFile(dir, name string) (src, origin string, err error) {
	b, origin, err := readOverridable(welcomeFS, dir, "welcome", name, "welcome mail template", false)
	return string(b), origin, err
}

// fill completes d with what comes from the options.
func (w *WelcomeMail) fill(d WelcomeData) WelcomeData {
	if d.ListName == "" {
		d.ListName = w.opts.ListName
	}
	if d.ArchiveURL == "" {
		d.ArchiveURL = w.opts.BaseURL + "/archive"
	}
	if d.Imprint == "" {
		d.Imprint = strings.TrimSpace(w.opts.Imprint)
	}
	if d.ImprintLines == nil {
		d.ImprintLines = imprintLines(d.Imprint)
	}
	return d
}

// lang is lang when the welcome exists in it, else the fallback language.
func (w *WelcomeMail) lang(lang string) string {
	if _, ok := w.text[lang]; ok {
		return lang
	}
	return PageLangs()[0]
}

// render renders lang's templates for d: the subject, and the text and
// HTML parts of the note form, or of the greeting alone when d.Column is
// set.
func (w *WelcomeMail) render(lang string, d WelcomeData) (subject, text, html string, err error) {
	if subject, text, err = w.renderText(lang, d); err != nil {
		return "", "", "", err
	}
	if html, err = w.renderHTML(lang, d); err != nil {
		return "", "", "", err
	}
	return subject, text, html, nil
}

// renderText is render's subject and text part.
func (w *WelcomeMail) renderText(lang string, d WelcomeData) (subject, text string, err error) {
	t := w.text[lang]
	var subj, body bytes.Buffer
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return "", "", fmt.Errorf("render welcome subject: %w", err)
	}
	if d.Column != nil {
		err = t.ExecuteTemplate(&body, "greeting", d)
	} else {
		err = t.Execute(&body, d)
	}
	if err != nil {
		return "", "", fmt.Errorf("render welcome text: %w", err)
	}
	return strings.Join(strings.Fields(subj.String()), " "), strings.TrimSpace(body.String()) + "\n", nil
}

// renderHTML is render's HTML part.
func (w *WelcomeMail) renderHTML(lang string, d WelcomeData) (string, error) {
	h := w.html[lang]
	var b bytes.Buffer
	var err error
	if d.Column != nil {
		err = h.ExecuteTemplate(&b, "greeting", d)
	} else {
		err = h.Execute(&b, d)
	}
	if err != nil {
		return "", fmt.Errorf("render welcome HTML: %w", err)
	}
	return b.String(), nil
}

// Note renders the welcome without a column (--welcome note, or nothing
// sent yet): the greeting, the archive link and a footer with the
// reader's unsubscribe link and the imprint. d.Column is ignored.
func (w *WelcomeMail) Note(lang string, d WelcomeData) (RenderedMail, error) {
	d.Column = nil
	subj, txt, html, err := w.render(w.lang(lang), w.fill(d))
	if err != nil {
		return RenderedMail{}, err
	}
	return RenderedMail{Subject: subj, Text: txt, HTML: html, UnsubscribeURL: d.UnsubscribeURL}, nil
}

// WithColumn renders the welcome for --welcome latest: the greeting above
// mail, the column mail of d.Column as this reader gets it (their own
// unsubscribe link, view-in-browser link and imprint), which stays as it
// is: the greeting goes before it in the text part and right after <body>
// in the HTML part.
func (w *WelcomeMail) WithColumn(lang string, d WelcomeData, mail RenderedMail) (RenderedMail, error) {
	if d.Column == nil {
		return RenderedMail{}, errors.New("render welcome: no column to follow the greeting")
	}
	subj, greet, htmlGreet, err := w.render(w.lang(lang), w.fill(d))
	if err != nil {
		return RenderedMail{}, err
	}
	return RenderedMail{
		Subject:        subj,
		Text:           greet + "\n" + mail.Text,
		HTML:           afterBodyTag(mail.HTML, htmlGreet),
		UnsubscribeURL: d.UnsubscribeURL,
	}, nil
}

// afterBodyTag inserts fragment right after the <body …> tag of doc, or
// before everything when doc has none. Before the column's hidden
// preheader, too: inbox previews then show the greeting.
func afterBodyTag(doc, fragment string) string {
	i := -1
	for k := 0; k+5 <= len(doc); k++ {
		if strings.EqualFold(doc[k:k+5], "<body") {
			i = k
			break
		}
	}
	if i < 0 {
		return fragment + doc
	}
	j := strings.IndexByte(doc[i:], '>')
	if j < 0 {
		return fragment + doc
	}
	at := i + j + 1
	return doc[:at] + "\n" + fragment + doc[at:]
}
