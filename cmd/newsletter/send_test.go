package main

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"newsletter/columns"
	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
)

// run runs the CLI with the fixture's configuration.
func (f *sendFixture) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runWith(f.env(), "", args...)
}

func TestSendCommand(t *testing.T) {
	f := newSendFixture(t, 12)

	out, errOut, code := f.run(t, "send", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: code %d\n%s%s", code, out, errOut)
	}
	// The column, then every address that would get it, then the count.
	var want strings.Builder
	want.WriteString(`Would send column 031 "KNIEPUNKT 031: Heiße KI-Luft" (` + filepath.Join(f.columns, "031-kolumne.txt") + ") to:\n")
	for i := range 12 {
		fmt.Fprintf(&want, "  leser%d@example.net\n", i)
	}
	want.WriteString("Column 031 would go to 12 active subscribers.\n")
	if out != want.String() {
		t.Fatalf("dry run:\n%s\nwant:\n%s", out, want.String())
	}
	if f.srv.Count() != 0 {
		t.Fatal("dry run sent mail")
	}

	out, errOut, code = f.run(t, "send", "--to", "probe@example.com")
	if code != 0 || !strings.Contains(out, "Test copy of column 031") || f.srv.Count() != 1 {
		t.Fatalf("test copy: code %d, %d messages\n%s%s", code, f.srv.Count(), out, errOut)
	}
	if got := f.srv.Messages()[0].To; got != "probe@example.com" {
		t.Fatalf("test copy went to %s", got)
	}
	msg := testkit.ParseMail(t, f.srv.Messages()[0].Data)
	if subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); !strings.HasPrefix(subj, "[Test] KNIEPUNKT 031") {
		t.Errorf("test copy subject %q is not marked", subj)
	}

	out, errOut, code = f.run(t, "send")
	if code != 0 {
		t.Fatalf("send: code %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Column 031", "sent                12", "failed              0", "skipped             0", "msgs/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if f.srv.Count() != 13 {
		t.Fatalf("%d messages, want 12 + the test copy", f.srv.Count())
	}

	// Once sent, never again.
	out, errOut, code = f.run(t, "send", "--column", "31")
	if code != 1 || !strings.Contains(errOut, "column 031: column was already sent") {
		t.Fatalf("resend: code %d\n%s%s", code, out, errOut)
	}
	out, _, code = f.run(t, "send")
	if code != 0 || !strings.Contains(out, "Nothing to send") {
		t.Fatalf("second send: code %d\n%s", code, out)
	}
	if f.srv.Count() != 13 {
		t.Fatal("a second send mailed again")
	}
}

func TestSendLeavesRetriesToServe(t *testing.T) {
	f := newSendFixture(t, 3)
	f.srv.Rcpt = func(rcpt string, attempt int) error {
		if rcpt == "leser1@example.net" {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}
	env := f.env()
	env["NEWSLETTER_RETRY_BACKOFF"] = "1h"
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "send"}, func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "1 deliveries of column 031 wait for retry") ||
		!strings.Contains(errb.String(), "serve") {
		t.Fatalf("code %d\n%s%s", code, out.String(), errb.String())
	}
	if strings.Count(errb.String(), "newsletter: ") != 1 {
		t.Errorf("want one error line:\n%s", errb.String())
	}
	if !strings.Contains(out.String(), "pending             1 (1 waiting for retry)") {
		t.Errorf("summary:\n%s", out.String())
	}
}

func TestSendColumnNotDueOrMissing(t *testing.T) {
	f := newSendFixture(t, 1)
	f.writeColumn(t, 32, "Zukunft", "2999-01-01")
	_, errOut, code := f.run(t, "send", "--column", "32")
	if code != 1 || !strings.Contains(errOut, "not due yet") {
		t.Fatalf("code %d: %s", code, errOut)
	}
	_, errOut, code = f.run(t, "send", "--column", "77")
	if code != 1 || !strings.Contains(errOut, "no such column") {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if f.srv.Count() != 0 {
		t.Fatal("mail sent")
	}
}

func TestSendServerUnreachable(t *testing.T) {
	f := newSendFixture(t, 40)
	f.srv.Stop()
	env := f.env()
	env["NEWSLETTER_WAIT"] = "300ms"
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "send"}, func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errb)
	stderr := errb.String()
	if code != 1 || !strings.Contains(stderr, "newsletter: SMTP server "+f.srv.Addr+" unreachable since") ||
		!strings.Contains(stderr, "40 deliveries of column 031 wait, charged no attempt") || !strings.Contains(stderr, "serve") {
		t.Fatalf("code %d\n%s%s", code, out.String(), stderr)
	}
	if strings.Count(stderr, "newsletter: ") != 1 {
		t.Errorf("want one error line:\n%s", stderr)
	}
	// One warning about the outage, not one per delivery.
	if n := strings.Count(stderr, "level=WARN"); n < 1 || n > 4 {
		t.Errorf("%d warnings:\n%s", n, stderr)
	}
	if !strings.Contains(out.String(), "pending             40 (0 waiting for retry)") {
		t.Errorf("summary:\n%s", out.String())
	}

	// Back up: the next send delivers everything, once.
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := f.run(t, "send")
	if code != 0 || !strings.Contains(stdout, "sent                40") {
		t.Fatalf("code %d\n%s%s", code, stdout, stderr)
	}
	for rcpt, msgs := range f.srv.ByRecipient() {
		if len(msgs) != 1 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
}

func TestSendRefusedLoginFailsFast(t *testing.T) {
	f := newSendFixture(t, 3)
	f.srv.RefuseAuth = true
	env := f.env()
	env["NEWSLETTER_SMTP_USER"] = "kolumne"
	env["NEWSLETTER_SMTP_PASSWORD"] = "s3cret-pass"
	env["NEWSLETTER_WAIT"] = "1h" // must not be waited for
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "send"}, func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errb)
	stderr := errb.String()
	if code != 1 || !strings.Contains(stderr, "newsletter: connect to SMTP server "+f.srv.Addr) || !strings.Contains(stderr, "535") {
		t.Fatalf("code %d\n%s%s", code, out.String(), stderr)
	}
	if strings.Count(stderr, "newsletter: ") != 1 || strings.Contains(stderr+out.String(), "s3cret-pass") {
		t.Errorf("want one error line without the password:\n%s", stderr)
	}
	if f.srv.Count() != 0 || !strings.Contains(out.String(), "pending             3 (0 waiting for retry)") {
		t.Errorf("summary:\n%s", out.String())
	}
}

func TestSendDryRunSingularAndResume(t *testing.T) {
	f := newSendFixture(t, 1)
	out, errOut, code := f.run(t, "send", "--dry-run", "--column", "31")
	if code != 0 || !strings.Contains(out, "  leser0@example.net\n") || !strings.HasSuffix(out, "Column 031 would go to 1 active subscriber.\n") {
		t.Fatalf("code %d\n%s%s", code, out, errOut)
	}

	// A campaign left unfinished: the dry run lists who still gets it.
	f = newSendFixture(t, 3)
	f.srv.Rcpt = func(rcpt string, attempt int) error {
		if rcpt != "leser0@example.net" {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}
	env := f.env()
	env["NEWSLETTER_RETRY_BACKOFF"] = "1h"
	var sendOut, sendErr bytes.Buffer
	if code := run(context.Background(), []string{"newsletter", "send"}, func(k string) string { return env[k] },
		strings.NewReader(""), &sendOut, &sendErr); code != 1 {
		t.Fatalf("send: code %d\n%s%s", code, sendOut.String(), sendErr.String())
	}
	out, errOut, code = f.run(t, "send", "--dry-run")
	if code != 0 || !strings.Contains(out, `Would resume column 031 "KNIEPUNKT 031: Heiße KI-Luft"`) ||
		!strings.Contains(out, "2 of 3 deliveries pending (2 waiting for retry), 1 sent") ||
		strings.Contains(out, "leser0@") || !strings.Contains(out, "  leser1@example.net\n  leser2@example.net\n") ||
		!strings.HasSuffix(out, "Column 031 would go to 2 more active subscribers.\n") {
		t.Fatalf("code %d\n%s%s", code, out, errOut)
	}
}

// TestSendDryRunManySubscribers streams a list longer than one page of the
// walk, in order, each address once.
func TestSendDryRunManySubscribers(t *testing.T) {
	const n = 2500
	f := newSendFixture(t, 0)
	d := testkit.OpenDBFile(t, f.dbPath, nil)
	testkit.ImportSubscribers(t, testkit.NewStore(t, d), "l", n, subscribers.StatusActive)
	d.Close()
	out, errOut, code := f.run(t, "send", "--dry-run")
	if code != 0 || !strings.HasSuffix(out, fmt.Sprintf("Column 031 would go to %d active subscribers.\n", n)) {
		t.Fatalf("code %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n+2 {
		t.Fatalf("%d lines, want %d", len(lines), n+2)
	}
	for i, l := range lines[1 : n+1] {
		if want := fmt.Sprintf("  l%d@example.net", i); l != want {
			t.Fatalf("line %d = %q, want %q", i+1, l, want)
		}
	}
}

func TestSendPlainLoginToLoopbackServer(t *testing.T) {
	f := newSendFixture(t, 3)
	f.srv.AuthUser, f.srv.AuthPassword = "kolumne", "s3cret-pass"
	env := f.env()
	env["NEWSLETTER_SMTP_USER"] = "kolumne"
	env["NEWSLETTER_SMTP_PASSWORD"] = "s3cret-pass"
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "send"}, func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errb)
	if code != 0 || f.srv.Count() != 3 || f.srv.Logins() < 1 {
		t.Fatalf("code %d, %d messages, %d logins\n%s%s", code, f.srv.Count(), f.srv.Logins(), out.String(), errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "s3cret-pass") {
		t.Fatal("password in output")
	}
}

// An SMTP reply comes from outside: the summary prints it escaped, as every
// other text from outside (see esc), and so does `columns` a feed link.
func TestOutsideTextIsEscaped(t *testing.T) {
	var b bytes.Buffer
	printSummary(&b, &mailer.RunResult{
		Campaign: &mailer.Campaign{Number: 31, Subject: "KNIEPUNKT 031: Neu"},
		Failures: []mailer.ReplyCount{{Reply: "550 5.7.1 \x1b[2J\u202eno", Count: 1}},
	})
	if !strings.Contains(b.String(), `550 5.7.1 \x1b[2J\u202eno`) {
		t.Errorf("summary:\n%s", b.String())
	}
	if got := originText(&columns.Column{Origin: "https://blog.example.org/\x1b[2J\u202e"}); got != `blog.example.org/\x1b[2J\u202e` {
		t.Errorf("originText = %q", got)
	}
}
