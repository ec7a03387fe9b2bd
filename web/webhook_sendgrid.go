package web

// SendGrid's signed event webhook: an ECDSA (P-256, SHA-256) signature in
// X-Twilio-Email-Event-Webhook-Signature over the timestamp header
// followed by the raw body, checked with the verification key SendGrid
// shows (--webhook-sendgrid-key). The timestamp must be within the window:
// the signature covers the whole batch, so a captured post cannot be
// replayed later, and within the window each event's sg_event_id makes a
// repeat change nothing.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"newsletter/mailer/bounce"
)

const (
	sendgridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	sendgridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// ParseSendGridKey reads SendGrid's verification key as SendGrid shows it
// (base64 of the DER public key) or as a PEM "PUBLIC KEY" block; it must
// be an ECDSA P-256 key.
func ParseSendGridKey(data []byte) (*ecdsa.PublicKey, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		der = block.Bytes
	} else {
		b64 := strings.Join(strings.Fields(string(data)), "")
		var err error
		if der, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, errors.New("neither PEM nor base64")
		}
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a public key")
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 public key")
	}
	return key, nil
}

type sendgridRelay struct {
	key    *ecdsa.PublicKey
	window time.Duration
	now    func() time.Time
}

type sendgridEvent struct {
	Email          string `json:"email"`
	Event          string `json:"event"`
	Type           string `json:"type"`
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	EventID        string `json:"sg_event_id"`
	SMTPID         string `json:"smtp-id"`
	Classification string `json:"bounce_classification"`
}

func (s *sendgridRelay) open(_ context.Context, r *http.Request, body []byte) (*delivery, error) {
	ts := r.Header.Get(sendgridTimestampHeader)
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(sendgridSignatureHeader))
	if err != nil || len(sig) == 0 {
		return nil, authErrorf("no SendGrid signature")
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(body)
	if !ecdsa.VerifyASN1(s.key, h.Sum(nil), sig) {
		return nil, authErrorf("the SendGrid signature does not match the verification key")
	}
	if _, err := signedAt(ts, s.now(), s.window); err != nil {
		return nil, err
	}
	var events []sendgridEvent
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, payloadErrorf("not SendGrid's JSON array of events: %v", err)
	}
	d := &delivery{}
	for _, e := range events {
		if rep := sendgridReport(e); rep != nil {
			d.reports = append(d.reports, rep)
		}
	}
	return d, nil
}

// sendgridReport is what one SendGrid event says, nil when it is no
// bounce or complaint (processed, delivered, deferred, open, click,
// unsubscribe, …; a deferral is SendGrid still trying).
func sendgridReport(e sendgridEvent) *bounce.Report {
	if e.EventID == "" || e.Email == "" {
		return nil
	}
	var ev bounce.Event
	switch e.Event {
	case "bounce":
		ev = bounce.Failure(e.Email, e.Status, e.Reason)
		if e.Type == "blocked" {
			// A block is about the message or us (reputation,
			// content), not the mailbox, whatever the code says.
			ev.Kind = bounce.Soft
		}
	case "spamreport":
		ev = bounce.RelayComplaint(e.Email, "spam report (SendGrid)")
	case "dropped":
		// SendGrid did not even try. Only its own lists say something
		// about the address; a drop for our content or our quota does not.
		switch e.Reason {
		case "Bounced Address":
			ev = bounce.Failure(e.Email, e.Status, "on SendGrid's bounce list")
			ev.Kind = bounce.Hard
		case "Invalid":
			ev = bounce.Failure(e.Email, e.Status, "SendGrid: invalid address")
			ev.Kind = bounce.Hard
		case "Spam Reporting Address":
			ev = bounce.RelayComplaint(e.Email, "on SendGrid's spam report list")
		default:
			return nil
		}
	default:
		return nil
	}
	return relayReport("sendgrid", e.EventID, e.SMTPID, ev)
}
