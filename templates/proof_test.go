package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProofBannerGolden pins the proof of the sample column in both
// languages, planned and not planned, and checks that the column mail
// under the banner is the subscriber's mail unchanged.
func TestProofBannerGolden(t *testing.T) {
	planned := time.Date(2026, 3, 23, 7, 0, 0, 0, berlin(t))
	for _, tt := range []struct {
		lang, name string
		d          ProofData
		subject    string
	}{
		{"de", "proof-de", ProofData{Number: "030", Planned: planned, Recipients: 1234, HoldURL: testBaseURL + "/hold?token=30.abc.def"}, "[Korrektur] KNIEPUNKT 030: Heiße KI-Luft"},
		{"en", "proof-en", ProofData{Number: "030", Planned: planned, Recipients: 1234, HoldURL: testBaseURL + "/hold?token=30.abc.def"}, "[Proof] KNIEPUNKT 030: Heiße KI-Luft"},
		{"de", "proof-de-unplanned", ProofData{Number: "030", NotPlanned: "held: by admin at 2026-03-20 09:00 CET", Recipients: 0, HoldURL: testBaseURL + "/hold?token=30.abc.def"}, "[Korrektur] KNIEPUNKT 030: Heiße KI-Luft"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testMailOptions()
			opts.Lang = tt.lang
			_, mail := renderSample(t, opts)
			b, err := LoadProofBanner(ProofOptions{Lang: tt.lang})
			if err != nil {
				t.Fatal(err)
			}
			proof, err := b.Apply(mail, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if proof.Subject != tt.subject {
				t.Errorf("subject %q, want %q", proof.Subject, tt.subject)
			}
			if !strings.HasSuffix(proof.Text, mail.Text) || !strings.Contains(proof.Text, tt.d.HoldURL+"\n") {
				t.Errorf("text part: the mail is not under the banner, or the hold link not alone on its line:\n%s", proof.Text)
			}
			// Without the banner it is the mail; the banner follows <body …>.
			start := strings.Index(proof.HTML, `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="width: 100%; background-color: #fff4d6;`)
			end := start + strings.Index(proof.HTML[max(start, 0):], "</table>") + len("</table>")
			before := strings.TrimSuffix(proof.HTML[:max(start, 0)], "\n")
			if start < 0 || before+proof.HTML[end:] != mail.HTML || !strings.HasPrefix(before[strings.LastIndex(before, "<"):], "<body") ||
				!strings.Contains(proof.HTML[start:end], `href="`+tt.d.HoldURL+`"`) {
				t.Errorf("HTML part: the banner is not right after <body> of the unchanged mail:\n%s", proof.HTML)
			}
			// The files pin the subject and the banner; the mail under it
			// is the subscriber's, pinned by 030-heisse-ki-luft.golden.*.
			golden(t, tt.name+".golden.txt", "Subject: "+proof.Subject+"\n\n"+strings.TrimSuffix(proof.Text, mail.Text))
			golden(t, tt.name+".golden.html", proof.HTML[start:end]+"\n")
		})
	}
}

func TestPlannedText(t *testing.T) {
	at := time.Date(2026, 3, 29, 7, 0, 0, 0, berlin(t)) // the first day of summer time
	if got, want := PlannedText("de", at), "Sonntag, 29.03.2026, 07:00 CEST"; got != want {
		t.Errorf("de: %q, want %q", got, want)
	}
	if got, want := PlannedText("en", at), "Sunday, 29 March 2026, 07:00 CEST"; got != want {
		t.Errorf("en: %q, want %q", got, want)
	}
}

func TestProofBannerOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "proof"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "proof", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("en.txt", "CHECK {{.Number}} {{.HoldURL}}\n")
	b, err := LoadProofBanner(ProofOptions{Lang: "en", OverrideDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := b.Apply(RenderedMail{Subject: "S", Text: "mail\n", HTML: "<html><body class=\"x\">mail</body></html>"}, ProofData{Number: "031", HoldURL: "https://h/hold?token=x"})
	if err != nil {
		t.Fatal(err)
	}
	if proof.Text != "CHECK 031 https://h/hold?token=x\nmail\n" {
		t.Errorf("override not used: %q", proof.Text)
	}
	if !strings.HasPrefix(proof.HTML, "<html><body class=\"x\">\n<table") {
		t.Errorf("banner not after <body …>: %q", proof.HTML)
	}
	write("de.html", "{{.Nope}}")
	if _, err := LoadProofBanner(ProofOptions{Lang: "de", OverrideDir: dir}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proof", "de.html")) {
		t.Errorf("broken override: %v", err)
	}
	if _, err := LoadProofBanner(ProofOptions{Lang: "fr"}); err == nil {
		t.Error("unknown language accepted")
	}
}
