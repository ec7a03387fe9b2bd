package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// originSet is a list of origins ("https://author.example") as the
// settings give them. An entry may hold one "*" standing for any run of
// characters ("https://*.example.org"), as for CORS; "*" alone is every
// origin.
type originSet struct {
	all   bool
	exact map[string]bool
	wild  [][2]string // prefix, suffix
}

func newOriginSet(list []string) originSet {
	o := originSet{exact: map[string]bool{}}
	for _, s := range list {
		s = strings.ToLower(s)
		switch pre, suf, ok := strings.Cut(s, "*"); {
		case s == "*":
			o.all = true
		case ok:
			o.wild = append(o.wild, [2]string{pre, suf})
		default:
			o.exact[canonicalOrigin(s)] = true
		}
	}
	return o
}

// has reports whether origin, as a browser sends it, is in the set.
func (o originSet) has(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	if o.all {
		return true
	}
	origin = canonicalOrigin(origin)
	if o.exact[origin] {
		return true
	}
	for _, w := range o.wild {
		if len(origin) >= len(w[0])+len(w[1]) && strings.HasPrefix(origin, w[0]) && strings.HasSuffix(origin, w[1]) {
			return true
		}
	}
	return false
}

// canonicalOrigin is s as browsers write an origin: lower case, without
// the default port, path or trailing slash. Anything that is not a URL is
// only lower-cased (it matches only itself).
func canonicalOrigin(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	host := u.Host
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host
}

// originOf is the origin of a base URL ("https://news.example.org/x" →
// "https://news.example.org").
func originOf(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("web: base URL %q is not a URL like https://news.example.org", baseURL)
	}
	return canonicalOrigin(u.Scheme + "://" + u.Host), nil
}

// checkOrigin refuses a form POST from a page on another site with 403: a
// browser names the page's origin in the Origin header, and only our own
// pages (--base-url) and --allowed-origins may post. Without an Origin the
// request is not from a browser form on a foreign page (curl, a mail
// provider's server, an old browser) and goes on.
//
// "null" needs a second look: a sandboxed frame or a page with
// Referrer-Policy: no-referrer sends it for a POST, and so do our own
// pages, which carry no-referrer to keep tokens out of other sites'
// logs. Sec-Fetch-Site, which no page can set, tells them apart:
// "same-origin" (or "none") is ours, "same-site" and "cross-site" are
// foreign. A browser too old to send Sec-Fetch-Site is let through, as
// one that sends no Origin is.
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.originError(r); err != nil {
			s.fail(w, r, s.lang(r), err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originError is errForeignOrigin when r comes from a page that may not
// post our forms; see checkOrigin.
func (s *Server) originError(r *http.Request) error {
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return nil
	case origin == "null":
		if site := r.Header.Get("Sec-Fetch-Site"); site == "" || site == "same-origin" || site == "none" {
			return nil
		}
	case s.baseOrigin != "" && canonicalOrigin(origin) == s.baseOrigin, s.allowed.has(origin):
		return nil
	}
	s.log.InfoContext(r.Context(), "form post from a foreign origin refused", "path", r.URL.Path,
		"origin", clip(origin, 200), "sec_fetch_site", clip(r.Header.Get("Sec-Fetch-Site"), 20))
	return errForeignOrigin
}

// clip shortens s, which came from outside, for a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// corsAllowed reports whether a script on origin may post the subscribe
// form and read the answer (--allowed-origins).
func (s *Server) corsAllowed(origin string) bool { return s.allowed.has(origin) }
