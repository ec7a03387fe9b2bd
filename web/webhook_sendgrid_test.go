package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"newsletter/mailer/bounce"
)

func newSendGridKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sendgridHeaders signs body at ts as SendGrid does.
func sendgridHeaders(t testing.TB, key *ecdsa.PrivateKey, ts int64, body string) map[string]string {
	t.Helper()
	tss := strconv.FormatInt(ts, 10)
	sum := sha256.Sum256([]byte(tss + body))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"Content-Type":          "application/json",
		sendgridSignatureHeader: base64.StdEncoding.EncodeToString(sig),
		sendgridTimestampHeader: tss,
	}
}

func sendgridBatch(events ...map[string]any) string {
	b, err := json.Marshal(events)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sgEvent(id, event, email string, more ...any) map[string]any {
	m := map[string]any{"email": email, "timestamp": 1772441990, "event": event, "sg_event_id": id,
		"sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "smtp-id": "<k30.s1@example.org>",
		"category": []string{"column"}, "custom": map[string]any{"n": 1}}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i].(string)] = more[i+1]
	}
	return m
}

// One signed batch: each bounce or complaint becomes its own report with
// its own key, in order; the rest is left alone.
func TestSendGridWebhook(t *testing.T) {
	key := newSendGridKey(t)
	e := newHookEnv(t, WebhookConfig{SendGridKey: &key.PublicKey}, WebhookDeps{})
	body := sendgridBatch(
		sgEvent("sg-processed", "processed", "anna@example.net"),
		sgEvent("sg-1", "bounce", "Anna@Example.net", "type", "bounce", "status", "5.1.1",
			"reason", "550 5.1.1 The email account that you tried to reach does not exist.", "bounce_classification", "Invalid Address"),
		sgEvent("sg-2", "bounce", "ben@example.net", "type", "blocked", "status", "5.1.1",
			"reason", "550 5.1.1 blocked by policy", "bounce_classification", "Reputation"),
		sgEvent("sg-3", "bounce", "cem@example.net", "type", "bounce", "status", "5.7.1", "reason", "554 5.7.1 spam"),
		sgEvent("sg-4", "spamreport", "dora@example.net"),
		sgEvent("sg-5", "dropped", "emil@example.net", "reason", "Bounced Address", "status", "5.0.0"),
		sgEvent("sg-6", "dropped", "fay@example.net", "reason", "Spam Reporting Address"),
		sgEvent("sg-7", "dropped", "gus@example.net", "reason", "Unsubscribed Address"),
		sgEvent("sg-8", "deferred", "hal@example.net", "response", "400 try again later", "attempt", "1"),
		sgEvent("sg-9", "delivered", "ina@example.net"),
		sgEvent("sg-10", "open", "ina@example.net"),
		sgEvent("", "bounce", "jo@example.net", "status", "5.1.1"),
	)
	res := e.post("sendgrid", body, sendgridHeaders(t, key, hookNow.Unix(), body))
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	want := []*bounce.Report{
		{Events: []bounce.Event{hard("anna@example.net", "5.1.1", "does not exist")}},
		{Events: []bounce.Event{soft("ben@example.net", "5.1.1", "blocked by policy")}},
		{Events: []bounce.Event{soft("cem@example.net", "5.7.1", "spam")}},
		{Events: []bounce.Event{complained("dora@example.net", "spam report")}},
		{Events: []bounce.Event{hard("emil@example.net", "5.0.0", "SendGrid's bounce list")}},
		{Events: []bounce.Event{complained("fay@example.net", "spam report list")}},
	}
	got := e.intake.reports()
	if len(got) != len(want) {
		t.Fatalf("intake got %d reports, want %d", len(got), len(want))
	}
	for i, w := range want {
		w.Format, w.MessageID, w.OriginalMessageID = "sendgrid", fmt.Sprintf("sendgrid:sg-%d", i+1), "k30.s1@example.org"
		checkReport(t, w.MessageID, got[i], w)
	}
	// SendGrid posts the batch again (say after a timeout): same keys.
	res = e.post("sendgrid", body, sendgridHeaders(t, key, hookNow.Unix()+30, body))
	if res.status != http.StatusOK || len(e.intake.applied) != len(want) {
		t.Errorf("repeat: %d, %d keys applied", res.status, len(e.intake.applied))
	}
}

// A batch may be larger than the other relays' posts, within its limit.
func TestSendGridWebhookLimits(t *testing.T) {
	key := newSendGridKey(t)
	e := newHookEnv(t, WebhookConfig{SendGridKey: &key.PublicKey}, WebhookDeps{})
	var events []map[string]any
	for i := 0; len(events) < 4000; i++ {
		events = append(events, sgEvent(fmt.Sprintf("open-%d", i), "open", fmt.Sprintf("r%d@example.net", i),
			"useragent", strings.Repeat("Mozilla/5.0 ", 10)))
	}
	body := sendgridBatch(events...)
	if len(body) <= DefaultWebhookMaxBody || len(body) > 2*DefaultWebhookMaxBody {
		t.Fatalf("batch of %d bytes does not test the limit", len(body))
	}
	if res := e.post("sendgrid", body, sendgridHeaders(t, key, hookNow.Unix(), body)); res.status != http.StatusOK {
		t.Errorf("a %d KiB batch: %d", len(body)>>10, res.status)
	}
	huge := `[` + strings.Repeat(`{"event":"open"},`, 2*DefaultWebhookMaxBody/16) + `{}]`
	if res := e.post("sendgrid", huge, sendgridHeaders(t, key, hookNow.Unix(), huge)); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d KiB batch: %d, want 413", len(huge)>>10, res.status)
	}
}

func TestSendGridWebhookRefused(t *testing.T) {
	key := newSendGridKey(t)
	other := newSendGridKey(t)
	body := sendgridBatch(sgEvent("sg-1", "bounce", "anna@example.net", "status", "5.1.1", "reason", "user unknown"))
	now := hookNow.Unix()
	tampered := strings.Replace(body, "anna@", "victim@", 1)
	noSig := sendgridHeaders(t, key, now, body)
	delete(noSig, sendgridSignatureHeader)
	noTS := sendgridHeaders(t, key, now, body)
	delete(noTS, sendgridTimestampHeader)
	for _, tc := range []struct {
		name   string
		body   string
		header map[string]string
	}{
		{"another key", body, sendgridHeaders(t, other, now, body)},
		{"body changed", tampered, sendgridHeaders(t, key, now, body)},
		{"timestamp changed", body, func() map[string]string {
			h := sendgridHeaders(t, key, now, body)
			h[sendgridTimestampHeader] = strconv.FormatInt(now+1, 10)
			return h
		}()},
		{"stale by 6 minutes", body, sendgridHeaders(t, key, now-360, body)},
		{"a day old", body, sendgridHeaders(t, key, now-86400, body)},
		{"6 minutes ahead", body, sendgridHeaders(t, key, now+360, body)},
		{"no signature", body, noSig},
		{"no timestamp", body, noTS},
		{"signature not base64", body, func() map[string]string {
			h := sendgridHeaders(t, key, now, body)
			h[sendgridSignatureHeader] = "%%%"
			return h
		}()},
	} {
		e := newHookEnv(t, WebhookConfig{SendGridKey: &key.PublicKey}, WebhookDeps{})
		if res := e.post("sendgrid", tc.body, tc.header); res.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, res.status)
		}
		if n := len(e.intake.reports()); n != 0 {
			t.Errorf("%s: intake called %d times", tc.name, n)
		}
	}
}

// The key is read as SendGrid shows it or as PEM, and only a P-256 key.
func TestParseSendGridKey(t *testing.T) {
	key := newSendGridKey(t)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	derRSA, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for _, tc := range []struct {
		name string
		data string
		ok   bool
	}{
		{"base64 as SendGrid shows it", b64, true},
		{"base64 with a newline", b64[:40] + "\n" + b64[40:] + "\n", true},
		{"PEM", string(pemKey), true},
		{"P-384", base64.StdEncoding.EncodeToString(der384), false},
		{"RSA", base64.StdEncoding.EncodeToString(derRSA), false},
		{"garbage", "not a key at all", false},
		{"empty", "", false},
	} {
		got, err := ParseSendGridKey([]byte(tc.data))
		if tc.ok && (err != nil || !got.Equal(&key.PublicKey)) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
