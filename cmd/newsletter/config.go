package main

import (
	"crypto/x509"
	"net/netip"
	"time"

	"newsletter/mailer"
	"newsletter/mailer/mailbox"
	"newsletter/web"
)

// Config holds every setting of DESIGN.md. Each field is a flag, also read
// from NEWSLETTER_<FLAG> and from the --config TOML file (see flags.go).
type Config struct {
	// Shared.
	DB      string
	Columns string
	Config  string

	// Serving and sending.
	BaseURL      string
	Listen       string
	SMTPAddr     string
	SMTPUser     string
	SMTPPassword string         // secret: never printed
	SMTPTLS      mailer.TLSMode // off|opportunistic|starttls|tls
	SMTPCA       string         // PEM file of a CA to trust besides the system's
	SMTPRootCAs  *x509.CertPool // parsed SMTPCA added to the system's; nil: the system's only
	From         string
	Schedule     string
	Timezone     string
	Location     *time.Location // parsed Timezone
	Rate         float64
	Workers      int
	Lang         string

	// Delivery.
	RetryBackoff time.Duration
	RetryFor     time.Duration
	Lease        time.Duration // how long a claim holds without renewal
	Wait         time.Duration

	// DKIM (optional).
	DKIMDomain   string // defaults to the From domain when DKIM is on
	DKIMSelector string
	DKIMKey      string // path to a PEM key file
	FeedbackID   string

	// Web.
	IPRateLimit       int
	TrustedProxies    string
	Proxies           []netip.Prefix // parsed TrustedProxies
	AllowedOrigins    string
	Origins           []string // parsed AllowedOrigins
	PurgePendingAfter time.Duration
	Welcome           mailer.WelcomeMode // the welcome mail after a confirmation

	// Author's safety net.
	ProofTo     []string // --proof-to, parsed and validated (ProofToText)
	ProofToText string
	ProofBefore time.Duration

	// Content.
	Templates string
	Imprint   string // resolved text (a leading @ in the flag reads a file)
	ListName  string

	// Feed source: an http(s) URL or a file.
	Feed string

	// Bounces.
	BounceAddress   string // local@domain: VERP envelope sender; empty: From
	SoftBounceLimit int    // campaigns in a row with a soft bounce before bounced

	// Relay webhooks, POST /webhooks/{provider} (webhooks.go).
	WebhookMailgunKey       string            // secret: never printed
	WebhookPostmarkUser     string            // basic auth user in Postmark's webhook URL
	WebhookPostmarkPassword string            // secret: never printed
	WebhookSendGridKey      string            // FILE with SendGrid's verification key
	WebhookSES              string            // on|off
	WebhookSESTopics        string            // comma-separated SNS topic ARNs
	Webhooks                web.WebhookConfig // parsed from the settings above

	// Bounce mailbox polled by serve (bounceimap.go).
	BounceIMAP         string          // imaps://USER@HOST/FOLDER
	BounceIMAPPassword string          // secret: never printed
	BouncePoll         time.Duration   // pause between polls
	BounceMailbox      *mailbox.Config // parsed; nil without --bounce-imap
}
