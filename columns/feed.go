package columns

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"
	"go.yaml.in/yaml/v3"
	xhtml "golang.org/x/net/html"
)

// Defaults of FeedOptions.
const (
	DefaultFeedTimeout  = 20 * time.Second
	DefaultFeedMaxBytes = 10 << 20
)

// FeedOptions configures NewFeed.
type FeedOptions struct {
	// Location is the time zone of dates written without one (--timezone).
	Location *time.Location
	// Timeout bounds one fetch, from connecting to the last byte.
	// Default DefaultFeedTimeout.
	Timeout time.Duration
	// MaxBytes is the largest feed taken; a larger one is refused.
	// Default DefaultFeedMaxBytes.
	MaxBytes int64
	// Client fetches a feed URL; default a plain http.Client.
	Client *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// Feed is an RSS or Atom feed whose items are columns: a URL read over
// HTTP (with conditional GET, so an unchanged feed costs one short answer)
// or a local file. One Feed is meant to live as long as the process, so
// it remembers the last answer; it is safe for concurrent use.
type Feed struct {
	src   string
	isURL bool
	opts  FeedOptions

	mu sync.Mutex
	// What the last full answer was, for a 304: its validators and the
	// columns read from it.
	etag, lastModified string
	have               bool
	cols               []*Column
	problems           []error
}

var _ Provider = (*Feed)(nil)

// NewFeed returns the feed at src: an http(s) URL or a file path. Nothing
// is read until Columns. Whether src is usable is the caller's check (the
// command line validates --feed); a bad one fails at Columns.
func NewFeed(src string, opts FeedOptions) *Feed {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultFeedTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultFeedMaxBytes
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "newsletter-feed-reader"
	}
	lower := strings.ToLower(src)
	return &Feed{src: src, isURL: strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"), opts: opts}
}

// Name is "feed URL" (a password in it left out) or "feed FILE", for
// messages.
func (f *Feed) Name() string {
	if f.isURL {
		if u, err := url.Parse(f.src); err == nil {
			return "feed " + u.Redacted()
		}
	}
	return "feed " + f.src
}

// Columns reads the feed now and returns its items as columns (see
// itemColumn), and the items that cannot be used as problems, each naming
// the item. err is for a feed that cannot be read at all: unreachable, an
// HTTP error, too slow, too large, or not a feed. When the server answers
// 304 Not Modified, the columns of the last answer are returned again.
func (f *Feed) Columns(ctx context.Context) (cols []*Column, problems []error, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, etag, lastMod, notModified, err := f.fetch(ctx)
	if err != nil {
		return nil, nil, err
	}
	if notModified {
		return f.cols, f.problems, nil
	}
	feed, err := parseFeed(body)
	if err != nil {
		return nil, nil, err
	}
	cols, problems = f.itemColumns(feed)
	f.etag, f.lastModified, f.have = etag, lastMod, true
	f.cols, f.problems = cols, problems
	return cols, problems, nil
}

// fetch reads the feed's bytes. notModified is true when the server
// answered 304 to the validators of the last full answer.
func (f *Feed) fetch(ctx context.Context) (body []byte, etag, lastMod string, notModified bool, err error) {
	if !f.isURL {
		body, err = f.readFile()
		return body, "", "", false, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.src, nil)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("bad URL: %w", err)
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1")
	if f.have {
		if f.etag != "" {
			req.Header.Set("If-None-Match", f.etag)
		}
		if f.lastModified != "" {
			req.Header.Set("If-Modified-Since", f.lastModified)
		}
	}
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, "", "", false, fmt.Errorf("no answer within %s", f.opts.Timeout)
		}
		return nil, "", "", false, err // *url.Error: the client leaves the password out
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && f.have:
		return nil, "", "", true, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", "", false, fmt.Errorf("HTTP %s", resp.Status)
	case resp.ContentLength > f.opts.MaxBytes:
		return nil, "", "", false, f.tooLarge()
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", "", false, fmt.Errorf("no complete answer within %s", f.opts.Timeout)
		}
		return nil, "", "", false, fmt.Errorf("read the answer: %w", err)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, "", "", false, f.tooLarge()
	}
	return body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), false, nil
}

func (f *Feed) tooLarge() error {
	return fmt.Errorf("larger than the limit of %s", byteSize(f.opts.MaxBytes))
}

// readFile reads a local feed: a regular file (not a symlink, which could
// point anywhere) within the size limit, checked like a column file.
func (f *Feed) readFile() ([]byte, error) {
	return readRegular(f.src, f.opts.MaxBytes, func(int64) error { return f.tooLarge() })
}

// byteSize is n as "10 MB" or "512 KB".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// parseFeed parses RSS or Atom (JSON Feed, which gofeed also reads, works
// too). The parser sees text from the internet: a bug in it must not take
// the server down.
func parseFeed(body []byte) (feed *gofeed.Feed, err error) {
	defer func() {
		if r := recover(); r != nil {
			feed, err = nil, fmt.Errorf("not a readable feed: parser failed: %v", r)
		}
	}()
	p := gofeed.NewParser()
	p.KeepOriginalFeed = true // for the type of Atom content
	feed, err = p.Parse(bytes.NewReader(body))
	if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		return nil, errors.New("not an RSS or Atom feed")
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable feed: %w", err)
	}
	return feed, nil
}

// itemColumns makes a column of each item. Items are numbered by their
// position, oldest first, unless their title carries a number: ordered
// by date when every item has one, else taken as listed newest first
// (the RSS and Atom habit).
func (f *Feed) itemColumns(feed *gofeed.Feed) ([]*Column, []error) {
	n := len(feed.Items)
	order := make([]int, n) // order[k] is the index of the (k+1)th oldest item
	for k := range order {
		order[k] = n - 1 - k
	}
	dated := true
	for _, it := range feed.Items {
		if itemDate(it).IsZero() {
			dated = false
			break
		}
	}
	if dated {
		slices.SortStableFunc(order, func(a, b int) int {
			return itemDate(feed.Items[a]).Compare(itemDate(feed.Items[b]))
		})
	}
	var atomEntries []*atom.Entry
	if af, ok := feed.OriginalFeed().(*atom.Feed); ok && len(af.Entries) == n {
		atomEntries = af.Entries
	}
	var cols []*Column
	var problems []error
	for k, i := range order {
		it := feed.Items[i]
		textContent := false
		if atomEntries != nil && atomEntries[i].Content != nil && it.Content != "" {
			t := strings.ToLower(atomEntries[i].Content.Type)
			textContent = t == "" || t == "text" || strings.HasPrefix(t, "text/") && t != "text/html"
		}
		c, err := f.itemColumn(feed, it, k+1, textContent)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		cols = append(cols, c)
	}
	slices.SortStableFunc(cols, func(a, b *Column) int { return cmp.Compare(a.Number, b.Number) })
	return cols, problems
}

// itemDate is the item's publish date, else its update date.
func itemDate(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return *it.PublishedParsed
	case it.UpdatedParsed != nil:
		return *it.UpdatedParsed
	}
	return time.Time{}
}

// itemOrigin names an item: its link, else "feed:" and its guid, else its
// position.
func itemOrigin(it *gofeed.Item, position int) string {
	switch {
	case IsWebURL(it.Link):
		return it.Link
	case strings.TrimSpace(it.GUID) != "":
		return "feed:" + oneLine(it.GUID)
	}
	return fmt.Sprintf("feed:item-%d", position)
}

// itemColumn turns one item into a column by way of the HTML format: it
// writes the source a campaign keeps (feedSource) and parses it, so the
// column sent now and the one parsed from the campaign later are the same.
func (f *Feed) itemColumn(feed *gofeed.Feed, it *gofeed.Item, position int, textContent bool) (*Column, error) {
	origin := itemOrigin(it, position)
	title := it.Title
	if strings.Contains(title, "<") || strings.Contains(title, "&") {
		// Some feeds put markup or entities in titles.
		title = htmlText(title)
	}
	title = oneLine(title)
	if title == "" {
		return nil, &ParseError{File: origin, Msg: "feed item has no title"}
	}
	number := splitTitle(title).number
	if number == 0 {
		number = position
	}
	body := it.Content
	if strings.TrimSpace(body) == "" {
		body, textContent = it.Description, false
	}
	if textContent {
		body = textToHTML(body)
	}
	if strings.TrimSpace(body) == "" {
		return nil, &ParseError{File: origin, Msg: "feed item has neither content nor description"}
	}
	body = resolveURLs(body, f.baseURL(feed, it))
	src, err := feedSource(title, number, itemDate(it), sanitizeHTML(body))
	if err != nil {
		return nil, &ParseError{File: origin, Msg: err.Error()}
	}
	c, err := Parse(feedFileName(number), src, f.opts.Location)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, &ParseError{File: origin, Msg: pe.Msg}
		}
		return nil, fmt.Errorf("%s: %w", origin, err)
	}
	c.Origin = origin
	return c, nil
}

// feedFileName is the name a feed item's column goes by: the .html
// extension makes Parse read its source as the HTML format.
func feedFileName(number int) string { return fmt.Sprintf("feed-%03d.html", number) }

// IsFeedFileName reports whether name (a campaign's file) is a feed item's.
func IsFeedFileName(name string) bool {
	return strings.HasPrefix(name, "feed-") && strings.HasSuffix(name, ".html") && !strings.ContainsAny(name, `/\`)
}

// feedSource writes a column in the HTML format: YAML front matter with
// title, number and (when known) date, then body, which should be
// sanitised already (Parse sanitises it again in any case).
func feedSource(title string, number int, date time.Time, body string) ([]byte, error) {
	str := func(v string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Tag: "!!str", Value: v}
	}
	m := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, str("title"), str(oneLine(title)),
		str("number"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(number)})
	if !date.IsZero() {
		m.Content = append(m.Content, str("date"), str(date.Format(time.RFC3339)))
	}
	for i := 0; i < len(m.Content); i += 2 {
		m.Content[i].Style = 0 // keys plain
	}
	fm, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("front matter: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("---\n")
	b.Write(fm)
	b.WriteString("---\n")
	b.WriteString(strings.TrimSpace(body))
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// htmlText is the text of an HTML fragment: tags dropped, entities decoded.
func htmlText(s string) string {
	nodes, err := htmlFragment(s)
	if err != nil {
		return s
	}
	return htmlNodesText(nodes)
}

// textToHTML makes paragraphs of plain text (Atom content of type text).
func textToHTML(s string) string {
	var b strings.Builder
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			b.WriteString("<p>" + html.EscapeString(p) + "</p>\n")
		}
	}
	return b.String()
}

// baseURL is what relative links in an item are relative to: the item's
// link, else the feed's, else the feed's own URL.
func (f *Feed) baseURL(feed *gofeed.Feed, it *gofeed.Item) *url.URL {
	for _, s := range []string{it.Link, feed.Link, f.src} {
		if IsWebURL(s) {
			if u, err := url.Parse(s); err == nil {
				return u
			}
		}
	}
	return nil
}

// resolveURLs makes href and src attributes absolute against base: a mail
// has no address of its own, so a relative link would lead nowhere (the
// sanitiser drops what stays relative).
func resolveURLs(body string, base *url.URL) string {
	if base == nil {
		return body
	}
	nodes, err := htmlFragment(body)
	if err != nil {
		return body
	}
	var walk func(*xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode {
			for i, a := range n.Attr {
				if a.Key != "href" && a.Key != "src" {
					continue
				}
				if u, err := url.Parse(strings.TrimSpace(a.Val)); err == nil && !u.IsAbs() {
					n.Attr[i].Val = base.ResolveReference(u).String() // "//host/x" too
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	var b strings.Builder
	for _, n := range nodes {
		walk(n)
		if err := xhtml.Render(&b, n); err != nil {
			return body
		}
	}
	return b.String()
}
