package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

// OptIn is the double opt-in the forms drive; *subscribers.OptIn is one.
type OptIn interface {
	// Subscribe records a form submission and queues the confirmation mail.
	Subscribe(ctx context.Context, req subscribers.SubscribeRequest) (subscribers.SubscribeOutcome, error)
	// CheckConfirmToken says, changing nothing, whether tok would confirm,
	// and the language to answer in.
	CheckConfirmToken(ctx context.Context, tok string) (lang string, err error)
	// Confirm activates the subscriber tok was minted for.
	Confirm(ctx context.Context, tok string, ev subscribers.Evidence) (*subscribers.Subscriber, error)
	// CheckUnsubscribeToken says, changing nothing, whether tok is an
	// unsubscribe token, and the language to answer in.
	CheckUnsubscribeToken(ctx context.Context, tok string) (lang string, err error)
	// UnsubscribeByToken unsubscribes at once, from the page or one-click.
	UnsubscribeByToken(ctx context.Context, tok string, ev subscribers.Evidence) error
}

// Health is what /healthz asks; *db.DB is one.
type Health interface {
	Ping(ctx context.Context) error
}

// Archive gives the columns that have been sent, newest first. The web
// side shows nothing else, so an unpublished column never leaks through
// /archive. A sent column never changes: its number names it, and its
// article is rendered once and kept (up to Config.ArchiveCacheBytes).
type Archive interface {
	Sent(ctx context.Context) ([]*columns.Column, error)
}

// BodyRenderer renders a column's article as the mail carries it, for the
// archive page; *templates.MailRenderer is one.
type BodyRenderer interface {
	BodyHTML(c *columns.Column) (template.HTML, error)
}

var (
	_ OptIn            = (*subscribers.OptIn)(nil)
	_ Health           = (*db.DB)(nil)
	_ BodyRenderer     = (*templates.MailRenderer)(nil)
	_ SubscriberCounts = (*subscribers.Store)(nil)
)

// Deps are the parts the web side works with.
type Deps struct {
	OptIn          OptIn            // required
	Pages          *templates.Pages // required
	Health         Health           // required
	Archive        Archive          // nil: the archive is empty
	Holds          Holds            // nil: /hold answers 404
	Feed           ArchiveFeed      // nil: /archive.atom has no entries
	Bodies         BodyRenderer     // required with Archive
	Metrics        *Metrics         // nil: no request metrics
	MetricsHandler http.Handler     // serves /metrics; nil: 404
	Log            *slog.Logger     // nil: no logs
	Webhooks       WebhookDeps      // the relay webhooks' intake and SNS fetcher
}

// Server serves the subscription forms, confirm and unsubscribe pages, the
// archive, health and metrics. Build it with New; Handler gives the routes.
type Server struct {
	cfg        Config
	optin      OptIn
	pages      *templates.Pages
	health     Health
	archive    Archive
	holds      Holds
	feed       ArchiveFeed
	bodies     *bodyCache
	metrics    *Metrics
	promh      http.Handler
	log        *slog.Logger
	allowed    originSet // Config.AllowedOrigins
	baseOrigin string    // Config.BaseURL's origin; "" if none
	hooks      *webhooks // the relay webhooks that are on
}

// New returns the web side.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.OptIn == nil || deps.Pages == nil || deps.Health == nil {
		return nil, errors.New("web: OptIn, Pages and Health are required")
	}
	if (deps.Archive != nil || deps.Feed != nil) && deps.Bodies == nil {
		return nil, errors.New("web: an Archive or Feed needs Bodies to render its pages")
	}
	var baseOrigin string
	if cfg.BaseURL != "" {
		var err error
		if baseOrigin, err = originOf(cfg.BaseURL); err != nil {
			return nil, err
		}
	}
	if cfg.ArchiveCacheBytes <= 0 {
		cfg.ArchiveCacheBytes = DefaultArchiveCache
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	cfg.Lang = deps.Pages.Lang(cfg.Lang)
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	hooks, err := newWebhooks(cfg.Webhooks, deps.Webhooks, deps.Log)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, optin: deps.OptIn, pages: deps.Pages, health: deps.Health,
		archive: deps.Archive, feed: deps.Feed, holds: deps.Holds, bodies: newBodyCache(deps.Bodies, cfg.ArchiveCacheBytes),
		metrics: deps.Metrics, promh: deps.MetricsHandler, log: deps.Log,
		allowed: newOriginSet(cfg.AllowedOrigins), baseOrigin: baseOrigin, hooks: hooks,
	}, nil
}
