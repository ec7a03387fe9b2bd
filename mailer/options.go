// Package mailer delivers columns and confirmation mails over SMTP: campaigns
// and their delivery log, leases that let several senders share the work,
// retries with backoff, the rate limit, the outbox worker and the cron
// scheduler.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TLS modes of --smtp-tls.
const (
	TLSOff           = "off"           // plain text, never STARTTLS
	TLSOpportunistic = "opportunistic" // STARTTLS when the server offers it
	TLSStartTLS      = "starttls"      // STARTTLS required; fail without it
	TLSImplicit      = "tls"           // TLS from the first byte (port 465)
)

// Options configures a Mailer. The zero values of the tuning fields get
// sensible defaults from New.
type Options struct {
	SMTPAddr     string // host:port
	SMTPUser     string // SMTP AUTH only when set
	SMTPPassword string // secret: never logged, never in an error
	SMTPTLS      string // one of the TLS* constants; default opportunistic
	TLSConfig    *tls.Config
	SMTPTimeout  time.Duration // per SMTP command; default 30s

	From       string // "Name <addr>": header From and envelope sender
	BaseURL    string // public URL for unsubscribe links
	ListName   string // List-Id phrase
	FeedbackID string // optional Feedback-ID header value

	Workers int     // concurrent SMTP connections; default 4
	Rate    float64 // messages per second over all workers; 0 = unlimited
	// RetryBackoff is the delay before the first retry of a temporary
	// failure, doubling per attempt (capped at 6h); zero or negative means
	// 1m. It also bounds the first pause (at most 1s) between connection
	// rounds while the SMTP server is unreachable.
	RetryBackoff time.Duration
	// RetryFor is how long after its first attempt a delivery is retried
	// before it fails for good. Zero or negative means the default, 72h:
	// "never retry" is not expressible here (the CLI rejects 0).
	RetryFor time.Duration

	// Lease is how long a claim holds without renewal; a crashed sender's
	// deliveries come due again after it. Default 30s, renewed every Lease/3.
	Lease time.Duration
	// BatchSize is how many deliveries one claim takes. Default 100.
	BatchSize int
	// PollEvery is how often a waiting sender looks for due work. Default 1s.
	PollEvery time.Duration

	DKIM *DKIMOptions // nil: no signing

	ColumnsDir string         // where campaigns re-read their column on resume
	Location   *time.Location // --timezone, for column dates

	// Secret keys the Message-ID hash (the installation secret).
	Secret []byte

	Logger *slog.Logger
	// Boundary fixes the MIME boundary (tests and golden files only).
	Boundary string

	// dial, if set, opens the TCP connection instead of a net.Dialer:
	// tests reach a loopback server under a name that is not loopback.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// sender is the parsed From.
type sender struct {
	addr   *mail.Address
	domain string
}

func (o *Options) setDefaults() {
	if o.SMTPTLS == "" {
		o.SMTPTLS = TLSOpportunistic
	}
	if o.SMTPTimeout <= 0 {
		o.SMTPTimeout = 30 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Minute
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 72 * time.Hour
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() (sender, error) {
	switch o.SMTPTLS {
	case TLSOff, TLSOpportunistic, TLSStartTLS, TLSImplicit:
	default:
		return sender{}, fmt.Errorf("--smtp-tls %q: want off, opportunistic, starttls or tls", o.SMTPTLS)
	}
	if _, port, err := net.SplitHostPort(o.SMTPAddr); err != nil {
		return sender{}, fmt.Errorf("--smtp-addr %q: want HOST:PORT: %w", o.SMTPAddr, err)
	} else if _, err := strconv.Atoi(port); err != nil {
		return sender{}, fmt.Errorf("--smtp-addr %q: port is not a number", o.SMTPAddr)
	}
	if o.Rate < 0 {
		return sender{}, errors.New("--rate must not be negative")
	}
	if strings.TrimSpace(o.From) == "" {
		return sender{}, errors.New("--from is required, like \"Kniepunkt <kolumne@example.org>\"")
	}
	a, err := mail.ParseAddress(o.From)
	if err != nil {
		return sender{}, fmt.Errorf("--from %q: %w", o.From, err)
	}
	_, domain, ok := strings.Cut(a.Address, "@")
	if !ok || domain == "" {
		return sender{}, fmt.Errorf("--from %q has no domain", o.From)
	}
	if o.BaseURL != "" {
		if u, err := url.Parse(o.BaseURL); err != nil || u.Host == "" {
			return sender{}, fmt.Errorf("--base-url %q is not an absolute URL", o.BaseURL)
		}
	}
	if len(o.Secret) == 0 {
		return sender{}, errors.New("mailer needs the installation secret for Message-IDs")
	}
	return sender{addr: a, domain: strings.ToLower(domain)}, nil
}
