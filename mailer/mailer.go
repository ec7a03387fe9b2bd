package mailer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

// Prepared is a column rendered once for a campaign and personalised per
// recipient; *templates.PreparedMail is one.
type Prepared interface {
	Personalize(templates.Recipient) templates.RenderedMail
}

// Renderer renders a column once per campaign.
type Renderer interface {
	Prepare(c *columns.Column) (Prepared, error)
}

// TemplateRenderer adapts the templates package's renderer.
func TemplateRenderer(r *templates.MailRenderer) Renderer { return templateRenderer{r} }

type templateRenderer struct{ r *templates.MailRenderer }

func (t templateRenderer) Prepare(c *columns.Column) (Prepared, error) { return t.r.Prepare(c) }

// Mailer sends campaigns and outbox mails. One per process: its lease
// owner id tells this process's claims apart from every other sender's.
type Mailer struct {
	db       *db.DB
	store    *subscribers.Store
	renderer Renderer
	opts     Options
	from     sender
	composer *composer
	limiter  *rate.Limiter
	owner    string
	log      *slog.Logger
	metrics  *metrics
	link     *link // SMTP outages, shared by all runs and the outbox

	// sendMu keeps the scheduler's job and the retry loop of one process
	// from running campaign passes side by side (leases would keep them
	// correct, but two SMTP pools for one campaign only waste connections).
	sendMu sync.Mutex
}

// New builds a Mailer. It checks the options (TLS mode, From, DKIM key)
// but does not connect to the SMTP server.
func New(d *db.DB, store *subscribers.Store, r Renderer, opts Options) (*Mailer, error) {
	opts.setDefaults()
	from, err := opts.validate()
	if err != nil {
		return nil, err
	}
	dk, err := newDKIMSigner(opts.DKIM)
	if err != nil {
		return nil, err
	}
	limit := rate.Inf
	if opts.Rate > 0 {
		limit = rate.Limit(opts.Rate)
	}
	owner, err := newOwnerID()
	if err != nil {
		return nil, err
	}
	return &Mailer{
		db: d, store: store, renderer: r, opts: opts, from: from,
		composer: newComposer(&opts, from, dk),
		limiter:  rate.NewLimiter(limit, 1),
		owner:    owner,
		log:      opts.Logger,
		metrics:  &metrics{},
		link:     newLink(&opts, time.Now),
	}, nil
}

// newOwnerID names this process in leases: host, pid and a random part,
// so a restarted process never mistakes a dead one's claims for its own.
func newOwnerID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease owner id: %w", err)
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:])), nil
}

// unsubscribeURL is the subscriber's one-click unsubscribe link.
func (m *Mailer) unsubscribeURL(subscriberID int64) string {
	return strings.TrimRight(m.opts.BaseURL, "/") + "/unsubscribe?token=" + m.store.UnsubscribeToken(subscriberID)
}

// loadColumn returns the campaign's column as it was when the campaign
// started: the column StartCampaign was given, else parsed from the source
// kept with the campaign.
func (m *Mailer) loadColumn(ctx context.Context, c *Campaign) (*columns.Column, error) {
	if c.Column != nil {
		return c.Column, nil
	}
	src, ok, err := campaignSource(ctx, m.db, c.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("campaign of column %03d has no stored source", c.Number)
	}
	col, err := columns.Parse(c.File, src, m.opts.Location)
	if err != nil {
		return nil, fmt.Errorf("campaign of column %03d: stored source: %w", c.Number, err)
	}
	return col, nil
}
