package subscribers

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"newsletter/columns"
	"newsletter/templates"
)

// DefaultMaxBody is the largest request body the web forms accept; a
// subscribe form is a few hundred bytes.
const DefaultMaxBody = 16 << 10

// WebConfig is the web side's share of the settings.
type WebConfig struct {
	Lang           string         // page language when the browser asks for none we have (--lang)
	IPRateLimit    int            // subscribe requests per minute per client IP; 0 = off
	TrustedProxies []netip.Prefix // X-Forwarded-For is believed only from these
	AllowedOrigins []string       // origins that may post the form from their pages (CORS)
	MaxBody        int64          // DefaultMaxBody if zero
}

// ArchiveEntry is one sent column as the archive shows it.
type ArchiveEntry struct {
	Number    int
	Title     string
	TitleLine string
	Date      time.Time
	BodyHTML  template.HTML  // the article, filled by Archive.Get only
	Links     []columns.Link // further reading, when BodyHTML does not carry it
}

// Archive gives the columns that have been sent; the web side shows
// nothing else, so an unpublished column never leaks through /archive.
type Archive interface {
	// List returns the sent columns, newest first, without bodies.
	List(ctx context.Context) ([]ArchiveEntry, error)
	// Get returns sent column number n with its body, or ErrNotFound.
	Get(ctx context.Context, n int) (*ArchiveEntry, error)
}

// Web serves the subscription forms, confirm and unsubscribe pages, the
// archive, health and metrics. Build it with NewWeb; Handler gives the routes.
type Web struct {
	cfg     WebConfig
	optin   *OptIn
	pages   *templates.Pages
	archive Archive
	metrics *Metrics
	promh   http.Handler
	ping    func(context.Context) error
	log     *slog.Logger
}

// WebDeps are the parts the web side works with.
type WebDeps struct {
	OptIn          *OptIn
	Pages          *templates.Pages
	Archive        Archive      // nil: the archive is empty
	Metrics        *Metrics     // nil: no request metrics
	MetricsHandler http.Handler // serves /metrics; nil: 404
	Log            *slog.Logger
}

// NewWeb returns the web side.
func NewWeb(cfg WebConfig, deps WebDeps) (*Web, error) {
	if deps.OptIn == nil || deps.Pages == nil {
		return nil, fmt.Errorf("web: OptIn and Pages are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	cfg.Lang = deps.Pages.Lang(cfg.Lang)
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Web{
		cfg: cfg, optin: deps.OptIn, pages: deps.Pages, archive: deps.Archive,
		metrics: deps.Metrics, promh: deps.MetricsHandler, log: deps.Log,
		ping: deps.OptIn.store.db.Ping,
	}, nil
}

// ParseTrustedProxies reads --trusted-proxies: comma-separated CIDRs or
// single addresses.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ParseOrigins reads --allowed-origins: comma-separated origins.
func ParseOrigins(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimRight(strings.TrimSpace(f), "/"); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// lang picks the page language: an explicit ?lang= wins, then the
// browser's Accept-Language among the languages we have, then --lang.
func (w *Web) lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" && w.pages.Lang(l) == l {
		return l
	}
	if l := negotiateLang(r.Header.Get("Accept-Language"), templates.PageLangs()); l != "" {
		return l
	}
	return w.cfg.Lang
}

// negotiateLang returns the language of have the Accept-Language header
// likes best, or "" when it likes none of them.
func negotiateLang(header string, have []string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				q = 0
			}
		}
		for _, h := range have {
			if h == primary && q > bestQ {
				best, bestQ = h, q
			}
		}
	}
	return best
}

// render writes a page with status. Rendering goes to a buffer first, so a
// template error becomes a clean 500 instead of half a page.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name, lang, titleKey string, data any) {
	var buf strings.Builder
	if err := w.pages.Render(&buf, name, lang, titleKey, data); err != nil {
		w.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Content-Language", w.pages.Lang(lang))
	rw.WriteHeader(status)
	_, _ = io.WriteString(rw, buf.String())
}

// wantsJSON reports whether the client (an embedded form's script) asked
// for JSON rather than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}
