package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"newsletter/templates"
)

// lang picks the page language: an explicit ?lang= wins, then the
// browser's Accept-Language among the languages we have, then Config.Lang.
func (s *Server) lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" && s.pages.Lang(l) == l {
		return l
	}
	if l := negotiateLang(r.Header.Get("Accept-Language"), templates.PageLangs()); l != "" {
		return l
	}
	return s.cfg.Lang
}

// negotiateLang returns the language of have the Accept-Language header
// likes best, or "" when it likes none of them.
func negotiateLang(header string, have []string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				q = 0
			}
		}
		for _, h := range have {
			if h == primary && q > bestQ {
				best, bestQ = h, q
			}
		}
	}
	return best
}

// render writes a page with status. Rendering goes to a buffer first, so a
// template error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, lang, titleKey string, data any) {
	if page, ok := s.renderPage(w, r, name, lang, titleKey, data); ok {
		s.writePage(w, status, lang, []byte(page))
	}
}

// renderPage renders a page into a string; when that fails it answers 500
// and reports false.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, name, lang, titleKey string, data any) (string, bool) {
	var buf strings.Builder
	if err := s.pages.Render(&buf, name, lang, titleKey, data); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return "", false
	}
	return buf.String(), true
}

// writePage writes a rendered page, given in parts that are written one
// after the other.
func (s *Server) writePage(w http.ResponseWriter, status int, lang string, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", s.pages.Lang(lang))
	h.Set("Content-Length", strconv.Itoa(n))
	varyLanguage(h)
	w.WriteHeader(status)
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return // the client went away
		}
	}
}

// handleCSS serves the one stylesheet of the pages.
func (s *Server) handleCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.pages.CSS())
}

// wantsJSON reports whether the client (an embedded form's script) asked
// for JSON rather than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// jsonAnswer is the JSON body for embedded forms.
type jsonAnswer struct {
	Status  string            `json:"status"` // "ok", "invalid" or "error"
	Message string            `json:"message,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"` // field → message
}

// writeJSON writes v; every JSON answer carries words in the reader's
// language.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	varyLanguage(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// varyLanguage tells caches that the answer follows Accept-Language: every
// page and JSON answer is in the language lang negotiates, and the archive
// is Cache-Control: public.
func varyLanguage(h http.Header) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Accept-Language") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Language")
}
