package subscribers

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
)

type archiveView struct{ Columns []ArchiveEntry }

func (w *Web) handleArchive(rw http.ResponseWriter, r *http.Request) {
	var cols []ArchiveEntry
	if w.archive != nil {
		var err error
		if cols, err = w.archive.List(r.Context()); err != nil {
			w.fail(rw, r, w.lang(r), err)
			return
		}
	}
	rw.Header().Set("Cache-Control", "public, max-age=300")
	w.render(rw, r, http.StatusOK, "archive", w.lang(r), "archive_title", archiveView{Columns: cols})
}

// handleArchiveColumn shows one sent column; anything not sent is 404.
func (w *Web) handleArchiveColumn(rw http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(chi.URLParam(r, "number"))
	if err != nil || n <= 0 || w.archive == nil {
		w.fail(rw, r, w.lang(r), errPageNotFound)
		return
	}
	col, err := w.archive.Get(r.Context(), n)
	if err != nil {
		w.fail(rw, r, w.lang(r), err)
		return
	}
	rw.Header().Set("Cache-Control", "public, max-age=300")
	w.render(rw, r, http.StatusOK, "column", w.lang(r), "", col)
}

func (w *Web) handleCSS(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Content-Type", "text/css; charset=utf-8")
	rw.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = rw.Write(w.pages.CSS())
}

// handleHealth answers 200 while the database answers.
func (w *Web) handleHealth(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := w.ping(ctx); err != nil {
		w.log.ErrorContext(r.Context(), "health check: database does not answer", "err", err)
		http.Error(rw, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = rw.Write([]byte("ok\n"))
}

func (w *Web) handleMetrics(rw http.ResponseWriter, r *http.Request) {
	// Subscriber counts move when someone submits the form, so a public
	// /metrics would let anyone probe whether an address is on the list.
	// Only a scraper on this host, talking to us directly, gets them.
	if w.promh == nil || !directLoopback(r) {
		w.fail(rw, r, w.lang(r), errPageNotFound)
		return
	}
	w.promh.ServeHTTP(rw, r)
}

// directLoopback reports whether the request comes straight from this
// host: a loopback peer and no proxy header (a reverse proxy on the same
// host relays outside requests from loopback too).
func directLoopback(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
