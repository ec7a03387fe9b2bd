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

	"newsletter/columns"
	"newsletter/db"
	"newsletter/internal/keyedmac"
	"newsletter/subscribers"
	"newsletter/templates"
)

// ColumnMail is a column rendered once for a campaign and personalised
// per recipient (the mail carries the recipient's unsubscribe link in
// RenderedMail.UnsubscribeURL too); *templates.PreparedMail is one.
type ColumnMail interface {
	Personalize(templates.Recipient) templates.RenderedMail
}

// Renderer renders a column once per campaign.
type Renderer interface {
	Prepare(c *columns.Column) (ColumnMail, error)
}

// TemplateRenderer adapts the templates package's renderer.
func TemplateRenderer(r *templates.MailRenderer) Renderer { return templateRenderer{r} }

type templateRenderer struct{ r *templates.MailRenderer }

func (t templateRenderer) Prepare(c *columns.Column) (ColumnMail, error) { return t.r.Prepare(c) }

// Mailer sends campaigns and outbox mails. One per process: its lease
// owner id tells this process's claims apart from every other sender's.
type Mailer struct {
	db       *db.DB
	store    *subscribers.Store
	renderer Renderer
	opts     Options
	from     fromAddress
	composer *composer
	sender   *sender       // the one SMTP send path: campaigns, outbox, test copy
	verp     *verp         // return paths with --bounce-address; nil without
	retry    retryPolicy   // the one retry policy: outbox items and deliveries
	ids      *keyedmac.MAC // Message-IDs, one MAC per message under the secret
	owner    string
	log      *slog.Logger
	metrics  *metrics

	campaigns *CampaignStore // campaigns and the delivery log
	holds     *Holds         // columns on hold

	// sendMu keeps campaign runs of one process (RunCampaign, the
	// scheduler's job and its retry loop) from running side by side (leases
	// would keep them correct, but two SMTP pools for one campaign only
	// waste connections).
	sendMu sync.Mutex
}

// New builds a Mailer. It checks what it cannot work without (a From
// address with a domain, the SMTP address and TLS mode, the DKIM key, the
// secret) but does not connect to the SMTP server. The settings themselves
// are validated where they are read.
func New(d *db.DB, store *subscribers.Store, r Renderer, opts Options) (*Mailer, error) {
	opts.setDefaults()
	from, err := opts.check()
	if err != nil {
		return nil, err
	}
	dk, err := newDKIMSigner(opts.DKIM)
	if err != nil {
		return nil, err
	}
	owner, err := newOwnerID()
	if err != nil {
		return nil, err
	}
	m := &Mailer{
		db: d, store: store, campaigns: NewCampaignStore(d), renderer: r, opts: opts, from: from,
		holds:   NewHolds(d, opts.Secret, opts.Location),
		ids:     keyedmac.New(opts.Secret),
		retry:   retryPolicy{backoff: opts.RetryBackoff, giveUpAfter: opts.RetryFor},
		owner:   owner,
		log:     opts.Logger,
		metrics: &metrics{},
	}
	m.composer = newComposer(&m.opts, from, dk)
	if m.sender, err = newSender(&m.opts, from.addr.Address); err != nil {
		return nil, err
	}
	if opts.BounceAddress != "" {
		if m.verp, err = newVERP(opts.BounceAddress, opts.Secret); err != nil {
			return nil, fmt.Errorf("bounce address: %w", err)
		}
	}
	return m, nil
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

// Campaigns is the store of campaigns and their delivery log.
func (m *Mailer) Campaigns() *CampaignStore { return m.campaigns }

// Holds is the hold state of the columns.
func (m *Mailer) Holds() *Holds { return m.holds }

// unsubscribeURL is the subscriber's one-click unsubscribe link.
func (m *Mailer) unsubscribeURL(subscriberID int64) string {
	return strings.TrimRight(m.opts.BaseURL, "/") + "/unsubscribe?token=" + m.store.UnsubscribeToken(subscriberID)
}

// loadColumn returns the campaign's column as it was when the campaign
// started: the column CampaignStore.Start was given, else parsed from the source
// kept with the campaign.
func (m *Mailer) loadColumn(ctx context.Context, c *Campaign) (*columns.Column, error) {
	if c.Column != nil {
		return c.Column, nil
	}
	return m.campaigns.column(ctx, c, m.opts.Location)
}
