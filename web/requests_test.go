package web

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// sendChunked sends body with method to path as a chunked stream (no
// Content-Length), with the headers given, without following redirects.
func (e *webEnv) sendChunked(method, path, body string, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, struct{ io.Reader }{strings.NewReader(body)})
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = -1
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

// A JSON subscribe body is read whole within the limit: data after the
// object is 400, and a body over the limit is 413, chunked or not, before
// anything is stored. Before, the decoder stopped after the first object,
// so a chunked object followed by 1 MB was accepted and stored.
func TestSubscribeJSONBodyReadWhole(t *testing.T) {
	e := newWebEnv(t, nil)
	js := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
	obj := func(n int) string { return `{"email":"j` + string(rune('0'+n)) + `@example.org","name":"J"}` }
	big := strings.Repeat("a", 1<<20)
	for i, c := range []struct {
		body    string
		chunked bool
		want    int
	}{
		{obj(1) + big, true, http.StatusRequestEntityTooLarge},
		{obj(2) + `{"x":"` + big + `"}`, true, http.StatusRequestEntityTooLarge},
		{obj(3) + `{"x":"` + big + `"}`, false, http.StatusRequestEntityTooLarge},
		{obj(4) + `{"x":"a"}`, false, http.StatusBadRequest},
		{obj(5) + `{"x":"a"}`, true, http.StatusBadRequest},
		{obj(6) + ` garbage`, false, http.StatusBadRequest},
	} {
		var res response
		if c.chunked {
			res = e.sendChunked(http.MethodPost, "/subscribe", c.body, js)
		} else {
			res = e.do(http.MethodPost, "/subscribe", strings.NewReader(c.body), js)
		}
		if res.status != c.want || !strings.Contains(res.body, `"status":"error"`) {
			t.Errorf("case %d (chunked %v): %d %.200s, want %d", i, c.chunked, res.status, res.body, c.want)
		}
	}
	if n := e.subscriberCount(); n != 0 {
		t.Errorf("%d subscribers stored from refused bodies", n)
	}
	// White space after the object is no data.
	if res := e.do(http.MethodPost, "/subscribe", strings.NewReader(obj(7)+" \r\n\t"), js); res.status != 200 || !e.stored("j7@example.org") {
		t.Errorf("an object with white space after it: %d %s", res.status, res.body)
	}
}

// An oversized body is 413 whatever the method and route, chunked or not:
// before, a chunked one to a route that reads no body got that route's
// answer (a POST to / got 405, a GET 200).
func TestOversizedChunkedBodyIs413OnEveryRoute(t *testing.T) {
	e := newWebEnv(t, nil)
	big := "pad=" + strings.Repeat("x", 1<<20)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/"},
		{http.MethodGet, "/"},
		{http.MethodPut, "/archive"},
		{http.MethodGet, "/archive/30"},
		{http.MethodPost, "/archive.atom"},
		{http.MethodDelete, "/subscribe"},
		{http.MethodPost, "/nope"},
		{http.MethodPost, "/webhooks/unknown"},
		{http.MethodGet, "/healthz"},
	} {
		if res := e.sendChunked(c.method, c.path, big, form); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked 1 MB %s %s: %d, want 413", c.method, c.path, res.status)
		}
		if res := e.do(c.method, c.path, strings.NewReader(big), form); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("declared 1 MB %s %s: %d, want 413", c.method, c.path, res.status)
		}
	}
	// A small chunked body still reaches the route.
	if res := e.sendChunked(http.MethodPost, "/subscribe", "email=small%40example.org", form); res.status != 200 || !e.stored("small@example.org") {
		t.Errorf("small chunked subscribe: %d", res.status)
	}
	if res := e.sendChunked(http.MethodPost, "/", "x=1", form); res.status != http.StatusMethodNotAllowed {
		t.Errorf("small chunked POST /: %d, want 405", res.status)
	}
}

// A 405 says in Allow which methods the route has (RFC 9110 15.5.6);
// before, it carried none.
func TestMethodNotAllowedSaysAllow(t *testing.T) {
	for _, c := range []struct {
		origins      []string
		method, path string
		allow        string
	}{
		{nil, http.MethodPost, "/", "GET, HEAD"},
		{nil, http.MethodPut, "/archive/30", "GET, HEAD"},
		{nil, http.MethodDelete, "/archive.atom", "GET, HEAD"},
		{nil, http.MethodGet, "/subscribe", "POST"},
		{nil, http.MethodHead, "/subscribe", "POST"},
		{nil, http.MethodPut, "/confirm", "GET, HEAD, POST"},
		{nil, http.MethodGet, "/webhooks/mailgun", "POST"},
		{[]string{"https://author.example"}, http.MethodGet, "/subscribe", "POST, OPTIONS"},
		{[]string{"https://author.example"}, http.MethodOptions, "/archive", "GET, HEAD"},
	} {
		e := newWebEnv(t, func(cfg *Config) { cfg.AllowedOrigins = c.origins })
		res := e.do(c.method, c.path, nil, nil)
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != c.allow {
			t.Errorf("%s %s (origins %v): %d, Allow %q, want 405 with %q", c.method, c.path, c.origins, res.status, res.header.Values("Allow"), c.allow)
		}
	}
}

// A column's page is served under one URL, /archive/N: other spellings of
// the number are redirected there, so a shared cache keeps one copy.
// Before, /archive/030, /archive/0030 and /archive/+30 each served the
// page with Cache-Control: public.
func TestArchiveColumnCanonicalURL(t *testing.T) {
	e := newWebEnv(t, nil)
	for _, c := range []struct{ path, want string }{
		{"/archive/030", "/archive/30"},
		{"/archive/0030", "/archive/30"},
		{"/archive/+30", "/archive/30"},
		{"/archive/030?utm_source=x", "/archive/30?utm_source=x"},
		{"/archive/0031", "/archive/31"}, // not sent: the canonical URL says 404
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			res := e.do(method, c.path, nil, nil)
			if res.status != http.StatusMovedPermanently || strings.Contains(res.header.Get("Cache-Control"), "public") {
				t.Errorf("%s %s: %d, Cache-Control %q, want 301 not public", method, c.path, res.status, res.header.Get("Cache-Control"))
				continue
			}
			base, _ := url.Parse(e.srv.URL + c.path)
			loc, err := base.Parse(res.header.Get("Location"))
			if err != nil || loc.RequestURI() != c.want {
				t.Errorf("%s %s: Location %q, want %s", method, c.path, res.header.Get("Location"), c.want)
			}
		}
	}
	for _, path := range []string{"/archive/-30", "/archive/0", "/archive/00", "/archive/+0", "/archive/3O", "/archive/%2B30"} {
		if res := e.get(path); res.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.status)
		}
	}
	if res := e.get("/archive/30"); res.status != 200 || res.header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("GET /archive/30: %d %q", res.status, res.header.Get("Cache-Control"))
	}
}
