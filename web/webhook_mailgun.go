package web

// Mailgun: the JSON webhooks (the legacy form-encoded ones are not read).
// Mailgun signs only the timestamp and a random token with the webhook
// signing key, not the event: a signature seen once could carry any
// event. So a token is taken once (remembered as long as its timestamp is
// in the window, which the check refuses after), and the timestamp must be
// within the window of our clock.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"newsletter/mailer/bounce"
)

// maxMailgunTokens bounds the tokens remembered: a token lives at most
// twice the window (a timestamp up to one window ahead of our clock), so
// 50,000 is some 80 events a second with the default window, in about
// 6 MiB. When the tokens in the window fill it, posts get 503 and Mailgun
// posts them again later: forgetting a live token would let its signature
// carry a forged event.
const maxMailgunTokens = 50_000

type mailgunRelay struct {
	key    []byte
	window time.Duration
	now    func() time.Time
	tokens *tokenSet
}

func newMailgunRelay(key string, window time.Duration, now func() time.Time) *mailgunRelay {
	return &mailgunRelay{key: []byte(key), window: window, now: now, tokens: newTokenSet(maxMailgunTokens)}
}

type mailgunPost struct {
	Signature struct {
		Timestamp jsonText `json:"timestamp"`
		Token     string   `json:"token"`
		Signature string   `json:"signature"`
	} `json:"signature"`
	Event mailgunEvent `json:"event-data"`
}

type mailgunEvent struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	Severity  string `json:"severity"`
	Reason    string `json:"reason"`
	Recipient string `json:"recipient"`
	Message   struct {
		Headers struct {
			MessageID string `json:"message-id"`
		} `json:"headers"`
	} `json:"message"`
	DeliveryStatus struct {
		Code         jsonText `json:"code"`
		EnhancedCode string   `json:"enhanced-code"`
		Message      string   `json:"message"`
		Description  string   `json:"description"`
	} `json:"delivery-status"`
}

func (m *mailgunRelay) open(_ context.Context, _ *http.Request, body []byte) (*delivery, error) {
	var p mailgunPost
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, payloadErrorf("not Mailgun's JSON: %v", err)
	}
	sig := p.Signature
	if sig.Token == "" || sig.Signature == "" || len(sig.Token) > 200 {
		return nil, authErrorf("no Mailgun signature")
	}
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(string(sig.Timestamp) + sig.Token))
	got, err := hex.DecodeString(sig.Signature)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return nil, authErrorf("the Mailgun signature does not match the signing key")
	}
	now := m.now()
	at, err := signedAt(string(sig.Timestamp), now, m.window)
	if err != nil {
		return nil, err
	}
	if err := m.tokens.take(sig.Token, at.Add(m.window), now); err != nil {
		return nil, err
	}
	d := &delivery{release: func() { m.tokens.forget(sig.Token) }}
	if rep := m.report(p.Event); rep != nil {
		d.reports = append(d.reports, rep)
	}
	return d, nil
}

// report is what a Mailgun event says, nil when it is no bounce or
// complaint.
func (m *mailgunRelay) report(e mailgunEvent) *bounce.Report {
	if e.ID == "" || e.Recipient == "" {
		return nil
	}
	var ev bounce.Event
	switch {
	case e.Event == "complained":
		ev = bounce.RelayComplaint(e.Recipient, "complained (Mailgun)")
	case e.Event == "failed" && e.Severity == "permanent":
		ev = mailgunFailure(e)
	default:
		// A temporary failure is Mailgun still trying, like a delay
		// warning: when it gives up, a permanent failure follows.
		return nil
	}
	return relayReport("mailgun", e.ID, e.Message.Headers.MessageID, ev)
}

// mailgunFailure judges a permanent failure by the server's reply, like a
// DSN's, unless Mailgun did not even try because of its own lists.
func mailgunFailure(e mailgunEvent) bounce.Event {
	ds := e.DeliveryStatus
	text := ds.Message
	if text == "" {
		text = ds.Description
	}
	if ds.Code != "" && !strings.HasPrefix(strings.TrimSpace(text), string(ds.Code)) {
		text = string(ds.Code) + " " + text
	}
	ev := bounce.Failure(e.Recipient, ds.EnhancedCode, text)
	switch e.Reason {
	case "suppress-bounce":
		// On Mailgun's bounce list: Mailgun will not deliver to the
		// address again, so it takes no mail from us.
		ev.Kind = bounce.Hard
		ev.Diagnostic = "on Mailgun's bounce list: " + ev.Diagnostic
	case "suppress-complaint":
		return bounce.RelayComplaint(e.Recipient, "on Mailgun's complaint list")
	case "suppress-unsubscribe":
		ev.Kind = bounce.Soft
	}
	return ev
}

// tokenSet remembers signature tokens until their timestamp leaves the
// window, up to a bound.
type tokenSet struct {
	mu    sync.Mutex
	max   int
	until map[string]time.Time
}

func newTokenSet(max int) *tokenSet {
	return &tokenSet{max: max, until: map[string]time.Time{}}
}

// take records tok until expiry; a token already taken is a replay.
func (s *tokenSet) take(tok string, expiry, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.until[tok]; ok && now.Before(t) {
		return authErrorf("Mailgun token already used (a replayed request)")
	}
	if len(s.until) >= s.max {
		for k, t := range s.until {
			if !now.Before(t) {
				delete(s.until, k)
			}
		}
		if len(s.until) >= s.max {
			return fmt.Errorf("%w: %d Mailgun tokens in the window", errWebhookBusy, len(s.until))
		}
	}
	s.until[tok] = expiry
	return nil
}

// forget lets tok be taken again.
func (s *tokenSet) forget(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.until, tok)
}
