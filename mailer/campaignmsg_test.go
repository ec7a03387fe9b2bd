package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"newsletter/columns"
	"newsletter/internal/keyedmac"
	"newsletter/templates"
)

// campaignRecipients are the readers the campaign path is checked for:
// plain, umlauts, specials that need quoting or encoding, a name long
// enough to fold the To field, HTML specials, an address with a plus and
// one with a non-ASCII local part.
var campaignRecipients = []campaignRecipient{
	{Email: "anna@example.net", Name: "Anna Müller"},
	{Email: "bob@example.net", Name: ""},
	{Email: "jörg.weiß@example.net", Name: "Jörg Weiß"},
	{Email: "c.d+news@example.net", Name: "Müller, Dr. Anna (Büro)"},
	{Email: "long@example.net", Name: "Maximiliane Alexandra Friederike von und zu Schwarzenberg-Hohenlohe-Ingelfingen"},
	{Email: "e@example.net", Name: "<b>Bob & Co</b> 'quoted'"},
	{Email: "o'brien@example.net", Name: "Seán Ó Briain"},
	{Email: "x@example.net", Name: "Ünïcödé Ñame With Many Wörds That Are Long Enough To Fold Twice Or Even More Times"},
}

// realPrepared is column 030 prepared by the real templates.
func realPrepared(t testing.TB) *templates.PreparedMail {
	t.Helper()
	r, col := benchRenderer(t)
	p, err := r.Prepare(col)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r campaignRecipient) with(i int) campaignRecipient {
	r.MessageID = campaignMessageID(keyedmac.New([]byte("k")), 30, int64(i+1), "example.org")
	r.UnsubscribeURL = fmt.Sprintf("https://news.example.org/unsubscribe?token=T%dx&amp=%d", i, i*7919)
	r.Date = time.Date(2026, 3, 2, 7, 0, i, 0, time.FixedZone("CET", 3600))
	return r
}

// composeGeneral is the message compose writes for r: go-mail from start
// to end.
func composeGeneral(t *testing.T, c *composer, pm ColumnMail, r campaignRecipient) ([]byte, error) {
	t.Helper()
	rm := pm.Personalize(templates.Recipient{Email: r.Email, Name: r.Name, UnsubscribeURL: r.UnsubscribeURL})
	var buf bytes.Buffer
	err := c.compose(envelope{ToEmail: r.Email, ToName: r.Name, Mail: rm, MessageID: r.MessageID, UnsubscribeURL: r.UnsubscribeURL, Date: r.Date}, &buf)
	return buf.Bytes(), err
}

// With a fixed boundary the campaign path writes exactly the bytes go-mail
// writes, for the real column and templates and for the test fake.
func TestCampaignMailIsComposeByteForByte(t *testing.T) {
	for _, tc := range []struct {
		name string
		pm   interface {
			ColumnMail
			partedMail
		}
	}{{"column 030", realPrepared(t)}, {"fake", fakePrepared{&columns.Column{Subject: "KNIEPUNKT 030: Heiße KI-Luft", TitleLine: "KNIEPUNKT 030: Heiße KI-Luft"}}}} {
		t.Run(tc.name, func(t *testing.T) {
			c := goldenComposer(t, nil)
			cm, err := c.campaign(tc.pm)
			if err != nil {
				t.Fatal(err)
			}
			w := cm.newWriter()
			for i, r := range campaignRecipients {
				r = r.with(i)
				want, werr := composeGeneral(t, c, tc.pm, r)
				var got bytes.Buffer
				gerr := w.write(&got, r)
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("%s: compose error %v, campaign error %v", r.Email, werr, gerr)
				}
				if werr != nil {
					continue
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("%s: campaign path differs from compose at byte %d:\n%s\n---- want ----\n%s", r.Email, firstDiff(got.Bytes(), want), got.Bytes(), want)
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Each part of a campaign message, decoded, is what Personalize renders
// for the recipient; the encoding keeps to the rules (lines of at most 76
// characters, only valid quoted-printable); the To field reads back as the
// recipient. With go-mail's random boundary, as in production.
func TestCampaignMailDecodesToTheRendering(t *testing.T) {
	pm := realPrepared(t)
	c := goldenComposer(t, nil)
	c.boundary = ""
	cm, err := c.campaign(pm)
	if err != nil {
		t.Fatal(err)
	}
	w := cm.newWriter()
	for i, r := range campaignRecipients {
		r = r.with(i)
		var buf bytes.Buffer
		if err := w.write(&buf, r); err != nil {
			t.Fatalf("%s: %v", r.Email, err)
		}
		want := pm.Personalize(templates.Recipient{Email: r.Email, Name: r.Name, UnsubscribeURL: r.UnsubscribeURL})
		checkDecodes(t, buf.Bytes(), r, want)
	}
}

var qpLineRE = regexp.MustCompile(`^(?:[\x21-\x3c\x3e-\x7e\t ]|=[0-9A-F]{2})*=?$`)

// checkDecodes decodes msg strictly and compares it with want.
func checkDecodes(t *testing.T, msg []byte, r campaignRecipient, want templates.RenderedMail) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	to, err := mail.ParseAddress(m.Header.Get("To"))
	if err != nil || to.Address != r.Email || (to.Name != r.Name) {
		t.Errorf("To %q reads back as %+v (%v), want %q <%s>", m.Header.Get("To"), to, err, r.Name, r.Email)
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || subj != want.Subject {
		t.Errorf("Subject %q (%v), want %q", subj, err, want.Subject)
	}
	if got := m.Header.Get("List-Unsubscribe"); got != "<"+r.UnsubscribeURL+">" {
		t.Errorf("List-Unsubscribe %q", got)
	}
	if got := m.Header.Get("Message-ID"); got != "<"+r.MessageID+">" {
		t.Errorf("Message-ID %q", got)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(r.Date) {
		t.Errorf("Date %v (%v), want %v", d, err, r.Date)
	}
	for _, line := range strings.Split(string(msg), "\r\n") {
		if len(line) > 76 && !strings.HasPrefix(line, "List-Unsubscribe: ") {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	got := map[string]string{}
	for {
		p, err := mr.NextRawPart() // undoes nothing: checked and decoded here
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if strings.ToUpper(pp["charset"]) != "UTF-8" || p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("%s part: charset %q, encoding %q", pt, pp["charset"], p.Header.Get("Content-Transfer-Encoding"))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
			if len(line) > 76 || !qpLineRE.MatchString(line) || strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
				t.Errorf("%s part: not strict quoted-printable: %q", pt, line)
			}
		}
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("%s part: %v", pt, err)
		}
		got[pt] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if got["text/plain"] != want.Text {
		t.Errorf("%s: text part decodes to\n%s\nwant\n%s", r.Email, got["text/plain"], want.Text)
	}
	if got["text/html"] != strings.TrimSuffix(want.HTML, "\n") && got["text/html"] != want.HTML {
		t.Errorf("%s: HTML part decodes to\n%s\nwant\n%s", r.Email, got["text/html"], want.HTML)
	}
}

// testParted is a mail made of given parts, for the layouts the templates
// may have: values first or last, several on a line, a value ending the
// part without a line break, long lines, white space next to a value.
type testParted struct{ text, html templates.Part }

func (p testParted) Subject() string                    { return "Grüße" }
func (p testParted) Parts() (text, html templates.Part) { return p.text, p.html }
func (p testParted) Values(r templates.Recipient) (text, html templates.SlotValues) {
	v := templates.SlotValues{templates.SlotEmail: r.Email, templates.SlotName: r.Name, templates.SlotUnsubscribe: r.UnsubscribeURL}
	return v, v
}
func (p testParted) Personalize(r templates.Recipient) templates.RenderedMail {
	tv, hv := p.Values(r)
	return templates.RenderedMail{Subject: p.Subject(), Text: p.text.Fill(&tv), HTML: p.html.Fill(&hv)}
}

func TestCampaignMailPartLayouts(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	pieces := []string{"a", "ü", " ", "\t", "\n", "\r\n", "=", ".", "lorem ipsum dolor ", strings.Repeat("x", 70), "\n.", " \n", "€uro", "<a href=\"", "\">"}
	randomStatic := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	randomPart := func() templates.Part {
		n := rng.IntN(4)
		p := templates.Part{Static: []string{randomStatic()}}
		for range n {
			p.Slots = append(p.Slots, templates.Slot(rng.IntN(int(templates.SlotCount))))
			p.Static = append(p.Static, randomStatic())
		}
		return p
	}
	names := []string{"", "Anna", "Ääää Öööö", strings.Repeat("Wort ", 30), "a=b", "tab\there", "zwei\nZeilen"}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := newDKIMSigner(&DKIMOptions{Domain: "example.org", Selector: "sel1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	lookup := dkimLookup(t, key.Public(), "ed25519")
	for i := range 300 {
		pm := testParted{text: randomPart(), html: randomPart()}
		pm.text.Static[0] = "T" + pm.text.Static[0] // a part is never empty
		c := goldenComposer(t, nil)
		cm, err := c.campaign(pm)
		if err != nil {
			t.Fatalf("layout %d: %v", i, err)
		}
		w := cm.newWriter()
		// Signing needs a body that ends in one line break, as a
		// multipart body does; else the run composes in full.
		var ws *campaignWriter
		cmSigned, err := goldenComposer(t, dk).campaign(pm)
		switch {
		case err == nil:
			ws = cmSigned.newWriter()
		case cm.delim != nil:
			t.Fatalf("layout %d, DKIM: %v", i, err)
		}
		for j := range 3 {
			r := campaignRecipient{Email: fmt.Sprintf("r%d@example.net", j), Name: names[rng.IntN(len(names))]}.with(j)
			if rng.IntN(2) == 0 {
				r.UnsubscribeURL += strings.Repeat("&long=ÄÖÜ", rng.IntN(12))
			}
			want, werr := composeGeneral(t, c, pm, r)
			var got bytes.Buffer
			gerr := w.write(&got, r)
			if gerr == errComposeInFull {
				continue // composed in full: want is what goes out
			}
			if werr != nil || gerr != nil {
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("layout %d: compose error %v, campaign error %v", i, werr, gerr)
				}
				continue
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("layout %d (%q / %q), %q: differs at byte %d:\n%q\nwant\n%q", i, pm.text.Static, pm.html.Static, r.Name,
					firstDiff(got.Bytes(), want), got.Bytes(), want)
			}
			if ws == nil {
				continue
			}
			var signed bytes.Buffer
			if err := ws.write(&signed, r); err != nil {
				t.Fatal(err)
			}
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed.Bytes()), &dkim.VerifyOptions{LookupTXT: lookup})
			if err != nil || len(vs) != 1 || vs[0].Err != nil {
				t.Fatalf("layout %d: verify: %v %+v\n%q", i, err, vs, signed.Bytes())
			}
		}
	}
}

// A value that holds the campaign's MIME boundary is not written into the
// shared layout; that recipient's message is composed in full.
func TestCampaignMailRefusesTheBoundaryInAValue(t *testing.T) {
	c := goldenComposer(t, nil)
	pm := fakePrepared{&columns.Column{Subject: "S", TitleLine: "S"}}
	cm, err := c.campaign(pm)
	if err != nil {
		t.Fatal(err)
	}
	r := campaignRecipient{Email: "a@example.net"}.with(1)
	r.UnsubscribeURL = "https://news.example.org/u?x=\n--" + c.boundary + "--\n"
	if err := cm.newWriter().write(new(bytes.Buffer), r); err != errComposeInFull {
		t.Fatalf("err = %v, want errComposeInFull", err)
	}
}

// appendFolded folds as go-mail folds the fields it encodes.
func TestAppendFoldedIsGoMails(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := range 2000 {
		var words []string
		for range rng.IntN(12) {
			words = append(words, strings.Repeat("w", rng.IntN(40)))
		}
		value := strings.Join(words, " ")
		name := []string{"To", "Message-ID", "Date", "X"}[i%4]
		msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
		msg.SetGenHeader(gomail.Header(name), value)
		var b bytes.Buffer
		if _, err := msg.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(b.Bytes(), []byte("\r\n"+name+":"))
		if bytes.HasPrefix(b.Bytes(), []byte(name+":")) {
			at = -2
		}
		if at == -1 {
			t.Fatalf("%s not found in\n%s", name, b.Bytes())
		}
		rest := b.Bytes()[at+2:]
		end := 0
		for {
			j := bytes.Index(rest[end:], []byte("\r\n"))
			end += j + 2
			if end >= len(rest) || rest[end] != ' ' {
				break
			}
		}
		if got := appendFolded(nil, name, value); !bytes.Equal(got, rest[:end]) {
			t.Fatalf("appendFolded(%q, %q) =\n%q\ngo-mail:\n%q", name, value, got, rest[:end])
		}
	}
}

// The campaign path's DKIM signature verifies (go-msgauth), its body hash
// is the one go-msgauth computes for the same bytes, and a change to a
// signed header or to the body breaks it.
func TestCampaignMailDKIM(t *testing.T) {
	edKey, rsaKey := dkimTestKeys(t)
	pm := realPrepared(t)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		algo string
	}{{"ed25519", edKey, "ed25519"}, {"rsa", rsaKey, "rsa"}} {
		t.Run(tc.name, func(t *testing.T) {
			dk, err := newDKIMSigner(&DKIMOptions{Domain: "example.org", Selector: "sel1", Key: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			c := goldenComposer(t, dk)
			cm, err := c.campaign(pm)
			if err != nil {
				t.Fatal(err)
			}
			plain := goldenComposer(t, nil)
			cmPlain, err := plain.campaign(pm)
			if err != nil {
				t.Fatal(err)
			}
			w, wp := cm.newWriter(), cmPlain.newWriter()
			lookup := dkimLookup(t, tc.key.Public(), tc.algo)
			for i, r := range campaignRecipients {
				r = r.with(i)
				var signed, unsigned bytes.Buffer
				if err := w.write(&signed, r); err != nil {
					t.Fatal(err)
				}
				if err := wp.write(&unsigned, r); err != nil {
					t.Fatal(err)
				}
				msg := signed.Bytes()
				if !bytes.HasSuffix(msg, unsigned.Bytes()) || !bytes.HasPrefix(msg, []byte("DKIM-Signature: ")) {
					t.Fatalf("signed message is not the signature field and the message:\n%s", msg)
				}
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
				if err != nil || len(vs) != 1 || vs[0].Err != nil {
					t.Fatalf("%s: verify: %v %+v\n%s", r.Email, err, vs, msg)
				}
				if got := strings.Join(vs[0].HeaderKeys, ":"); got != strings.Join(dkimHeaders, ":") {
					t.Errorf("h=%s", got)
				}
				// go-msgauth's body hash of the same message is ours.
				var ref bytes.Buffer
				if err := dk.sign(&ref, unsigned.Bytes()); err != nil {
					t.Fatal(err)
				}
				if a, b := tagValue(t, ref.String(), "bh"), tagValue(t, string(msg), "bh"); a != b {
					t.Fatalf("bh=%s, go-msgauth bh=%s", b, a)
				}
				for _, tamper := range [][2]string{
					{"Abmelden", "Abmeldeh"},
					{"\r\nTo:", "\r\nTo: x"},
					{"Subject: ", "Subject: x"},
					{"List-Unsubscribe: <", "List-Unsubscribe: <x"},
				} {
					bad := bytes.Replace(msg, []byte(tamper[0]), []byte(tamper[1]), 1)
					if vs, _ := dkim.VerifyWithOptions(bytes.NewReader(bad), &dkim.VerifyOptions{LookupTXT: lookup}); len(vs) == 1 && vs[0].Err == nil {
						t.Errorf("%s: still verifies after %q → %q at %d", r.Email, tamper[0], tamper[1], bytes.Index(msg, []byte(tamper[0])))
					}
				}
			}
		})
	}
}

// tagValue is the value of one tag of the DKIM-Signature field in msg.
func tagValue(t *testing.T, msg, tag string) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(m.Header.Get("DKIM-Signature"), ";") {
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) == tag {
			return strings.Join(strings.Fields(v), "")
		}
	}
	t.Fatalf("no %s= in %q", tag, m.Header.Get("DKIM-Signature"))
	return ""
}
