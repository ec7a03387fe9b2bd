package subscribers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

type ctxKey int

const clientIPKey ctxKey = iota

// ClientIP returns the client address found by the clientIP middleware.
func ClientIP(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey).(string)
	return s
}

// clientIP finds the client's address for evidence and rate limits. The
// X-Forwarded-For header is believed only when the connection comes from a
// trusted proxy, and then only up to the first hop that is not trusted:
// anything further left could have been written by the client.
func (w *Web) clientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ip := remoteIP(r.RemoteAddr, w.cfg.TrustedProxies, r.Header.Values("X-Forwarded-For"))
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), clientIPKey, ip)))
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
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(rw, r)
	})
}

// logRequests logs each request with slog and feeds the duration metric.
// Only the path is logged: query strings carry tokens.
func (w *Web) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(rw, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		d := time.Since(start)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		if w.metrics != nil {
			w.metrics.observeRequest(r.Method, route, status, d)
		}
		w.log.LogAttrs(r.Context(), levelFor(status), "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.Int("bytes", ww.BytesWritten()), slog.Duration("took", d))
	})
}

// limitBody refuses bodies over the limit: at once when the client says so
// in Content-Length, else when reading passes it (the handlers then get an
// *http.MaxBytesError and answer 413).
func (w *Web) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.ContentLength > w.cfg.MaxBody {
			w.fail(rw, r, w.lang(r), &http.MaxBytesError{Limit: w.cfg.MaxBody})
			return
		}
		r.Body = http.MaxBytesReader(rw, r.Body, w.cfg.MaxBody)
		next.ServeHTTP(rw, r)
	})
}

// recoverPanics turns a panic in a handler into a logged internal error.
func (w *Web) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				w.fail(rw, r, w.cfg.Lang, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// levelFor logs server errors louder than the rest.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
