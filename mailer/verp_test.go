package mailer

import (
	"errors"
	"strings"
	"testing"
)

func TestVERPRoundTrip(t *testing.T) {
	v, err := newVERP("Bounces@Example.ORG", []byte("installation secret"))
	if err != nil {
		t.Fatal(err)
	}
	refs := []mailRef{
		{Kind: refCampaign, CampaignID: 1, SubscriberID: 1},
		{Kind: refCampaign, CampaignID: 7, SubscriberID: 123456},
		{Kind: refCampaign, CampaignID: maxCampaignID, SubscriberID: maxSubscriberID},
		{Kind: refOutbox, OutboxID: 42},
		{Kind: refOutbox, OutboxID: 1<<62 + 5},
		{Kind: refTest},
	}
	seen := map[string]bool{}
	for _, ref := range refs {
		addr := v.address(ref)
		local, domain, _ := strings.Cut(addr, "@")
		if domain != "example.org" || !strings.HasPrefix(local, "Bounces+") {
			t.Fatalf("%+v: address %q is not Bounces+TAG@example.org", ref, addr)
		}
		if len(local) > 64 {
			t.Errorf("%+v: local part %q is longer than 64", ref, local)
		}
		tag := strings.TrimPrefix(local, "Bounces+")
		if len(tag) != VERPTagLen || strings.ToLower(tag) != tag {
			t.Errorf("%+v: tag %q is not %d lower-case characters", ref, tag, VERPTagLen)
		}
		if seen[tag] {
			t.Errorf("%+v: tag %q made twice", ref, tag)
		}
		seen[tag] = true
		if again := v.address(ref); again != addr {
			t.Errorf("%+v: %q then %q: the same mail must get the same tag", ref, addr, again)
		}
		// An MTA that upper- or lower-cases the whole address changes nothing.
		for _, a := range []string{addr, strings.ToUpper(addr), strings.ToLower(addr), "<" + addr + ">"} {
			got, tagged := v.tagOf(a)
			if !tagged {
				t.Fatalf("tagOf(%q): not recognised", a)
			}
			back, err := v.open(got)
			if err != nil || back != ref {
				t.Fatalf("open(%q) = %+v, %v; want %+v", got, back, err, ref)
			}
		}
	}
	// Neither the subscriber id nor the campaign id shows: neighbouring ids
	// give unrelated tags.
	a, _ := v.tag(mailRef{Kind: refCampaign, CampaignID: 3, SubscriberID: 1000})
	b, _ := v.tag(mailRef{Kind: refCampaign, CampaignID: 3, SubscriberID: 1001})
	common := 0
	for common < len(a) && a[common] == b[common] {
		common++
	}
	if common > 4 {
		t.Errorf("tags of neighbouring subscribers share a prefix of %d: %s %s", common, a, b)
	}
	if _, ok := v.tag(mailRef{Kind: refCampaign, CampaignID: 1, SubscriberID: maxSubscriberID + 1}); ok {
		t.Error("a subscriber id beyond 40 bits was tagged")
	}
}

func TestVERPTamper(t *testing.T) {
	v, _ := newVERP("bounces@example.org", []byte("installation secret"))
	other, _ := newVERP("bounces@example.org", []byte("another installation"))
	ref := mailRef{Kind: refCampaign, CampaignID: 30, SubscriberID: 182}
	tag, _ := v.tag(ref)

	forged := []string{
		"",
		"x",
		tag[:VERPTagLen-1],
		tag + "a",
		strings.Repeat("a", VERPTagLen),
		strings.Repeat("9", VERPTagLen), // not base32
		otherTag(other, ref),
	}
	// Every single character changed.
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for i := range tag {
		for _, c := range alphabet {
			if byte(c) == tag[i] {
				continue
			}
			forged = append(forged, tag[:i]+string(c)+tag[i+1:])
		}
	}
	for _, f := range forged {
		if ref, err := v.open(f); !errors.Is(err, errForgedTag) {
			t.Fatalf("open(%q) = %+v, %v; want errForgedTag", f, ref, err)
		}
	}
}

func otherTag(v *verp, ref mailRef) string {
	tag, _ := v.tag(ref)
	return tag
}

func TestVERPTagOf(t *testing.T) {
	v, _ := newVERP("bounces@example.org", []byte("k"))
	for _, tc := range []struct {
		addr   string
		tagged bool
		tag    string
	}{
		{"bounces+abc@example.org", true, "abc"},
		{"BOUNCES+ABC@EXAMPLE.ORG", true, "abc"},
		{"bounces@example.org", false, ""},
		{"bounces+abc@example.net", false, ""},
		{"other+abc@example.org", false, ""},
		{"xbounces+abc@example.org", false, ""},
		{"", false, ""},
	} {
		tag, tagged := v.tagOf(tc.addr)
		if tagged != tc.tagged || tag != tc.tag {
			t.Errorf("tagOf(%q) = %q, %v; want %q, %v", tc.addr, tag, tagged, tc.tag, tc.tagged)
		}
	}
}

func TestSplitBounceAddress(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"bounces@example.org", true},
		{"b@x.de", true},
		{strings.Repeat("a", MaxBounceLocalLen) + "@example.org", true},
		{strings.Repeat("a", MaxBounceLocalLen+1) + "@example.org", false},
		{"Bounces <bounces@example.org>", false},
		{"bounces", false},
		{"@example.org", false},
		{"bounces@", false},
		{"", false},
		{`"a b"@example.org`, false},
	} {
		_, _, err := SplitBounceAddress(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("SplitBounceAddress(%q): %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

// The cost of a return path per message (the campaign's hot path).
func BenchmarkVERPAddress(b *testing.B) {
	v, _ := newVERP("bounces@example.org", []byte("installation secret"))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = v.address(mailRef{Kind: refCampaign, CampaignID: 30, SubscriberID: int64(i)})
	}
}
