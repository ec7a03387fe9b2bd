package web

// Relay webhooks: POST /webhooks/{provider} takes bounce and complaint
// events from Mailgun, Postmark, SendGrid and Amazon SES (through SNS).
// Each relay proves itself its own way (webhook_<relay>.go); what passes
// becomes one bounce.Report per event, handed to the BounceIntake with a
// stable idempotency key, so a relay that posts an event again changes
// nothing twice. These are server-to-server posts: no Origin check, no
// HTML answers, and their own body limit.

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"newsletter/mailer"
	"newsletter/mailer/bounce"
)

// BounceIntake applies bounce and complaint reports once; mailer.Intake is
// one. r.MessageID is the idempotency key ("mailgun:<event id>", …):
// a report whose key was applied before changes nothing.
type BounceIntake interface {
	Apply(ctx context.Context, source string, r *bounce.Report) (*IntakeResult, error)
}

// IntakeResult is what one Apply did.
type IntakeResult = mailer.IntakeResult

// errIntakeTemporary marks a passing failure of the intake (database
// busy): the webhook answers 503 and the relay posts again later.
var errIntakeTemporary = mailer.ErrTemporary

const (
	// DefaultWebhookMaxBody bounds a relay's post. Mailgun, Postmark and
	// SNS post one event of a few KiB (an SNS message is at most 256 KiB);
	// SendGrid batches events up to about 768 KiB and gets twice this.
	DefaultWebhookMaxBody = 1 << 20
	// DefaultWebhookWindow is how far a signed timestamp (Mailgun,
	// SendGrid) may lie from our clock, either way: a captured request is
	// refused after it, and Mailgun's tokens are remembered this long.
	DefaultWebhookWindow = 5 * time.Minute
)

// WebhookConfig is the settings of the relay webhooks. A relay whose
// setting is empty is off: its route answers 404.
type WebhookConfig struct {
	MailgunKey       string           // Mailgun's HTTP webhook signing key (secret)
	PostmarkUser     string           // basic auth user in Postmark's webhook URL
	PostmarkPassword string           // its password (secret)
	SendGridKey      *ecdsa.PublicKey // SendGrid's event webhook verification key
	SES              bool             // Amazon SES notifications through SNS
	SESTopics        []string         // the SNS topic ARNs accepted; required with SES
	MaxBody          int64            // DefaultWebhookMaxBody if zero
	Window           time.Duration    // DefaultWebhookWindow if zero
}

// String names the relays that are on and never a secret, should the
// settings end up in a log line.
func (c WebhookConfig) String() string {
	return "webhooks(" + strings.Join(c.Relays(), ",") + ")"
}

// LogValue is what slog writes for the settings: the relays that are on.
func (c WebhookConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Relays names the relays that are on.
func (c WebhookConfig) Relays() []string {
	var on []string
	if c.MailgunKey != "" {
		on = append(on, "mailgun")
	}
	if c.PostmarkUser != "" {
		on = append(on, "postmark")
	}
	if c.SendGridKey != nil {
		on = append(on, "sendgrid")
	}
	if c.SES {
		on = append(on, "ses")
	}
	return on
}

// WebhookDeps are what the webhooks work with besides their settings.
type WebhookDeps struct {
	// Intake applies the reports; nil: a relay that passes its check gets
	// 503 and posts again later (nothing is lost while it is unwired).
	Intake BounceIntake
	// SNS fetches SNS signing certificates and subscription confirmations;
	// nil: NewSNSFetcher(DefaultSNSTimeout).
	SNS SNSFetcher
	// SNSRoots, when set, must issue the SNS signing certificate (tests
	// use a CA of their own); nil: the certificate is trusted because it
	// came over verified HTTPS from the SNS host (see webhook_ses.go).
	SNSRoots *x509.CertPool
	// Now is the clock of the timestamp windows; nil: time.Now.
	Now func() time.Time
}

// Errors of the webhook checks, mapped to statuses in webhookStatus.
var (
	// errWebhookAuth: the request did not prove it comes from the relay
	// (401; nothing changes).
	errWebhookAuth = errors.New("webhook check failed")
	// errWebhookPayload: the relay's post could not be read (400).
	errWebhookPayload = errors.New("unreadable webhook payload")
	// errWebhookBusy: we cannot check or take the post now (503; the
	// relay posts again later).
	errWebhookBusy = errors.New("webhook busy")
)

func authErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errWebhookAuth, fmt.Sprintf(format, args...))
}

func payloadErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errWebhookPayload, fmt.Sprintf(format, args...))
}

// relay is one provider's side: how its posts prove themselves and what
// they say.
type relay interface {
	// open checks that the request comes from the relay and reads the
	// reports it carries; an error wrapping errWebhookAuth refuses it.
	open(ctx context.Context, r *http.Request, body []byte) (*delivery, error)
}

// delivery is what a post that passed its check carries.
type delivery struct {
	reports []*bounce.Report
	// release undoes what the check kept of the request (Mailgun's
	// token) when the intake failed, so that the relay's retry passes.
	release func()
}

// relayRoute is a relay that is on, with its body limit.
type relayRoute struct {
	relay
	maxBody int64
}

// webhooks are the relays that are on.
type webhooks struct {
	intake BounceIntake
	log    *slog.Logger
	routes map[string]relayRoute
}

func newWebhooks(cfg WebhookConfig, deps WebhookDeps, log *slog.Logger) (*webhooks, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultWebhookMaxBody
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWebhookWindow
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	h := &webhooks{intake: deps.Intake, log: log, routes: map[string]relayRoute{}}
	if cfg.MailgunKey != "" {
		h.routes["mailgun"] = relayRoute{newMailgunRelay(cfg.MailgunKey, cfg.Window, deps.Now), cfg.MaxBody}
	}
	if cfg.PostmarkUser != "" || cfg.PostmarkPassword != "" {
		if cfg.PostmarkUser == "" || cfg.PostmarkPassword == "" {
			return nil, errors.New("web: the Postmark webhook needs both a user and a password")
		}
		h.routes["postmark"] = relayRoute{newPostmarkRelay(cfg.PostmarkUser, cfg.PostmarkPassword), cfg.MaxBody}
	}
	if cfg.SendGridKey != nil {
		h.routes["sendgrid"] = relayRoute{&sendgridRelay{key: cfg.SendGridKey, window: cfg.Window, now: deps.Now}, 2 * cfg.MaxBody}
	}
	if cfg.SES {
		if len(cfg.SESTopics) == 0 {
			return nil, errors.New("web: the SES webhook needs the SNS topics it accepts")
		}
		fetch := deps.SNS
		if fetch == nil {
			fetch = NewSNSFetcher(DefaultSNSTimeout)
		}
		h.routes["ses"] = relayRoute{newSESRelay(cfg.SESTopics, fetch, deps.SNSRoots, deps.Now, log), cfg.MaxBody}
	}
	return h, nil
}

// bodyLimit is how large r's body may be: a relay's limit on its webhook
// route, the forms' limit everywhere else.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if name, ok := strings.CutPrefix(r.URL.Path, "/webhooks/"); ok {
		if rt, ok := s.hooks.routes[name]; ok {
			return rt.maxBody
		}
	}
	return s.cfg.MaxBody
}

// handleWebhook serves POST /webhooks/{provider}.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "provider")
	rt, ok := s.hooks.routes[name]
	if !ok {
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body) // limitBody bounds it by rt.maxBody
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	d, err := rt.open(r.Context(), r, body)
	if err != nil {
		status := webhookStatus(err)
		s.log.WarnContext(r.Context(), "webhook refused", "provider", name, "status", status,
			"reason", err.Error(), "client_ip", clientIP(r.Context()))
		if status == http.StatusUnauthorized && name == "postmark" {
			w.Header().Set("WWW-Authenticate", `Basic realm="webhooks", charset="UTF-8"`)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	status := s.hooks.apply(r.Context(), name, d.reports)
	if status != http.StatusOK && d.release != nil {
		d.release()
	}
	// Mailgun takes only 200 as success; every relay takes it.
	http.Error(w, http.StatusText(status), status)
}

// webhookStatus is the one place where webhook errors become statuses.
func webhookStatus(err error) int {
	switch {
	case errors.Is(err, errWebhookAuth):
		return http.StatusUnauthorized
	case errors.Is(err, errWebhookPayload):
		return http.StatusBadRequest
	case errors.Is(err, errWebhookBusy), errors.Is(err, errIntakeTemporary):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// apply hands each report to the intake and says how the post went: 200
// when every report was taken (or repeated), 503 when one failed for a
// passing reason so the relay posts again (the others are then repeats),
// 500 otherwise.
func (h *webhooks) apply(ctx context.Context, provider string, reports []*bounce.Report) int {
	if len(reports) == 0 {
		return http.StatusOK
	}
	if h.intake == nil {
		h.log.ErrorContext(ctx, "webhook event not taken: the bounce intake is not wired", "provider", provider, "events", len(reports))
		return http.StatusServiceUnavailable
	}
	status := http.StatusOK
	for _, rep := range reports {
		res, err := h.intake.Apply(ctx, "webhook:"+provider, rep)
		switch {
		case err == nil:
			applied := 0
			if res != nil {
				applied = res.Applied
			}
			h.log.InfoContext(ctx, "webhook event", "provider", provider, "key", rep.MessageID,
				"kind", eventKinds(rep), "applied", applied)
		case errors.Is(err, errIntakeTemporary):
			h.log.WarnContext(ctx, "webhook event not taken now; the relay will post it again", "provider", provider, "key", rep.MessageID, "err", err)
			status = http.StatusServiceUnavailable
		default:
			h.log.ErrorContext(ctx, "webhook event failed", "provider", provider, "key", rep.MessageID, "err", err)
			if status == http.StatusOK {
				status = http.StatusInternalServerError
			}
		}
	}
	return status
}

func eventKinds(r *bounce.Report) string {
	kinds := make([]string, len(r.Events))
	for i, e := range r.Events {
		kinds[i] = string(e.Kind)
	}
	return strings.Join(kinds, ",")
}

// relayReport is the report for one relay event: the relay's name as
// Format, "<relay>:<event id>" as the idempotency key, and our
// Message-ID when the relay kept it (without angle brackets).
func relayReport(provider, eventID, messageID string, events ...bounce.Event) *bounce.Report {
	return &bounce.Report{
		Format:            provider,
		MessageID:         provider + ":" + eventID,
		OriginalMessageID: bareMessageID(messageID),
		Events:            events,
	}
}

// bareMessageID is a Message-ID without spaces and angle brackets.
func bareMessageID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	return strings.TrimSuffix(s, ">")
}

// signedAt reads a relay's signing time (Unix seconds, as text) and
// refuses it outside window of now: a captured request cannot be replayed
// later.
func signedAt(ts string, now time.Time, window time.Duration) (time.Time, error) {
	if ts == "" || len(ts) > 12 {
		return time.Time{}, authErrorf("no usable timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, authErrorf("no usable timestamp")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > window || d < -window {
		return time.Time{}, authErrorf("timestamp %s is outside the %s window", t.UTC().Format(time.RFC3339), window)
	}
	return t, nil
}

// jsonText is a JSON value that relays write as a string or a number (a
// Mailgun timestamp, a Postmark ID beyond float64's exact integers), kept
// as the text it was.
type jsonText string

func (j *jsonText) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*j = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*j = jsonText(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*j = jsonText(n)
	}
	return nil
}
