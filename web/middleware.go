package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
	"github.com/go-chi/httprate"
)

type ctxKey int

const clientIPKey ctxKey = iota

// clientIP returns the client address found by the findClientIP middleware.
func clientIP(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey).(string)
	return s
}

// findClientIP finds the client's address for evidence and rate limits. The
// X-Forwarded-For header is believed only when the connection comes from a
// trusted proxy, and then only up to the first hop that is not trusted:
// anything further left could have been written by the client.
func (s *Server) findClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := remoteIP(r.RemoteAddr, s.cfg.TrustedProxies, r.Header.Values("X-Forwarded-For"))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey, ip)))
	})
}

func remoteIP(remoteAddr string, trusted []netip.Prefix, xff []string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(addr) {
		return addr.String()
	}
	var hops []string
	for _, h := range xff {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last hop we could read
		}
		addr = a.Unmap()
		if !isTrusted(addr) {
			break
		}
	}
	return addr.String()
}

// securityHeaders sets the headers every answer carries. The pages need no
// script at all, so the policy allows none; styles come only from our own
// stylesheet; nobody may frame us (clickjacking a one-click unsubscribe).
// No-referrer keeps the tokens in our URLs from leaking to linked sites.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// logRequests logs each request with slog and feeds the duration metric.
// Only the path is logged: query strings carry tokens.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		d := time.Since(start)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		if s.metrics != nil {
			s.metrics.observeRequest(methodLabel(r.Method), routeLabel(r), status, d)
		}
		s.log.LogAttrs(r.Context(), levelFor(status), "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.Int("bytes", ww.BytesWritten()), slog.Duration("took", d))
	})
}

// limitBody refuses bodies over the limit with 413 on every route and
// method, before the route answers: at once when the client says so in
// Content-Length, else (a chunked body, of unknown size) by reading it
// here, up to the limit, and handing the route what was read. A route that
// reads no body would otherwise answer a chunked one as if it were small.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.bodyLimit(r) // a relay's webhook takes more than a form
		if r.ContentLength > limit {
			s.fail(w, r, s.lang(r), &http.MaxBytesError{Limit: limit})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if r.ContentLength < 0 {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				s.fail(w, r, s.lang(r), badForm(err)) // over the limit stays 413
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

// allowOrigins lets the author's own site post the subscribe form with a
// script (CORS); a plain HTML form posts without it. It runs before the
// routes, ahead of limitBody, so that a script also reads a 413; the
// preflight goes on to the OPTIONS route.
func (s *Server) allowOrigins() func(http.Handler) http.Handler {
	if len(s.cfg.AllowedOrigins) == 0 {
		return passThrough
	}
	return cors.Handler(cors.Options{
		AllowedOrigins: s.cfg.AllowedOrigins,
		AllowedMethods: []string{http.MethodPost},
		AllowedHeaders: []string{"Accept", "Content-Type"},
		MaxAge:         600,
		// Only the form may be posted or read from other sites.
		AllowOriginFunc:    func(r *http.Request, origin string) bool { return r.URL.Path == "/subscribe" && s.corsAllowed(origin) },
		OptionsPassthrough: true,
	})
}

// limitPerIP allows Config.IPRateLimit requests per minute per client
// address; each call makes a new budget.
func (s *Server) limitPerIP() func(http.Handler) http.Handler {
	if s.cfg.IPRateLimit <= 0 {
		return passThrough
	}
	return httprate.LimitBy(s.cfg.IPRateLimit, time.Minute,
		func(r *http.Request) (string, error) { return httprate.CanonicalizeIP(clientIP(r.Context())), nil },
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, s.lang(r), errTooManyRequests) }))
}

func passThrough(next http.Handler) http.Handler { return next }

// recoverPanics turns a panic in a handler into a logged internal error.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.fail(w, r, s.cfg.Lang, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// levelFor logs server errors louder than the rest.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
