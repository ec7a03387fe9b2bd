package mailer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/emersion/go-msgauth/dkim"

	"newsletter/columns"
	"newsletter/internal/keyedmac"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// goldenEnvelope is one fixed message: fixed date, Message-ID and boundary.
func goldenEnvelope(c *composer) envelope {
	col := &columns.Column{Number: 30, TitleLine: "KNIEPUNKT 030: Heiße KI-Luft", Subject: "KNIEPUNKT 030: Heiße KI-Luft"}
	unsub := "https://news.example.org/unsubscribe?token=AQ2x3l0bfQ9bLk6Lz3a0lXGz"
	rm := fakePrepared{col}.Personalize(templates.Recipient{Email: "anna@example.net", Name: "Anna Müller", UnsubscribeURL: unsub})
	return envelope{
		ToEmail: "anna@example.net", ToName: "Anna Müller", Mail: rm,
		MessageID:      campaignMessageID(keyedmac.New([]byte("golden-secret")), 30, 7, "example.org"),
		UnsubscribeURL: unsub,
		Date:           time.Date(2026, 3, 2, 7, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
}

func goldenComposer(t testing.TB, dk *dkimSigner) *composer {
	t.Helper()
	o := Options{From: "Kniepunkt <kolumne@example.org>", BaseURL: "https://news.example.org", ListName: "Kniepunkt",
		FeedbackID: "c30:kniepunkt", Boundary: "golden-boundary-0123456789", Secret: []byte("golden-secret"), SMTPAddr: "x:25"}
	o.setDefaults()
	from, err := o.check()
	if err != nil {
		t.Fatal(err)
	}
	return newComposer(&o, from, dk)
}

func TestGoldenCampaignMessage(t *testing.T) {
	c := goldenComposer(t, nil)
	var buf bytes.Buffer
	if err := c.compose(goldenEnvelope(c), &buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "campaign.eml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("message differs from %s (go test -update rewrites it):\n%s", path, buf.Bytes())
	}
	// Composing twice gives the same bytes: nothing random left.
	var again bytes.Buffer
	if err := c.compose(goldenEnvelope(c), &again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatal("compose is not deterministic")
	}
}

// dkimLookup serves one public key as the DNS TXT record would.
func dkimLookup(t *testing.T, pub crypto.PublicKey, algo string) func(string) ([]string, error) {
	var p string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		p = base64.StdEncoding.EncodeToString(k)
	default:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p = base64.StdEncoding.EncodeToString(der)
	}
	return func(domain string) ([]string, error) {
		if domain != "sel1._domainkey.example.org" {
			t.Errorf("DKIM lookup for %q", domain)
		}
		return []string{"v=DKIM1; k=" + algo + "; p=" + p}, nil
	}
}

// dkimTestKeys are a new Ed25519 and a new RSA-2048 key.
func dkimTestKeys(t testing.TB) (ed25519.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return edKey, rsaKey
}

func TestDKIMSignatureVerifies(t *testing.T) {
	edKey, rsaKey := dkimTestKeys(t)
	// The RSA key goes through a PEM file, as --dkim-key gives it.
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts *DKIMOptions
		pub  crypto.PublicKey
		algo string
	}{
		{"ed25519", &DKIMOptions{Domain: "example.org", Selector: "sel1", Key: edKey}, edKey.Public(), "ed25519"},
		{"rsa-file", &DKIMOptions{Domain: "example.org", Selector: "sel1", KeyFile: keyFile}, rsaKey.Public(), "rsa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through a real SMTP session, so dot-stuffing and line endings
			// are those a receiver sees.
			e := newTestEnv(t)
			e.addSubscribers("a", 2, subscribers.StatusActive)
			c := e.start(31)
			m := e.mailer(func(o *Options) { o.DKIM = tc.opts })
			if _, err := m.RunCampaign(context.Background(), c, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			msgs := e.srv.Messages()
			if len(msgs) != 2 {
				t.Fatalf("%d messages", len(msgs))
			}
			for _, msg := range msgs {
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg.Data), &dkim.VerifyOptions{LookupTXT: dkimLookup(t, tc.pub, tc.algo)})
				if err != nil || len(vs) != 1 || vs[0].Err != nil {
					t.Fatalf("verify: %v %+v\n%s", err, vs, msg.Data)
				}
				signed := strings.Join(vs[0].HeaderKeys, ":")
				for _, h := range []string{"From", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "To"} {
					if !strings.Contains(signed, h) {
						t.Errorf("%s not signed (h=%s)", h, signed)
					}
				}
				// A changed header breaks the signature.
				tampered := bytes.Replace(msg.Data, []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), []byte("List-Unsubscribe-Post: nothing"), 1)
				vs, _ = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: dkimLookup(t, tc.pub, tc.algo)})
				if len(vs) == 1 && vs[0].Err == nil {
					t.Error("tampered message still verifies")
				}
			}
		})
	}
}

func TestListIDAndPhrase(t *testing.T) {
	for _, tc := range []struct{ name, domain, want string }{
		{"Kniepunkt", "news.example.org", "Kniepunkt <kniepunkt.news.example.org>"},
		{"Die Kolumne: Woche", "example.org", `"Die Kolumne: Woche" <die-kolumne-woche.example.org>`},
		{"Grüße aus Köln", "example.org", "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?= <gruesse-aus-koeln.example.org>"},
		{"", "example.org", "<newsletter.example.org>"},
	} {
		if got := listIDHeader(tc.name, tc.domain); got != tc.want {
			t.Errorf("listIDHeader(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := listDomain("http://localhost:8080", "example.org"); got != "example.org" {
		t.Errorf("listDomain(localhost) = %q", got)
	}
	if got := listDomain("https://News.Example.org/", "example.org"); got != "news.example.org" {
		t.Errorf("listDomain = %q", got)
	}
}

// TestListIDWithOddNames checks that any --list-name gives a List-Id whose
// phrase a mail parser reads back as the name: quoted when it holds
// specials, RFC 2047 encoded when it is not ASCII.
func TestListIDWithOddNames(t *testing.T) {
	for _, name := range []string{
		`Der "Kniepunkt"`,
		`Kniepunkt <weekly>`,
		`a\b, c; d: (e) [f] @g.`,
		`Kniepunkt – die Kolumne`,
		`Grüße "an" <alle>, auch dich`,
		`Ärger = Freude?_`,
		"Tab\tund\x01Steuerzeichen",
		strings.Repeat("Sehr lange Liste mit Ümlauten ", 5),
	} {
		t.Run(name, func(t *testing.T) {
			c := goldenComposer(t, nil)
			c.listID = listIDHeader(name, "news.example.org")
			var buf bytes.Buffer
			if err := c.compose(goldenEnvelope(c), &buf); err != nil {
				t.Fatal(err)
			}
			msg := testkit.ParseMail(t, buf.Bytes())
			got := msg.Header.Get("List-Id")
			open := strings.LastIndex(got, " <")
			if open < 0 || !strings.HasSuffix(got, ".news.example.org>") {
				t.Fatalf("List-Id = %q", got)
			}
			id := got[open+2 : len(got)-1]
			if strings.ContainsAny(id, "<>\" ()") || strings.Contains(got[:open], "<") && !strings.Contains(got[:open], `"`) {
				t.Fatalf("List-Id = %q", got)
			}
			// The phrase, parsed as a display name, is the name again.
			addr, err := mail.ParseAddress(got[:open] + " <x@example.org>")
			if err != nil {
				t.Fatalf("List-Id %q: phrase does not parse: %v", got, err)
			}
			want := strings.Join(strings.FieldsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
			if addr.Name != want {
				t.Errorf("List-Id %q reads back as %q, want %q", got, addr.Name, want)
			}
			for _, r := range got {
				if r > unicode.MaxASCII {
					t.Fatalf("List-Id %q is not ASCII", got)
				}
			}
		})
	}
}

func TestMessageIDIsStable(t *testing.T) {
	a := campaignMessageID(keyedmac.New([]byte("k")), 31, 42, "example.org")
	if a != campaignMessageID(keyedmac.New([]byte("k")), 31, 42, "example.org") {
		t.Fatal("not deterministic")
	}
	if a == campaignMessageID(keyedmac.New([]byte("k")), 31, 43, "example.org") || a == campaignMessageID(keyedmac.New([]byte("other")), 31, 42, "example.org") {
		t.Fatal("collides")
	}
	if !strings.HasPrefix(a, "c31.") || !strings.HasSuffix(a, "@example.org") {
		t.Fatalf("format %q", a)
	}
}
