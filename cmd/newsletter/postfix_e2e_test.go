package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/mailer/bounce"
	"newsletter/subscribers"
)

// The readers of the Postfix test: two with a mailbox, one Postfix does
// not know. The list sends as kolumne@lists.test; with VERP its return
// path is bounces+TAG@lists.test.
const (
	pfAlice   = "alice@readers.test"
	pfBob     = "bob@readers.test"
	pfCarol   = "carol@readers.test" // no mailbox: accepted, then bounced
	pfFrom    = "kolumne@lists.test"
	pfBounces = "bounces@lists.test"
)

var postfixSample = flag.Bool("postfix-sample", false, "rewrite mailer/bounce/testdata/"+postfixSampleFile+" from the DSN Postfix writes in TestPostfixEndToEnd")

// postfixSampleFile is the report of TestPostfixEndToEnd kept in the
// parser's corpus: a DSN Postfix wrote, not one written after its shape.
const postfixSampleFile = "postfix_real_unknown_user.eml"

// normalisePostfixDSN replaces what differs from run to run in Postfix's
// report (dates, queue IDs, the client's host name, the VERP tag and the
// Message-ID, which are MACs under a fresh key) with fixed values, so the
// sample in the corpus does not change for nothing when it is rewritten.
func normalisePostfixDSN(raw []byte) []byte {
	s := string(raw)
	// The queue IDs, as Postfix names them in its Received lines and report.
	fixed := []string{"4C1F2A3B5D", "7E8D9C0B1A", "9A8B7C6D5E", "2B3C4D5E6F"}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:\bid|X-Postfix-Queue-ID:) ([0-9A-Za-z]{8,16})\b`).FindAllStringSubmatch(s, -1) {
		if id := m[1]; !seen[id] && len(seen) < len(fixed) {
			s = strings.ReplaceAll(s, id, fixed[len(seen)])
			seen[id] = true
		}
	}
	for _, r := range []struct{ re, with string }{
		{`(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [ 0-9]\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000`, "Mon,  2 Mar 2026 07:00:09 +0000"},
		{`\.\d{10}/mail\.lists\.test`, ".1772434809/mail.lists.test"},
		{`<\d{14}\.`, "<20260302070009."},
		{`Received: from \S+ \(unknown`, "Received: from newsletter.lists.test (unknown"},
		{`bounces\+[a-z0-9]+@`, "bounces+n7vq2kdx4mz6r3wl5hbyc7tpaf@"},
		{`<c31\.[a-z0-9]+@`, "<c31.3kq7ym2vd5xw4hnbt6rpazlc@"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return []byte(s)
}

// postfixFixture is a list of three readers that sends through a private
// Postfix (testkit.StartPostfix).
type postfixFixture struct {
	*bounceFixture // its cmd runs the program with vars
	pf             *testkit.Postfix
}

func newPostfixFixture(t *testing.T) *postfixFixture {
	t.Helper()
	pf := testkit.StartPostfix(t, pfAlice, pfBob, pfFrom, pfBounces)
	f := &postfixFixture{bounceFixture: &bounceFixture{sendFixture: newSendFixture(t, 0)}, pf: pf}
	d := testkit.OpenDBFile(t, f.dbPath, nil)
	csv := "email,name,status,lang\n" + pfAlice + ",Alice,active,de\n" + pfBob + ",Bob,active,de\n" + pfCarol + ",Carol,active,de\n"
	res, err := testkit.NewStore(t, d).Import(context.Background(), strings.NewReader(csv),
		subscribers.ImportOptions{Source: "testkit", ConsentNote: "seeded by a test"}, nil)
	if err != nil || res.Added != 3 {
		t.Fatalf("import readers: %+v, %v", res, err)
	}
	d.Close()
	f.vars = f.env()
	f.vars["NEWSLETTER_SMTP_ADDR"] = pf.SMTPAddr
	f.vars["NEWSLETTER_FROM"] = "Kniepunkt <" + pfFrom + ">"
	f.vars["NEWSLETTER_BOUNCE_ADDRESS"] = pfBounces
	return f
}

// send sends the next column and checks the summary.
func (f *postfixFixture) send(t *testing.T, sent int) {
	t.Helper()
	out, errOut, code := f.cmd(t, "", "send")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("sent                %d\n", sent)) ||
		!strings.Contains(out, "failed              0\n") {
		t.Fatalf("send: exit %d, want %d sent\n%s%s", code, sent, out, errOut)
	}
}

// columns lists the column numbers of the mails in a mailbox, as their
// Message-IDs (cNUMBER.MAC@domain) name them.
func (f *postfixFixture) columns(t *testing.T, mailbox string) []string {
	t.Helper()
	var cols []string
	for _, m := range f.pf.Messages(t, mailbox) {
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(m))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("mail in %s: %v", mailbox, err)
		}
		id := strings.Trim(h.Get("Message-Id"), "<>")
		col, _, _ := strings.Cut(id, ".")
		cols = append(cols, col)
	}
	return cols
}

// waitDSN waits for Postfix's one report: in the bounce mailbox when the
// mail went out with a VERP return path, else in the From mailbox.
func (f *postfixFixture) waitDSN(t *testing.T) []byte {
	t.Helper()
	testkit.Eventually(t, "Postfix's DSN", func() bool {
		return len(f.pf.Messages(t, pfBounces))+len(f.pf.Messages(t, pfFrom)) > 0
	})
	testkit.Eventually(t, "Postfix's queue to empty", func() bool { return f.pf.QueueEmpty(t) })
	all := append(f.pf.Messages(t, pfBounces), f.pf.Messages(t, pfFrom)...)
	if len(all) != 1 {
		t.Fatalf("%d reports, want 1; Postfix log:\n%s", len(all), f.pf.Log())
	}
	return all[0]
}

// A campaign through a real Postfix: Postfix accepts all three readers,
// delivers two, and writes its own DSN for the third to the list's return
// path. The DSN is what Postfix wrote, read from its Maildir.
func TestPostfixEndToEnd(t *testing.T) {
	f := newPostfixFixture(t)
	f.send(t, 3) // Postfix said 250 for all three, the unknown reader too

	for _, rcpt := range []string{pfAlice, pfBob} {
		f.pf.WaitMessages(t, rcpt, 1)
	}
	raw := f.waitDSN(t)
	for _, rcpt := range []string{pfAlice, pfBob} {
		if got := f.columns(t, rcpt); !slices.Equal(got, []string{"c31"}) {
			t.Fatalf("%s got %v, want column 031 once", rcpt, got)
		}
	}

	if *postfixSample {
		path := filepath.Join("..", "..", "mailer", "bounce", "testdata", postfixSampleFile)
		if err := os.WriteFile(path, normalisePostfixDSN(raw), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}

	// (a) The parser reads Postfix's own report as a hard bounce.
	rep, err := bounce.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range rep.Events {
		events = append(events, e.String())
	}
	if want := []string{"hard 5.1.1 " + pfCarol}; !slices.Equal(events, want) || rep.Format != "rfc3464" {
		t.Fatalf("Postfix's DSN read as %s %q, want rfc3464 %q:\n%s", rep.Format, events, want, raw)
	}
	if !strings.HasPrefix(rep.OriginalMessageID, "c31.") {
		t.Errorf("returned Message-ID %q is not column 031's", rep.OriginalMessageID)
	}

	// (b) Taken in by `bounces ingest`, the next column skips the reader.
	if !slices.ContainsFunc(rep.DeliveredTo, func(to string) bool {
		return strings.HasPrefix(to, "bounces+") && strings.HasSuffix(to, "@lists.test")
	}) {
		t.Fatalf("with --bounce-address the DSN went to %q, not to a VERP address bounces+TAG@lists.test", rep.DeliveredTo)
	}
	// The Maildir copy has the headers Postfix's pipe(8) adds with flags
	// DOR (Delivered-To, X-Original-To, Return-Path): piped as it is.
	out, errOut, code := f.cmd(t, string(raw), "bounces", "ingest")
	if code != 0 || out != "hard 5.1.1 "+pfCarol+" verp: bounced\n" {
		t.Fatalf("bounces ingest: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = f.cmd(t, string(raw), "bounces", "ingest")
	if code != 0 || !strings.Contains(out, "repeat, taken in before (bounced)") {
		t.Fatalf("ingest again: exit %d %q", code, out)
	}
	if out, _, _ := f.cmd(t, "", "subscribers", "show", pfCarol); !strings.Contains(out, "Status:        bounced") {
		t.Fatalf("%s is not bounced:\n%s", pfCarol, out)
	}

	f.writeColumn(t, 32, "Kalte Luft", "")
	f.send(t, 2)
	for _, rcpt := range []string{pfAlice, pfBob} {
		f.pf.WaitMessages(t, rcpt, 2)
	}
	testkit.Eventually(t, "Postfix's queue to empty", func() bool { return f.pf.QueueEmpty(t) })
	for _, rcpt := range []string{pfAlice, pfBob} {
		if got := f.columns(t, rcpt); !slices.Equal(got, []string{"c31", "c32"}) {
			t.Errorf("%s got %v, want columns 031 and 032 once each", rcpt, got)
		}
	}
	if n := len(f.pf.Messages(t, pfBounces)); n != 1 {
		t.Errorf("%d reports after column 032, want still 1: it went to %s again", n, pfCarol)
	}
}
