package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"

	"newsletter/mailer"
)

// usageError marks mistakes in how the program was called: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// group is a set of settings a command accepts; --help lists them by group.
type group int

const (
	groupShared   group = 1 << iota // every command
	groupLinks                      // public URL in links
	groupSMTP                       // SMTP delivery
	groupSchedule                   // the weekly scheduler
	groupDelivery                   // retries
	groupWait                       // send's patience
	groupWeb                        // web forms
	groupContent                    // rendering
	groupFeed                       // the feed as a column source
	groupProof                      // the author's safety net: proofs
	groupBounce                     // bounce address and what bounces do
	groupMailbox                    // serve's IMAP bounce mailbox (bounceimap.go)
)

// groupAll is every group: the settings a config file may hold.
const groupAll = groupShared | groupLinks | groupSMTP | groupSchedule | groupDelivery | groupWait | groupWeb | groupContent | groupFeed | groupProof | groupBounce | groupMailbox

var groupTitles = []struct {
	g     group
	title string
}{
	{groupShared, "Shared"},
	{groupLinks, "Links"},
	{groupSMTP, "SMTP"},
	{groupSchedule, "Schedule"},
	{groupDelivery, "Delivery"},
	{groupWait, "Send"},
	{groupWeb, "Web"},
	{groupContent, "Content"},
	{groupFeed, "Feed"},
	{groupProof, "Author's safety net"},
	{groupBounce, "Bounce"},
	{groupMailbox, "Bounce mailbox"},
}

// registerSettings binds the configuration flags of the given groups on fs.
// The table in README.md mirrors this function; keep them in step.
func registerSettings(fs *flag.FlagSet, cfg *Config, groups group) map[string]group {
	where := map[string]group{}
	str := func(g group, p *string, name, def, usage string) {
		if groups&g != 0 {
			fs.StringVar(p, name, def, usage)
			where[name] = g
		}
	}
	num := func(g group, p *int, name string, def int, usage string) {
		if groups&g != 0 {
			fs.IntVar(p, name, def, usage)
			where[name] = g
		}
	}
	dur := func(g group, p *time.Duration, name string, def time.Duration, usage string) {
		if groups&g != 0 {
			fs.DurationVar(p, name, def, usage)
			where[name] = g
		}
	}
	str(groupShared, &cfg.DB, "db", "newsletter.db", "SQLite database file, or a postgres:// URL")
	str(groupShared, &cfg.Columns, "columns", "columns", "folder holding the column files")
	str(groupShared, &cfg.Config, "config", "", "optional TOML file with settings (keys are flag names)")

	str(groupLinks, &cfg.BaseURL, "base-url", "http://localhost:8080", "public URL used in links")
	str(groupWeb, &cfg.Listen, "listen", "127.0.0.1:8080", "address the web server listens on")
	str(groupSMTP, &cfg.SMTPAddr, "smtp-addr", "127.0.0.1:1025", "SMTP server HOST:PORT")
	str(groupSMTP, &cfg.SMTPUser, "smtp-user", "", "SMTP user name (empty: no authentication)")
	str(groupSMTP, &cfg.SMTPPassword, "smtp-password", "", "SMTP password (secret: never printed)")
	str(groupSMTP, (*string)(&cfg.SMTPTLS), "smtp-tls", "opportunistic", "SMTP TLS: off, opportunistic (encrypt when offered, any certificate), starttls or tls (certificate verified)")
	str(groupSMTP, &cfg.SMTPCA, "smtp-ca", "", "PEM file of a CA to trust for the SMTP server's certificate (a private relay's)")
	str(groupSMTP, &cfg.From, "from", "Newsletter <newsletter@localhost>", `sender, "Name <addr>"`)
	str(groupSchedule, &cfg.Schedule, "schedule", "0 7 * * 1", "when to send new columns: 5 cron fields or a descriptor like @every 10s")
	str(groupShared, &cfg.Timezone, "timezone", "Europe/Berlin", "time zone of the schedule and column dates")
	if groups&groupSMTP != 0 {
		fs.Float64Var(&cfg.Rate, "rate", 0, "messages per second, 0 = unlimited")
		where["rate"] = groupSMTP
	}
	num(groupSMTP, &cfg.Workers, "workers", 4, "concurrent SMTP connections")
	str(groupShared, &cfg.Lang, "lang", "de", "language of pages and mails: de or en")
	str(groupSMTP, &cfg.DKIMDomain, "dkim-domain", "", "DKIM signing domain (empty: no DKIM)")
	str(groupSMTP, &cfg.DKIMSelector, "dkim-selector", "", "DKIM selector")
	str(groupSMTP, &cfg.DKIMKey, "dkim-key", "", "DKIM private key file (PEM, RSA or Ed25519)")
	str(groupSMTP, &cfg.FeedbackID, "feedback-id", "", "optional Feedback-ID header value")

	dur(groupDelivery, &cfg.RetryBackoff, "retry-backoff", time.Minute, "first retry after a temporary failure, doubling with jitter")
	dur(groupDelivery, &cfg.RetryFor, "retry-for", 72*time.Hour, "give up retrying a delivery after this long")
	dur(groupDelivery, &cfg.Lease, "lease", 30*time.Second, "how long a sender's claim on deliveries and outbox mails holds unrenewed; a crashed sender's are taken over after it")
	dur(groupWait, &cfg.Wait, "wait", 10*time.Minute, "how long send keeps retrying before it leaves the rest to serve")

	num(groupWeb, &cfg.IPRateLimit, "ip-rate-limit", 10, "subscribe requests per minute per client IP, 0 = off")
	str(groupWeb, &cfg.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	str(groupWeb, &cfg.AllowedOrigins, "allowed-origins", "", "comma-separated origins allowed to embed the subscribe form (CORS)")
	dur(groupWeb, &cfg.PurgePendingAfter, "purge-pending-after", 30*24*time.Hour, "delete unconfirmed subscribers after this long")
	str(groupWeb, &cfg.WebhookMailgunKey, "webhook-mailgun-key", "", "Mailgun's HTTP webhook signing key: turns on POST /webhooks/mailgun (secret: never printed)")
	str(groupWeb, &cfg.WebhookPostmarkUser, "webhook-postmark-user", "", "user in Postmark's webhook URL (basic auth): turns on POST /webhooks/postmark")
	str(groupWeb, &cfg.WebhookPostmarkPassword, "webhook-postmark-password", "", "password in Postmark's webhook URL, at least 16 characters (secret: never printed)")
	str(groupWeb, &cfg.WebhookSendGridKey, "webhook-sendgrid-key", "", "`FILE` with SendGrid's event webhook verification key (as SendGrid shows it, or PEM): turns on POST /webhooks/sendgrid")
	str(groupWeb, &cfg.WebhookSES, "webhook-ses", "off", "on: POST /webhooks/ses takes Amazon SES notifications through SNS")
	str(groupWeb, &cfg.WebhookSESTopics, "webhook-ses-topics", "", "comma-separated SNS topic `ARNs` whose notifications /webhooks/ses takes (required with --webhook-ses on)")
	str(groupWeb, (*string)(&cfg.Welcome), "welcome", string(mailer.WelcomeLatest), "welcome mail after a confirmation: latest (greeting and the newest sent column), note (greeting and archive link) or off")

	str(groupContent, &cfg.Templates, "templates", "", "folder with template overrides (same file names as the embedded ones)")
	str(groupContent, &cfg.Imprint, "imprint", "", "imprint / postal address for every mail footer: TEXT or @FILE")
	str(groupContent, &cfg.ListName, "list-name", "KNIEPUNKT", "list name shown in pages and List-Id")
	str(groupMailbox, &cfg.BounceIMAP, "bounce-imap", "", "`URL` of the IMAP folder serve takes bounce reports from: imaps://USER@HOST/FOLDER (TLS), imap://… (STARTTLS)")
	str(groupMailbox, &cfg.BounceIMAPPassword, "bounce-imap-password", "", "password of the --bounce-imap user (secret: never printed)")
	dur(groupMailbox, &cfg.BouncePoll, "bounce-poll", 5*time.Minute, "pause between polls of --bounce-imap")
	str(groupFeed, &cfg.Feed, "feed", "", "RSS or Atom feed whose items are columns too: an http(s) URL or a FILE")

	str(groupProof, &cfg.ProofToText, "proof-to", "", "comma-separated addresses that get the proof of each column before its run (empty: no proofs)")
	dur(groupProof, &cfg.ProofBefore, "proof-before", 24*time.Hour, "how long before the run that sends a column its proof goes out")
	str(groupBounce, &cfg.BounceAddress, "bounce-address", "", "envelope sender for bounces, local@domain: every mail goes out from local+TAG@domain (VERP); empty: the --from address")
	num(groupBounce, &cfg.SoftBounceLimit, "soft-bounce-limit", mailer.DefaultSoftBounceLimit, "campaigns in a row with a soft bounce that make an address bounced")
	return where
}

// allSettingNames lists every configuration key any command knows, so a
// config file shared by all commands is checked for typos.
func allSettingNames() map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	names := map[string]bool{}
	for n := range registerSettings(fs, &Config{}, groupAll) {
		names[n] = true
	}
	return names
}

// envName is the variable a flag reads: NEWSLETTER_<FLAG>, - becomes _.
func envName(flagName string) string {
	return "NEWSLETTER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseArgs parses flags that may stand before, between or after positional
// arguments, then fills unset flags from the environment and the config file.
// Precedence: flag > environment > config file > default.
func parseArgs(fs *flag.FlagSet, args []string, getenv func(string) string, cfg *Config) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			msg := err.Error()
			if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
				msg = "unknown flag --" + strings.TrimPrefix(name, "-")
			}
			return nil, usagef("%s", msg)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Environment: settings only. A command's own options (--confirmed,
	// --dry-run, --to) from a stray variable would act behind one's back.
	settings := allSettingNames()
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || firstErr != nil || !settings[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = usagef("%s: invalid value %q: %v", envName(f.Name), v, err)
				return
			}
			set[f.Name] = true
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	// Config file (its name itself may come from a flag or the environment).
	if cfg.Config != "" {
		values, err := readConfigFile(cfg.Config)
		if err != nil {
			return nil, err
		}
		known := settings
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := strings.ReplaceAll(k, "_", "-")
			if !known[name] {
				// Only settings belong in the file: a command's own
				// options (say dry-run) there would act behind one's back.
				return nil, usagef("config file %s: unknown key %q (the file holds settings; see 'newsletter serve --help')", cfg.Config, k)
			}
			f := fs.Lookup(name)
			if f == nil {
				continue // a setting of another command
			}
			if name == "config" {
				return nil, usagef("config file %s: key %q cannot be set inside a config file", cfg.Config, k)
			}
			if set[name] {
				continue
			}
			if err := fs.Set(name, values[k]); err != nil {
				return nil, usagef("config file %s: %s: invalid value %q: %v", cfg.Config, k, values[k], err)
			}
		}
	}
	return positional, nil
}

// readConfigFile reads a TOML file into flag-name → value text.
func readConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		// The parser's message quotes the text it choked on, which may be
		// a password: give only the position.
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, usagef("config file %s: line %d: not valid TOML (text values need quotes: key = \"value\")", path, pe.Position.Line)
		}
		return nil, usagef("config file %s: not valid TOML", path)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case int64, float64, bool:
			out[k] = fmt.Sprint(x)
		case []any:
			parts := make([]string, 0, len(x))
			for _, p := range x {
				switch p.(type) {
				case string, int64, float64, bool:
					parts = append(parts, fmt.Sprint(p))
				default:
					return nil, usagef("config file %s: key %q: a list may hold only strings and numbers", path, k)
				}
			}
			out[k] = strings.Join(parts, ",")
		default:
			return nil, usagef("config file %s: key %q: want a string, number or list, got %T", path, k, v)
		}
	}
	return out, nil
}

// finish checks values and derives the parsed ones (time zone, imprint).
func (cfg *Config) finish(groups group) error {
	switch cfg.Lang {
	case "de", "en":
	default:
		return usagef("--lang: %q is not one of de, en", cfg.Lang)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return usagef("--timezone: unknown time zone %q", cfg.Timezone)
	}
	cfg.Location = loc
	if groups&groupSMTP != 0 {
		if host, port, err := net.SplitHostPort(cfg.SMTPAddr); err != nil || host == "" {
			return usagef("--smtp-addr: %q is not HOST:PORT", cfg.SMTPAddr)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return usagef("--smtp-addr: %q: port %q is not a number", cfg.SMTPAddr, port)
		}
		if !cfg.SMTPTLS.Valid() {
			return usagef("--smtp-tls: %q is not one of off, opportunistic, starttls, tls", cfg.SMTPTLS)
		}
		if cfg.SMTPCA != "" {
			pool, err := loadCA(cfg.SMTPCA)
			if err != nil {
				return err
			}
			cfg.SMTPRootCAs = pool
		}
		if cfg.Workers < 1 || cfg.Workers > 100 {
			return usagef("--workers: must be between 1 and 100, got %d", cfg.Workers)
		}
		if cfg.Rate < 0 {
			return usagef("--rate: must not be negative")
		}
		addr, err := mail.ParseAddress(cfg.From)
		if err != nil || !strings.Contains(addr.Address, "@") {
			return usagef(`--from: %q is not an address like "Name <news@example.org>"`, cfg.From)
		}
		if cfg.DKIMDomain != "" || cfg.DKIMSelector != "" || cfg.DKIMKey != "" {
			if cfg.DKIMDomain == "" {
				// The From domain is the natural signing domain (DMARC alignment).
				_, cfg.DKIMDomain, _ = strings.Cut(addr.Address, "@")
			}
			if err := checkDKIM(cfg.DKIMDomain, cfg.DKIMSelector, cfg.DKIMKey); err != nil {
				return err
			}
		}
	}
	if groups&groupSchedule != 0 {
		if _, err := cron.ParseStandard(cfg.Schedule); err != nil {
			return usagef("--schedule: %q: %v", cfg.Schedule, err)
		}
	}
	if groups&groupLinks != 0 {
		if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
			return usagef("--base-url: %q must start with http:// or https://", cfg.BaseURL)
		}
		if u, err := url.Parse(cfg.BaseURL); err != nil || u.Host == "" {
			return usagef("--base-url: %q is not a URL like https://news.example.org", cfg.BaseURL)
		}
		cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	if groups&groupDelivery != 0 {
		switch {
		case cfg.RetryBackoff <= 0:
			return usagef("--retry-backoff: must be positive, got %s", cfg.RetryBackoff)
		case cfg.RetryFor <= 0:
			return usagef("--retry-for: must be positive, got %s", cfg.RetryFor)
		case cfg.Lease < time.Second:
			// The lease is renewed every third of it; shorter would
			// spend the sender's time on renewals.
			return usagef("--lease: must be at least 1s, got %s", cfg.Lease)
		}
	}
	if groups&groupWait != 0 && cfg.Wait < 0 {
		return usagef("--wait: must not be negative, got %s", cfg.Wait)
	}
	if groups&groupWeb != 0 {
		if cfg.IPRateLimit < 0 {
			return usagef("--ip-rate-limit: must not be negative")
		}
		if !cfg.Welcome.Valid() {
			return usagef("--welcome: %q is not one of latest, note, off", cfg.Welcome)
		}
		if err := cfg.finishWebhooks(); err != nil {
			return err
		}
		if cfg.Proxies, err = parseTrustedProxies(cfg.TrustedProxies); err != nil {
			return err
		}
		if cfg.Origins, err = parseOrigins(cfg.AllowedOrigins); err != nil {
			return err
		}
	}
	if groups&groupMailbox != 0 {
		if err := cfg.finishBounceIMAP(); err != nil {
			return err
		}
	}
	if groups&groupProof != 0 {
		if err := cfg.finishProof(); err != nil {
			return err
		}
	}
	if groups&groupContent != 0 && cfg.Templates != "" {
		if fi, err := os.Stat(cfg.Templates); err != nil || !fi.IsDir() {
			return fmt.Errorf("--templates: %s is not a folder", cfg.Templates)
		}
	}
	if groups&groupFeed != 0 && cfg.Feed != "" {
		if err := checkFeed(cfg.Feed); err != nil {
			return err
		}
	}
	if groups&groupBounce != 0 {
		if cfg.BounceAddress != "" {
			if _, _, err := mailer.SplitBounceAddress(cfg.BounceAddress); err != nil {
				return usagef("--bounce-address: %v", err)
			}
		}
		if cfg.SoftBounceLimit < 1 || cfg.SoftBounceLimit > 100 {
			return usagef("--soft-bounce-limit: must be between 1 and 100, got %d", cfg.SoftBounceLimit)
		}
	}
	if groups&groupContent != 0 && strings.HasPrefix(cfg.Imprint, "@") {
		data, err := os.ReadFile(cfg.Imprint[1:])
		if err != nil {
			return fmt.Errorf("--imprint: cannot read %s: %w", cfg.Imprint[1:], errors.Unwrap(err))
		}
		cfg.Imprint = strings.TrimSpace(string(data))
	}
	return nil
}

// loadCA reads --smtp-ca: PEM certificates trusted besides the system's.
// A file without one is refused here, not at the first send, where the
// relay's certificate would only "not verify".
func loadCA(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--smtp-ca: cannot read %s: %w", path, errors.Unwrap(err))
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system pool here: the CA alone
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("--smtp-ca: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// parseTrustedProxies reads --trusted-proxies: comma-separated CIDRs or
// single addresses.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
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
			return nil, usagef("--trusted-proxies: trusted proxy %q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// parseOrigins reads --allowed-origins: comma-separated origins, without
// a trailing slash.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, usagef("--allowed-origins: %q is not an origin like https://author.example", o)
		}
		out = append(out, strings.TrimRight(o, "/"))
	}
	return out, nil
}

// checkDKIM names exactly the DKIM settings still missing once one is
// given. The domain usually comes from --from, so "needs --dkim-domain"
// would send the admin after the wrong flag.
func checkDKIM(domain, selector, keyFile string) error {
	var missing []string
	if domain == "" {
		missing = append(missing, "--dkim-domain (or a --from address with a domain)")
	}
	if selector == "" {
		missing = append(missing, "--dkim-selector")
	}
	if keyFile == "" {
		missing = append(missing, "--dkim-key FILE")
	}
	if len(missing) > 0 {
		return usagef("DKIM signing needs %s", strings.Join(missing, " and "))
	}
	return nil
}

// printFlagHelp writes the flags of fs grouped as in README's table.
func printFlagHelp(w io.Writer, fs *flag.FlagSet, where map[string]group) {
	byGroup := map[group][]*flag.Flag{}
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if g, ok := where[f.Name]; ok {
			byGroup[g] = append(byGroup[g], f)
		} else {
			own = append(own, f)
		}
	})
	line := func(f *flag.Flag, setting bool) {
		name, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if name != "" {
			head += " " + name
		}
		def := ""
		switch {
		case f.DefValue == "" || f.DefValue == "false" || f.DefValue == "0" && f.Name != "rate":
		case name == "string":
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		default:
			def = " (default " + f.DefValue + ")"
		}
		env := ""
		if setting {
			env = " [" + envName(f.Name) + "]"
		}
		if len(head) > 31 {
			fmt.Fprintf(w, "%s\n%-31s %s%s%s\n", head, "", usage, def, env)
			return
		}
		fmt.Fprintf(w, "%-31s %s%s%s\n", head, usage, def, env)
	}
	if len(own) > 0 {
		fmt.Fprintln(w, "\nOptions:")
		for _, f := range own {
			line(f, false)
		}
	}
	for _, gt := range groupTitles {
		if fl := byGroup[gt.g]; len(fl) > 0 {
			fmt.Fprintf(w, "\n%s settings:\n", gt.title)
			for _, f := range fl {
				line(f, true)
			}
		}
	}
}

// subcommandFlags refuses a flag given on the command line that belongs to
// another subcommand of cmd than sub: own lists each subcommand's own
// flags. The settings every subcommand shares are nobody's own.
func subcommandFlags(fs *flag.FlagSet, cmd, sub string, own map[string][]string) error {
	var bad error
	fs.Visit(func(f *flag.Flag) {
		if bad != nil || slices.Contains(own[sub], f.Name) {
			return
		}
		for _, flags := range own {
			if slices.Contains(flags, f.Name) {
				bad = usagef("%s %s: flag --%s does not apply here", cmd, sub, f.Name)
				return
			}
		}
	})
	return bad
}
