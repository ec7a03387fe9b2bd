package web

// Amazon SES posts bounce and complaint notifications through an SNS
// topic. SNS signs each message with RSA (signature version 1: SHA-1,
// version 2: SHA-256) over the canonical string of its type's fields; the
// certificate is at SigningCertURL, which we fetch only from
// https://sns.<region>.amazonaws.com/….pem (amazonaws.com.cn in China),
// with a timeout and a size limit, and keep (a few of them).
//
// Trust in the certificate: it comes over HTTPS, verified with the
// system's roots, from the SNS host itself, and redirects are not followed;
// it must be within its validity period and hold an RSA key. Its chain is
// not verified against the system's roots: the file holds only the
// certificate and Go does not fetch missing intermediates, so that check
// would refuse every genuine message; pinning Amazon's issuer would break
// when Amazon rotates it. WebhookDeps.SNSRoots turns the chain check on
// (the tests use a CA of their own).
//
// An SNS signature proves that SNS sent the message, not whose topic it
// came from: anyone can create a topic, subscribe our URL and publish a
// forged "bounce". So only the topics named in the settings are accepted,
// checked before anything is fetched, and a SubscriptionConfirmation is
// followed (GET SubscribeURL) only for them and only to the SNS host.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"newsletter/mailer/bounce"
)

const (
	// DefaultSNSTimeout bounds a fetch from SNS (a certificate, a
	// subscription confirmation).
	DefaultSNSTimeout = 10 * time.Second
	// maxSNSCertSize and maxSNSAnswer bound what a fetch reads: a
	// certificate file is about 2 KiB, a confirmation answer less.
	maxSNSCertSize = 64 << 10
	maxSNSAnswer   = 64 << 10
	// maxSNSCerts is how many certificates are kept; SNS signs with one
	// per region and rotates it rarely.
	maxSNSCerts = 16
	// maxSNSFetches bounds the fetches running at once: a stream of
	// forged posts naming new certificate URLs gets 503, not a crowd of
	// outgoing requests.
	maxSNSFetches = 4
)

// snsHost is the SNS endpoint of a region, the only host a certificate
// or a subscription confirmation is fetched from.
var snsHost = regexp.MustCompile(`^sns\.[a-z]{2}(-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(\.cn)?$`)

// SNSFetcher makes the GET requests SNS needs: a signing certificate, a
// subscription confirmation. It reads at most limit bytes and fails on
// more; an error wrapping ErrSNSUnreachable is a passing one (the post
// gets 503 and SNS sends it again).
type SNSFetcher interface {
	Get(ctx context.Context, url string, limit int64) ([]byte, error)
}

// ErrSNSUnreachable marks a fetch that failed on the way (network,
// timeout, a 5xx from SNS), not because the URL was wrong.
var ErrSNSUnreachable = errors.New("SNS unreachable")

// NewSNSFetcher returns the fetcher serve uses: HTTPS with the system's
// roots, no redirects followed, timeout per request.
func NewSNSFetcher(timeout time.Duration) SNSFetcher {
	return &httpSNSFetcher{client: &http.Client{
		Timeout: timeout,
		// A redirect would lead away from the host we checked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type httpSNSFetcher struct{ client *http.Client }

func (f *httpSNSFetcher) Get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSNSUnreachable, err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode >= 500:
		return nil, fmt.Errorf("%w: %s", ErrSNSUnreachable, res.Status)
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("answered %s", res.Status)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSNSUnreachable, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

type sesRelay struct {
	topics map[string]bool
	fetch  SNSFetcher
	certs  *certCache
	log    *slog.Logger
}

func newSESRelay(topics []string, fetch SNSFetcher, roots *x509.CertPool, now func() time.Time, log *slog.Logger) *sesRelay {
	t := map[string]bool{}
	for _, a := range topics {
		t[a] = true
	}
	return &sesRelay{topics: t, fetch: fetch, log: log, certs: &certCache{
		fetch: fetch, roots: roots, now: now, max: maxSNSCerts,
		certs: map[string]*x509.Certificate{}, slots: make(chan struct{}, maxSNSFetches),
	}}
}

// snsMessage is an SNS post: a notification or a subscription's
// (un)confirmation.
type snsMessage struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

func (s *sesRelay) open(ctx context.Context, _ *http.Request, body []byte) (*delivery, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, payloadErrorf("not an SNS message: %v", err)
	}
	canon, err := m.canonical()
	if err != nil {
		return nil, err
	}
	if !s.topics[m.TopicArn] {
		return nil, authErrorf("SNS topic %q is not in --webhook-ses-topics", clip(m.TopicArn, 200))
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return nil, authErrorf("SNS signature version %q is not 1 or 2", clip(m.SignatureVersion, 20))
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return nil, authErrorf("no SNS signature")
	}
	if err := checkSNSURL(m.SigningCertURL, true); err != nil {
		return nil, authErrorf("signing certificate URL: %v", err)
	}
	cert, err := s.certs.get(ctx, m.SigningCertURL)
	if err != nil {
		return nil, err
	}
	if err := verifyRSA(cert, hash, canon, sig); err != nil {
		return nil, authErrorf("the SNS signature does not verify: %v", err)
	}

	switch m.Type {
	case "SubscriptionConfirmation":
		if err := checkSNSURL(m.SubscribeURL, false); err != nil {
			return nil, authErrorf("SubscribeURL: %v", err)
		}
		if _, err := s.fetch.Get(ctx, m.SubscribeURL, maxSNSAnswer); err != nil {
			return nil, fmt.Errorf("%w: confirming the SNS subscription: %w", errWebhookBusy, err)
		}
		s.log.InfoContext(ctx, "SNS subscription confirmed", "topic", m.TopicArn)
		return &delivery{}, nil
	case "UnsubscribeConfirmation":
		s.log.WarnContext(ctx, "SNS subscription ended; SES bounces no longer arrive from this topic", "topic", m.TopicArn)
		return &delivery{}, nil
	}
	d := &delivery{}
	if rep := s.report(ctx, m); rep != nil {
		d.reports = append(d.reports, rep)
	}
	return d, nil
}

// canonical is the string SNS signs: the type's fields, in this order,
// each as "Name\nvalue\n"; Subject only when the message has one.
func (m *snsMessage) canonical() ([]byte, error) {
	var fields [][2]string
	switch m.Type {
	case "Notification":
		fields = [][2]string{{"Message", m.Message}, {"MessageId", m.MessageID}}
		if m.Subject != "" {
			fields = append(fields, [2]string{"Subject", m.Subject})
		}
		fields = append(fields, [][2]string{{"Timestamp", m.Timestamp}, {"TopicArn", m.TopicArn}, {"Type", m.Type}}...)
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = [][2]string{{"Message", m.Message}, {"MessageId", m.MessageID}, {"SubscribeURL", m.SubscribeURL},
			{"Timestamp", m.Timestamp}, {"Token", m.Token}, {"TopicArn", m.TopicArn}, {"Type", m.Type}}
	default:
		return nil, authErrorf("SNS message type %q is not signed as one we know", clip(m.Type, 40))
	}
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f[0] + "\n" + f[1] + "\n")
	}
	return b.Bytes(), nil
}

// checkSNSURL accepts only https://sns.<region>.amazonaws.com/…: no other
// host, port or user; a certificate's path must end in .pem and carry no
// query.
func checkSNSURL(raw string, cert bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return errors.New("not a URL")
	case u.Scheme != "https":
		return errors.New("not https")
	case u.User != nil || u.Port() != "" || !snsHost.MatchString(u.Host):
		return fmt.Errorf("host %q is not sns.<region>.amazonaws.com", clip(u.Host, 100))
	case cert && (!strings.HasSuffix(u.Path, ".pem") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Path, "..")):
		return errors.New("path is not a .pem file")
	}
	return nil
}

func verifyRSA(cert *x509.Certificate, hash crypto.Hash, msg, sig []byte) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the certificate holds no RSA key")
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum(msg) // signature version 1 is SHA1withRSA by definition
		digest = d[:]
	} else {
		d := sha256.Sum256(msg)
		digest = d[:]
	}
	return rsa.VerifyPKCS1v15(pub, hash, digest, sig)
}

// certCache keeps the SNS signing certificates fetched, by URL.
type certCache struct {
	fetch SNSFetcher
	roots *x509.CertPool
	now   func() time.Time
	max   int
	slots chan struct{} // fetches running

	mu    sync.Mutex
	certs map[string]*x509.Certificate
	order []string // oldest first, for eviction
}

// get is the checked certificate at u, fetched unless kept.
func (c *certCache) get(ctx context.Context, u string) (*x509.Certificate, error) {
	now := c.now()
	c.mu.Lock()
	cert := c.certs[u]
	c.mu.Unlock()
	if cert != nil && now.Before(cert.NotAfter) {
		return cert, nil
	}
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	default:
		return nil, fmt.Errorf("%w: too many SNS certificate fetches at once", errWebhookBusy)
	}
	data, err := c.fetch.Get(ctx, u, maxSNSCertSize)
	if err != nil {
		if errors.Is(err, ErrSNSUnreachable) {
			return nil, fmt.Errorf("%w: fetching the SNS certificate: %w", errWebhookBusy, err)
		}
		return nil, authErrorf("fetching the SNS certificate: %v", err)
	}
	cert, err = c.check(data, now)
	if err != nil {
		return nil, authErrorf("SNS certificate: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.certs[u]; !ok {
		c.order = append(c.order, u)
	}
	c.certs[u] = cert
	for len(c.order) > c.max {
		delete(c.certs, c.order[0])
		c.order = c.order[1:]
	}
	return cert, nil
}

// check reads the certificate file: the first certificate signs, any
// further ones are intermediates for the chain check.
func (c *certCache) check(data []byte, now time.Time) (*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("unreadable: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate in the file")
	}
	leaf := certs[0]
	if now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("not valid now (%s to %s)", leaf.NotBefore.UTC().Format(time.DateOnly), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if _, ok := leaf.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("holds no RSA key")
	}
	if c.roots != nil {
		inter := x509.NewCertPool()
		for _, ic := range certs[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("not issued by a trusted CA: %w", err)
		}
	}
	return leaf, nil
}

// sesNotification is the Message of an SES notification (notificationType)
// or of an SES event published to SNS (eventType).
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		FeedbackID        string `json:"feedbackId"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint struct {
		FeedbackID            string `json:"feedbackId"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		UserAgent             string `json:"userAgent"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Mail struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// report is what an SES notification says, nil when it is no bounce or
// complaint (deliveries, sends, SES's subscription test message).
func (s *sesRelay) report(ctx context.Context, m snsMessage) *bounce.Report {
	var n sesNotification
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		s.log.WarnContext(ctx, "SNS notification is no SES notification; ignored", "topic", m.TopicArn, "message_id", m.MessageID)
		return nil
	}
	typ := n.NotificationType
	if typ == "" {
		typ = n.EventType
	}
	var events []bounce.Event
	var id string
	switch typ {
	case "Bounce":
		b := n.Bounce
		id = b.FeedbackID
		for _, r := range b.BouncedRecipients {
			if r.EmailAddress == "" {
				continue
			}
			ev := bounce.Failure(r.EmailAddress, r.Status, r.DiagnosticCode)
			if kind, ok := sesBounceKind(b.BounceType, b.BounceSubType); ok {
				ev.Kind = kind
			}
			events = append(events, ev)
		}
	case "Complaint":
		c := n.Complaint
		id = c.FeedbackID
		switch c.ComplaintFeedbackType {
		case "", "abuse", "fraud":
			// SES leaves the type out when the mailbox provider's
			// report has none; the reader pressed "spam" all the same.
		default:
			return nil // not-spam, virus, auth-failure, other: no complaint (as for ARF)
		}
		diag := "complaint (Amazon SES)"
		if c.ComplaintFeedbackType != "" {
			diag += ", feedback type " + c.ComplaintFeedbackType
		}
		if c.UserAgent != "" {
			diag += ", " + clip(c.UserAgent, 100)
		}
		for _, r := range c.ComplainedRecipients {
			if r.EmailAddress != "" {
				events = append(events, bounce.RelayComplaint(r.EmailAddress, diag))
			}
		}
	default:
		return nil
	}
	if len(events) == 0 {
		return nil
	}
	if id == "" {
		id = m.MessageID // SNS sends a retry with the same MessageId
	}
	return relayReport("ses", id, sesMessageID(n), events...)
}

// sesBounceKind is the kind SES's bounce type decides, if it decides one:
// a Permanent bounce of a mailbox that does not exist, or of an address on
// SES's suppression lists (SES will not send to it again), is hard; a
// Transient or Undetermined one is soft; any other Permanent one (General)
// is judged by the server's reply, as a DSN is.
func sesBounceKind(typ, subtype string) (bounce.Kind, bool) {
	switch {
	case typ == "Transient", typ == "Undetermined":
		return bounce.Soft, true
	case typ == "Permanent" && (subtype == "NoEmail" || subtype == "Suppressed" || subtype == "OnAccountSuppressionList"):
		return bounce.Hard, true
	}
	return "", false
}

// sesMessageID is our Message-ID: from the original headers SES includes
// (mail.headers), else the common headers. mail.messageId is SES's own id.
func sesMessageID(n sesNotification) string {
	for _, h := range n.Mail.Headers {
		if strings.EqualFold(h.Name, "Message-ID") {
			return h.Value
		}
	}
	return n.Mail.CommonHeaders.MessageID
}
