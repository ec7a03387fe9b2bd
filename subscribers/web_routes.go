package subscribers

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
	"github.com/go-chi/httprate"
)

// Handler returns every route of the web side, readable top to bottom.
func (w *Web) Handler() http.Handler {
	r := chi.NewRouter()
	// HEAD is answered like GET (link checkers use it); it changes nothing.
	r.Use(w.recoverPanics, w.logRequests, securityHeaders, w.clientIP, middleware.GetHead)
	r.NotFound(func(rw http.ResponseWriter, r *http.Request) { w.fail(rw, r, w.lang(r), errPageNotFound) })
	r.MethodNotAllowed(func(rw http.ResponseWriter, r *http.Request) { w.fail(rw, r, w.lang(r), errMethodNotAllowed) })

	r.Get("/", w.handleIndex)
	r.Group(func(r chi.Router) {
		// The author's own site may post the form with a script (CORS);
		// a plain HTML form posts from anywhere without it.
		if len(w.cfg.AllowedOrigins) > 0 {
			r.Use(cors.Handler(cors.Options{
				AllowedOrigins: w.cfg.AllowedOrigins,
				AllowedMethods: []string{http.MethodPost},
				AllowedHeaders: []string{"Accept", "Content-Type"},
				MaxAge:         600,
			}))
		}
		r.Use(w.limitBody)
		if w.cfg.IPRateLimit > 0 {
			r.Use(httprate.LimitBy(w.cfg.IPRateLimit, time.Minute,
				func(r *http.Request) (string, error) { return httprate.CanonicalizeIP(ClientIP(r.Context())), nil },
				httprate.WithLimitHandler(func(rw http.ResponseWriter, r *http.Request) { w.fail(rw, r, w.lang(r), errTooManyRequests) })))
		}
		r.Post("/subscribe", w.handleSubscribe)
		if len(w.cfg.AllowedOrigins) > 0 {
			r.Options("/subscribe", func(http.ResponseWriter, *http.Request) {}) // the CORS preflight
		}
	})
	r.Get("/confirm", w.handleConfirmPage)
	r.With(w.limitBody).Post("/confirm", w.handleConfirm)
	r.Get("/unsubscribe", w.handleUnsubscribePage)
	r.With(w.limitBody).Post("/unsubscribe", w.handleUnsubscribe)
	r.Get("/archive", w.handleArchive)
	r.Get("/archive/{number}", w.handleArchiveColumn)
	r.Get("/static/style.css", w.handleCSS)
	r.Get("/healthz", w.handleHealth)
	r.Get("/metrics", w.handleMetrics)
	return r
}
