package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Pages whose language follows Accept-Language say so in Vary, or a shared
// cache (the archive is Cache-Control: public) serves one reader's
// language to the next.
func TestVaryAcceptLanguage(t *testing.T) {
	e := newWebEnv(t, nil)
	varies := func(h http.Header) bool {
		for _, v := range h.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(f), "Accept-Language") {
					return true
				}
			}
		}
		return false
	}
	en := map[string]string{"Accept-Language": "en"}
	for _, path := range []string{"/", "/archive", "/archive/30", "/archive/31", "/nope", "/confirm?token=x", "/unsubscribe?token=x"} {
		res := e.do(http.MethodGet, path, nil, en)
		if !varies(res.header) {
			t.Errorf("GET %s: no Vary: Accept-Language in %v", path, res.header)
		}
		if strings.Count(strings.Join(res.header.Values("Vary"), ","), "Accept-Language") > 1 {
			t.Errorf("GET %s: Vary repeats itself: %v", path, res.header.Values("Vary"))
		}
	}
	for _, accept := range []string{"", "application/json"} {
		res := e.postForm("/subscribe", url.Values{"email": {"v@example.org"}}, map[string]string{"Accept": accept, "Accept-Language": "en"})
		if !varies(res.header) {
			t.Errorf("POST /subscribe (Accept %q): no Vary: Accept-Language", accept)
		}
	}
	// The stylesheet is the same for everyone.
	if res := e.get("/static/style.css"); varies(res.header) {
		t.Errorf("style.css varies by language")
	}
}
