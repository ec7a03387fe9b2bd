package main

import (
	"mime"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
)

// TestHoldAndReleaseCommands: a held column is left alone by `send` and
// `send --column`, which say why; `columns` shows it held and by whom;
// `release` lets the next send go.
func TestHoldAndReleaseCommands(t *testing.T) {
	f := newSendFixture(t, 5)

	out, errOut, code := f.run(t, "hold", "31")
	if code != 0 || !regexp.MustCompile("^Column 031 is held by admin at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC: no run sends it until `newsletter release 31`.\n$").MatchString(out) {
		t.Fatalf("hold: %d\n%s%s", code, out, errOut)
	}
	if out, _, code := f.run(t, "hold", "31"); code != 0 || !strings.HasPrefix(out, "Column 031 is already held by admin at ") {
		t.Errorf("hold again: %d %s", code, out)
	}
	out, _, code = f.run(t, "columns")
	if code != 0 || !regexp.MustCompile(`031\s+Heiße KI-Luft\s+-\s+031-kolumne.txt\s+held \(by admin at [^)]+ UTC\)`).MatchString(out) ||
		!strings.Contains(out, "Next: nothing new; newest column 031 is held: by admin at ") ||
		!strings.Contains(out, "Column 031 is held by admin at ") {
		t.Fatalf("columns: %d\n%s", code, out)
	}
	out, errOut, code = f.run(t, "send")
	if code != 0 || !strings.Contains(out, "Column 031 is held by admin at ") || !strings.Contains(out, "Nothing to send") || f.srv.Count() != 0 {
		t.Fatalf("send while held: %d, %d mails\n%s%s", code, f.srv.Count(), out, errOut)
	}
	_, errOut, code = f.run(t, "send", "--column", "31")
	if code != 1 || !strings.Contains(errOut, "column 031 is held by admin at ") || !strings.Contains(errOut, "`newsletter release 31` lets it go") || f.srv.Count() != 0 {
		t.Fatalf("send --column while held: %d\n%s", code, errOut)
	}

	out, _, code = f.run(t, "release", "31")
	if code != 0 || !strings.HasPrefix(out, "Column 031 is released (it was held by admin at ") || !strings.Contains(out, "The next scheduled run (") {
		t.Fatalf("release: %d\n%s", code, out)
	}
	if out, _, code := f.run(t, "release", "31"); code != 0 || out != "Column 031 is not held; nothing to release.\n" {
		t.Errorf("release again: %d %q", code, out)
	}
	if out, errOut, code := f.run(t, "send"); code != 0 || f.srv.Count() != 5 {
		t.Fatalf("send after release: %d, %d mails\n%s%s", code, f.srv.Count(), out, errOut)
	}
	// Sent: nothing left to hold.
	if _, errOut, code := f.run(t, "hold", "31"); code != 1 || !strings.Contains(errOut, "column 031: column was already sent on ") {
		t.Errorf("hold after sending: %d %s", code, errOut)
	}
}

func TestHoldCommandRefusals(t *testing.T) {
	f := newSendFixture(t, 1)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"hold"}, 2, "hold: give one column number"},
		{[]string{"hold", "abc"}, 2, `hold: "abc" is not a column number`},
		{[]string{"hold", "0"}, 2, `hold: "0" is not a column number`},
		{[]string{"release", "31", "32"}, 2, "release: give one column number"},
		{[]string{"hold", "99"}, 1, "column 099: no such column in "},
		{[]string{"proof", "31"}, 2, "--proof-to: no address"},
		{[]string{"proof", "--proof-to", "autorin@example.org, nicht-gültig"}, 2, `--proof-to: "nicht-gültig" is not a valid address`},
		{[]string{"proof", "--proof-to", "autorin@example.org", "--proof-before", "0s"}, 2, "--proof-before: must be positive"},
	} {
		_, errOut, code := f.run(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: %d %s, want %d %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}

// TestProofCommand sends the proof of the next column to each --proof-to
// address at once and says to whom; a held column's proof says it will
// not go out.
func TestProofCommand(t *testing.T) {
	f := newSendFixture(t, 3)
	out, errOut, code := f.run(t, "proof", "--proof-to", "Autorin@Example.org, lektor@example.org", "--schedule", "0 7 * * 1")
	if code != 0 || !regexp.MustCompile(`^Proof of column 031 "KNIEPUNKT 031: Heiße KI-Luft" \(planned for Mon \d{4}-\d\d-\d\d 07:00 UTC\) sent to Autorin@example.org, lektor@example.org.\n$`).MatchString(out) {
		t.Fatalf("proof: %d\n%s%s", code, out, errOut)
	}
	byRcpt := f.srv.ByRecipient()
	if len(byRcpt) != 2 || len(byRcpt["autorin@example.org"]) != 1 {
		t.Fatalf("proofs went to %v", byRcpt)
	}
	raw := byRcpt["autorin@example.org"][0].Data
	subj, _ := new(mime.WordDecoder).DecodeHeader(testkit.ParseMail(t, raw).Header.Get("Subject"))
	text := testkit.MailText(t, raw)
	if subj != "[Korrektur] KNIEPUNKT 031: Heiße KI-Luft" || !strings.Contains(text, "so erhalten 3 Empfänger") ||
		!strings.Contains(text, "https://news.example.org/hold?token=31.") {
		t.Errorf("proof mail %q:\n%s", subj, text)
	}
	// Sending it again is allowed: the admin asked.
	if _, _, code := f.run(t, "proof", "31", "--proof-to", "autorin@example.org"); code != 0 || f.srv.Count() != 3 {
		t.Errorf("proof again: %d, %d mails", code, f.srv.Count())
	}
	if _, _, code := f.run(t, "hold", "31"); code != 0 {
		t.Fatal("hold")
	}
	out, errOut, code = f.run(t, "proof", "31", "--proof-to", "autorin@example.org")
	if code != 0 || !strings.Contains(out, "(no run will send it as things stand: held: by admin at ") {
		t.Errorf("proof of a held column: %d\n%s%s", code, out, errOut)
	}
	// Nothing to go out: a clear line.
	_, errOut, code = f.run(t, "proof", "--proof-to", "autorin@example.org")
	if code != 1 || !strings.Contains(errOut, "no column is due to go out") || !strings.Contains(errOut, "column 031 is held by admin at ") {
		t.Errorf("proof with nothing to go out: %d %s", code, errOut)
	}
}

// TestServeSendsProofAndHoldsFromTheLink: serve queues the proof at once
// when the run is within --proof-before, the hold link's page holds the
// column, and `columns` says so.
func TestServeSendsProofAndHoldsFromTheLink(t *testing.T) {
	smtpSrv := testkit.StartSMTP(t)
	dbPath, cols := serveFolder(t)
	f := &sendFixture{dbPath: dbPath, columns: cols, srv: smtpSrv}
	f.writeColumn(t, 31, "Heiße KI-Luft", "")
	p := startServe(t, dbPath, cols, smtpSrv.Addr, "--proof-to", "autorin@example.org", "--proof-before", "200h", "--lang", "en")
	raw := smtpSrv.WaitMail(t, "autorin@example.org").Data
	subj, _ := new(mime.WordDecoder).DecodeHeader(testkit.ParseMail(t, raw).Header.Get("Subject"))
	if subj != "[Proof] KNIEPUNKT 031: Heiße KI-Luft" {
		t.Errorf("subject %q", subj)
	}
	link := testkit.HoldLink(t, testkit.MailText(t, raw))
	if !strings.HasPrefix(link, p.URL+"/hold?token=") {
		t.Fatalf("hold link %s does not use --base-url", link)
	}
	code, body := httpGet(t, link)
	if code != 200 || !strings.Contains(body, `action="/hold"`) || !strings.Contains(body, "KNIEPUNKT 031: Heiße KI-Luft") {
		t.Fatalf("hold page: %d\n%s", code, body)
	}
	u, _ := url.Parse(link)
	if code, body := httpPostForm(t, p.URL+"/hold", url.Values{"token": {u.Query().Get("token")}}); code != 200 {
		t.Fatalf("hold: %d\n%s", code, body)
	}
	out, _, code := f.run(t, "columns")
	if code != 0 || !strings.Contains(out, "held (from the proof mail at ") {
		t.Errorf("columns after the hold: %d\n%s", code, out)
	}
	// The proof went once, however many passes the loop makes.
	time.Sleep(100 * time.Millisecond)
	if n := len(smtpSrv.ByRecipient()["autorin@example.org"]); n != 1 {
		t.Errorf("%d proofs", n)
	}
}
