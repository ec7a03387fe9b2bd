package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io"
	"path"
	"strings"
	texttemplate "text/template"
	"time"
)

// The web pages and the confirmation mail live next to each other because
// both are the subscriber-facing text of double opt-in; the column mail has
// its own files under mail/.
//
//go:embed pages confirm
var pageFS embed.FS

// PageLangs are the languages the pages and the confirmation mail exist in;
// the first is the fallback.
func PageLangs() []string { return []string{"de", "en"} }

// PageNames are the page templates; each is parsed together with layout.html.
func PageNames() []string {
	return []string{"index", "subscribed", "confirm", "confirmed", "unsubscribe", "unsubscribed", "error", "archive", "column", "hold", "held"}
}

// PageOptions configures LoadPages.
type PageOptions struct {
	ListName    string // shown in titles; replaces {list} in the strings
	Imprint     string // footer of pages and the confirmation mail
	OverrideDir string // --templates: DIR/pages/NAME and DIR/confirm/NAME replace the embedded file of that name
}

// Pages holds the parsed page templates, their strings per language, the
// stylesheet and the confirmation mail templates. It is built once at
// start-up and safe for concurrent use.
type Pages struct {
	opts     PageOptions
	pages    map[string]*htmltemplate.Template
	strings  map[string]map[string]string // lang → key → text
	css      []byte
	mailText map[string]*texttemplate.Template // lang → confirmation mail, text part
	mailHTML map[string]*htmltemplate.Template // lang → confirmation mail, HTML part
}

// PageContext is what every page template gets: the strings of its
// language as .T and the page's own data as .Data.
type PageContext struct {
	Lang     string
	T        map[string]string
	ListName string
	Imprint  string
	Title    string
	Data     any
}

// readPageFile reads name (like "pages/index.html") from the override
// folder when it has that file (DIR/pages/index.html, or DIR/index.html as
// the mail templates allow), else from the embedded files.
func readPageFile(overrideDir, name string) ([]byte, error) {
	b, _, err := readOverridable(pageFS, overrideDir, path.Dir(name), path.Base(name), "template", true)
	return b, err
}

// LoadPages parses every page and confirmation mail template, failing fast
// on any error so a broken override stops start-up, not a request.
func LoadPages(opts PageOptions) (*Pages, error) {
	p := &Pages{
		opts:     opts,
		pages:    map[string]*htmltemplate.Template{},
		strings:  map[string]map[string]string{},
		mailText: map[string]*texttemplate.Template{},
		mailHTML: map[string]*htmltemplate.Template{},
	}
	for _, lang := range PageLangs() {
		raw, err := readPageFile(opts.OverrideDir, "pages/"+lang+".json")
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("page strings %s.json: %w", lang, err)
		}
		for k, v := range m {
			m[k] = strings.ReplaceAll(v, "{list}", opts.ListName)
		}
		p.strings[lang] = m
	}
	// Every language must have every key, so a page never shows a blank.
	for _, lang := range PageLangs()[1:] {
		for k := range p.strings[PageLangs()[0]] {
			if _, ok := p.strings[lang][k]; !ok {
				return nil, fmt.Errorf("page strings %s.json: missing key %q", lang, k)
			}
		}
	}
	layout, err := readPageFile(opts.OverrideDir, "pages/layout.html")
	if err != nil {
		return nil, err
	}
	funcs := htmltemplate.FuncMap{"date": formatDate}
	for _, name := range PageNames() {
		body, err := readPageFile(opts.OverrideDir, "pages/"+name+".html")
		if err != nil {
			return nil, err
		}
		t, err := htmltemplate.New("layout.html").Funcs(funcs).Option("missingkey=error").Parse(string(layout))
		if err != nil {
			return nil, fmt.Errorf("page template layout.html: %w", err)
		}
		if _, err := t.New(name + ".html").Parse(string(body)); err != nil {
			return nil, fmt.Errorf("page template %s.html: %w", name, err)
		}
		p.pages[name] = t
	}
	if p.css, err = readPageFile(opts.OverrideDir, "pages/style.css"); err != nil {
		return nil, err
	}
	for _, lang := range PageLangs() {
		txt, err := readPageFile(opts.OverrideDir, "confirm/"+lang+".txt")
		if err != nil {
			return nil, err
		}
		if p.mailText[lang], err = texttemplate.New(lang + ".txt").Option("missingkey=error").Parse(string(txt)); err != nil {
			return nil, fmt.Errorf("confirmation mail template %s.txt: %w", lang, err)
		}
		if p.mailText[lang].Lookup("subject") == nil {
			return nil, fmt.Errorf("confirmation mail template %s.txt: needs {{define \"subject\"}}", lang)
		}
		h, err := readPageFile(opts.OverrideDir, "confirm/"+lang+".html")
		if err != nil {
			return nil, err
		}
		if p.mailHTML[lang], err = htmltemplate.New(lang + ".html").Option("missingkey=error").Parse(string(h)); err != nil {
			return nil, fmt.Errorf("confirmation mail template %s.html: %w", lang, err)
		}
	}
	return p, nil
}

// formatDate writes a publish date the way readers of lang expect.
func formatDate(lang string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if lang == "de" {
		return t.Format("2.1.2006")
	}
	return t.Format("2 January 2006")
}

// Lang returns lang when pages exist in it, else the fallback language.
func (p *Pages) Lang(lang string) string {
	if _, ok := p.strings[lang]; ok {
		return lang
	}
	return PageLangs()[0]
}

// T returns the text for key in lang (key itself when unknown, so a typo
// shows up on the page rather than as a blank).
func (p *Pages) T(lang, key string) string {
	if s, ok := p.strings[p.Lang(lang)][key]; ok {
		return s
	}
	return key
}

// ConsentText is the exact consent sentence the subscribe form shows in
// lang; it is stored as evidence with every subscription.
func (p *Pages) ConsentText(lang string) string { return p.T(lang, "consent") }

// ConfirmConsentText is the sentence on the confirm button's page, stored
// with the confirmation.
func (p *Pages) ConfirmConsentText(lang string) string { return p.T(lang, "confirm_consent") }

// CSS is the stylesheet every page links to.
func (p *Pages) CSS() []byte { return p.css }

// Render writes page name in lang to w. It renders into a buffer first, so
// a template error never leaves half a page on the wire.
func (p *Pages) Render(w io.Writer, name, lang string, titleKey string, data any) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	lang = p.Lang(lang)
	pc := PageContext{Lang: lang, T: p.strings[lang], ListName: p.opts.ListName, Imprint: p.opts.Imprint, Data: data}
	if titleKey != "" {
		pc.Title = p.T(lang, titleKey)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pc); err != nil {
		return fmt.Errorf("render page %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// ConfirmMailData is what the confirmation mail templates get.
type ConfirmMailData struct {
	ConfirmURL  string
	Email       string
	Name        string
	ListName    string
	Imprint     string
	BaseURL     string
	ExpiresDays int
}

// RenderConfirmMail renders the double opt-in mail in lang.
func (p *Pages) RenderConfirmMail(lang string, d ConfirmMailData) (RenderedMail, error) {
	lang = p.Lang(lang)
	if d.ListName == "" {
		d.ListName = p.opts.ListName
	}
	if d.Imprint == "" {
		d.Imprint = p.opts.Imprint
	}
	var subj, txt, html bytes.Buffer
	t := p.mailText[lang]
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return RenderedMail{}, fmt.Errorf("render confirmation subject: %w", err)
	}
	if err := t.Execute(&txt, d); err != nil {
		return RenderedMail{}, fmt.Errorf("render confirmation text: %w", err)
	}
	if err := p.mailHTML[lang].Execute(&html, d); err != nil {
		return RenderedMail{}, fmt.Errorf("render confirmation html: %w", err)
	}
	return RenderedMail{
		Subject: strings.Join(strings.Fields(subj.String()), " "),
		Text:    strings.TrimSpace(txt.String()) + "\n",
		HTML:    html.String(),
	}, nil
}
