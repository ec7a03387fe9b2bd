package main

import (
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/mailer/mailbox"
)

const testIMAPPassword = "imap-secret-4d2b9e"

// The URL forms --bounce-imap takes, and what each means.
func TestParseBounceIMAP(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want mailbox.Config
	}{
		{"imaps://bounces@imap.example.org/INBOX", mailbox.Config{Addr: "imap.example.org:993", Implicit: true, User: "bounces", Folder: "INBOX"}},
		{"imaps://bounces@example.org@imap.example.org/INBOX", mailbox.Config{Addr: "imap.example.org:993", Implicit: true, User: "bounces@example.org", Folder: "INBOX"}},
		{"imaps://bounces%40example.org@imap.example.org:9993/Bounces/Relay/", mailbox.Config{Addr: "imap.example.org:9993", Implicit: true, User: "bounces@example.org", Folder: "Bounces/Relay"}},
		{"imap://news@mail.example.org/INBOX.bounces", mailbox.Config{Addr: "mail.example.org:143", User: "news", Folder: "INBOX.bounces"}},
		{"imap://news@[::1]:1143/R%C3%BCckl%C3%A4ufer", mailbox.Config{Addr: "[::1]:1143", User: "news", Folder: "Rückläufer"}},
	} {
		got, err := parseBounceIMAP(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if *got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.url, *got, tc.want)
		}
	}
}

// Bad settings are refused before serve starts, with an error that names
// the flag and never quotes the password.
func TestBounceIMAPSettingErrors(t *testing.T) {
	c := newCLI(t)
	pw := []string{"--bounce-imap-password", testIMAPPassword}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bounce-imap", "imaps://bounces@imap.example.org/INBOX"}, "--bounce-imap needs --bounce-imap-password"},
		{pw, "--bounce-imap-password needs --bounce-imap"},
		{append([]string{"--bounce-imap", "imaps://bounces:" + testIMAPPassword + "@imap.example.org/INBOX"}, pw...), "the URL holds a password"},
		{append([]string{"--bounce-imap", "pop3://bounces@mail.example.org/INBOX"}, pw...), "want imaps:// (TLS) or imap:// (STARTTLS)"},
		{append([]string{"--bounce-imap", "imaps://imap.example.org/INBOX"}, pw...), "names no user"},
		{append([]string{"--bounce-imap", "imaps://bounces@/INBOX"}, pw...), "names no server"},
		{append([]string{"--bounce-imap", "imaps://bounces@imap.example.org"}, pw...), "names no folder"},
		{append([]string{"--bounce-imap", "imaps://bounces@imap.example.org:99999/INBOX"}, pw...), "port"},
		{append([]string{"--bounce-imap", "imaps://bounces@imap.example.org/INBOX;UIDVALIDITY=3"}, pw...), "no ?, # or ;parameters"},
		{append([]string{"--bounce-imap", "imaps://bounces@imap.example.org/INBOX?x=1"}, pw...), "no ?, # or ;parameters"},
		{append([]string{"--bounce-imap", "imaps://bounces:" + testIMAPPassword + "@imap.example.org:bad/%zz"}, pw...), "not a URL like"},
		{[]string{"--bounce-poll", "0s"}, "--bounce-poll: must be positive"},
	} {
		_, errOut, code := c.run("", append([]string{"serve"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "newsletter: ") != 1 {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, testIMAPPassword) {
			t.Errorf("%q: the error quotes the password: %q", tc.args, errOut)
		}
	}
	// The password also comes from the environment, and is never shown.
	c.env["NEWSLETTER_BOUNCE_IMAP_PASSWORD"] = testIMAPPassword
	help, _, code := c.run("", "serve", "--help")
	if code != 0 || strings.Contains(help, testIMAPPassword) || !strings.Contains(help, "--bounce-imap URL") || !strings.Contains(help, "--bounce-poll duration") {
		t.Errorf("serve --help (exit %d):\n%s", code, help)
	}
	_, errOut, code := c.run("", "serve", "--bounce-imap", "imaps://bounces@imap.example.org/INBOX", "--welcome", "never")
	if code != 2 || !strings.Contains(errOut, "--welcome") {
		t.Errorf("password from the environment not taken: exit %d, %q", code, errOut)
	}
}

// serve polls the bounce mailbox in the background: it creates the two
// sub-folders, leaves every message in place until the intake is wired,
// says so, and never logs the password.
func TestServePollsTheBounceMailbox(t *testing.T) {
	imapSrv := testkit.StartIMAP(t, nil)
	report := []byte("From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n<anna@example.net>: user unknown\r\n")
	imapSrv.Append(t, "INBOX", report)
	smtp := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	p := startServe(t, dbPath, columns, smtp.Addr,
		"--bounce-imap", "imap://"+imapSrv.User+"@"+imapSrv.Addr+"/INBOX",
		"--bounce-imap-password", imapSrv.Password, "--bounce-poll", "50ms")
	testkit.Eventually(t, "the sub-folders", func() bool {
		c := imapSrv.Contents(t)
		_, processed := c["INBOX/Processed"]
		_, unrecognised := c["INBOX/Unrecognised"]
		return processed && unrecognised
	})
	testkit.Eventually(t, "the placeholder's word", func() bool {
		return strings.Contains(p.errs.String(), "bounce intake not built yet")
	})
	time.Sleep(150 * time.Millisecond) // a few more polls
	p.stop(t)
	if c := imapSrv.Contents(t); len(c["INBOX"]) != 1 || string(c["INBOX"][0].Raw) != string(report) {
		t.Errorf("the report did not stay in INBOX: %v", c)
	}
	logs := p.errs.String() + p.out.String()
	if strings.Count(logs, "bounce intake not built yet") != 1 || !strings.Contains(logs, "polling the bounce mailbox") {
		t.Errorf("the log:\n%s", logs)
	}
	if strings.Contains(logs, imapSrv.Password) {
		t.Errorf("the log shows the password:\n%s", logs)
	}
}
