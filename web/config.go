package web

import "net/netip"

// DefaultMaxBody is the largest request body the web forms accept; a
// subscribe form is a few hundred bytes.
const DefaultMaxBody = 16 << 10

// Config is the web side's share of the settings.
type Config struct {
	Lang           string         // page language when the browser asks for none we have
	BaseURL        string         // --base-url: our own pages post the forms from its origin; the feed's absolute links
	ListName       string         // the feed's title and author
	IPRateLimit    int            // subscribe requests per minute per client IP; 0 = off
	TrustedProxies []netip.Prefix // X-Forwarded-For is believed only from these
	AllowedOrigins []string       // origins that may post the forms from their pages, the subscribe form with a script too (CORS)
	MaxBody        int64          // DefaultMaxBody if zero
	// ArchiveCacheBytes bounds the rendered articles of sent columns and
	// the feed kept in memory for the archive; DefaultArchiveCache if zero.
	ArchiveCacheBytes int64
	// Webhooks turns on the relay webhooks (POST /webhooks/{provider}).
	Webhooks WebhookConfig
}
