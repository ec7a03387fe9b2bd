package mailer

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"newsletter/internal/keyedmac"
)

// Public identifiers reveal no row id and so not how long the list is:
// the Message-ID shows the column number and a keyed MAC, nothing else. It
// stays the same for every attempt (a copy resent after a crash is the
// same mail) and differs per subscriber and per installation key.
func TestMessageIDsRevealNoRowID(t *testing.T) {
	key := []byte("installation-key")
	campaignRE := regexp.MustCompile(`^c31\.[a-z2-7]{24}@example\.org$`)
	outboxRE := regexp.MustCompile(`^o\.[a-z2-7]{24}@example\.org$`)
	seen := map[string]bool{}
	for _, id := range []int64{1, 7, 237, 4711, 1 << 40} {
		c := campaignMessageID(keyedmac.New(key), 31, id, "example.org")
		o := outboxMessageID(keyedmac.New(key), id, "example.org")
		if !campaignRE.MatchString(c) || !outboxRE.MatchString(o) {
			t.Errorf("row %d: %q, %q", id, c, o)
		}
		local, _, _ := strings.Cut(strings.TrimPrefix(c, "c31."), "@")
		if strings.Contains(local, strconv.FormatInt(id, 10)) && id > 9 {
			t.Errorf("row %d shows in %q", id, c)
		}
		if c != campaignMessageID(keyedmac.New(key), 31, id, "example.org") || o != outboxMessageID(keyedmac.New(key), id, "example.org") {
			t.Errorf("row %d: not deterministic", id)
		}
		if c == campaignMessageID(keyedmac.New([]byte("other-key")), 31, id, "example.org") {
			t.Errorf("row %d: the same without the key", id)
		}
		if seen[c] || seen[o] {
			t.Errorf("row %d: collides", id)
		}
		seen[c], seen[o] = true, true
	}
}
