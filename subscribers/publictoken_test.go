package subscribers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// oldKey and oldTokens are an installation key and unsubscribe tokens the
// first token format made with it: links in mails already sent.
const oldKey = "installation key of a list that sent mail before"

var oldTokens = map[int64]string{
	1:       "AUkXQVRkxZ19GSew1hrWJHU",
	42:      "KjApn4Dm5fFK-bae1Tkgy-s",
	300:     "rAKN8CiDPJUSFoI34kHFwA08",
	1 << 40: "gICAgIAgnQ-qIPbjbyL3z7-Z5nEMhA",
}

// An unsubscribe token shows nothing of the row id: not its value, and not
// its size through the token's length.
func TestUnsubscribeTokenHidesRowID(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	st := subscribers.NewStore(d, []byte(oldKey))
	var length int
	for _, id := range []int64{1, 2, 42, 300, 1 << 40} {
		tok := st.UnsubscribeToken(id)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatalf("id %d: token %q is not base64url: %v", id, tok, err)
		}
		if bytes.HasPrefix(raw, binary.AppendUvarint(nil, uint64(id))) {
			t.Errorf("id %d: token %q starts with the row id", id, tok)
		}
		if length == 0 {
			length = len(tok)
		} else if len(tok) != length {
			t.Errorf("id %d: token length %d differs from id 1's %d: the length tells the list size", id, len(tok), length)
		}
		if got, err := st.ParseUnsubscribeToken(tok); err != nil || got != id {
			t.Errorf("id %d: parsed back as %d, %v", id, got, err)
		}
		if tok == oldTokens[id] {
			t.Errorf("id %d: new token is still the old format", id)
		}
	}
}

// Links in mails sent before keep working, and still only with the key.
func TestOldUnsubscribeTokensStillWork(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	st := subscribers.NewStore(d, []byte(oldKey))
	other := subscribers.NewStore(d, []byte("another installation"))
	for id, tok := range oldTokens {
		if got, err := st.ParseUnsubscribeToken(tok); err != nil || got != id {
			t.Errorf("old token for %d: got %d, %v", id, got, err)
		}
		if _, err := other.ParseUnsubscribeToken(tok); !errors.Is(err, subscribers.ErrBadToken) {
			t.Errorf("old token for %d accepted under another key", id)
		}
	}
}

// One-click unsubscribe from an old mail still unsubscribes.
func TestOldUnsubscribeLinkUnsubscribes(t *testing.T) {
	e := newOptInEnv(t)
	st := subscribers.NewStore(e.db, []byte(oldKey))
	ctx := context.Background()
	sub, err := st.Add(ctx, subscribers.AddParams{Email: "alt@example.org", Confirmed: true, ConsentNote: "paper form"})
	if err != nil || sub.ID != 1 {
		t.Fatalf("add: %+v %v", sub, err)
	}
	optin := subscribers.NewOptIn(st, nil, subscribers.OptInConfig{BaseURL: "http://news.test"})
	if err := optin.UnsubscribeByToken(ctx, oldTokens[1], subscribers.Evidence{Detail: "RFC 8058 one-click"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.FindByID(ctx, 1); got.Status != subscribers.StatusUnsubscribed {
		t.Fatalf("status %s after an old one-click link", got.Status)
	}
}

// A token is good for unsubscribing only, for one subscriber, under one key.
func TestUnsubscribeTokenBoundToPurpose(t *testing.T) {
	st := newStore(t)
	tok := st.UnsubscribeToken(7)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 1
		if _, err := st.ParseUnsubscribeToken(base64.RawURLEncoding.EncodeToString(bad)); !errors.Is(err, subscribers.ErrBadToken) {
			t.Fatalf("token with byte %d flipped accepted", i)
		}
	}
	confirmShaped := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, b := range []string{confirmShaped, tok + "A", tok[1:], newStore(t).UnsubscribeToken(7)} {
		if _, err := st.ParseUnsubscribeToken(b); !errors.Is(err, subscribers.ErrBadToken) {
			t.Errorf("token %q accepted", b)
		}
	}
}
