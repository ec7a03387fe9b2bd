package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/mailer"
)

// bigFeed is an archive of sent columns whose articles are big, for the
// feed's cost per request. Its renders may be slow.
type bigFeed struct {
	mu    sync.Mutex
	sent  []mailer.SentColumn
	body  template.HTML
	delay time.Duration
}

func newBigFeed(columnsN, articleBytes int) *bigFeed {
	f := &bigFeed{body: template.HTML("<p>" + strings.Repeat("Luft & Köpfe ", articleBytes/14) + "</p>")}
	start := time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC)
	for n := columnsN; n >= 1; n-- {
		f.sent = append(f.sent, mailer.SentColumn{
			Column:  &columns.Column{Number: n, Title: "T", TitleLine: fmt.Sprintf("KNIEPUNKT %03d: T", n)},
			Started: start.Add(time.Duration(n) * 7 * 24 * time.Hour),
		})
	}
	return f
}

func (f *bigFeed) Newest(_ context.Context, n int) ([]mailer.SentColumn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > 0 && len(f.sent) > n {
		return f.sent[:n], nil
	}
	return f.sent, nil
}

func (f *bigFeed) Sent(ctx context.Context) ([]*columns.Column, error) {
	sent, _ := f.Newest(ctx, 0)
	var out []*columns.Column
	for _, s := range sent {
		out = append(out, s.Column)
	}
	return out, nil
}

func (f *bigFeed) BodyHTML(*columns.Column) (template.HTML, error) {
	time.Sleep(f.delay)
	return f.body, nil
}

// send adds column n as the newest sent column.
func (f *bigFeed) send(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &columns.Column{Number: n, Title: "Neu", TitleLine: fmt.Sprintf("KNIEPUNKT %03d: Neu", n)}
	f.sent = append([]mailer.SentColumn{{Column: c, Started: time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC)}}, f.sent...)
}

// newFeedSite is the web side of e with feed as its archive; it is served
// by calling its handler, so that nothing but the request allocates.
func newFeedSite(tb testing.TB, e *webEnv, feed *bigFeed, cacheBytes int64) (*Server, http.Handler) {
	tb.Helper()
	site, err := New(Config{Lang: "de", BaseURL: "https://news.example", ListName: "KNIEPUNKT", ArchiveCacheBytes: cacheBytes},
		Deps{OptIn: e.optin, Pages: e.pages, Health: e.db, Archive: feed, Feed: feed, Bodies: feed})
	if err != nil {
		tb.Fatal(err)
	}
	return site, site.Handler()
}

// serveFeed asks h for /archive.atom with method and returns the answer.
func serveFeed(h http.Handler, method string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, "/archive.atom", nil))
	return w
}

// allocated is how many bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The feed of a set of sent columns is built once and then served from
// memory; before, every request, HEAD included, built it again (a 20.8 MB
// feed cost about 100 ms of CPU and its size several times over in memory
// per request). It is built anew when a column is sent.
func TestArchiveFeedBuiltOnce(t *testing.T) {
	e := newWebEnv(t, nil)
	feed := newBigFeed(3, 1<<20)
	_, h := newFeedSite(t, e, feed, 0)

	// A HEAD before any GET builds nothing: it needs no body.
	var head *httptest.ResponseRecorder
	if n := allocated(func() { head = serveFeed(h, http.MethodHead) }); n > 256<<10 {
		t.Errorf("a HEAD allocated %d KB: it built the feed", n>>10)
	}
	if head.Code != 200 || head.Header().Get("Content-Type") != "application/atom+xml; charset=utf-8" ||
		head.Header().Get("Cache-Control") != "public, max-age=300" || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d %v, %d bytes", head.Code, head.Header(), head.Body.Len())
	}

	first := serveFeed(h, http.MethodGet)
	size := first.Body.Len()
	if first.Code != 200 || size < 3<<20 || !strings.Contains(first.Body.String(), "KNIEPUNKT 003: T") {
		t.Fatalf("first GET: %d, %d bytes", first.Code, size)
	}
	if cl := first.Header().Get("Content-Length"); cl != strconv.Itoa(size) {
		t.Errorf("Content-Length %q, want %d", cl, size)
	}
	const rounds = 3
	perGet := allocated(func() {
		for range rounds {
			// A writer that keeps nothing: the recorder's copy would count.
			h.ServeHTTP(&discardWriter{h: http.Header{}}, httptest.NewRequest(http.MethodGet, "/archive.atom", nil))
		}
	}) / rounds
	if perGet > 256<<10 {
		t.Errorf("a GET of a kept %d KB feed allocated %d KB: it was built again", size>>10, perGet>>10)
	}
	if w := serveFeed(h, http.MethodGet); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), first.Body.Bytes()) {
		t.Fatalf("a later GET served other bytes: %d, %d bytes", w.Code, w.Body.Len())
	}
	head = serveFeed(h, http.MethodHead)
	if head.Code != 200 || head.Header().Get("Content-Length") != strconv.Itoa(size) || head.Body.Len() != 0 {
		t.Errorf("HEAD of a kept feed: %d, Content-Length %q, %d bytes", head.Code, head.Header().Get("Content-Length"), head.Body.Len())
	}

	// A column sent since: the feed is built anew, with it.
	feed.send(4)
	if w := serveFeed(h, http.MethodGet); w.Code != 200 || !strings.Contains(w.Body.String(), "KNIEPUNKT 004: Neu") {
		t.Errorf("the feed after a send lacks the new column: %d", w.Code)
	}
}

// Requests that come while the feed is built wait for that one build.
func TestArchiveFeedParallelFirstRequests(t *testing.T) {
	e := newWebEnv(t, nil)
	one := allocated(func() {
		_, h := newFeedSite(t, e, newBigFeed(3, 1<<20), 0)
		serveFeed(h, http.MethodGet)
	})
	feed := newBigFeed(3, 1<<20)
	feed.delay = 50 * time.Millisecond // all six arrive during the build
	_, h := newFeedSite(t, e, feed, 0)
	const clients = 6
	var sizes [clients]int
	six := allocated(func() {
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				// The recorders' copies are left out of the count.
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/archive.atom", nil))
				sizes[i] = w.n
			})
		}
		wg.Wait()
	})
	for i, n := range sizes {
		if n < 3<<20 {
			t.Errorf("client %d got %d bytes", i, n)
		}
	}
	if six > 2*one {
		t.Errorf("6 parallel first requests allocated %d MB, one request %d MB: each built the feed", six>>20, one>>20)
	}
}

// The kept feed counts against the same bound as the articles: a feed
// bigger than the bound is built for each request, and the bound holds.
func TestArchiveFeedBounded(t *testing.T) {
	e := newWebEnv(t, nil)
	feed := newBigFeed(2, 64<<10)
	site, h := newFeedSite(t, e, feed, 150<<10) // both articles (128 KB) fit, the feed (170 KB) does not
	first := serveFeed(h, http.MethodGet)
	second := serveFeed(h, http.MethodGet)
	if first.Code != 200 || second.Code != 200 || first.Body.Len() < 150<<10 || !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
		t.Fatalf("a feed over the bound: %d/%d, %d/%d bytes", first.Code, second.Code, first.Body.Len(), second.Body.Len())
	}
	if used := keptBytes(site); used > 150<<10 {
		t.Errorf("kept %d bytes, bound %d", used, 150<<10)
	}
	// With room for it, the feed is kept next to the articles, still bounded.
	site, h = newFeedSite(t, e, feed, 1<<20)
	serveFeed(h, http.MethodGet)
	if used := keptBytes(site); used < 250<<10 || used > 1<<20 {
		t.Errorf("kept %d bytes, want the articles and the feed within %d", used, 1<<20)
	}
}

// keptBytes is what site's cache of articles and feed holds.
func keptBytes(site *Server) int64 {
	site.bodies.mu.Lock()
	defer site.bodies.mu.Unlock()
	return site.bodies.used
}
