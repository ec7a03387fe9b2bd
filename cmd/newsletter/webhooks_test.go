package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
)

const (
	testMailgunKey   = "mailgun-signing-key-7e1f0c"
	testPostmarkPass = "postmark-password-5b9d2a44"
	testTopic        = "arn:aws:sns:eu-central-1:123456789012:newsletter-bounces"
)

// writeKeyFile writes a public key as SendGrid shows it (base64 DER) or
// as PEM.
func writeKeyFile(t *testing.T, dir, name string, pub any, asPEM bool) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(base64.StdEncoding.EncodeToString(der) + "\n")
	if asPEM {
		data = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The webhook settings are checked where they are read; the errors name
// the flag and never quote a secret.
func TestWebhookSettingErrors(t *testing.T) {
	c := newCLI(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := writeKeyFile(t, c.dir, "sendgrid.pem", &p256.PublicKey, true)
	wrongCurve := writeKeyFile(t, c.dir, "p384.txt", &p384.PublicKey, false)
	rsaFile := writeKeyFile(t, c.dir, "rsa.txt", &rsaKey.PublicKey, false)
	empty := filepath.Join(c.dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--webhook-postmark-user", "postmark"}, 2, "--webhook-postmark-user needs --webhook-postmark-password"},
		{[]string{"--webhook-postmark-password", testPostmarkPass}, 2, "--webhook-postmark-password needs --webhook-postmark-user"},
		{[]string{"--webhook-postmark-user", "post:mark", "--webhook-postmark-password", testPostmarkPass}, 2, "--webhook-postmark-user"},
		{[]string{"--webhook-postmark-user", "postmark", "--webhook-postmark-password", "short-secret"}, 2, "at least 16 characters"},
		{[]string{"--webhook-mailgun-key", "   "}, 2, "--webhook-mailgun-key"},
		{[]string{"--webhook-sendgrid-key", filepath.Join(c.dir, "missing.pem")}, 1, "--webhook-sendgrid-key: cannot read"},
		{[]string{"--webhook-sendgrid-key", wrongCurve}, 2, "not an ECDSA P-256 public key"},
		{[]string{"--webhook-sendgrid-key", rsaFile}, 2, "not an ECDSA P-256 public key"},
		{[]string{"--webhook-sendgrid-key", empty}, 2, "--webhook-sendgrid-key"},
		{[]string{"--webhook-ses", "yes"}, 2, `--webhook-ses: "yes" is not on or off`},
		{[]string{"--webhook-ses", "on"}, 2, "--webhook-ses on needs --webhook-ses-topics"},
		{[]string{"--webhook-ses", "on", "--webhook-ses-topics", "newsletter-bounces"}, 2, "is not an SNS topic ARN"},
		{[]string{"--webhook-ses-topics", testTopic}, 2, "--webhook-ses-topics needs --webhook-ses on"},
	} {
		_, errOut, code := c.run("", append([]string{"serve"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "newsletter: ") != 1 {
			t.Errorf("%q: exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		for _, secret := range []string{testPostmarkPass, "short-secret"} {
			if strings.Contains(errOut, secret) {
				t.Errorf("%q: the error quotes a secret: %q", tc.args, errOut)
			}
		}
	}
	// A good key file of either form passes the check (serve then stops
	// at the next bad setting, which proves the key was taken).
	for _, path := range []string{good, writeKeyFile(t, c.dir, "sendgrid.txt", &p256.PublicKey, false)} {
		_, errOut, code := c.run("", "serve", "--webhook-sendgrid-key", path, "--welcome", "never")
		if code != 2 || !strings.Contains(errOut, "--welcome") {
			t.Errorf("%s: exit %d, %q", path, code, errOut)
		}
	}
}

// Secrets set for the webhooks appear neither in --help nor in the log of
// a running serve, also when requests with wrong credentials come in; a
// relay that is on answers, one that is off is 404.
func TestWebhookSecretsNeverShown(t *testing.T) {
	c := newCLI(t)
	c.env["NEWSLETTER_WEBHOOK_MAILGUN_KEY"] = testMailgunKey
	c.env["NEWSLETTER_WEBHOOK_POSTMARK_PASSWORD"] = testPostmarkPass
	help, _, code := c.run("", "serve", "--help")
	if code != 0 || strings.Contains(help, testMailgunKey) || strings.Contains(help, testPostmarkPass) {
		t.Fatalf("help (exit %d) shows a secret:\n%s", code, help)
	}
	for _, name := range []string{"webhook-mailgun-key", "webhook-postmark-user", "webhook-postmark-password", "webhook-sendgrid-key FILE", "webhook-ses string", "webhook-ses-topics ARNs"} {
		if !strings.Contains(help, "--"+name) {
			t.Errorf("serve --help lacks --%s", name)
		}
	}

	smtp := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	p := startServe(t, dbPath, columns, smtp.Addr,
		"--webhook-mailgun-key", testMailgunKey,
		"--webhook-postmark-user", "postmark", "--webhook-postmark-password", testPostmarkPass)

	post := func(path, body string, header map[string]string) int {
		req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(testMailgunKey))
	mac.Write([]byte(ts + "tok-1"))
	signed := fmt.Sprintf(`{"signature":{"timestamp":%q,"token":"tok-1","signature":%q},"event-data":{"id":"e1","event":"failed","severity":"permanent","recipient":"anna@example.net","delivery-status":{"code":550,"enhanced-code":"5.1.1","message":"user unknown"}}}`,
		ts, hex.EncodeToString(mac.Sum(nil)))
	forged := strings.Replace(signed, `"token":"tok-1"`, `"token":"tok-2"`, 1)
	pmAuth := func(pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("postmark:"+pw))}
	}
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		want             func(int) bool
	}{
		{"forged mailgun", "/webhooks/mailgun", forged, nil, func(s int) bool { return s == 401 }},
		{"wrong postmark password", "/webhooks/postmark", `{}`, pmAuth(testPostmarkPass + "x"), func(s int) bool { return s == 401 }},
		{"relay not on", "/webhooks/sendgrid", `[]`, nil, func(s int) bool { return s == 404 }},
		// Passes its check: taken in (about no subscriber: kept for review).
		{"signed mailgun", "/webhooks/mailgun", signed, nil, func(s int) bool { return s == 200 }},
	} {
		if got := post(tc.path, tc.body, tc.header); !tc.want(got) {
			t.Errorf("%s: %d", tc.name, got)
		}
	}
	p.stop(t)
	logs := p.errs.String() + p.out.String()
	if !strings.Contains(logs, "relay webhooks on") || !strings.Contains(logs, "webhook refused") {
		t.Errorf("the log does not say what the webhooks did:\n%s", logs)
	}
	if strings.Contains(logs, testMailgunKey) || strings.Contains(logs, testPostmarkPass) {
		t.Errorf("the log shows a secret:\n%s", logs)
	}
}

func TestIsSNSTopicARN(t *testing.T) {
	name256 := strings.Repeat("a", 256)
	for _, tc := range []struct {
		arn  string
		want bool
	}{
		{"arn:aws:sns:eu-central-1:123456789012:bounces", true},
		{"arn:aws-cn:sns:cn-north-1:123456789012:bounces.fifo", true},
		{"arn:aws-us-gov:sns:us-gov-west-1:123456789012:my_topic-2", true},
		{"arn:aws:sns:eu-central-1:123456789012:" + name256, true},
		{"arn:aws:sns:eu-central-1:123456789012:" + name256[5:] + ".fifo", true},
		{"arn:aws:sns:eu-central-1:123456789012:" + name256 + ".fifo", false},
		{"arn:aws:sns:eu-central-1:123456789012:" + name256 + "a", false},
		{"arn:aws:sns:eu-central-1:123456789012:", false},
		{"arn:aws:sns:eu-central-1:12345678901:bounces", false},
		{"arn:aws:sqs:eu-central-1:123456789012:bounces", false},
		{"arn:aws:sns:eu-central-1:123456789012:bounces:extra", false},
		{"newsletter-bounces", false},
	} {
		if got := isSNSTopicARN(tc.arn); got != tc.want {
			t.Errorf("isSNSTopicARN(%.60q) = %v, want %v", tc.arn, got, tc.want)
		}
	}
}
