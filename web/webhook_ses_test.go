package web

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/mailer/bounce"
)

const (
	snsTopic   = "arn:aws:sns:eu-central-1:123456789012:newsletter-bounces"
	snsCertURL = "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
	snsSubURL  = "https://sns.eu-central-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + snsTopic + "&Token=2336412f37"
)

// snsRSAKey is the signing key of the made-up SNS certificates; RSA key
// generation is slow, so one serves every test.
var snsRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// snsCA is a certificate authority made up for the test, standing for the
// one that issues SNS's signing certificate.
type snsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newSNSCA(t testing.TB) *snsCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Amazon RSA 2048 M01"},
		NotBefore: hookNow.Add(-365 * 24 * time.Hour), NotAfter: hookNow.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &snsCA{cert: cert, key: key, pool: pool}
}

// issue is a signing certificate for the RSA key, PEM-encoded, valid from
// notBefore to notAfter.
func (ca *snsCA) issue(t testing.TB, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		DNSNames: []string{"sns.amazonaws.com"}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &snsRSAKey().PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// fakeSNS serves certificate files and subscription confirmations by URL
// and counts the fetches.
type fakeSNS struct {
	mu      sync.Mutex
	files   map[string][]byte
	fetched map[string]int
	err     error
}

func (f *fakeSNS) Get(_ context.Context, u string, limit int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched[u]++
	if f.err != nil {
		return nil, f.err
	}
	b, ok := f.files[u]
	switch {
	case !ok:
		return nil, fmt.Errorf("answered 404 Not Found")
	case int64(len(b)) > limit:
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

func (f *fakeSNS) count(u string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetched[u]
}

func (f *fakeSNS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.fetched {
		n += c
	}
	return n
}

// sesEnv is a web side taking SES notifications from snsTopic, with a
// fake SNS serving a certificate from its own CA.
type sesEnv struct {
	*hookEnv
	sns *fakeSNS
	ca  *snsCA
}

func newSESEnv(t testing.TB) *sesEnv {
	t.Helper()
	ca := newSNSCA(t)
	sns := &fakeSNS{fetched: map[string]int{}, files: map[string][]byte{
		snsCertURL: ca.issue(t, hookNow.Add(-24*time.Hour), hookNow.Add(300*24*time.Hour)),
		snsSubURL:  []byte(`<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>x</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>`),
	}}
	e := newHookEnv(t, WebhookConfig{SES: true, SESTopics: []string{snsTopic}}, WebhookDeps{SNS: sns, SNSRoots: ca.pool})
	return &sesEnv{hookEnv: e, sns: sns, ca: ca}
}

// snsPost is an SNS post of the given fields, signed as SNS signs with
// signature version (1: SHA1withRSA, 2: SHA256withRSA). The string to
// sign is built here on its own, from AWS's description: the fields of
// the type in byte order, each "Name\nvalue\n", Subject only if present.
func snsPost(fields map[string]string, version string) string {
	signed := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if fields["Type"] != "Notification" {
		signed = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var s strings.Builder
	for _, k := range signed {
		if v, ok := fields[k]; ok && (k != "Subject" || v != "") {
			s.WriteString(k + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if version == "1" {
		sum := sha1.Sum([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, snsRSAKey(), crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, snsRSAKey(), crypto.SHA256, sum[:])
	}
	if err != nil {
		panic(err)
	}
	out := map[string]string{"SignatureVersion": version, "Signature": base64.StdEncoding.EncodeToString(sig)}
	if _, ok := fields["SigningCertURL"]; !ok {
		out["SigningCertURL"] = snsCertURL
	}
	for k, v := range fields {
		out[k] = v
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// snsNotification wraps an SES notification as SNS delivers it.
func snsNotification(id, message string, extra ...string) map[string]string {
	f := map[string]string{
		"Type": "Notification", "MessageId": id, "TopicArn": snsTopic, "Message": message,
		"Timestamp":      "2026-03-02T08:59:58.123Z",
		"UnsubscribeURL": "https://sns.eu-central-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + snsTopic + ":x",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f[extra[i]] = extra[i+1]
	}
	return f
}

// sesMail is the "mail" object of an SES notification: SES's own
// messageId, and our Message-ID in the original headers.
var sesMail = map[string]any{
	"timestamp": "2026-03-02T08:59:50.000Z", "source": "kolumne@example.org",
	"messageId":   "0100018e00000000-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-000000",
	"destination": []string{"anna@example.net"}, "headersTruncated": false,
	"headers": []map[string]string{
		{"name": "From", "value": "KNIEPUNKT <kolumne@example.org>"},
		{"name": "Message-ID", "value": "<k30.s1@example.org>"},
		{"name": "Subject", "value": "KNIEPUNKT 030"},
	},
	"commonHeaders": map[string]any{"messageId": "<k30.s1@example.org>", "subject": "KNIEPUNKT 030"},
}

func sesBounce(feedbackID, typ, subtype string, rcpts ...[3]string) string {
	var br []map[string]string
	for _, r := range rcpts {
		br = append(br, map[string]string{"emailAddress": r[0], "action": "failed", "status": r[1], "diagnosticCode": r[2]})
	}
	b, _ := json.Marshal(map[string]any{
		"notificationType": "Bounce", "mail": sesMail,
		"bounce": map[string]any{"bounceType": typ, "bounceSubType": subtype, "bouncedRecipients": br,
			"timestamp": "2026-03-02T08:59:57.000Z", "feedbackId": feedbackID, "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com"},
	})
	return string(b)
}

func sesComplaint(feedbackID, feedbackType string, rcpts ...string) string {
	var cr []map[string]string
	for _, r := range rcpts {
		cr = append(cr, map[string]string{"emailAddress": r})
	}
	c := map[string]any{"complainedRecipients": cr, "timestamp": "2026-03-02T08:59:57.000Z", "feedbackId": feedbackID,
		"userAgent": "Yahoo!-Mail-Feedback/2.0", "arrivalDate": "2026-03-02T08:59:00.000Z"}
	if feedbackType != "" {
		c["complaintFeedbackType"] = feedbackType
	}
	b, _ := json.Marshal(map[string]any{"eventType": "Complaint", "mail": sesMail, "complaint": c})
	return string(b)
}

func TestSESWebhook(t *testing.T) {
	const ours = "k30.s1@example.org"
	tests := []struct {
		name, message, version string
		want                   *bounce.Report
	}{
		{"permanent 5.1.1, signature version 1",
			sesBounce("fb-1", "Permanent", "General", [3]string{"Anna@Example.net", "5.1.1", "smtp; 550 5.1.1 user unknown"}), "1",
			&bounce.Report{Events: []bounce.Event{hard("anna@example.net", "5.1.1", "user unknown")}}},
		{"permanent but a policy rejection is soft, version 2",
			sesBounce("fb-2", "Permanent", "General", [3]string{"ben@example.net", "5.7.1", "smtp; 554 5.7.1 rejected by policy"}), "2",
			&bounce.Report{Events: []bounce.Event{soft("ben@example.net", "5.7.1", "policy")}}},
		{"no such mailbox is hard",
			sesBounce("fb-3", "Permanent", "NoEmail", [3]string{"cem@example.net", "5.0.0", "smtp; 550 mailbox unavailable"}), "2",
			&bounce.Report{Events: []bounce.Event{hard("cem@example.net", "5.0.0", "mailbox unavailable")}}},
		{"on the suppression list is hard",
			sesBounce("fb-4", "Permanent", "OnAccountSuppressionList", [3]string{"dora@example.net", "5.1.1", "Amazon SES did not send the message to this address because it is on the suppression list for your account."}), "2",
			&bounce.Report{Events: []bounce.Event{hard("dora@example.net", "5.1.1", "suppression list")}}},
		{"transient is soft whatever the code",
			sesBounce("fb-5", "Transient", "MailboxFull", [3]string{"emil@example.net", "5.1.1", "smtp; 552 5.2.2 mailbox full"}), "2",
			&bounce.Report{Events: []bounce.Event{soft("emil@example.net", "5.1.1", "mailbox full")}}},
		{"undetermined is soft",
			sesBounce("fb-6", "Undetermined", "Undetermined", [3]string{"fay@example.net", "", ""}), "1",
			&bounce.Report{Events: []bounce.Event{soft("fay@example.net", "", "")}}},
		{"two recipients, one report",
			sesBounce("fb-7", "Permanent", "General", [3]string{"gus@example.net", "5.1.1", "550 5.1.1 unknown"}, [3]string{"hal@example.net", "5.2.2", "552 5.2.2 full"}), "2",
			&bounce.Report{Events: []bounce.Event{hard("gus@example.net", "5.1.1", "unknown"), soft("hal@example.net", "5.2.2", "full")}}},
		{"complaint (event publishing)", sesComplaint("fb-8", "abuse", "ina@example.net"), "2",
			&bounce.Report{Events: []bounce.Event{complained("ina@example.net", "feedback type abuse")}}},
		{"complaint without a feedback type", sesComplaint("fb-9", "", "jo@example.net"), "1",
			&bounce.Report{Events: []bounce.Event{complained("jo@example.net", "complaint")}}},
		{"not-spam is no complaint", sesComplaint("fb-10", "not-spam", "kai@example.net"), "2", nil},
		{"delivery", `{"notificationType":"Delivery","mail":{},"delivery":{"recipients":["lu@example.net"]}}`, "2", nil},
		{"SES's test message", `{"notificationType":"AmazonSnsSubscriptionSucceeded","message":"You have successfully subscribed"}`, "2", nil},
		{"not JSON", "hello from the topic", "1", nil},
	}
	e := newSESEnv(t)
	for i, tc := range tests {
		if tc.want != nil {
			tc.want.Format, tc.want.OriginalMessageID = "ses", ours
			tc.want.MessageID = fmt.Sprintf("ses:fb-%d", i+1)
		}
		body := snsPost(snsNotification(fmt.Sprintf("sns-%d", i), tc.message), tc.version)
		e.postOne(t, tc.name, "ses", body, map[string]string{"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}, tc.want)
	}
	// Every message was checked with one certificate, fetched once.
	if n := e.sns.count(snsCertURL); n != 1 {
		t.Errorf("certificate fetched %d times, want 1", n)
	}
	// With a Subject, which SNS signs too.
	body := snsPost(snsNotification("sns-subj", sesBounce("fb-s", "Permanent", "General", [3]string{"mo@example.net", "5.1.1", "unknown"}), "Subject", "Amazon SES Email Event Notification"), "2")
	if res := e.post("ses", body, nil); res.status != http.StatusOK {
		t.Errorf("with a Subject: %d", res.status)
	}
	// SNS sends a message again with the same MessageId and feedbackId.
	if res := e.post("ses", body, nil); res.status != http.StatusOK || !e.intake.applied["ses:fb-s"] {
		t.Errorf("repeat: %d", res.status)
	}
}

func TestSESWebhookRefused(t *testing.T) {
	msg := sesBounce("fb-1", "Permanent", "General", [3]string{"anna@example.net", "5.1.1", "user unknown"})
	good := snsNotification("sns-1", msg)
	with := func(k, v string) map[string]string {
		f := snsNotification("sns-1", msg)
		f[k] = v
		return f
	}
	signedThenChanged := func(k, v string) string {
		var m map[string]string
		_ = json.Unmarshal([]byte(snsPost(good, "2")), &m)
		m[k] = v
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, tc := range []struct {
		name    string
		body    string
		fetches bool // whether the certificate may be fetched
	}{
		{"message changed after signing", signedThenChanged("Message", strings.Replace(msg, "anna@", "victim@", 1)), true},
		{"timestamp changed", signedThenChanged("Timestamp", "2026-03-02T09:00:00.000Z"), true},
		{"version 2 signature called version 1", signedThenChanged("SignatureVersion", "1"), true},
		{"unknown signature version", signedThenChanged("SignatureVersion", "3"), false},
		{"no signature", signedThenChanged("Signature", ""), false},
		{"a topic not in the settings", snsPost(with("TopicArn", "arn:aws:sns:eu-central-1:999999999999:attacker"), "2"), false},
		{"certificate from another host", snsPost(with("SigningCertURL", "https://evil.example/SimpleNotificationService-1.pem"), "2"), false},
		{"certificate from a look-alike host", snsPost(with("SigningCertURL", "https://sns.eu-central-1.amazonaws.com.evil.example/x.pem"), "2"), false},
		{"certificate from an S3 bucket", snsPost(with("SigningCertURL", "https://s3.amazonaws.com/sns.eu-central-1.amazonaws.com/x.pem"), "2"), false},
		{"certificate over http", snsPost(with("SigningCertURL", strings.Replace(snsCertURL, "https:", "http:", 1)), "2"), false},
		{"certificate on another port", snsPost(with("SigningCertURL", strings.Replace(snsCertURL, ".com/", ".com:8443/", 1)), "2"), false},
		{"certificate URL with a user", snsPost(with("SigningCertURL", strings.Replace(snsCertURL, "https://", "https://u@", 1)), "2"), false},
		{"certificate path not .pem", snsPost(with("SigningCertURL", strings.Replace(snsCertURL, ".pem", ".txt", 1)), "2"), false},
		{"certificate URL with a query", snsPost(with("SigningCertURL", snsCertURL+"?x=.pem"), "2"), false},
		{"a type SNS does not sign", snsPost(with("Type", "Event"), "2"), false},
		{"certificate URL not there", snsPost(with("SigningCertURL", "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-0.pem"), "2"), true},
	} {
		e := newSESEnv(t)
		res := e.post("ses", tc.body, nil)
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, res.status)
		}
		if n := len(e.intake.reports()); n != 0 {
			t.Errorf("%s: intake called %d times", tc.name, n)
		}
		if !tc.fetches && e.sns.total() != 0 {
			t.Errorf("%s: fetched %v", tc.name, e.sns.fetched)
		}
	}
}

// The certificate must come from the CA and be valid now.
func TestSESWebhookCertificate(t *testing.T) {
	body := snsPost(snsNotification("sns-1", sesBounce("fb-1", "Permanent", "General", [3]string{"anna@example.net", "5.1.1", "unknown"})), "2")
	for _, tc := range []struct {
		name string
		cert func(e *sesEnv) []byte
	}{
		{"another CA", func(*sesEnv) []byte {
			return newSNSCA(t).issue(t, hookNow.Add(-time.Hour), hookNow.Add(time.Hour))
		}},
		{"expired", func(e *sesEnv) []byte { return e.ca.issue(t, hookNow.Add(-48*time.Hour), hookNow.Add(-time.Hour)) }},
		{"not yet valid", func(e *sesEnv) []byte { return e.ca.issue(t, hookNow.Add(time.Hour), hookNow.Add(48*time.Hour)) }},
		{"no certificate", func(*sesEnv) []byte { return []byte("<Error><Code>NoSuchKey</Code></Error>") }},
		{"too large", func(e *sesEnv) []byte {
			return append(e.ca.issue(t, hookNow.Add(-time.Hour), hookNow.Add(time.Hour)), make([]byte, maxSNSCertSize)...)
		}},
	} {
		e := newSESEnv(t)
		e.sns.files[snsCertURL] = tc.cert(e)
		if res := e.post("ses", body, nil); res.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, res.status)
		}
		if n := len(e.intake.reports()); n != 0 {
			t.Errorf("%s: intake called", tc.name)
		}
	}
	// SNS out of reach: 503, SNS sends the message again later.
	e := newSESEnv(t)
	e.sns.err = fmt.Errorf("%w: dial tcp: i/o timeout", ErrSNSUnreachable)
	if res := e.post("ses", body, nil); res.status != http.StatusServiceUnavailable {
		t.Errorf("SNS unreachable: %d, want 503", res.status)
	}
}

// A subscription is confirmed only for our topics and only at the SNS
// host; the confirmation itself changes nothing else.
func TestSESWebhookSubscription(t *testing.T) {
	confirm := func(topic, subURL string) string {
		return snsPost(map[string]string{
			"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token": "2336412f37",
			"TopicArn": topic, "SubscribeURL": subURL, "Timestamp": "2026-03-02T08:59:00.000Z",
			"Message": "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		}, "1")
	}
	e := newSESEnv(t)
	if res := e.post("ses", confirm(snsTopic, snsSubURL), map[string]string{"x-amz-sns-message-type": "SubscriptionConfirmation"}); res.status != http.StatusOK {
		t.Fatalf("confirmation: %d %s", res.status, res.body)
	}
	if n := e.sns.count(snsSubURL); n != 1 {
		t.Errorf("SubscribeURL fetched %d times, want 1", n)
	}
	for _, tc := range []struct{ name, topic, url string }{
		{"another host", snsTopic, "https://evil.example/?Action=ConfirmSubscription&Token=1"},
		{"http", snsTopic, strings.Replace(snsSubURL, "https:", "http:", 1)},
		{"a topic not in the settings", "arn:aws:sns:eu-central-1:999999999999:attacker", strings.Replace(snsSubURL, "123456789012", "999999999999", 1)},
	} {
		e := newSESEnv(t)
		if res := e.post("ses", confirm(tc.topic, tc.url), nil); res.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, res.status)
		}
		if n := e.sns.count(tc.url); n != 0 {
			t.Errorf("%s: SubscribeURL fetched", tc.name)
		}
	}
	if n := len(e.intake.reports()); n != 0 {
		t.Errorf("intake called %d times", n)
	}
}

// The certificates kept are bounded.
func TestSNSCertCacheBounded(t *testing.T) {
	ca := newSNSCA(t)
	cert := ca.issue(t, hookNow.Add(-time.Hour), hookNow.Add(time.Hour))
	sns := &fakeSNS{fetched: map[string]int{}, files: map[string][]byte{}}
	c := newSESRelay([]string{snsTopic}, sns, ca.pool, func() time.Time { return hookNow }, nil).certs
	for i := range maxSNSCerts + 5 {
		u := fmt.Sprintf("https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-%d.pem", i)
		sns.files[u] = cert
		if _, err := c.get(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.certs) != maxSNSCerts || len(c.order) != maxSNSCerts {
		t.Errorf("%d certificates kept, want %d", len(c.certs), maxSNSCerts)
	}
}
