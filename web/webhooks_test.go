package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/mailer/bounce"
)

// fakeIntake stands for mailer.Intake: it records what the webhooks hand
// over and, like the real one, applies each idempotency key once.
type fakeIntake struct {
	mu      sync.Mutex
	calls   []intakeCall
	applied map[string]bool
	err     error // returned by every Apply when set
}

type intakeCall struct {
	source string
	report *bounce.Report
}

func (f *fakeIntake) Apply(_ context.Context, source string, r *bounce.Report) (*IntakeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, intakeCall{source, r})
	if f.err != nil {
		return nil, f.err
	}
	if f.applied == nil {
		f.applied = map[string]bool{}
	}
	if f.applied[r.MessageID] {
		return &IntakeResult{}, nil
	}
	f.applied[r.MessageID] = true
	return &IntakeResult{Applied: len(r.Events)}, nil
}

func (f *fakeIntake) reports() []*bounce.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*bounce.Report, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.report
	}
	return out
}

func (f *fakeIntake) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// hookNow is when the webhook tests run, as the webhooks' clock says.
var hookNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// hookEnv is a web side with relay webhooks and a fake intake.
type hookEnv struct {
	*webEnv
	intake *fakeIntake
	now    *testkit.Clock
}

func newHookEnv(t testing.TB, cfg WebhookConfig, deps WebhookDeps) *hookEnv {
	t.Helper()
	intake := &fakeIntake{}
	clock := testkit.NewClock(hookNow)
	if deps.Intake == nil {
		deps.Intake = intake
	}
	deps.Now = clock.Now
	e := newWebEnvDeps(t, func(c *Config) { c.Webhooks = cfg }, func(d *Deps) { d.Webhooks = deps })
	return &hookEnv{webEnv: e, intake: intake, now: clock}
}

func (e *hookEnv) post(provider, body string, header map[string]string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/webhooks/"+provider, strings.NewReader(body), header)
}

// postOne posts one event and checks that it was taken (200) and what the
// intake got from it: want, or nothing when want is nil.
func (e *hookEnv) postOne(t testing.TB, name, provider, body string, header map[string]string, want *bounce.Report) {
	t.Helper()
	before := len(e.intake.reports())
	if res := e.post(provider, body, header); res.status != http.StatusOK {
		t.Errorf("%s: %d %s", name, res.status, res.body)
		return
	}
	got := e.intake.reports()[before:]
	switch {
	case want == nil && len(got) != 0:
		t.Errorf("%s: intake got %+v", name, got[0])
	case want != nil && len(got) != 1:
		t.Errorf("%s: intake got %d reports", name, len(got))
	case want != nil:
		checkReport(t, name, got[0], want)
	}
}

// checkReport compares what the intake got with what a relay's event says.
func checkReport(t testing.TB, name string, got, want *bounce.Report) {
	t.Helper()
	if got.Format != want.Format || got.MessageID != want.MessageID || got.OriginalMessageID != want.OriginalMessageID {
		t.Errorf("%s: report %q key %q message-id %q, want %q %q %q", name,
			got.Format, got.MessageID, got.OriginalMessageID, want.Format, want.MessageID, want.OriginalMessageID)
	}
	if len(got.Events) != len(want.Events) {
		t.Fatalf("%s: events %+v, want %+v", name, got.Events, want.Events)
	}
	for i, g := range got.Events {
		w := want.Events[i]
		if g.Kind != w.Kind || g.Recipient != w.Recipient || g.Status != w.Status || !strings.Contains(g.Diagnostic, w.Diagnostic) {
			t.Errorf("%s: event %d is %+v, want %+v (diagnostic containing %q)", name, i, g, w, w.Diagnostic)
		}
	}
}

func hard(rcpt, status, diag string) bounce.Event {
	return bounce.Event{Kind: bounce.Hard, Recipient: rcpt, Status: status, Diagnostic: diag}
}

func soft(rcpt, status, diag string) bounce.Event {
	return bounce.Event{Kind: bounce.Soft, Recipient: rcpt, Status: status, Diagnostic: diag}
}

func complained(rcpt, diag string) bounce.Event {
	return bounce.Event{Kind: bounce.Complaint, Recipient: rcpt, Diagnostic: diag}
}

// A relay that is not configured has no route; the route takes only POST;
// the forms keep their own small body limit.
func TestWebhookRoutes(t *testing.T) {
	e := newHookEnv(t, WebhookConfig{PostmarkUser: "pm", PostmarkPassword: "pm-secret-password"}, WebhookDeps{})
	for _, p := range []string{"mailgun", "sendgrid", "ses", "other", "POSTMARK"} {
		if res := e.post(p, "{}", nil); res.status != http.StatusNotFound {
			t.Errorf("POST /webhooks/%s: %d, want 404", p, res.status)
		}
	}
	if res := e.get("/webhooks/postmark"); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /webhooks/postmark: %d, want 405", res.status)
	}
	if res := e.post("postmark", "{}", nil); res.status != http.StatusUnauthorized {
		t.Errorf("POST /webhooks/postmark without auth: %d, want 401", res.status)
	}
	// Over the relay's limit, announced or sent chunked: 413.
	huge := strings.Repeat("x", DefaultWebhookMaxBody+1)
	if res := e.post("postmark", huge, nil); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB + 1 with Content-Length: %d, want 413", res.status)
	}
	chunked := io.MultiReader(strings.NewReader(huge)) // no length known: sent chunked
	if res := e.do(http.MethodPost, "/webhooks/postmark", chunked, basicAuth("pm", "pm-secret-password")); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB + 1 chunked: %d, want 413", res.status)
	}
	big := strings.Repeat("x", 20<<10)
	if res := e.do(http.MethodPost, "/subscribe", strings.NewReader(big), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 20 KiB form: %d, want 413", res.status)
	}
	if len(e.intake.reports()) != 0 {
		t.Errorf("intake called: %+v", e.intake.reports())
	}
}

// What the intake answers decides the status: a passing failure is 503 so
// the relay posts again, another failure 500 (logged), none at all 503.
func TestWebhookIntakeErrors(t *testing.T) {
	body := postmarkBounce("HardBounce", "42", "anna@example.net", "smtp;550 5.1.1 user unknown")
	auth := basicAuth("pm", "pm-secret-password")
	cfg := WebhookConfig{PostmarkUser: "pm", PostmarkPassword: "pm-secret-password"}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"taken", nil, http.StatusOK},
		{"database busy", fmt.Errorf("apply: %w", errIntakeTemporary), http.StatusServiceUnavailable},
		{"broken", errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		e := newHookEnv(t, cfg, WebhookDeps{})
		e.intake.setErr(tc.err)
		if res := e.post("postmark", body, auth); res.status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.status, tc.want)
		}
		if tc.want == http.StatusInternalServerError && !strings.Contains(e.logBuf.String(), "disk on fire") {
			t.Errorf("%s: the failure is not logged:\n%s", tc.name, e.logBuf.String())
		}
	}
	// Not wired yet: refused with 503, so the relay keeps the event.
	e := newWebEnvDeps(t, func(c *Config) { c.Webhooks = cfg }, nil)
	if res := e.do(http.MethodPost, "/webhooks/postmark", strings.NewReader(body), auth); res.status != http.StatusServiceUnavailable {
		t.Errorf("no intake: %d, want 503", res.status)
	}
}

// Webhooks come from servers: an Origin header (which no relay sends, but
// a proxy might add) does not matter, unlike for the forms.
func TestWebhookNoOriginCheck(t *testing.T) {
	e := newHookEnv(t, WebhookConfig{PostmarkUser: "pm", PostmarkPassword: "pm-secret-password"}, WebhookDeps{})
	h := basicAuth("pm", "pm-secret-password")
	h["Origin"] = "https://elsewhere.example"
	h["Sec-Fetch-Site"] = "cross-site"
	if res := e.post("postmark", postmarkBounce("HardBounce", "7", "a@example.net", ""), h); res.status != http.StatusOK {
		t.Errorf("with a foreign Origin: %d, want 200", res.status)
	}
}

// The settings never show a secret, whatever prints them.
func TestWebhookConfigHidesSecrets(t *testing.T) {
	cfg := WebhookConfig{MailgunKey: "mg-signing-key-123", PostmarkUser: "pm", PostmarkPassword: "pm-secret-password", SES: true}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", Config{Webhooks: cfg}), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, "mg-signing-key-123") || strings.Contains(s, "pm-secret-password") {
			t.Errorf("secret printed: %s", s)
		}
	}
	if got := cfg.String(); got != "webhooks(mailgun,postmark,ses)" {
		t.Errorf("String() = %q", got)
	}
}
