package mailer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"newsletter/columns"
)

// TLSMode is how connections to the SMTP server are encrypted
// (Options.SMTPTLS): one of the TLS* constants; TLSOpportunistic if empty.
type TLSMode string

// The TLS modes.
const (
	TLSOff TLSMode = "off" // plain text, never STARTTLS
	// TLSOpportunistic encrypts whenever the server offers STARTTLS and
	// does not require its certificate to verify: opportunistic security
	// (RFC 7435), Postfix's "may" level. A self-signed certificate, as a
	// stock Debian Postfix has, still beats plain text against a passive
	// listener. A password is sent over it only when the certificate does
	// verify (see login).
	TLSOpportunistic TLSMode = "opportunistic"
	TLSStartTLS      TLSMode = "starttls" // STARTTLS required, certificate verified
	TLSImplicit      TLSMode = "tls"      // TLS from the first byte (port 465), certificate verified
)

// Valid reports whether m is one of the TLS modes.
func (m TLSMode) Valid() bool {
	switch m {
	case TLSOff, TLSOpportunistic, TLSStartTLS, TLSImplicit:
		return true
	}
	return false
}

// Options configures a Mailer. The zero values of the tuning fields get
// sensible defaults from New.
type Options struct {
	SMTPAddr     string // host:port
	SMTPUser     string // SMTP AUTH only when set
	SMTPPassword string // secret: never logged, never in an error
	SMTPTLS      TLSMode
	// RootCAs are the authorities a server certificate must chain to:
	// nil means the system's. A private relay's CA goes here.
	RootCAs     *x509.CertPool
	SMTPTimeout time.Duration // per SMTP command; default 30s

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
	// RetryFor is how long a mail is retried before it fails for good: a
	// delivery counting from its first attempt, an outbox item from when
	// it was queued. Zero or negative means the default, 72h: "never
	// retry" is not expressible here.
	RetryFor time.Duration

	// Lease is how long a claim on deliveries or outbox items holds
	// without renewal; a crashed sender's come due again after it.
	// Default 30s, renewed every Lease/3.
	Lease time.Duration
	// BatchSize is how many deliveries one claim takes. Default 100.
	BatchSize int
	// PollEvery is how often a waiting sender looks for due work. Default 1s.
	PollEvery time.Duration

	DKIM *DKIMOptions // nil: no signing

	ColumnsDir string         // the columns folder
	Location   *time.Location // for column dates
	// Feed, when set, is read on every Plan and FindColumn: its items are
	// columns beside the folder's (--feed). One Feed for the process's
	// life, so its conditional GET can spare unchanged feeds.
	Feed columns.Provider

	// Secret keys the Message-ID hash and the VERP tags (the installation
	// secret).
	Secret []byte

	// BounceAddress, when set ("bounces@example.org"), is the envelope
	// sender of every mail as a VERP address, local+TAG@domain (verp.go);
	// empty: the From address, untagged.
	BounceAddress string

	Logger *slog.Logger
	// Boundary fixes the MIME boundary (tests and golden files only).
	Boundary string

	// dial, if set, opens the TCP connection instead of a net.Dialer:
	// tests reach a loopback server under a name that is not loopback.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// fromAddress is the parsed From.
type fromAddress struct {
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

// check makes sure the mailer can work with the options: it parses From
// and refuses what it cannot send with. Validating the settings as a user
// gives them is the caller's business (the command line does it).
func (o *Options) check() (fromAddress, error) {
	if !o.SMTPTLS.Valid() {
		return fromAddress{}, fmt.Errorf("SMTP TLS mode %q: want off, opportunistic, starttls or tls", o.SMTPTLS)
	}
	a, err := mail.ParseAddress(o.From)
	if err != nil {
		return fromAddress{}, fmt.Errorf("sender address %q: %w", o.From, err)
	}
	_, domain, ok := strings.Cut(a.Address, "@")
	if !ok || domain == "" {
		return fromAddress{}, fmt.Errorf("sender address %q has no domain", o.From)
	}
	if len(o.Secret) == 0 {
		return fromAddress{}, errors.New("mailer needs the installation secret for Message-IDs")
	}
	return fromAddress{addr: a, domain: strings.ToLower(domain)}, nil
}
