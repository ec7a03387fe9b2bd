package web

import (
	"fmt"
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

// corsAllowed reports whether a script on origin may post the subscribe
// form and read the answer (--allowed-origins).
func (s *Server) corsAllowed(origin string) bool { return s.allowed.has(origin) }
