package web

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// Handler returns every route of the web side.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	// HEAD is answered like GET (link checkers use it); it changes nothing.
	// Every route refuses an oversized body with 413, declared or chunked.
	r.Use(s.recoverPanics, s.logRequests, securityHeaders, s.allowOrigins(), s.limitBody, s.findClientIP, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, s.lang(r), errPageNotFound) })
	r.MethodNotAllowed(s.methodNotAllowed(r))

	// Subscribe: the form, and its POST from our page or an embedded form
	// on --allowed-origins; the form POSTs from other sites get 403.
	r.Get("/", s.handleIndex)
	r.Group(func(r chi.Router) {
		r.Use(s.checkOrigin, s.limitPerIP())
		r.Post("/subscribe", s.handleSubscribe)
		if len(s.cfg.AllowedOrigins) > 0 {
			r.Options("/subscribe", func(http.ResponseWriter, *http.Request) {}) // the CORS preflight
		}
	})

	// Double opt-in and leaving: GET shows a button, only POST acts.
	r.Get("/confirm", s.handleConfirmPage)
	r.With(s.checkOrigin).Post("/confirm", s.handleConfirm)
	r.Get("/unsubscribe", s.handleUnsubscribePage)
	// Also the RFC 8058 one-click target: the handler checks the Origin of
	// all but one-click posts.
	r.Post("/unsubscribe", s.handleUnsubscribe)

	// Holding a column from the author's proof mail: GET shows a button,
	// only POST holds.
	r.Get("/hold", s.handleHoldPage)
	r.With(s.checkOrigin).Post("/hold", s.handleHold)

	// The sent columns ("view in browser" links point here).
	r.Get("/archive", s.handleArchive)
	r.Get("/archive/{number}", s.handleArchiveColumn)
	r.Get("/archive.atom", s.handleArchiveFeed)
	r.Get("/static/style.css", s.handleCSS)

	// Bounces and complaints from a relay, server to server: each relay
	// proves itself by its signature or password (webhooks.go), so no
	// Origin check; an unconfigured relay is 404.
	r.Post("/webhooks/{provider}", s.handleWebhook)

	// Operations.
	r.Get("/healthz", s.handleHealth)
	r.Get("/metrics", s.handleMetrics) // loopback only
	return r
}

// methodNotAllowed answers 405 with the methods routes has for the path in
// Allow, as RFC 9110 requires; HEAD is there wherever GET is (GetHead).
func (s *Server) methodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath // what chi routes by
		if path == "" {
			path = r.URL.Path
		}
		var allow []string
		get := false
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			ok := routes.Match(chi.NewRouteContext(), m, path)
			if m == http.MethodGet {
				get = ok
			}
			if ok || (m == http.MethodHead && get) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.fail(w, r, s.lang(r), errMethodNotAllowed)
	}
}
