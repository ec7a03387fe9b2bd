package mailer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/subscribers"
	"newsletter/templates"
)

// testFeed serves an RSS document that the test changes, with an ETag, and
// counts requests and 304 answers.
type testFeed struct {
	*httptest.Server
	mu                    sync.Mutex
	items                 []string // <item> elements, newest first
	status                int
	garbage               bool
	delay                 time.Duration
	version               int
	requests, notModified int
}

func newTestFeed(t *testing.T) *testFeed {
	f := &testFeed{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		delay := f.delay
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests++
		if f.garbage {
			fmt.Fprint(w, "<html>Wartung</html>")
			return
		}
		if f.status != 0 {
			w.WriteHeader(f.status)
			return
		}
		etag := fmt.Sprintf(`"v%d"`, f.version)
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			f.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Blog</title><link>https://blog.example.org/</link>%s</channel></rss>`,
			strings.Join(f.items, ""))
	}))
	t.Cleanup(f.Close)
	return f
}

// add puts item n at the top of the feed (a new version of it).
func (f *testFeed) add(n int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	item := fmt.Sprintf(`<item><title>KNIEPUNKT %03d: Folge %d</title><link>https://blog.example.org/%d</link><pubDate>Mon, %02d Mar 2026 07:00:00 +0100</pubDate><content:encoded><![CDATA[%s]]></content:encoded></item>`,
		n, n, n, n%28+1, body)
	f.items = append([]string{item}, f.items...)
	f.version++
}

func (f *testFeed) set(fn func(*testFeed)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *testFeed) counts() (requests, notModified int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.notModified
}

// The scheduler's job with a feed: one Feed across runs, as in serve.
// A first run sends only the newest item; an unchanged feed costs a 304
// and sends nothing; a new item goes out alone; a failing or changed feed
// never sends a number twice.
func TestRunDueWithFeed(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	e.addSubscribers("a", 3, subscribers.StatusActive)
	feed := newTestFeed(t)
	feed.add(1, "<p>Eins.</p>")
	feed.add(2, "<p>Zwei.</p>")
	m := e.mailer(func(o *Options) {
		o.Feed = columns.NewFeed(feed.URL, columns.FeedOptions{Timeout: 200 * time.Millisecond})
	})

	sentColumns := func() map[string]int {
		got := map[string]int{}
		for _, msg := range e.srv.Messages() {
			for _, n := range []int{1, 2, 3} {
				if strings.Contains(string(msg.Data), fmt.Sprintf("KNIEPUNKT %03d", n)) {
					got[fmt.Sprint(n)]++
				}
			}
		}
		return got
	}
	run := func(what string, want map[string]int) {
		t.Helper()
		if _, err := m.RunDue(ctx, RunOptions{}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := sentColumns(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: sent %v, want %v", what, got, want)
		}
	}

	run("first run", map[string]int{"2": 3})
	run("unchanged feed", map[string]int{"2": 3})
	if req, nm := feed.counts(); req != 2 || nm != 1 {
		t.Errorf("%d requests, %d answered 304; want 2, 1", req, nm)
	}

	feed.add(3, "<p>Drei.</p>")
	for _, tt := range []struct {
		name string
		set  func(*testFeed)
		want string
	}{
		{"server error", func(f *testFeed) { f.status = 500 }, "HTTP 500"},
		{"timeout", func(f *testFeed) { f.delay = time.Second }, "no answer within 200ms"},
		{"garbage", func(f *testFeed) { f.garbage = true }, "not an RSS or Atom feed"},
	} {
		feed.set(tt.set)
		p, err := m.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.New) != 0 || len(p.Unread) != 1 || !strings.Contains(p.Why(), tt.want) {
			t.Fatalf("%s: new %d, unread %v, why %q", tt.name, len(p.New), p.Unread, p.Why())
		}
		run(tt.name, map[string]int{"2": 3})
		feed.set(func(f *testFeed) { f.status, f.delay, f.garbage = 0, 0, false })
	}

	// Back, with item 2 edited and item 3 new: only 3 goes out.
	feed.set(func(f *testFeed) {
		f.status = 0
		f.items[1] = strings.Replace(f.items[1], "Zwei.", "Zwei, geändert.", 1)
	})
	run("new item", map[string]int{"2": 3, "3": 3})
	run("again", map[string]int{"2": 3, "3": 3})
}

// A feed column kept by its campaign parses back into the column that was
// sent: the mail rendered from the stored source is the same, byte for
// byte, even after the item changed or left the feed.
func TestFeedColumnRendersTheSameFromItsCampaign(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	e.addSubscribers("a", 1, subscribers.StatusActive)
	feed := newTestFeed(t)
	feed.add(7, `<h2>Teil</h2><p>Mit <a href="/rel">Link</a> und <script>alert(1)</script><img src="https://blog.example.org/a.png" alt="Bild" onerror="x()"></p><ul><li>eins</li></ul>`)
	m := e.mailer(func(o *Options) { o.Feed = columns.NewFeed(feed.URL, columns.FeedOptions{}) })
	p, err := m.Plan(ctx)
	if err != nil || len(p.New) != 1 {
		t.Fatalf("plan: %v, %d new", err, len(p.New))
	}
	col := p.New[0]
	if _, err := m.RunPlan(ctx, p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	feed.set(func(f *testFeed) { f.items = nil; f.version++ })

	r, err := templates.NewMailRenderer(templates.MailOptions{Lang: "de", BaseURL: "https://news.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := NewArchive(e.campaigns(), e.opts.Location, nil).Sent(ctx)
	if err != nil || len(sent) != 1 {
		t.Fatalf("archive: %v, %d columns", err, len(sent))
	}
	rc := templates.PreviewRecipient("https://news.example.org")
	before, err := r.Prepare(col)
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.Prepare(sent[0])
	if err != nil {
		t.Fatal(err)
	}
	a, b := before.Personalize(rc), after.Personalize(rc)
	if a != b {
		t.Errorf("the stored feed column renders differently:\n%s\n----\n%s", a.HTML, b.HTML)
	}
	if !strings.Contains(a.HTML, `href="https://blog.example.org/rel"`) || strings.Contains(a.HTML, "alert") || strings.Contains(a.HTML, "onerror") {
		t.Errorf("HTML part:\n%s", a.HTML)
	}
}
