package web

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"newsletter/columns"
	"newsletter/mailer"
)

// feedEntries is how many columns /archive.atom carries: the newest.
const feedEntries = 20

// ArchiveFeed gives the newest sent columns with when their campaigns
// started, for /archive.atom; *mailer.Archive is one.
type ArchiveFeed interface {
	Newest(ctx context.Context, n int) ([]mailer.SentColumn, error)
}

var _ ArchiveFeed = (*mailer.Archive)(nil)

// The Atom document (RFC 4287), as much of it as the archive needs.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Lang    string      `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
	ID      string      `xml:"id"`
	Title   atomText    `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomEntry struct {
	ID        string   `xml:"id"`
	Title     atomText `xml:"title"`
	Published string   `xml:"published"`
	Updated   string   `xml:"updated"`
	Link      atomLink `xml:"link"`
	Content   atomText `xml:"content"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

// handleArchiveFeed serves the newest sent columns as an Atom feed, with
// the article as the archive page shows it. Entry ids are the columns'
// archive URLs: a column number has one campaign, ever, so they stay.
// Feed readers poll, so it is cached like the archive pages. A sent column
// never changes, so the feed of a set of sent columns is built once and
// kept with the articles (bodyCache): a request costs the list of columns,
// not the feed, which carries every article and may be tens of megabytes.
func (s *Server) handleArchiveFeed(w http.ResponseWriter, r *http.Request) {
	var sent []mailer.SentColumn
	if s.feed != nil {
		var err error
		if sent, err = s.feed.Newest(r.Context(), feedEntries); err != nil {
			s.fail(w, r, s.lang(r), err)
			return
		}
	}
	base := s.publicURL(r)
	key := feedKey(base, sent)
	h := w.Header()
	if r.Method == http.MethodHead {
		// A HEAD needs no body: nothing is built for it, and the length
		// is told only when the feed is kept.
		if feed, ok := s.bodies.peek(key); ok {
			h.Set("Content-Length", strconv.Itoa(len(feed)))
		}
		h.Set("Content-Type", "application/atom+xml; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		return
	}
	feed, err := s.bodies.keep(r.Context(), key, func(ctx context.Context) ([]byte, error) {
		return s.buildFeed(ctx, base, sent)
	})
	if err != nil {
		s.fail(w, r, s.cfg.Lang, err)
		return
	}
	h.Set("Content-Type", "application/atom+xml; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Content-Length", strconv.Itoa(len(feed)))
	_, _ = w.Write(feed)
}

// feedKey names the feed of sent as served from base: a column number has
// one campaign, ever, and the campaign's start tells a column sent again
// after its campaign was deleted.
func feedKey(base string, sent []mailer.SentColumn) string {
	var b strings.Builder
	b.WriteString("feed " + base)
	for _, sc := range sent {
		b.WriteString(" " + strconv.Itoa(sc.Column.Number) + "@" + strconv.FormatInt(sc.Started.UnixNano(), 10))
	}
	return b.String()
}

// buildFeed renders the Atom document of sent, with base before its links.
func (s *Server) buildFeed(ctx context.Context, base string, sent []mailer.SentColumn) ([]byte, error) {
	lang := s.cfg.Lang
	title := s.cfg.ListName
	if title == "" {
		title = "Newsletter"
	}
	feed := atomFeed{
		Lang:  lang,
		ID:    base + "/archive.atom",
		Title: atomText{Type: "text", Body: title},
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: base + "/archive.atom"},
			{Rel: "alternate", Type: "text/html", Href: base + "/archive"},
		},
		Author: atomPerson{Name: title},
	}
	var newest time.Time
	for _, sc := range sent {
		c := sc.Column
		// The publish date is when the author meant it to appear; a
		// column without one appeared when its campaign started.
		date := c.Date
		if date.IsZero() {
			date = sc.Started
		}
		if date.After(newest) {
			newest = date
		}
		body, err := s.bodies.get(ctx, c)
		if err != nil {
			return nil, err
		}
		link := base + "/archive/" + strconv.Itoa(c.Number)
		feed.Entries = append(feed.Entries, atomEntry{
			ID:        link,
			Title:     atomText{Type: "text", Body: c.TitleLine},
			Published: date.Format(time.RFC3339),
			Updated:   date.Format(time.RFC3339),
			Link:      atomLink{Rel: "alternate", Type: "text/html", Href: link},
			Content:   atomText{Type: "html", Body: feedContent(string(body), c.Links, s.pages.T(lang, "further_reading"))},
		})
	}
	if newest.IsZero() {
		newest = time.Now() // an empty feed still needs a date
	}
	feed.Updated = newest.Format(time.RFC3339)

	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(feed); err != nil {
		return nil, fmt.Errorf("archive feed: %w", err)
	}
	buf.WriteByte('\n')
	// The buffer grew by doubling; what is kept should be the feed's size.
	return bytes.Clone(buf.Bytes()), nil
}

// feedContent is a column's article as the archive page shows it: the
// body, then the further-reading list, which the body leaves out.
func feedContent(body string, links []columns.Link, heading string) string {
	if len(links) == 0 {
		return body
	}
	var b strings.Builder
	b.WriteString(body)
	b.WriteString("\n<h2>" + html.EscapeString(heading) + "</h2>\n<ul>\n")
	for _, l := range links {
		b.WriteString("<li>")
		if l.Label != "" {
			b.WriteString(html.EscapeString(l.Label) + ": ")
		}
		u := html.EscapeString(l.URL)
		if columns.IsWebURL(l.URL) {
			b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		} else {
			b.WriteString(u)
		}
		b.WriteString("</li>\n")
	}
	b.WriteString("</ul>")
	return b.String()
}

// publicURL is --base-url, or what the request was addressed to when the
// web side was built without one.
func (s *Server) publicURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
