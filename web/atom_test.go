package web

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"newsletter/columns"
	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
	"newsletter/templates"
)

// feedArchive is a fixed list of sent columns with their campaign starts.
type feedArchive struct {
	sent []mailer.SentColumn
}

func (a *feedArchive) Newest(_ context.Context, n int) ([]mailer.SentColumn, error) {
	if n > 0 && len(a.sent) > n {
		return a.sent[:n], nil
	}
	return a.sent, nil
}

func (a *feedArchive) Sent(context.Context) ([]*columns.Column, error) {
	var out []*columns.Column
	for _, s := range a.sent {
		out = append(out, s.Column)
	}
	return out, nil
}

func (a *feedArchive) BodyHTML(c *columns.Column) (template.HTML, error) {
	return template.HTML(fmt.Sprintf("<p>Absatz <em>%d</em> &amp; mehr</p>", c.Number)), nil
}

// newFeedServer is the web side with feed as its archive, on a real
// database; feed nil is a site with nothing sent.
func newFeedServer(t *testing.T, feed *feedArchive) *httptest.Server {
	t.Helper()
	d := testkit.OpenDB(t, nil)
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT"})
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{OptIn: subscribers.NewOptIn(testkit.NewStore(t, d), pages, subscribers.OptInConfig{}), Pages: pages, Health: d}
	if feed != nil {
		deps.Archive, deps.Feed, deps.Bodies = feed, feed, feed
	}
	s, err := New(Config{Lang: "de", BaseURL: "https://news.example/", ListName: "KNIEPUNKT"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func getFeed(t *testing.T, srv *httptest.Server) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(srv.URL + "/archive.atom")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestArchiveFeed(t *testing.T) {
	berlin := time.FixedZone("CEST", 2*3600)
	start := time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC)
	const hostile = `Kleiner & Größer: <script>alert("x")</script> ]]> 'zitiert'`
	var sent []mailer.SentColumn
	// 25 columns, newest first as the archive gives them; every other one
	// has a publish date, the rest are dated by their campaign's start.
	for n := 25; n >= 1; n-- {
		c := &columns.Column{Number: n, Series: "KNIEPUNKT", Title: fmt.Sprintf("Titel %d", n), TitleLine: fmt.Sprintf("KNIEPUNKT %03d: Titel %d", n, n)}
		if n%2 == 0 {
			c.Date = time.Date(2026, 1, n, 0, 0, 0, 0, berlin)
		}
		if n == 24 {
			c.TitleLine = hostile
			c.Links = []columns.Link{{Label: "Quelle <1>", URL: "https://example.org/a?x=1&y=2"}, {URL: "https://example.org/b"}}
		}
		sent = append(sent, mailer.SentColumn{Column: c, Started: start.Add(time.Duration(n) * 24 * time.Hour)})
	}
	srv := newFeedServer(t, &feedArchive{sent: sent})

	res, body := getFeed(t, srv)
	if res.StatusCode != 200 {
		t.Fatalf("status %d\n%s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/atom+xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q, want the archive pages'", cc)
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, `<content type="html">`) {
		t.Errorf("raw feed: markup not escaped, or content not type html:\n%s", body)
	}

	feed, err := gofeed.NewParser().ParseString(body)
	if err != nil {
		t.Fatalf("gofeed: %v\n%s", err, body)
	}
	if feed.FeedType != "atom" || feed.FeedVersion != "1.0" {
		t.Errorf("feed type %s %s", feed.FeedType, feed.FeedVersion)
	}
	if feed.Title != "KNIEPUNKT" || feed.Language != "de" || feed.Link != "https://news.example/archive" ||
		feed.FeedLink != "https://news.example/archive.atom" || len(feed.Authors) != 1 || feed.Authors[0].Name != "KNIEPUNKT" {
		t.Errorf("feed head: title %q lang %q link %q self %q authors %v", feed.Title, feed.Language, feed.Link, feed.FeedLink, feed.Authors)
	}
	// The newest entry is 25, dated by its campaign; 24 has the newer publish date.
	if want := time.Date(2026, 1, 30, 7, 0, 0, 0, time.UTC); feed.UpdatedParsed == nil || !feed.UpdatedParsed.Equal(want) {
		t.Errorf("feed updated %v, want %v", feed.UpdatedParsed, want)
	}
	if len(feed.Items) != feedEntries {
		t.Fatalf("%d entries, want %d", len(feed.Items), feedEntries)
	}
	for i, it := range feed.Items {
		n := 25 - i
		want := sent[i].Column
		date := sent[i].Started
		if n%2 == 0 {
			date = want.Date
		}
		link := fmt.Sprintf("https://news.example/archive/%d", n)
		if it.Title != want.TitleLine || it.Link != link || it.GUID != link {
			t.Errorf("entry %d: title %q link %q id %q", i, it.Title, it.Link, it.GUID)
		}
		if it.PublishedParsed == nil || !it.PublishedParsed.Equal(date) || it.UpdatedParsed == nil || !it.UpdatedParsed.Equal(date) {
			t.Errorf("entry %d: published %v updated %v, want %v", i, it.PublishedParsed, it.UpdatedParsed, date)
		}
		if wantBody := fmt.Sprintf("<p>Absatz <em>%d</em> &amp; mehr</p>", n); !strings.HasPrefix(it.Content, wantBody) {
			t.Errorf("entry %d: content %q, want the article %q", i, it.Content, wantBody)
		}
	}
	if got := feed.Items[1].Content; !strings.Contains(got, "<h2>Zum Weiterlesen</h2>") ||
		!strings.Contains(got, `Quelle &lt;1&gt;: <a href="https://example.org/a?x=1&amp;y=2">`) ||
		!strings.Contains(got, `<li><a href="https://example.org/b">https://example.org/b</a></li>`) {
		t.Errorf("further reading not in the content as the page shows it:\n%s", got)
	}
}

func TestArchiveFeedEmptyAndDiscoverable(t *testing.T) {
	for _, tc := range []struct {
		name string
		feed *feedArchive
	}{
		{"no archive", nil},
		{"nothing sent", &feedArchive{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFeedServer(t, tc.feed)
			res, body := getFeed(t, srv)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			feed, err := gofeed.NewParser().ParseString(body)
			if err != nil || len(feed.Items) != 0 || feed.UpdatedParsed == nil {
				t.Fatalf("empty feed: %v, %+v\n%s", err, feed, body)
			}
			// Feed readers find it from the archive pages.
			res2, err := http.Get(srv.URL + "/archive")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res2.Body)
			res2.Body.Close()
			if !strings.Contains(string(page), `<link rel="alternate" type="application/atom+xml" title="KNIEPUNKT" href="/archive.atom">`) {
				t.Errorf("archive page has no feed link in its head:\n%s", page)
			}
		})
	}
}
