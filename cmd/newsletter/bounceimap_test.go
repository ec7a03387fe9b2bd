package main

import (
	"context"
	"strings"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/mailer/mailbox"
	"newsletter/subscribers"
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
// sub-folders, takes each message in through the intake, moves a report
// to Processed and what is no report to Unrecognised, never deletes, and
// never logs the password.
func TestServePollsTheBounceMailbox(t *testing.T) {
	imapSrv := testkit.StartIMAP(t, nil)
	report := []byte("From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <r1@mx.example.net>\r\n\r\n<anna@example.net>: user unknown\r\n")
	reply := []byte("From: Anna <anna@example.net>\r\nTo: bounces@example.org\r\nSubject: Re: KNIEPUNKT\r\nMessage-ID: <reply-1@example.net>\r\n\r\nDanke!\r\n")
	imapSrv.Append(t, "INBOX", report)
	imapSrv.Append(t, "INBOX", reply)
	smtp := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	d := testkit.OpenDBFile(t, dbPath, nil)
	st := testkit.NewStore(t, d)
	if _, err := st.Add(context.Background(), subscribers.AddParams{Email: "anna@example.net", Confirmed: true, ConsentNote: "Papier"}); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, dbPath, columns, smtp.Addr,
		"--bounce-imap", "imap://"+imapSrv.User+"@"+imapSrv.Addr+"/INBOX",
		"--bounce-imap-password", imapSrv.Password, "--bounce-poll", "50ms")
	testkit.Eventually(t, "the messages moved", func() bool {
		c := imapSrv.Contents(t)
		return len(c["INBOX"]) == 0 && len(c["INBOX/Processed"]) == 1 && len(c["INBOX/Unrecognised"]) == 1
	})
	p.stop(t)
	c := imapSrv.Contents(t)
	if string(c["INBOX/Processed"][0].Raw) != string(report) || string(c["INBOX/Unrecognised"][0].Raw) != string(reply) {
		t.Errorf("moved to the wrong folders: %v", c)
	}
	evs, err := st.BounceEvents(context.Background(), subscribers.BounceFilter{})
	if err != nil || len(evs) != 1 || evs[0].Address != "anna@example.net" || evs[0].Source != "imap" || evs[0].IdentifiedBy != "final-recipient" {
		t.Errorf("events %+v, %v", evs, err)
	}
	logs := p.errs.String() + p.out.String()
	if !strings.Contains(logs, "polling the bounce mailbox") {
		t.Errorf("the log:\n%s", logs)
	}
	if strings.Contains(logs, imapSrv.Password) {
		t.Errorf("the log shows the password:\n%s", logs)
	}
}
