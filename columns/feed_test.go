package columns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// feedServer serves one feed document over real HTTP, with ETag and
// Last-Modified when asked, and counts what it was asked.
type feedServer struct {
	*httptest.Server

	mu           sync.Mutex
	body         string
	contentType  string
	etag         string
	lastModified string
	status       int           // 0: 200
	delay        time.Duration // before answering
	requests     int
	notModified  int
	conditional  []string // "If-None-Match|If-Modified-Since" per request
}

func newFeedServer(t *testing.T, body string) *feedServer {
	t.Helper()
	fs := &feedServer{body: body, contentType: "application/rss+xml"}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	fs.requests++
	fs.conditional = append(fs.conditional, r.Header.Get("If-None-Match")+"|"+r.Header.Get("If-Modified-Since"))
	body, etag, lastMod, status, delay, ct := fs.body, fs.etag, fs.lastModified, fs.status, fs.delay, fs.contentType
	fs.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		http.Error(w, "broken", status)
		return
	}
	match := etag != "" && r.Header.Get("If-None-Match") == etag ||
		etag == "" && lastMod != "" && r.Header.Get("If-Modified-Since") == lastMod
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if lastMod != "" {
		w.Header().Set("Last-Modified", lastMod)
	}
	if match {
		fs.mu.Lock()
		fs.notModified++
		fs.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", ct)
	fmt.Fprint(w, body)
}

func (fs *feedServer) set(f func(fs *feedServer)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f(fs)
}

func (fs *feedServer) counts() (requests, notModified int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests, fs.notModified
}

// rssItem is one <item> of an RSS 2.0 feed.
type rssItem struct{ title, link, date, content string }

func rssFeed(items ...rssItem) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Blog</title><link>https://blog.example.org/</link><description>Ein Blog</description>
`)
	for _, it := range items {
		b.WriteString("<item><title>" + it.title + "</title>")
		if it.link != "" {
			b.WriteString("<link>" + it.link + "</link><guid>" + it.link + "</guid>")
		}
		if it.date != "" {
			b.WriteString("<pubDate>" + it.date + "</pubDate>")
		}
		b.WriteString("<description>Kurz.</description>")
		if it.content != "" {
			b.WriteString("<content:encoded><![CDATA[" + it.content + "]]></content:encoded>")
		}
		b.WriteString("</item>\n")
	}
	b.WriteString("</channel></rss>\n")
	return b.String()
}

const atomDoc = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>Blog</title><link href="https://blog.example.org/"/><id>urn:blog</id><updated>2026-03-23T07:00:00+01:00</updated>
<entry><title>KNIEPUNKT 032: Neu</title><link href="https://blog.example.org/32"/><id>urn:32</id>
<published>2026-03-23T07:00:00+01:00</published><updated>2026-03-23T08:00:00+01:00</updated>
<content type="html">&lt;p&gt;Voll, mit &lt;a href="/quelle"&gt;Quelle&lt;/a&gt;.&lt;/p&gt;</content></entry>
<entry><title>KNIEPUNKT 031: Alt</title><link href="https://blog.example.org/31"/><id>urn:31</id>
<updated>2026-03-16T07:00:00+01:00</updated>
<content type="text">a &lt; b &amp; c

Zweiter Absatz.</content></entry>
</feed>
`

var rssDoc = rssFeed(
	rssItem{"KNIEPUNKT 032: Neu", "https://blog.example.org/32", "Mon, 23 Mar 2026 07:00:00 +0100", `<p>Voll, mit <a href="/quelle">Quelle</a>.</p>`},
	rssItem{"KNIEPUNKT 031: Alt", "https://blog.example.org/31", "Mon, 16 Mar 2026 07:00:00 +0100", ""},
)

func TestFeedRSSAndAtomWithConditionalGet(t *testing.T) {
	tests := []struct {
		name, doc, ctype     string
		etag, lastModified   string
		wantConditional      string // the validators of the second request
		want31Text           string
		wantLinkInBody       string
		wantDate31, wantDate time.Time
	}{
		{
			name: "RSS 2.0 with ETag", doc: rssDoc, ctype: "application/rss+xml", etag: `"v1"`,
			wantConditional: `"v1"|`, want31Text: "Kurz.",
			wantDate: time.Date(2026, 3, 23, 6, 0, 0, 0, time.UTC), wantDate31: time.Date(2026, 3, 16, 6, 0, 0, 0, time.UTC),
		},
		{
			name: "Atom with Last-Modified", doc: atomDoc, ctype: "application/atom+xml", lastModified: "Mon, 23 Mar 2026 07:00:00 GMT",
			wantConditional: "|Mon, 23 Mar 2026 07:00:00 GMT", want31Text: "a < b & c",
			// published wins over updated; without published, updated
			wantDate: time.Date(2026, 3, 23, 6, 0, 0, 0, time.UTC), wantDate31: time.Date(2026, 3, 16, 6, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFeedServer(t, tt.doc)
			srv.set(func(fs *feedServer) { fs.contentType, fs.etag, fs.lastModified = tt.ctype, tt.etag, tt.lastModified })
			f := NewFeed(srv.URL+"/feed.xml", FeedOptions{Location: berlin(t)})
			cols, problems, err := f.Columns(context.Background())
			if err != nil || len(problems) > 0 {
				t.Fatalf("err %v, problems %v", err, problems)
			}
			if got := numbers(cols); !reflect.DeepEqual(got, []int{31, 32}) {
				t.Fatalf("numbers %v", got)
			}
			c31, c32 := cols[0], cols[1]
			if c32.TitleLine != "KNIEPUNKT 032: Neu" || c32.Origin != "https://blog.example.org/32" ||
				c32.File != "feed-032.html" || c32.Format != FormatHTML || !c32.Date.Equal(tt.wantDate) {
				t.Errorf("item 32: %+v", c32)
			}
			if !c31.Date.Equal(tt.wantDate31) {
				t.Errorf("item 31 date %v", c31.Date)
			}
			// A relative link is made absolute against the item's link.
			if !strings.Contains(c32.MarkdownHTML(), `<a href="https://blog.example.org/quelle">Quelle</a>`) ||
				c32.Blocks[0].Text != "Voll, mit Quelle <https://blog.example.org/quelle>." {
				t.Errorf("item 32 body: %s %+v", c32.MarkdownHTML(), c32.Blocks)
			}
			// RSS without content:encoded falls back to description; Atom
			// text content is text, not markup.
			if c31.Blocks[0].Text != tt.want31Text {
				t.Errorf("item 31 blocks %+v", c31.Blocks)
			}

			again, _, err := f.Columns(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			req, nm := srv.counts()
			if req != 2 || nm != 1 {
				t.Fatalf("%d requests, %d answered 304; want 2 and 1", req, nm)
			}
			if srv.conditional[0] != "|" || srv.conditional[1] != tt.wantConditional {
				t.Errorf("validators sent: %q", srv.conditional)
			}
			if len(again) != 2 || again[0] != c31 || again[1] != c32 {
				t.Errorf("304 did not give the last items back: %v", numbers(again))
			}

			// A changed feed is read again.
			srv.set(func(fs *feedServer) {
				fs.body = rssFeed(rssItem{"KNIEPUNKT 033: Neuer", "https://blog.example.org/33", "Mon, 30 Mar 2026 07:00:00 +0200", "<p>Drei.</p>"})
				fs.etag, fs.lastModified = `"v2"`, ""
			})
			cols, _, err = f.Columns(context.Background())
			if err != nil || !reflect.DeepEqual(numbers(cols), []int{33}) {
				t.Fatalf("after the change: %v %v", numbers(cols), err)
			}
		})
	}
}

func TestFeedNumbersByPosition(t *testing.T) {
	tests := []struct {
		name  string
		items []rssItem
		want  map[int]string // number → title
	}{
		{
			name: "dated, listed newest first",
			items: []rssItem{
				{"Drei", "https://b.example/3", "Mon, 30 Mar 2026 07:00:00 +0200", "<p>x</p>"},
				{"Zwei", "https://b.example/2", "Mon, 23 Mar 2026 07:00:00 +0100", "<p>x</p>"},
				{"Eins", "https://b.example/1", "Mon, 16 Mar 2026 07:00:00 +0100", "<p>x</p>"},
			},
			want: map[int]string{1: "Eins", 2: "Zwei", 3: "Drei"},
		},
		{
			name: "dated, in no order: the dates decide",
			items: []rssItem{
				{"Zwei", "https://b.example/2", "Mon, 23 Mar 2026 07:00:00 +0100", "<p>x</p>"},
				{"Drei", "https://b.example/3", "Mon, 30 Mar 2026 07:00:00 +0200", "<p>x</p>"},
				{"Eins", "https://b.example/1", "Mon, 16 Mar 2026 07:00:00 +0100", "<p>x</p>"},
			},
			want: map[int]string{1: "Eins", 2: "Zwei", 3: "Drei"},
		},
		{
			name: "undated: taken as listed newest first",
			items: []rssItem{
				{"Zwei", "https://b.example/2", "", "<p>x</p>"},
				{"Eins", "https://b.example/1", "", "<p>x</p>"},
			},
			want: map[int]string{1: "Eins", 2: "Zwei"},
		},
		{
			name: "a number in the title wins over the position",
			items: []rssItem{
				{"Zwei", "https://b.example/2", "Mon, 23 Mar 2026 07:00:00 +0100", "<p>x</p>"},
				{"KNIEPUNKT 040: Vierzig", "https://b.example/40", "Mon, 16 Mar 2026 07:00:00 +0100", "<p>x</p>"},
			},
			want: map[int]string{2: "Zwei", 40: "KNIEPUNKT 040: Vierzig"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFeedServer(t, rssFeed(tt.items...))
			cols, problems, err := NewFeed(srv.URL, FeedOptions{}).Columns(context.Background())
			if err != nil || len(problems) > 0 {
				t.Fatal(err, problems)
			}
			got := map[int]string{}
			for _, c := range cols {
				got[c.Number] = c.TitleLine
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFeedItemProblems(t *testing.T) {
	srv := newFeedServer(t, `<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>
<item><title></title><link>https://b.example/1</link><description>&lt;p&gt;x&lt;/p&gt;</description></item>
<item><title>Ohne Text</title><guid isPermaLink="false">id-2</guid></item>
<item><title>Nur Skript</title><link>https://b.example/3</link><description>&lt;script&gt;alert(1)&lt;/script&gt;</description></item>
<item><title>&lt;em&gt;Gut&lt;/em&gt; &amp;amp; schön</title><link>https://b.example/4</link><description>&lt;p&gt;Text.&lt;/p&gt;</description></item>
</channel></rss>`)
	cols, problems, err := NewFeed(srv.URL, FeedOptions{}).Columns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].Number != 1 || cols[0].TitleLine != "Gut & schön" { // oldest: position 1
		for _, c := range cols {
			t.Errorf("column %d %q", c.Number, c.TitleLine)
		}
	}
	var msgs []string
	for _, p := range problems {
		msgs = append(msgs, p.Error())
	}
	want := []string{ // oldest first: the feed lists newest first
		"https://b.example/3: the column has no text",
		"feed:id-2: feed item has neither content nor description",
		"https://b.example/1: feed item has no title",
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("problems\n got %q\nwant %q", msgs, want)
	}
}

// A feed that cannot be read gives an error that says why, and no columns.
func TestFeedFailures(t *testing.T) {
	big := rssFeed(rssItem{"KNIEPUNKT 001: Groß", "https://b.example/1", "", "<p>" + strings.Repeat("x", 4096) + "</p>"})
	tests := []struct {
		name  string
		setup func(fs *feedServer)
		opts  FeedOptions
		want  string
	}{
		{"server error", func(fs *feedServer) { fs.status = 500 }, FeedOptions{}, "HTTP 500 Internal Server Error"},
		{"not found", func(fs *feedServer) { fs.status = 404 }, FeedOptions{}, "HTTP 404 Not Found"},
		{"timeout", func(fs *feedServer) { fs.delay = 2 * time.Second }, FeedOptions{Timeout: 100 * time.Millisecond}, "no answer within 100ms"},
		{"too large", func(fs *feedServer) { fs.body = big }, FeedOptions{MaxBytes: 2048}, "larger than the limit of 2 KB"},
		{"garbage", func(fs *feedServer) { fs.body = "<html><body>Hallo</body></html>" }, FeedOptions{}, "not an RSS or Atom feed"},
		{"broken XML", func(fs *feedServer) { fs.body = `<?xml version="1.0"?><rss version="2.0"><channel><item><title>x</ti` }, FeedOptions{}, "not a readable feed"},
		{"empty", func(fs *feedServer) { fs.body = "" }, FeedOptions{}, "not an RSS or Atom feed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFeedServer(t, rssDoc)
			srv.set(tt.setup)
			cols, _, err := NewFeed(srv.URL, tt.opts).Columns(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || cols != nil {
				t.Fatalf("err %v (want %q), %d columns", err, tt.want, len(cols))
			}
		})
	}

	// A body without Content-Length is cut at the limit too.
	streaming := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 64 {
			fmt.Fprint(w, strings.Repeat("<!-- padding -->", 64))
			w.(http.Flusher).Flush()
		}
	}))
	defer streaming.Close()
	if _, _, err := NewFeed(streaming.URL, FeedOptions{MaxBytes: 4096}).Columns(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("streamed oversize: %v", err)
	}

	// Unreachable.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	if _, _, err := NewFeed(url, FeedOptions{}).Columns(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable: %v", err)
	}
}

// A failed fetch keeps the validators of the last good answer: the next
// request is conditional again and a 304 still gives the last items.
func TestFeedFailureKeepsLastAnswer(t *testing.T) {
	srv := newFeedServer(t, rssDoc)
	srv.set(func(fs *feedServer) { fs.etag = `"v1"` })
	f := NewFeed(srv.URL, FeedOptions{})
	first, _, err := f.Columns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv.set(func(fs *feedServer) { fs.status = 503 })
	if _, _, err := f.Columns(context.Background()); err == nil {
		t.Fatal("503 gave no error")
	}
	srv.set(func(fs *feedServer) { fs.status = 0 })
	again, _, err := f.Columns(context.Background())
	if err != nil || len(again) != len(first) || again[0] != first[0] {
		t.Fatalf("after recovery: %v %v", numbers(again), err)
	}
	if _, nm := srv.counts(); nm != 1 {
		t.Errorf("%d answers 304, want 1", nm)
	}
}

func TestFeedFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "feed.xml")
	if err := os.WriteFile(good, []byte(atomDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.xml")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		opts       FeedOptions
		want       string // error; "" for success
	}{
		{"regular file", good, FeedOptions{}, ""},
		{"symlink", link, FeedOptions{}, "is a symbolic link"},
		{"folder", dir, FeedOptions{}, "is not a regular file"},
		{"missing", filepath.Join(dir, "nope.xml"), FeedOptions{}, "no such file"},
		{"too large", good, FeedOptions{MaxBytes: 100}, "larger than the limit of 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFeed(tt.path, tt.opts)
			cols, _, err := f.Columns(context.Background())
			switch {
			case tt.want == "" && (err != nil || len(cols) != 2):
				t.Fatalf("err %v, %d columns", err, len(cols))
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if f.Name() != "feed "+tt.path {
				t.Errorf("name %q", f.Name())
			}
		})
	}
}

func TestFeedNameHidesPassword(t *testing.T) {
	if got := NewFeed("https://user:geheim@blog.example.org/feed", FeedOptions{}).Name(); strings.Contains(got, "geheim") {
		t.Errorf("name %q shows the password", got)
	}
}

// staticSource is a Provider with fixed columns, or one that fails.
type staticSource struct {
	cols []*Column
	err  error
}

func (s staticSource) Name() string { return "feed test" }
func (s staticSource) Columns(context.Context) ([]*Column, []error, error) {
	return s.cols, nil, s.err
}

func TestDecideSources(t *testing.T) {
	loc := berlin(t)
	now := time.Date(2026, 3, 30, 8, 0, 0, 0, loc)
	dir := writeColumns(t, map[string]string{
		"030-a.txt": colText(30, ""),
		"031-b.txt": colText(31, ""),
		"035-c.txt": colText(35, ""),
		"035-d.txt": colText(35, ""),
	})
	item := func(n int) *Column {
		src, err := feedSource(fmt.Sprintf("KNIEPUNKT %03d: Aus dem Feed", n), n, time.Time{}, "<p>Text.</p>")
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(feedFileName(n), src, loc)
		if err != nil {
			t.Fatal(err)
		}
		c.Origin = fmt.Sprintf("https://blog.example.org/%d", n)
		return c
	}
	feed := staticSource{cols: []*Column{item(31), item(32), item(35)}}

	p, err := DecideSources(context.Background(), dir, loc, []Provider{feed}, History{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := numbers(p.Columns); !reflect.DeepEqual(got, []int{30, 32}) {
		t.Errorf("columns %v", got)
	}
	if got := numbers(p.New); !reflect.DeepEqual(got, []int{32}) {
		t.Errorf("new %v: a first run sends only the newest", got)
	}
	var msgs []string
	for _, pr := range p.Problems {
		var d *DuplicateError
		if !errors.As(pr, &d) {
			t.Errorf("problem %v", pr)
		}
		msgs = append(msgs, pr.Error())
	}
	want := []string{
		filepath.Join(dir, "031-b.txt") + ", https://blog.example.org/31: all are column 031; none of them is used until only one is left",
		filepath.Join(dir, "035-c.txt") + ", " + filepath.Join(dir, "035-d.txt") + ", https://blog.example.org/35: all are column 035; none of them is used until only one is left",
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("problems\n got %q\nwant %q", msgs, want)
	}

	// A feed that cannot be read: nothing is new, and the plan says why.
	broken := staticSource{err: errors.New("HTTP 500 Internal Server Error")}
	p, err = DecideSources(context.Background(), dir, loc, []Provider{broken}, History{Sent: map[int]bool{30: true}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.New) != 0 || len(p.Unread) != 1 {
		t.Fatalf("new %v, unread %v", numbers(p.New), p.Unread)
	}
	if got := p.Explain(31); got != "new: waits until feed test can be read" {
		t.Errorf("explain 31: %q", got)
	}
	if got := p.Why(); got != "feed test could not be read: HTTP 500 Internal Server Error; nothing new goes out until it can be read (tried again on the next run)" {
		t.Errorf("why: %q", got)
	}

	// No files and an empty feed.
	p, err = DecideSources(context.Background(), t.TempDir(), loc, []Provider{staticSource{}}, History{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.Why(), "and no items in feed test") {
		t.Errorf("why: %q", p.Why())
	}
}

// BenchmarkFeedColumns reads a 20-item feed (about 5 KB of HTML per item)
// over loopback HTTP: full answers, and answers 304.
func BenchmarkFeedColumns(b *testing.B) {
	var items []rssItem
	para := "<p>" + strings.Repeat("Ein Satz mit <a href=\"/link\">Link</a> und <em>Betonung</em>. ", 60) + "</p>"
	for i := 20; i >= 1; i-- {
		items = append(items, rssItem{fmt.Sprintf("KNIEPUNKT %03d: Folge", i), fmt.Sprintf("https://b.example/%d", i),
			time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC).AddDate(0, 0, 7*i).Format(time.RFC1123Z), "<h2>Teil</h2>" + para})
	}
	doc := rssFeed(items...)
	for _, bc := range []struct {
		name string
		etag string
	}{{"full", ""}, {"not modified", `"v1"`}} {
		b.Run(bc.name, func(b *testing.B) {
			fs := &feedServer{body: doc, contentType: "application/rss+xml", etag: bc.etag}
			fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
			defer fs.Close()
			f := NewFeed(fs.URL, FeedOptions{})
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				cols, _, err := f.Columns(context.Background())
				if err != nil || len(cols) != 20 {
					b.Fatal(err, len(cols))
				}
			}
		})
	}
}
