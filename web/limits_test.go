package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"newsletter/subscribers"
)

// postChunked posts body without a Content-Length, as a chunked stream.
func (e *webEnv) postChunked(path, ctype, body string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, struct{ io.Reader }{strings.NewReader(body)})
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// An oversized body gets 413 on every route, whether its size is declared
// or it comes chunked; before, /confirm and /unsubscribe answered a
// chunked one with 400 "this link does not work".
func TestOversizedBodyIs413Everywhere(t *testing.T) {
	e := newWebEnv(t, nil)
	sub, err := e.store.Add(context.Background(), subscribers.AddParams{Email: "stay@example.org", Confirmed: true, ConsentNote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	unsub := "/unsubscribe?token=" + e.store.UnsubscribeToken(sub.ID)
	pad := strings.Repeat("x", 1<<20)
	form := "List-Unsubscribe=One-Click&token=abc&email=a%40example.org&pad=" + pad
	multi := "--XX\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\n" + pad + "\r\n--XX--\r\n"
	for _, path := range []string{"/subscribe", "/confirm", "/unsubscribe", unsub} {
		for _, b := range []struct{ ctype, body string }{
			{"application/x-www-form-urlencoded", form},
			{"multipart/form-data; boundary=XX", multi},
		} {
			if got := e.postChunked(path, b.ctype, b.body); got != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked %s to %s: %d, want 413", b.ctype, path, got)
			}
			res := e.do(http.MethodPost, path, strings.NewReader(b.body), map[string]string{"Content-Type": b.ctype})
			if res.status != http.StatusRequestEntityTooLarge {
				t.Errorf("declared %s to %s: %d, want 413", b.ctype, path, res.status)
			}
		}
	}
	// Routes that read no body refuse a declared oversized one too.
	for _, path := range []string{"/", "/archive", "/nope"} {
		if res := e.do(http.MethodGet, path, strings.NewReader(form), nil); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("GET %s with a declared 1 MB body: %d, want 413", path, res.status)
		}
	}
	if got := e.status("stay@example.org"); got != subscribers.StatusActive {
		t.Errorf("an oversized one-click body unsubscribed: %s", got)
	}
	if n := e.subscriberCount(); n != 1 {
		t.Errorf("%d subscribers stored", n)
	}
}

// A script on the author's site reads the 413 too: CORS runs before the
// body limit, and only for the form.
func TestOversizedBodyReadableByAllowedOrigin(t *testing.T) {
	e := newWebEnv(t, func(c *Config) { c.AllowedOrigins = []string{"https://author.example"} })
	big := `{"email":"a@example.org","name":"` + strings.Repeat("x", 20<<10) + `"}`
	res := e.do(http.MethodPost, "/subscribe", strings.NewReader(big), map[string]string{
		"Origin": "https://author.example", "Content-Type": "application/json", "Accept": "application/json"})
	if res.status != http.StatusRequestEntityTooLarge || res.header.Get("Access-Control-Allow-Origin") != "https://author.example" {
		t.Fatalf("413 for the author's script: %d %v", res.status, res.header)
	}
	pre := e.do(http.MethodOptions, "/archive", nil, map[string]string{"Origin": "https://author.example", "Access-Control-Request-Method": "GET"})
	if pre.header.Get("Access-Control-Allow-Origin") != "" || pre.status != http.StatusMethodNotAllowed {
		t.Errorf("CORS beyond the form: %d %v", pre.status, pre.header)
	}
}
