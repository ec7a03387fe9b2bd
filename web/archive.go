package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"newsletter/columns"
)

// archiveView is what archive.html gets: the sent columns, newest first,
// without their articles.
type archiveView struct{ Columns []columnView }

// columnView is one sent column as the pages show it; column.html gets one
// with its article.
type columnView struct {
	Number    int
	Title     string
	TitleLine string
	Date      time.Time
	BodyHTML  template.HTML  // the article as the mail carries it; column.html only
	Links     []columns.Link // further reading, which BodyHTML leaves out
}

func newColumnView(c *columns.Column) columnView {
	return columnView{Number: c.Number, Title: c.Title, TitleLine: c.TitleLine, Date: c.Date, Links: c.Links}
}

// handleArchive lists the sent columns. The list is read on each request,
// so a column appears as soon as its campaign starts.
func (s *Server) handleArchive(w http.ResponseWriter, r *http.Request) {
	var view archiveView
	if s.archive != nil {
		cols, err := s.archive.Sent(r.Context())
		if err != nil {
			s.fail(w, r, s.lang(r), err)
			return
		}
		for _, c := range cols {
			view.Columns = append(view.Columns, newColumnView(c))
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	s.render(w, r, http.StatusOK, "archive", s.lang(r), "archive_title", view)
}

// handleArchiveColumn shows one sent column ("view in browser"); anything
// not sent is 404. The page has one URL, /archive/N: another spelling of
// the number (030, +30) is redirected there, so that a shared cache keeps
// one copy and a hand-typed link still works.
func (s *Server) handleArchiveColumn(w http.ResponseWriter, r *http.Request) {
	number := chi.URLParam(r, "number")
	n, err := strconv.Atoi(number)
	if err != nil || n <= 0 || s.archive == nil {
		s.fail(w, r, s.lang(r), errPageNotFound)
		return
	}
	if canonical := strconv.Itoa(n); number != canonical {
		// Relative to /archive/, so it holds behind a proxy that serves
		// us under a path; http.Redirect would make it absolute.
		if r.URL.RawQuery != "" {
			canonical += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", canonical)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	cols, err := s.archive.Sent(r.Context())
	if err != nil {
		s.fail(w, r, s.lang(r), err)
		return
	}
	var col *columns.Column
	for _, c := range cols {
		if c.Number == n {
			col = c
			break
		}
	}
	if col == nil {
		s.fail(w, r, s.lang(r), errPageNotFound)
		return
	}
	body, err := s.bodies.get(r.Context(), col)
	if err != nil {
		s.fail(w, r, s.lang(r), err)
		return
	}
	// The page is rendered around a marker, and the kept article is
	// written in its place: a request costs the page (a few KB), not the
	// article, which may be megabytes.
	lang := s.lang(r)
	view := newColumnView(col)
	view.BodyHTML = columnBodyMarker
	page, ok := s.renderPage(w, r, "column", lang, "", view)
	if !ok {
		return
	}
	pieces := strings.Split(page, string(columnBodyMarker))
	if len(pieces) == 1 {
		// A --templates column.html that shows the article otherwise than
		// as the default does: render it whole.
		view.BodyHTML = template.HTML(body)
		if page, ok = s.renderPage(w, r, "column", lang, "", view); !ok {
			return
		}
		pieces = []string{page}
	}
	parts := make([][]byte, 0, 2*len(pieces)-1)
	for i, p := range pieces {
		if i > 0 {
			parts = append(parts, body)
		}
		parts = append(parts, []byte(p))
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	s.writePage(w, http.StatusOK, lang, parts...)
}

// columnBodyMarker stands for the article on the column page. Text from
// columns and settings is escaped in pages, so only this can write it.
const columnBodyMarker = template.HTML("<!--newsletter:column-body-->")
