package mailer

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
)

// The command line names the missing settings (cmd/newsletter's
// TestDKIMErrorNamesWhatIsMissing); the mailer still refuses to sign
// without a domain, a selector and a key, and says which is missing.
func TestDKIMSignerNeedsDomainSelectorAndKey(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts DKIMOptions
		want string
	}{
		{DKIMOptions{Domain: "example.org", Key: key}, "needs a selector"},
		{DKIMOptions{Selector: "s1", Key: key}, "needs a domain"},
		{DKIMOptions{Domain: "example.org", Selector: "s1"}, "needs a key"},
		{DKIMOptions{KeyFile: "k.pem"}, "needs a domain and a selector"},
	} {
		_, err := newDKIMSigner(&tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "--") {
			t.Errorf("%+v: err %v, want %q", tc.opts, err, tc.want)
		}
	}
	if s, err := newDKIMSigner(&DKIMOptions{Domain: "example.org", Selector: "s1", Key: key}); err != nil || s == nil {
		t.Fatalf("complete options: %v", err)
	}
}
