package templates

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/vanng822/go-premailer/premailer"

	"newsletter/columns"
)

// The column mail's templates. Each file may be replaced by one of the same
// name in --templates DIR (DIR/mail/NAME, or DIR/NAME).
//
//go:embed mail
var mailFS embed.FS

const (
	mailHTMLFile = "column.html.tmpl"
	mailBodyFile = "body.html.tmpl"
	mailTextFile = "column.txt.tmpl"
)

// MailOptions configures NewMailRenderer.
type MailOptions struct {
	Lang        string // "de" (default) or "en": the words around the column
	ListName    string // "KNIEPUNKT"; empty uses the column's series
	Imprint     string // footer text (postal address); may be multi-line
	BaseURL     string // public URL for the archive link, without trailing slash
	OverrideDir string // --templates DIR: a file there with an embedded file's name replaces it
}

// MailStrings are the words around the column in one language.
type MailStrings struct {
	FurtherReading string // heading of the further-reading list
	Unsubscribe    string
	ViewInBrowser  string
	Reason         string // text part: why the reader gets this mail
	SentTo         string // HTML part: SentTo + " " + email + Because
	Because        string
}

// mailStrings builds the strings for lang; listName is already resolved.
func mailStrings(lang, listName string) MailStrings {
	if lang == "en" {
		if listName == "" {
			listName = "this newsletter"
		}
		return MailStrings{
			FurtherReading: "Further reading",
			Unsubscribe:    "Unsubscribe",
			ViewInBrowser:  "View in browser",
			Reason:         "You are receiving this email because you subscribed to " + listName + ".",
			SentTo:         "This email was sent to",
			Because:        " because you subscribed to " + listName + ".",
		}
	}
	if listName == "" {
		listName = "diesen Newsletter"
	}
	return MailStrings{
		FurtherReading: "Zum Weiterlesen",
		Unsubscribe:    "Abmelden",
		ViewInBrowser:  "Im Browser ansehen",
		Reason:         "Sie erhalten diese E-Mail, weil Sie " + listName + " abonniert haben.",
		SentTo:         "Diese E-Mail ging an",
		Because:        ", weil Sie " + listName + " abonniert haben.",
	}
}

// Recipient is who one copy of a mail is for.
type Recipient struct {
	Email          string
	Name           string
	UnsubscribeURL string // BASE_URL/unsubscribe?token=T
}

// RenderedMail is one personalised message. Strings, because the mail
// library takes bodies as strings and strings.Builder hands its buffer over
// without a copy: each part costs exactly one allocation.
type RenderedMail struct {
	Subject string
	Text    string // text/plain, UTF-8, wrapped at 72
	HTML    string // text/html with inline CSS
	// UnsubscribeURL is the link of a list mail (a column, a welcome, a
	// proof's placeholder), for its List-Unsubscribe header as for its
	// footer; empty for a service mail (the confirmation), which has no
	// List-* headers.
	UnsubscribeURL string
}

// MailData is what the mail templates get. In the HTML templates Body is
// the rendered article; in the text template TextBody is the wrapped text.
type MailData struct {
	Lang         string
	ListName     string
	BaseURL      string
	ArchiveURL   string // "view in browser"
	Column       *columns.Column
	Preheader    string
	Body         htmltemplate.HTML // body.html.tmpl's output (HTML part)
	MarkdownHTML htmltemplate.HTML // a Markdown column's body (body.html.tmpl)
	TextBody     string            // wrapped body and further reading (text part)
	Imprint      string
	ImprintLines []string
	Recipient    Recipient // placeholders, filled in by PreparedMail.Personalize
	L            MailStrings
}

// MailRenderer renders columns into mails. Its templates are parsed once,
// in NewMailRenderer; it is safe for concurrent use.
type MailRenderer struct {
	opts  MailOptions
	html  *htmltemplate.Template // column.html.tmpl with body.html.tmpl
	text  *texttemplate.Template
	slots [SlotCount]string // placeholder per slot, see Slot
}

// Slot is a per-recipient value in a prepared mail.
type Slot int

// The per-recipient values of a column mail.
const (
	SlotEmail Slot = iota
	SlotName
	SlotUnsubscribe
	SlotCount // the number of slots, not a slot
)

// NewMailRenderer parses the mail templates (and overrides) and renders a
// sample column with them, so a broken template fails here, at start-up,
// naming its file.
func NewMailRenderer(opts MailOptions) (*MailRenderer, error) {
	switch opts.Lang {
	case "":
		opts.Lang = "de"
	case "de", "en":
	default:
		return nil, fmt.Errorf("mail language %q: want de or en", opts.Lang)
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	r := &MailRenderer{opts: opts}

	// Placeholders are letters and digits only, so no escaper, URL
	// normaliser or HTML serialiser along the way changes them; the random
	// part keeps a column's own text from ever matching one.
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("mail placeholders: %w", err)
	}
	for i := range r.slots {
		r.slots[i] = "QzQ" + hex.EncodeToString(nonce[:]) + string(rune('a'+i)) + "QzQ"
	}

	funcs := map[string]any{
		"linkify":      mailLinkify,
		"preheaderPad": mailPreheaderPad,
		"wrap":         func(s string) string { return mailWrap(s, MailTextWidth, "", "") },
		"underline":    mailUnderline,
		"linkLine":     mailLinkLine,
	}
	var used []string // override files, for error messages
	read := func(name string) (src, origin string, err error) {
		b, origin, err := readMailTemplate(opts.OverrideDir, name)
		if err != nil {
			return "", origin, err
		}
		if origin != "mail/"+name {
			used = append(used, origin)
		}
		return string(b), origin, nil
	}

	src, origin, err := read(mailHTMLFile)
	if err != nil {
		return nil, err
	}
	h, err := htmltemplate.New(mailHTMLFile).Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("mail template %s: %w", origin, err)
	}
	if src, origin, err = read(mailBodyFile); err != nil {
		return nil, err
	}
	if _, err := h.New(mailBodyFile).Parse(src); err != nil {
		return nil, fmt.Errorf("mail template %s: %w", origin, err)
	}
	r.html = h

	if src, origin, err = read(mailTextFile); err != nil {
		return nil, err
	}
	t, err := texttemplate.New(mailTextFile).Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("mail template %s: %w", origin, err)
	}
	r.text = t

	if _, err := r.Prepare(mailSampleColumn()); err != nil {
		if len(used) > 0 {
			return nil, fmt.Errorf("mail templates (overrides: %s): %w", strings.Join(used, ", "), err)
		}
		return nil, err
	}
	return r, nil
}

// readMailTemplate returns the override for name if OverrideDir has one,
// else the embedded file, and where it came from.
func readMailTemplate(dir, name string) ([]byte, string, error) {
	return readOverridable(mailFS, dir, "mail", name, "mail template", true)
}

// mailSampleColumn exercises every part of the templates at start-up.
func mailSampleColumn() *columns.Column {
	return &columns.Column{
		Series: "SAMPLE", Number: 1, Title: "Sample", TitleLine: "SAMPLE 001: Sample",
		Subject: "SAMPLE 001: Sample", Preheader: "Sample", Format: columns.FormatText,
		Blocks: []columns.Block{{Kind: columns.BlockParagraph, Text: "Text with https://example.org/ in it."}},
		Links:  []columns.Link{{Label: "Label", URL: "https://example.org/a"}, {URL: "https://example.org/b"}},
	}
}

// mailPreheaderPad follows the hidden preheader with invisible characters,
// so inbox previews do not fill up with the start of the mail.
func mailPreheaderPad() htmltemplate.HTML {
	return htmltemplate.HTML(strings.Repeat("&#847;&zwnj;&nbsp;", 40))
}

// PreparedMail is a column rendered once, with per-recipient placeholders.
// Personalize fills them in by concatenation, so sending to many readers
// costs no template work. Safe for concurrent use.
type PreparedMail struct {
	col        *columns.Column
	subject    string
	archiveURL string
	body       htmltemplate.HTML
	text, html Part
}

// Prepare renders c once: HTML (CSS inlined by premailer) and text.
func (r *MailRenderer) Prepare(c *columns.Column) (*PreparedMail, error) {
	d := r.mailData(c)
	body, err := r.bodyHTML(&d)
	if err != nil {
		return nil, err
	}
	d.Body = body

	var hb bytes.Buffer
	if err := r.html.ExecuteTemplate(&hb, mailHTMLFile, &d); err != nil {
		return nil, fmt.Errorf("render column %d (HTML): %w", c.Number, err)
	}
	pm, err := premailer.NewPremailerFromBytes(hb.Bytes(), premailer.NewOptions())
	if err != nil {
		return nil, fmt.Errorf("render column %d: inline CSS: %w", c.Number, err)
	}
	html, err := pm.Transform()
	if err != nil {
		return nil, fmt.Errorf("render column %d: inline CSS: %w", c.Number, err)
	}
	if !strings.HasPrefix(strings.TrimSpace(strings.ToLower(html)), "<!doctype") {
		html = "<!DOCTYPE html>\n" + html
	}

	d.TextBody = columnText(c, d.L.FurtherReading)
	var tb bytes.Buffer
	if err := r.text.Execute(&tb, &d); err != nil {
		return nil, fmt.Errorf("render column %d (text): %w", c.Number, err)
	}
	txt := strings.TrimRight(tb.String(), "\n") + "\n"

	return &PreparedMail{
		col:        c,
		subject:    c.Subject,
		archiveURL: d.ArchiveURL,
		body:       body,
		text:       r.split(txt),
		html:       r.split(html),
	}, nil
}

// BodyHTML renders only the article text of c (no title, no further
// reading, no mail chrome), for the web archive page.
func (r *MailRenderer) BodyHTML(c *columns.Column) (htmltemplate.HTML, error) {
	d := r.mailData(c)
	return r.bodyHTML(&d)
}

func (r *MailRenderer) bodyHTML(d *MailData) (htmltemplate.HTML, error) {
	var b bytes.Buffer
	if err := r.html.ExecuteTemplate(&b, mailBodyFile, d); err != nil {
		return "", fmt.Errorf("render column %d (body): %w", d.Column.Number, err)
	}
	return htmltemplate.HTML(b.String()), nil
}

func (r *MailRenderer) mailData(c *columns.Column) MailData {
	list := r.opts.ListName
	if list == "" {
		list = c.Series
	}
	d := MailData{
		Lang:         r.opts.Lang,
		ListName:     list,
		BaseURL:      r.opts.BaseURL,
		ArchiveURL:   r.archiveURL(c),
		Column:       c,
		Preheader:    c.Preheader,
		MarkdownHTML: htmltemplate.HTML(c.MarkdownHTML()),
		Imprint:      strings.TrimSpace(r.opts.Imprint),
		Recipient: Recipient{
			Email:          r.slots[SlotEmail],
			Name:           r.slots[SlotName],
			UnsubscribeURL: r.slots[SlotUnsubscribe],
		},
		L: mailStrings(r.opts.Lang, list),
	}
	d.ImprintLines = imprintLines(d.Imprint)
	return d
}

// imprintLines splits a multi-line imprint into the lines a footer shows.
func imprintLines(imprint string) []string {
	if imprint == "" {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(imprint, "\r\n", "\n"), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	return lines
}

func (r *MailRenderer) archiveURL(c *columns.Column) string {
	return r.opts.BaseURL + "/archive/" + strconv.Itoa(c.Number)
}

// split cuts s at the placeholders.
func (r *MailRenderer) split(s string) Part {
	prefix := r.slots[0][:len(r.slots[0])-4] // "QzQ<nonce>": all slots share it
	var m Part
	static := 0 // s[:static] is static text already scanned
	for {
		i := strings.Index(s[static:], prefix)
		if i < 0 {
			break
		}
		i += static
		found := false
		for k, tok := range r.slots {
			if strings.HasPrefix(s[i:], tok) {
				m.Static = append(m.Static, s[:i])
				m.Slots = append(m.Slots, Slot(k))
				s, static = s[i+len(tok):], 0
				found = true
				break
			}
		}
		if !found { // cannot happen with our tokens; keep the text as is
			static = i + len(prefix)
		}
	}
	m.Static = append(m.Static, s)
	return m
}

// Personalize fills in one recipient. Values are HTML-escaped for the HTML
// part; in the text part line breaks are flattened, and an unsubscribe URL
// that is not http(s) is replaced, as html/template would.
func (p *PreparedMail) Personalize(rc Recipient) RenderedMail {
	tv, hv := p.Values(rc)
	return RenderedMail{
		Subject:        p.subject,
		Text:           p.text.Fill(&tv),
		HTML:           p.html.Fill(&hv),
		UnsubscribeURL: rc.UnsubscribeURL,
	}
}

// Subject is the mail's subject: the column's title line or front-matter
// subject.
func (p *PreparedMail) Subject() string { return p.subject }

// ArchiveURL is the column's web page, the "view in browser" link.
func (p *PreparedMail) ArchiveURL() string { return p.archiveURL }

// Column is the column this mail was prepared from.
func (p *PreparedMail) Column() *columns.Column { return p.col }

// BodyHTML is the column's article text as HTML, without title, further
// reading (Column().Links) and mail chrome, for the web archive page. It
// carries no inline styles: the page styles it.
func (p *PreparedMail) BodyHTML() htmltemplate.HTML { return p.body }

// mailHTMLEscape escapes for HTML text and quoted attributes; most values
// need nothing, and then nothing is allocated.
func mailHTMLEscape(s string) string {
	if !strings.ContainsAny(s, `<>&'"`) {
		return s
	}
	return htmltemplate.HTMLEscapeString(s)
}

// mailTextValue keeps a value on one line of the text part.
func mailTextValue(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// PreviewRecipient is the placeholder reader `newsletter preview` renders
// for.
func PreviewRecipient(baseURL string) Recipient {
	return Recipient{
		Email:          "leser@example.org",
		Name:           "Leserin",
		UnsubscribeURL: strings.TrimRight(baseURL, "/") + "/unsubscribe?token=PREVIEW",
	}
}
