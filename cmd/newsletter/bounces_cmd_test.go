package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/mailer/mailbox"
	"newsletter/subscribers"
)

// bounceFixture is a list of three active subscribers that got column 031
// with --bounce-address set, through the in-test SMTP server.
type bounceFixture struct {
	*sendFixture
	vars map[string]string
	seen map[string]seenMail // column 031 by recipient
}

// seenMail is one mail as the SMTP server got it.
type seenMail struct {
	ReturnPath string // MAIL FROM
	MessageID  string // without angle brackets
}

func newBounceFixture(t *testing.T) *bounceFixture {
	t.Helper()
	f := &bounceFixture{sendFixture: newSendFixture(t, 3)}
	f.vars = f.env()
	f.vars["NEWSLETTER_BOUNCE_ADDRESS"] = "bounces@example.org"
	if out, errOut, code := f.cmd(t, "", "send"); code != 0 {
		t.Fatalf("send: %d\n%s%s", code, out, errOut)
	}
	f.seen = f.mailsOf(t, 31)
	if len(f.seen) != 3 {
		t.Fatalf("column 031 went to %v", f.seen)
	}
	return f
}

// cmd runs the program with the fixture's settings and stdin.
func (f *bounceFixture) cmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runWith(f.vars, stdin, args...)
}

// mailsOf is column number's mails as the server got them, by recipient.
func (f *bounceFixture) mailsOf(t *testing.T, number int) map[string]seenMail {
	t.Helper()
	out := map[string]seenMail{}
	for _, m := range f.srv.Messages() {
		id := strings.Trim(testkit.ParseMail(t, m.Data).Header.Get("Message-Id"), "<>")
		if strings.HasPrefix(id, fmt.Sprintf("c%d.", number)) {
			out[m.To] = seenMail{ReturnPath: m.From, MessageID: id}
		}
	}
	return out
}

// postfixDSN is mailer/bounce's Postfix "User unknown" report, written by
// a relay that accepted the column and then could not deliver it, sent
// back to the address the mail went out from.
func postfixDSN(t *testing.T, rcpt string, m seenMail) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "mailer", "bounce", "testdata", "postfix_user_unknown.eml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		"bounces+c30s7.q2hv6m4x@example.org", m.ReturnPath,
		"anna.schmidt@example.net", rcpt,
		"c30.s7.8385b4a9c2de@example.org", m.MessageID,
		"4ZkQ2l6Y1Wz1xR7@relay", rcpt+".4ZkQ2l6Y1Wz1xR7@relay", // one report per recipient
	).Replace(string(raw))
	return s
}

// softDSN is a short RFC 3464 report of a full mailbox.
func softDSN(id, to, rcpt string) string {
	return strings.ReplaceAll(`Return-Path: <>
Delivered-To: `+to+`
From: MAILER-DAEMON@relay.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: `+to+`
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"
Message-Id: <`+id+`@relay.example.org>

--B
Content-Type: text/plain

<`+rcpt+`>: host mx.example.net said: 552 5.2.2 Mailbox full

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.org

Final-Recipient: rfc822; `+rcpt+`
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full

--B--
`, "\n", "\r\n")
}

const readerReply = "From: Anna <anna@example.net>\r\nTo: bounces@example.org\r\nSubject: Re: KNIEPUNKT 031\r\nMessage-ID: <reply-1@example.net>\r\n\r\nDanke!\r\n"

// End to end: a campaign with VERP through the SMTP server, the relay's
// DSN to the VERP address the server saw, piped to `bounces ingest` as
// Postfix would, and the next campaign skips the address.
func TestBounceEndToEnd(t *testing.T) {
	f := newBounceFixture(t)
	m := f.seen["leser1@example.net"]
	if !strings.HasPrefix(m.ReturnPath, "bounces+") || !strings.HasSuffix(m.ReturnPath, "@example.org") {
		t.Fatalf("MAIL FROM %q is no VERP address", m.ReturnPath)
	}
	// Postfix's pipe with flag F puts a From_ line first.
	stdin := "From MAILER-DAEMON Mon Mar  2 07:00:09 2026\n" + postfixDSN(t, "leser1@example.net", m)
	out, errOut, code := f.cmd(t, stdin, "bounces", "ingest")
	if code != 0 || out != "hard 5.1.1 leser1@example.net verp: bounced\n" {
		t.Fatalf("ingest: exit %d\n%s%s", code, out, errOut)
	}
	// The MTA delivers it again: nothing changes twice.
	out, _, code = f.cmd(t, stdin, "bounces", "ingest", "-")
	if code != 0 || !strings.Contains(out, "repeat, taken in before (bounced)") {
		t.Fatalf("again: exit %d %q", code, out)
	}

	f.writeColumn(t, 32, "Kalte Luft", "")
	if out, errOut, code := f.cmd(t, "", "send"); code != 0 {
		t.Fatalf("send 032: %d\n%s%s", code, out, errOut)
	}
	next := f.mailsOf(t, 32)
	if _, ok := next["leser1@example.net"]; ok || len(next) != 2 {
		t.Fatalf("column 032 went to %v, want the two others", next)
	}

	out, _, code = f.cmd(t, "", "bounces", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME ") ||
		!strings.Contains(lines[1], "leser1@example.net  hard  5.1.1   031     550 5.1.1 <leser1@example.net>: Recipient address rejected: User unknown") {
		t.Fatalf("bounces list: exit %d\n%s", code, out)
	}
	out, _, _ = f.cmd(t, "", "subscribers", "show", "leser1@example.net")
	for _, want := range []string{"Status:        bounced", "Bounces and complaints (1 event(s), newest first):",
		"hard 5.1.1, column 031, via pipe, identified by verp: bounced", "Diagnostic:   550 5.1.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("subscribers show lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = f.cmd(t, "", "subscribers", "show", "leser1@example.net", "--format", "json")
	var shown struct {
		Bounces []bounceOut `json:"bounces"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.Bounces) != 1 ||
		shown.Bounces[0].Kind != "hard" || shown.Bounces[0].Column != 31 || shown.Bounces[0].IdentifiedBy != "verp" {
		t.Fatalf("show --format json: %v\n%s", err, out)
	}
}

// One message from a file, every message of an mbox, a Maildir (read
// only), and the dry run of each.
func TestBounceIngestInputs(t *testing.T) {
	f := newBounceFixture(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	l0, l2 := f.seen["leser0@example.net"], f.seen["leser2@example.net"]

	// A file holding one message.
	file := write("one.eml", softDSN("s1", l0.ReturnPath, "leser0@example.net"))
	out, _, code := f.cmd(t, "", "bounces", "ingest", "--dry-run", file)
	if code != 0 || out != "soft 5.2.2 leser0@example.net verp\n" {
		t.Fatalf("dry run of a file: %d %q", code, out)
	}
	out, _, code = f.cmd(t, "", "bounces", "ingest", file)
	if code != 0 || out != "soft 5.2.2 leser0@example.net verp: counted (1 of 3 in a row)\n" {
		t.Fatalf("file: %d %q", code, out)
	}

	// An mbox: a report with a ">From " line, a reader's reply, a report.
	mbox := "From MAILER-DAEMON Mon Mar  2 07:00:09 2026\n" + strings.ReplaceAll(postfixDSN(t, "leser2@example.net", l2), "\r\n", "\n") +
		"\nFrom anna@example.net Mon Mar  2 08:00:00 2026\n" + strings.ReplaceAll(readerReply, "\r\n", "\n") + ">From the column: thanks\n" +
		"\nFrom MAILER-DAEMON Mon Mar  2 09:00:00 2026\n" + strings.ReplaceAll(softDSN("s2", "bounces@example.org", "nobody@example.com"), "\r\n", "\n")
	mboxPath := write("bounces.mbox", mbox)
	out, _, code = f.cmd(t, "", "bounces", "ingest", "--dry-run", mboxPath)
	want := "message 1: hard 5.1.1 leser2@example.net verp\nmessage 2: none not a report\nmessage 3: soft 5.2.2 nobody@example.com unknown\n"
	if code != 0 || out != want {
		t.Fatalf("dry run of an mbox: %d\n%s\nwant\n%s", code, out, want)
	}
	out, _, code = f.cmd(t, "", "bounces", "ingest", mboxPath)
	want = "message 1: hard 5.1.1 leser2@example.net verp: bounced\nmessage 2: none not a report: kept for review\n" +
		"message 3: soft 5.2.2 nobody@example.com unknown: kept for review\n"
	if code != 0 || out != want {
		t.Fatalf("mbox: %d\n%s\nwant\n%s", code, out, want)
	}

	// A Maildir: new/ and cur/; nothing is moved or renamed.
	md := filepath.Join(dir, "Maildir")
	write("Maildir/new/1772431209.M1.host", softDSN("s3", l0.ReturnPath, "leser0@example.net"))
	write("Maildir/cur/1772431100.M2.host:2,S", readerReply)
	write("Maildir/tmp/1772431300.M3.host", "half-written")
	out, _, code = f.cmd(t, "", "bounces", "ingest", md)
	want = "new/1772431209.M1.host: soft 5.2.2 leser0@example.net verp: counted (1 of 3 in a row)\n" +
		"cur/1772431100.M2.host:2,S: none not a report: kept for review\n"
	if code != 0 || out != want {
		t.Fatalf("Maildir: %d\n%s\nwant\n%s", code, out, want)
	}
	for _, p := range []string{"new/1772431209.M1.host", "cur/1772431100.M2.host:2,S", "tmp/1772431300.M3.host"} {
		if _, err := os.Stat(filepath.Join(md, p)); err != nil {
			t.Errorf("the Maildir changed: %v", err)
		}
	}

	// The reply came twice (mbox, Maildir) and is kept once.
	out, _, code = f.cmd(t, "", "bounces", "list", "--review")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "names no subscriber") ||
		!strings.Contains(lines[2], "not a report") || !strings.Contains(lines[2], "Re: KNIEPUNKT 031") {
		t.Fatalf("bounces list --review: %d\n%s", code, out)
	}

	st := f.store(t)
	for addr, want := range map[string]subscribers.Status{"leser0@example.net": subscribers.StatusActive,
		"leser1@example.net": subscribers.StatusActive, "leser2@example.net": subscribers.StatusBounced} {
		if s, _ := st.FindByEmail(context.Background(), addr); s.Status != want {
			t.Errorf("%s is %s, want %s", addr, s.Status, want)
		}
	}
}

// Exit status: 0 when taken in or kept, 75 when the database cannot be
// used now (the MTA retries), 1 when the input cannot be read, 2 for
// usage errors.
func TestBounceIngestExitCodes(t *testing.T) {
	f := newBounceFixture(t)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "broken.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"a bounce", softDSN("x1", "bounces@example.org", "leser0@example.net"), []string{"bounces", "ingest"}, 0, ""},
		{"no bounce: kept", readerReply, []string{"bounces", "ingest", "-"}, 0, ""},
		{"empty input: kept", "", []string{"bounces", "ingest"}, 0, ""},
		{"database unusable", readerReply, []string{"bounces", "ingest", "--db", notDB}, 75, "newsletter: "},
		{"database missing", readerReply, []string{"bounces", "ingest", "--db", filepath.Join(dir, "typo.db")}, 75, "no database at"},
		{"no such file", "", []string{"bounces", "ingest", filepath.Join(dir, "missing.eml")}, 1, "missing.eml"},
		{"folder is no Maildir", "", []string{"bounces", "ingest", dir}, 1, "is not a Maildir folder"},
		{"two arguments", "", []string{"bounces", "ingest", "a", "b"}, 2, "at most one"},
		{"flag of list", "", []string{"bounces", "ingest", "--limit", "3"}, 2, "does not apply"},
		{"bad bounce address", "", []string{"bounces", "ingest", "--bounce-address", "Bounces <b@example.org>"}, 2, "--bounce-address"},
		{"bad soft limit", "", []string{"bounces", "ingest", "--soft-bounce-limit", "0"}, 2, "--soft-bounce-limit"},
	} {
		out, errOut, code := f.cmd(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, code, tc.code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Error("ingest created a database at a mistyped path")
	}
}

// The envelope sender is the From address without --bounce-address, and a
// VERP address of at most 64 characters before the @ with it.
func TestBounceAddressSetting(t *testing.T) {
	f := newSendFixture(t, 1)
	if _, errOut, code := f.run(t, "send"); code != 0 {
		t.Fatal(errOut)
	}
	if got := f.srv.Messages()[0].From; got != "kolumne@example.org" {
		t.Fatalf("MAIL FROM %q without --bounce-address", got)
	}
	b := newBounceFixture(t)
	for _, m := range b.seen {
		local, _, _ := strings.Cut(m.ReturnPath, "@")
		if len(local) > 64 || len(local) != len("bounces+")+26 {
			t.Errorf("VERP local part %q", local)
		}
	}
}

// store opens the fixture's database.
func (f *bounceFixture) store(t *testing.T) *subscribers.Store {
	t.Helper()
	d := testkit.OpenDBFile(t, f.dbPath, nil)
	return testkit.NewStore(t, d)
}

// A relay's signed webhook events reach the same intake through serve: a
// complaint unsubscribes, a hard bounce makes the address bounced, each
// once; `bounces list` shows them with their source.
func TestBounceWebhookThroughServe(t *testing.T) {
	smtp := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	d := testkit.OpenDBFile(t, dbPath, nil)
	st := testkit.NewStore(t, d)
	testkit.ImportSubscribers(t, st, "leser", 2, subscribers.StatusActive)
	p := startServe(t, dbPath, columns, smtp.Addr, "--webhook-mailgun-key", testMailgunKey)

	post := func(token, event string) int {
		t.Helper()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(testMailgunKey))
		mac.Write([]byte(ts + token))
		body := fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
			ts, token, hex.EncodeToString(mac.Sum(nil)), event)
		res, err := http.Post(p.URL+"/webhooks/mailgun", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	complaint := `{"id":"ev-c1","event":"complained","recipient":"leser0@example.net"}`
	hard := `{"id":"ev-h1","event":"failed","severity":"permanent","recipient":"leser1@example.net","delivery-status":{"code":550,"enhanced-code":"5.1.1","message":"user unknown"}}`
	for i, ev := range []string{complaint, hard, complaint} {
		if code := post(fmt.Sprintf("tok-%d", i), ev); code != 200 {
			t.Fatalf("event %d: %d\n%s", i, code, p.errs.String())
		}
	}
	p.stop(t)
	for addr, want := range map[string]subscribers.Status{"leser0@example.net": subscribers.StatusUnsubscribed, "leser1@example.net": subscribers.StatusBounced} {
		if s, _ := st.FindByEmail(context.Background(), addr); s.Status != want {
			t.Errorf("%s is %s, want %s", addr, s.Status, want)
		}
	}
	evs, err := st.BounceEvents(context.Background(), subscribers.BounceFilter{})
	if err != nil || len(evs) != 2 || evs[0].Source != "webhook:mailgun" || evs[0].IdentifiedBy != "relay" {
		t.Fatalf("events %+v, %v", evs, err)
	}
}

// Where the bounce mailbox puts a message, by what the intake made of it.
func TestIntakeHandlerVerdicts(t *testing.T) {
	f := newBounceFixture(t)
	d := testkit.OpenDBFile(t, f.dbPath, nil)
	in, err := mailer.NewIntake(d, testkit.NewStore(t, d), mailer.IntakeOptions{BounceAddress: "bounces@example.org", Secret: secretOf(t, d)})
	if err != nil {
		t.Fatal(err)
	}
	h := intakeHandler(in)
	m := f.seen["leser0@example.net"]
	autoReply := "From: Anna <anna@example.net>\r\nTo: bounces@example.org\r\nSubject: Out of Office: KNIEPUNKT\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.net>\r\n\r\nI am away.\r\n"
	forged := strings.Replace(postfixDSN(t, "leser0@example.net", m), m.ReturnPath, "bounces+"+strings.Repeat("a", 26)+"@example.org", -1)
	for _, tc := range []struct {
		name string
		raw  string
		want mailbox.Verdict
	}{
		{"a bounce", postfixDSN(t, "leser0@example.net", m), mailbox.Processed},
		{"the same again", postfixDSN(t, "leser0@example.net", m), mailbox.Processed},
		{"an auto-reply", autoReply, mailbox.Processed},
		{"a reader's reply", readerReply, mailbox.Unrecognised},
		{"a forged tag", forged, mailbox.Unrecognised},
		{"about no subscriber", softDSN("n1", "bounces@example.org", "nobody@example.com"), mailbox.Unrecognised},
	} {
		v, err := h(context.Background(), []byte(tc.raw))
		if err != nil || v != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, v, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := h(ctx, []byte(readerReply)); v != mailbox.Retry || !errors.Is(err, mailer.ErrTemporary) {
		t.Errorf("database out of reach: %v, %v; want Retry and ErrTemporary", v, err)
	}
}

func secretOf(t *testing.T, d *db.DB) []byte {
	t.Helper()
	key, err := d.SecretKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return key
}
