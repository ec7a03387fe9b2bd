package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"newsletter/columns"
)

// checkFeed validates --feed: an http(s) URL with a host, or an existing
// regular file. A password in the URL never appears in a message.
func checkFeed(s string) error {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return usagef("--feed: not a URL like https://blog.example.org/feed.xml")
		}
		return nil
	}
	if strings.Contains(s, "://") {
		return usagef("--feed: only http:// and https:// URLs, or a file")
	}
	fi, err := os.Stat(s)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("--feed: %s is not a file (give an http(s) URL or an existing feed file)", s)
	}
	return nil
}

// newFeed is the --feed source, or nil without one. serve builds it once,
// so conditional GET spares an unchanged feed on every later run.
func newFeed(cfg *Config) columns.Provider {
	if cfg.Feed == "" {
		return nil // a nil *columns.Feed would be a non-nil Provider
	}
	ua := "newsletter-feed-reader"
	if cfg.BaseURL != "" {
		ua += " (+" + cfg.BaseURL + ")"
	}
	return columns.NewFeed(cfg.Feed, columns.FeedOptions{
		Location: cfg.Location, UserAgent: ua, // the default timeout and size limit
	})
}

// feedSources is newFeed as a list, for mailer.PlanColumns.
func feedSources(cfg *Config) []columns.Provider {
	if f := newFeed(cfg); f != nil {
		return []columns.Provider{f}
	}
	return nil
}

// originText is the FILE column of `newsletter columns`: a file's name, or
// a feed item's link (or feed:GUID) without the scheme, shortened, and with
// control and bidi-override characters escaped: it comes from outside.
func originText(c *columns.Column) string {
	if c.Origin == "" {
		return esc(filepath.Base(c.File))
	}
	s := esc(strings.TrimPrefix(strings.TrimPrefix(c.Origin, "https://"), "http://"))
	const max = 48
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}
