package web

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/mailer"
	"newsletter/templates"
)

// countingBodies is a BodyRenderer that counts its renders per column.
type countingBodies struct {
	mu     sync.Mutex
	n      map[int]int
	bodies map[int]template.HTML
	delay  time.Duration // each render takes this long
}

func (c *countingBodies) BodyHTML(col *columns.Column) (template.HTML, error) {
	c.mu.Lock()
	c.n[col.Number]++
	c.mu.Unlock()
	time.Sleep(c.delay)
	return c.bodies[col.Number], nil
}

func (c *countingBodies) renders(n int) int { c.mu.Lock(); defer c.mu.Unlock(); return c.n[n] }

// newArchiveSite is the web side of e with its own archive and renderer.
func newArchiveSite(tb testing.TB, e *webEnv, cfg Config, archive Archive, bodies BodyRenderer) *httptest.Server {
	tb.Helper()
	site, err := New(cfg, Deps{OptIn: e.optin, Pages: e.pages, Health: e.db, Archive: archive, Bodies: bodies})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(site.Handler())
	tb.Cleanup(srv.Close)
	return srv
}

func getBody(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// A sent column never changes, so its article is rendered once and then
// served from memory; before, every request rendered it again (a 10 MB
// column cost 150 ms of CPU per request).
func TestArchiveColumnRenderedOnce(t *testing.T) {
	e := newWebEnv(t, nil)
	col := func(n int) *columns.Column {
		return &columns.Column{Number: n, Title: "T", TitleLine: fmt.Sprintf("KNIEPUNKT %03d: T", n), Date: time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)}
	}
	archive := &fakeArchive{cols: []*columns.Column{col(30), col(29), col(28), col(27)}}
	bodies := &countingBodies{n: map[int]int{}, bodies: map[int]template.HTML{
		30: template.HTML("<p>" + strings.Repeat("a", 100) + "</p>"),
		29: template.HTML("<p>" + strings.Repeat("b", 100) + "</p>"),
		28: template.HTML("<p>" + strings.Repeat("c", 500) + "</p>"),
		27: "<p>slow</p>",
	}}
	srv := newArchiveSite(t, e, Config{Lang: "de", ArchiveCacheBytes: 250}, archive, bodies)

	for _, h := range []map[string]string{nil, nil, {"Accept-Language": "en"}} {
		status, body := getBody(t, srv.URL+"/archive/30", h)
		if status != 200 || !strings.Contains(body, string(bodies.bodies[30])) || !strings.Contains(body, "KNIEPUNKT 030: T") || !strings.HasSuffix(body, "</html>\n") {
			t.Fatalf("archive/30: %d\n%s", status, body)
		}
	}
	if n := bodies.renders(30); n != 1 {
		t.Fatalf("3 requests for column 30 rendered it %d times, want 1", n)
	}

	// Bounded: 30 and 29 fit in 250 bytes; 28 (500 bytes) never does and
	// is rendered for each request, but served all the same.
	getBody(t, srv.URL+"/archive/29", nil)
	for range 2 {
		if status, body := getBody(t, srv.URL+"/archive/28", nil); status != 200 || !strings.Contains(body, string(bodies.bodies[28])) {
			t.Fatalf("archive/28: %d\n%s", status, body)
		}
	}
	getBody(t, srv.URL+"/archive/30", nil)
	if r30, r29, r28 := bodies.renders(30), bodies.renders(29), bodies.renders(28); r30 != 1 || r29 != 1 || r28 != 2 {
		t.Errorf("renders 30/29/28 = %d/%d/%d, want 1/1/2", r30, r29, r28)
	}

	// Parallel first requests wait for one render.
	bodies.delay = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if status, body := getBody(t, srv.URL+"/archive/27", nil); status != 200 || !strings.Contains(body, "<p>slow</p>") {
				t.Errorf("archive/27: %d", status)
			}
		})
	}
	wg.Wait()
	if n := bodies.renders(27); n != 1 {
		t.Errorf("6 parallel requests rendered column 27 %d times, want 1", n)
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures serving, not a recorder's copy.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// bigColumn is column 31 of 10 MB, as large as a column may be, and the
// real mail renderer for it.
func bigColumn(b *testing.B) (*columns.Column, *templates.MailRenderer) {
	b.Helper()
	var src strings.Builder
	src.WriteString("KNIEPUNKT 031: Sehr lang\n")
	para := strings.Repeat("Ein Satz über heiße Luft und kühle Köpfe. ", 25) + "\n"
	for src.Len()+len(para) <= 10<<20 { // the largest column there may be
		src.WriteString(para)
	}
	col, err := columns.Parse("031-lang.txt", []byte(src.String()), time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	renderer, err := templates.NewMailRenderer(templates.MailOptions{Lang: "de", ListName: "KNIEPUNKT", BaseURL: "http://news.test"})
	if err != nil {
		b.Fatal(err)
	}
	return col, renderer
}

// BenchmarkArchiveColumn serves a sent 10 MB column with the real mail
// renderer. Its article is rendered once; a request then costs the page
// around it, not the article.
//
//	go test -run '^$' -bench BenchmarkArchiveColumn -benchmem ./web/
func BenchmarkArchiveColumn(b *testing.B) {
	e := newWebEnv(b, nil)
	col, renderer := bigColumn(b)
	site, err := New(Config{Lang: "de"}, Deps{OptIn: e.optin, Pages: e.pages, Health: e.db,
		Archive: &fakeArchive{cols: []*columns.Column{col}}, Bodies: renderer})
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, site.Handler(), http.MethodGet, "/archive/31", 10<<20)
}

// benchServe times h answering method path, after a first request that
// builds what is kept; each answer must have at least minBytes.
func benchServe(b *testing.B, h http.Handler, method, path string, minBytes int) {
	b.Helper()
	req := httptest.NewRequest(method, path, nil).WithContext(context.Background())
	serve := func() {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.n < minBytes {
			b.Fatalf("%s %s: served %d bytes", method, path, w.n)
		}
	}
	serve()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}

// BenchmarkArchiveFeed serves /archive.atom with one sent 10 MB column
// (a feed of 10.7 MB) with the real mail renderer. The feed is built
// once; a request then costs the list of columns and the write, not the
// feed.
//
//	go test -run '^$' -bench BenchmarkArchiveFeed -benchmem ./web/
func BenchmarkArchiveFeed(b *testing.B) {
	e := newWebEnv(b, nil)
	col, renderer := bigColumn(b)
	archive := &feedArchive{sent: []mailer.SentColumn{{Column: col, Started: time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)}}}
	site, err := New(Config{Lang: "de", BaseURL: "http://news.test"}, Deps{OptIn: e.optin, Pages: e.pages, Health: e.db,
		Archive: archive, Feed: archive, Bodies: renderer})
	if err != nil {
		b.Fatal(err)
	}
	h := site.Handler()
	b.Run("GET", func(b *testing.B) { benchServe(b, h, http.MethodGet, "/archive.atom", 10<<20) })
	b.Run("HEAD", func(b *testing.B) { benchServe(b, h, http.MethodHead, "/archive.atom", 0) }) // after the GET: kept
}
