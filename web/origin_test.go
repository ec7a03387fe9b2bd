package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// A page on another site must not make its visitors' browsers post our
// forms: their IP and user agent would become the consent evidence, and
// the per-IP limit would count each visitor separately.
func TestForeignOriginGets403(t *testing.T) {
	e := newWebEnv(t, func(c *Config) {
		c.BaseURL = "https://news.example.org/"
		c.AllowedOrigins = []string{"https://author.example"}
	})
	form := url.Values{"email": {"o@example.org"}}
	for _, tt := range []struct {
		origin, site string // Origin, Sec-Fetch-Site
		status       int
	}{
		{"", "", http.StatusOK}, // no Origin: curl, old browsers, servers
		{"https://news.example.org", "same-origin", http.StatusOK},
		{"https://NEWS.example.org:443", "", http.StatusOK},
		{"https://author.example", "cross-site", http.StatusOK},
		{"https://evil.example", "cross-site", http.StatusForbidden},
		{"https://evil.example", "", http.StatusForbidden},
		{"https://evil.example", "same-origin", http.StatusForbidden}, // not from a browser: the Origin decides
		{"http://news.example.org", "", http.StatusForbidden},         // another scheme is another origin
		{"https://news.example.org.evil.example", "cross-site", http.StatusForbidden},
		{"https://blog.news.example.org", "same-site", http.StatusForbidden},
		// "null": a sandboxed frame or a no-referrer page, foreign or ours.
		{"null", "cross-site", http.StatusForbidden},
		{"null", "same-site", http.StatusForbidden},
		{"null", "same-origin", http.StatusOK}, // our own no-referrer page
		{"null", "", http.StatusOK},            // a browser too old to say: as without Origin
	} {
		h := map[string]string{}
		if tt.origin != "" {
			h["Origin"] = tt.origin
		}
		if tt.site != "" {
			h["Sec-Fetch-Site"] = tt.site
		}
		res := e.postForm("/subscribe", form, h)
		if res.status != tt.status {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %d, want %d\n%s", tt.origin, tt.site, res.status, tt.status, res.body)
		}
		if tt.status == http.StatusForbidden && !strings.Contains(res.body, "nur von den Seiten") {
			t.Errorf("Origin %q: the 403 page does not say why:\n%s", tt.origin, res.body)
		}
	}
	res := e.do(http.MethodPost, "/subscribe", strings.NewReader(`{"email":"j@example.org"}`), map[string]string{
		"Origin": "https://evil.example", "Content-Type": "application/json", "Accept": "application/json"})
	if res.status != http.StatusForbidden || !strings.Contains(res.body, `"status":"error"`) {
		t.Errorf("JSON from a foreign origin: %d %s", res.status, res.body)
	}
	if e.stored("j@example.org") {
		t.Errorf("a foreign post was stored")
	}

	// Confirm: a foreign post is refused and confirms nobody.
	ctx := context.Background()
	e.subscribe("c@example.org", "")
	items := testkit.DueOutbox(t, e.db)
	m, err := e.optin.RenderOutbox(ctx, items[len(items)-1])
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(testkit.ConfirmLink(t, m.Text))
	tok := u.Query().Get("token")
	if res := e.postForm("/confirm", url.Values{"token": {tok}}, map[string]string{"Origin": "https://evil.example"}); res.status != http.StatusForbidden {
		t.Errorf("foreign confirm: %d", res.status)
	}
	if got := e.status("c@example.org"); got != subscribers.StatusPending {
		t.Fatalf("a foreign post confirmed: %s", got)
	}
	if res := e.postForm("/confirm", url.Values{"token": {tok}}, map[string]string{"Origin": "https://news.example.org"}); res.status != http.StatusOK {
		t.Errorf("confirm from our page: %d\n%s", res.status, res.body)
	}

	// Unsubscribe: the page's button from a foreign origin is refused ...
	sub, err := e.store.Add(ctx, subscribers.AddParams{Email: "u@example.org", Confirmed: true, ConsentNote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	unsub := "/unsubscribe?token=" + e.store.UnsubscribeToken(sub.ID)
	if res := e.postForm(unsub, nil, map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}); res.status != http.StatusForbidden {
		t.Errorf("foreign unsubscribe button: %d", res.status)
	}
	if got := e.status("u@example.org"); got != subscribers.StatusActive {
		t.Fatalf("a foreign post unsubscribed: %s", got)
	}
	// ... but an RFC 8058 one-click works whatever its Origin: a mail
	// provider posts from its servers (no Origin) or from the reader's
	// webmail (the webmail's origin), and the token is the capability.
	oneClick := url.Values{"List-Unsubscribe": {"One-Click"}}
	if res := e.postForm(unsub, oneClick, map[string]string{"Origin": "https://mail.example.com", "Sec-Fetch-Site": "cross-site"}); res.status != http.StatusOK {
		t.Errorf("one-click from a webmail: %d\n%s", res.status, res.body)
	}
	if got := e.status("u@example.org"); got != subscribers.StatusUnsubscribed {
		t.Fatalf("one-click: %s", got)
	}
	sub2, _ := e.store.Add(ctx, subscribers.AddParams{Email: "v@example.org", Confirmed: true, ConsentNote: "x"})
	if res := e.postForm("/unsubscribe?token="+e.store.UnsubscribeToken(sub2.ID), oneClick, nil); res.status != http.StatusOK {
		t.Errorf("one-click without Origin: %d", res.status)
	}
}

func TestOriginSet(t *testing.T) {
	o := newOriginSet([]string{"https://Author.example", "https://*.example.net", "http://host:8080"})
	for origin, want := range map[string]bool{
		"https://author.example":      true,
		"https://author.example:443":  true,
		"https://blog.example.net":    true,
		"https://example.net":         false,
		"http://host:8080":            true,
		"http://host":                 false,
		"https://author.example.evil": false,
		"null":                        false,
		"":                            false,
	} {
		if got := o.has(origin); got != want {
			t.Errorf("has(%q) = %v, want %v", origin, got, want)
		}
	}
	if !newOriginSet([]string{"*"}).has("https://any.example") {
		t.Error(`"*" does not allow every origin`)
	}
}
