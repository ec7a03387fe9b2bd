package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"newsletter/mailer/bounce"
)

const mailgunKey = "mg-signing-key-1f2e3d4c5b6a"

// mailgunPostBody is a Mailgun webhook post of event, signed with key at
// ts with token.
func mailgunPostBody(key string, ts int64, token string, event map[string]any) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(strconv.FormatInt(ts, 10) + token))
	b, err := json.Marshal(map[string]any{
		"signature": map[string]any{
			"timestamp": strconv.FormatInt(ts, 10), "token": token, "signature": hex.EncodeToString(mac.Sum(nil)),
		},
		"event-data": event,
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// mailgunFailed is a "failed" event as Mailgun writes it.
func mailgunFailed(id, severity, reason, rcpt string, code int, enhanced, message string) map[string]any {
	return map[string]any{
		"id": id, "event": "failed", "severity": severity, "reason": reason, "recipient": rcpt,
		"timestamp": 1772441990.5, "log-level": "error",
		"message": map[string]any{"headers": map[string]any{
			"to": rcpt, "from": "KNIEPUNKT <kolumne@example.org>", "subject": "KNIEPUNKT 030",
			"message-id": "20260302090000.k30.s7@example.org",
		}, "size": 12345},
		"delivery-status": map[string]any{
			"code": code, "enhanced-code": enhanced, "message": message, "description": "",
			"attempt-no": 1, "session-seconds": 0.4, "mx-host": "mx.example.net",
		},
	}
}

func TestMailgunWebhook(t *testing.T) {
	const msgID = "20260302090000.k30.s7@example.org"
	tests := []struct {
		name  string
		event map[string]any
		want  *bounce.Report // nil: no event for the intake, still 200
	}{
		{"unknown user is hard",
			mailgunFailed("ev-1", "permanent", "bounce", "Anna@Example.NET", 550, "5.1.1", "5.1.1 The email account that you tried to reach does not exist."),
			&bounce.Report{Format: "mailgun", MessageID: "mailgun:ev-1", OriginalMessageID: msgID,
				Events: []bounce.Event{hard("anna@example.net", "5.1.1", "550 5.1.1 The email account")}}},
		{"a spam rejection is soft",
			mailgunFailed("ev-2", "permanent", "generic", "ben@example.net", 554, "5.7.1", "Message rejected as spam"),
			&bounce.Report{Format: "mailgun", MessageID: "mailgun:ev-2", OriginalMessageID: msgID,
				Events: []bounce.Event{soft("ben@example.net", "5.7.1", "554 Message rejected as spam")}}},
		{"no enhanced code: the words decide",
			mailgunFailed("ev-3", "permanent", "bounce", "cem@example.net", 550, "", "No such user here"),
			&bounce.Report{Format: "mailgun", MessageID: "mailgun:ev-3", OriginalMessageID: msgID,
				Events: []bounce.Event{hard("cem@example.net", "", "550 No such user here")}}},
		{"on Mailgun's bounce list is hard",
			mailgunFailed("ev-4", "permanent", "suppress-bounce", "dora@example.net", 605, "", "Not delivering to previously bounced address"),
			&bounce.Report{Format: "mailgun", MessageID: "mailgun:ev-4", OriginalMessageID: msgID,
				Events: []bounce.Event{hard("dora@example.net", "", "on Mailgun's bounce list")}}},
		{"gave up after retrying is soft",
			mailgunFailed("ev-5", "permanent", "old", "emil@example.net", 421, "4.4.7", "Too old"),
			&bounce.Report{Format: "mailgun", MessageID: "mailgun:ev-5", OriginalMessageID: msgID,
				Events: []bounce.Event{soft("emil@example.net", "4.4.7", "421 Too old")}}},
		{"complaint",
			map[string]any{"id": "ev-6", "event": "complained", "recipient": "fay@example.net",
				"message": map[string]any{"headers": map[string]any{"message-id": "<" + msgID + ">"}}},
			&bounce.Report{Format: "mailgun", MessageID: "mailgun:ev-6", OriginalMessageID: msgID,
				Events: []bounce.Event{complained("fay@example.net", "complained")}}},
		{"a temporary failure is Mailgun still trying",
			mailgunFailed("ev-7", "temporary", "generic", "gus@example.net", 452, "4.2.2", "Mailbox full"), nil},
		{"delivered", map[string]any{"id": "ev-8", "event": "delivered", "recipient": "hal@example.net"}, nil},
	}
	e := newHookEnv(t, WebhookConfig{MailgunKey: mailgunKey}, WebhookDeps{})
	for i, tc := range tests {
		body := mailgunPostBody(mailgunKey, hookNow.Unix(), fmt.Sprintf("token-%02d-%s", i, strings.Repeat("a", 41)), tc.event)
		e.postOne(t, tc.name, "mailgun", body, map[string]string{"Content-Type": "application/json"}, tc.want)
	}
	if c := e.intake.calls; len(c) > 0 && c[0].source != "webhook:mailgun" {
		t.Errorf("source %q", c[0].source)
	}
}

// Every request that fails a check gets 401 and the intake never hears of
// it.
func TestMailgunWebhookRefused(t *testing.T) {
	ev := mailgunFailed("ev-1", "permanent", "bounce", "anna@example.net", 550, "5.1.1", "user unknown")
	now := hookNow.Unix()
	signed := mailgunPostBody(mailgunKey, now, "tok-signed", ev)
	tampered := strings.Replace(signed, "anna@example.net", "victim@example.net", 1)
	for _, tc := range []struct{ name, body string }{
		{"wrong key", mailgunPostBody("another-key", now, "tok-1", ev)},
		{"timestamp changed", strings.Replace(signed, `"timestamp":"`+strconv.FormatInt(now, 10), `"timestamp":"`+strconv.FormatInt(now+1, 10), 1)},
		{"stale by 6 minutes", mailgunPostBody(mailgunKey, now-360, "tok-2", ev)},
		{"6 minutes in the future", mailgunPostBody(mailgunKey, now+360, "tok-3", ev)},
		{"no signature", `{"event-data":{"id":"x","event":"failed","severity":"permanent","recipient":"a@b.example"}}`},
		{"signature not hex", strings.Replace(signed, `"signature":"`, `"signature":"zz`, 1)},
	} {
		e := newHookEnv(t, WebhookConfig{MailgunKey: mailgunKey}, WebhookDeps{})
		if res := e.post("mailgun", tc.body, nil); res.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, res.status)
		}
		if n := len(e.intake.reports()); n != 0 {
			t.Errorf("%s: intake called %d times", tc.name, n)
		}
	}

	// Mailgun signs only timestamp and token, not the event: a captured
	// signature with another event in it is refused as a replay.
	e := newHookEnv(t, WebhookConfig{MailgunKey: mailgunKey}, WebhookDeps{})
	if res := e.post("mailgun", signed, nil); res.status != http.StatusOK {
		t.Fatalf("first post: %d", res.status)
	}
	for _, body := range []string{signed, tampered} {
		if res := e.post("mailgun", body, nil); res.status != http.StatusUnauthorized {
			t.Errorf("replayed token: %d, want 401", res.status)
		}
	}
	if n := len(e.intake.reports()); n != 1 {
		t.Errorf("intake called %d times, want 1", n)
	}
	// Within the window: 4 minutes later still refused; once the
	// timestamp is out of the window the clock check refuses it.
	e.now.Add(4 * time.Minute)
	if res := e.post("mailgun", signed, nil); res.status != http.StatusUnauthorized {
		t.Errorf("replay after 4 minutes: %d", res.status)
	}
	e.now.Add(2 * time.Minute)
	if res := e.post("mailgun", signed, nil); res.status != http.StatusUnauthorized {
		t.Errorf("replay after 6 minutes: %d", res.status)
	}
	if !strings.Contains(e.logBuf.String(), "webhook refused") || strings.Contains(e.logBuf.String(), mailgunKey) {
		t.Errorf("log lacks the refusals or shows the key:\n%s", e.logBuf.String())
	}
}

// When the intake fails, the token is not used up: Mailgun's retry of the
// same post goes through. The same event under a new token is a repeat the
// intake recognises by its key.
func TestMailgunWebhookRetry(t *testing.T) {
	e := newHookEnv(t, WebhookConfig{MailgunKey: mailgunKey}, WebhookDeps{})
	ev := mailgunFailed("ev-1", "permanent", "bounce", "anna@example.net", 550, "5.1.1", "user unknown")
	body := mailgunPostBody(mailgunKey, hookNow.Unix(), "tok-retry", ev)
	e.intake.setErr(fmt.Errorf("busy: %w", errIntakeTemporary))
	if res := e.post("mailgun", body, nil); res.status != http.StatusServiceUnavailable {
		t.Fatalf("intake busy: %d, want 503", res.status)
	}
	e.intake.setErr(nil)
	if res := e.post("mailgun", body, nil); res.status != http.StatusOK {
		t.Fatalf("retry: %d, want 200", res.status)
	}
	again := mailgunPostBody(mailgunKey, hookNow.Unix(), "tok-other", ev)
	if res := e.post("mailgun", again, nil); res.status != http.StatusOK {
		t.Fatalf("same event, new token: %d", res.status)
	}
	reps := e.intake.reports()
	if len(reps) != 3 || reps[1].MessageID != reps[2].MessageID || len(e.intake.applied) != 1 {
		t.Errorf("reports %d, keys applied %v", len(reps), e.intake.applied)
	}
}

// The token memory is bounded: full of live tokens, a new post waits
// (503) rather than forgetting a token whose signature could be reused.
func TestMailgunTokenSetBounded(t *testing.T) {
	s := newTokenSet(3)
	now := hookNow
	for i := range 3 {
		if err := s.take(fmt.Sprint(i), now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.take("x", now.Add(time.Minute), now); webhookStatus(err) != http.StatusServiceUnavailable {
		t.Errorf("full: %v", err)
	}
	if err := s.take("0", now.Add(time.Minute), now); webhookStatus(err) != http.StatusUnauthorized {
		t.Errorf("replay: %v", err)
	}
	later := now.Add(2 * time.Minute) // all expired: room again
	if err := s.take("x", later.Add(time.Minute), later); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if len(s.until) != 1 {
		t.Errorf("%d tokens kept, want 1", len(s.until))
	}
}
