package web

// Postmark signs nothing: its webhook URL carries a user and password
// (https://USER:PASSWORD@news.example.org/webhooks/postmark), which we
// compare in constant time. Its bounce and spam-complaint webhooks post
// one event each. Postmark writes its own MessageID; ours comes back only
// in Metadata when the mail carried it (X-PM-Metadata-message-id), so
// Postmark's events are mostly identified by the address alone.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"newsletter/mailer/bounce"
)

type postmarkRelay struct {
	user, password [sha256.Size]byte // hashed, so comparing takes the same time whatever the lengths
}

func newPostmarkRelay(user, password string) *postmarkRelay {
	return &postmarkRelay{user: sha256.Sum256([]byte(user)), password: sha256.Sum256([]byte(password))}
}

type postmarkEvent struct {
	RecordType  string                     `json:"RecordType"`
	ID          jsonText                   `json:"ID"`
	Type        string                     `json:"Type"`
	Email       string                     `json:"Email"`
	Details     string                     `json:"Details"`
	Description string                     `json:"Description"`
	Metadata    map[string]json.RawMessage `json:"Metadata"`
}

func (p *postmarkRelay) open(_ context.Context, r *http.Request, body []byte) (*delivery, error) {
	user, password, ok := r.BasicAuth()
	u := sha256.Sum256([]byte(user))
	pw := sha256.Sum256([]byte(password))
	// Both compared, always: which one was wrong takes no other time.
	match := subtle.ConstantTimeCompare(u[:], p.user[:]) & subtle.ConstantTimeCompare(pw[:], p.password[:])
	if !ok || match != 1 {
		return nil, authErrorf("wrong or missing Postmark user and password")
	}
	var e postmarkEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, payloadErrorf("not Postmark's JSON: %v", err)
	}
	d := &delivery{}
	if rep := postmarkReport(e); rep != nil {
		d.reports = append(d.reports, rep)
	}
	return d, nil
}

// postmarkReport is what a Postmark event says, nil when it is no bounce
// or complaint (deliveries, opens, clicks, auto-replies, …).
func postmarkReport(e postmarkEvent) *bounce.Report {
	if e.ID == "" || e.Email == "" {
		return nil
	}
	if e.RecordType != "" && e.RecordType != "Bounce" && e.RecordType != "SpamComplaint" {
		return nil
	}
	var ev bounce.Event
	if e.RecordType == "SpamComplaint" || e.Type == "SpamComplaint" {
		ev = bounce.RelayComplaint(e.Email, "spam complaint (Postmark)")
	} else {
		kind, ok := postmarkKinds[e.Type]
		if !ok {
			return nil
		}
		text := e.Details
		if text == "" {
			text = e.Description
		}
		ev = bounce.Failure(e.Email, "", text)
		ev.Kind = kind
	}
	return relayReport("postmark", string(e.ID), metadataMessageID(e.Metadata), ev)
}

// postmarkKinds maps Postmark's bounce types to DESIGN's kinds: hard only
// when the address does not exist; a spam filter's notice, a block, a
// DMARC or virus rejection is about this one message (soft). Types not
// here are no bounce: auto-replies, subscribe and unsubscribe requests,
// address changes, challenge mails, and Postmark's own errors
// (template rendering, API, inbound, manual deactivation).
var postmarkKinds = map[string]bounce.Kind{
	"HardBounce":        bounce.Hard,
	"BadEmailAddress":   bounce.Hard,
	"SoftBounce":        bounce.Soft,
	"Transient":         bounce.Soft,
	"DnsError":          bounce.Soft,
	"SpamNotification":  bounce.Soft,
	"Blocked":           bounce.Soft,
	"DMARCPolicy":       bounce.Soft,
	"VirusNotification": bounce.Soft,
	"Unknown":           bounce.Soft,
}

// metadataMessageID is our Message-ID when the mail carried it as
// Postmark metadata.
func metadataMessageID(md map[string]json.RawMessage) string {
	for k, raw := range md {
		switch strings.ToLower(k) {
		case "message-id", "message_id", "messageid":
			var v string
			if json.Unmarshal(raw, &v) == nil {
				return v
			}
		}
	}
	return ""
}
