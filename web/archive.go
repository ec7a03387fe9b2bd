package web

import (
	"html/template"
	"net/http"
	"strconv"
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
// not sent is 404.
func (s *Server) handleArchiveColumn(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(chi.URLParam(r, "number"))
	if err != nil || n <= 0 || s.archive == nil {
		s.fail(w, r, s.lang(r), errPageNotFound)
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
	view := newColumnView(col)
	if view.BodyHTML, err = s.bodies.BodyHTML(col); err != nil {
		s.fail(w, r, s.lang(r), err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	s.render(w, r, http.StatusOK, "column", s.lang(r), "", view)
}
