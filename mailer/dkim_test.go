package mailer

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
)

func TestDKIMErrorNamesWhatIsMissing(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts      DKIMOptions
		want, not []string
	}{
		{DKIMOptions{Domain: "example.org", Key: key}, []string{"--dkim-selector"}, []string{"--dkim-domain", "--dkim-key"}},
		{DKIMOptions{Selector: "s1", Key: key}, []string{"--dkim-domain"}, []string{"--dkim-selector", "--dkim-key"}},
		{DKIMOptions{Domain: "example.org", Selector: "s1"}, []string{"--dkim-key"}, []string{"--dkim-domain", "--dkim-selector"}},
		{DKIMOptions{KeyFile: "k.pem"}, []string{"--dkim-domain", "--dkim-selector"}, []string{"--dkim-key"}},
	} {
		_, err := newDKIMSigner(&tc.opts)
		if err == nil {
			t.Errorf("%+v: no error", tc.opts)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not name %s", tc.opts, err, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(err.Error(), n) {
				t.Errorf("%+v: %q names %s, which is set", tc.opts, err, n)
			}
		}
	}
}
