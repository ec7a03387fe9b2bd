package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"newsletter/db"
	"newsletter/internal/testkit"
)

// welcomesFor counts the welcome mails queued for email, by state.
func welcomesFor(t testing.TB, dbPath, email string) map[string]int {
	t.Helper()
	d := testkit.OpenDBFile(t, dbPath, nil)
	defer d.Close()
	sub, err := testkit.NewStore(t, d).FindByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.OutboxStates(t, d, sub.ID, db.OutboxKindWelcome)
}

// runCmd runs one command of the program and fails the test unless it
// exits 0.
func runCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, errs, code := runWith(nil, "", args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// subscribeAndConfirm subscribes email through the form, confirms with the
// link from the confirmation mail, replays the confirmation, and returns
// the confirmation mail.
func subscribeAndConfirm(t *testing.T, p *serveProc, smtpSrv *testkit.SMTPServer, email string) []byte {
	t.Helper()
	if code, body := httpPostForm(t, p.URL+"/subscribe", url.Values{"email": {email}, "name": {"Neu"}}); code != 200 {
		t.Fatalf("subscribe: %d\n%s", code, body)
	}
	confirmation := smtpSrv.WaitMail(t, email).Data
	u, err := url.Parse(testkit.ConfirmLink(t, testkit.MailText(t, confirmation)))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is a replay: harmless, and no second welcome
		if code, body := httpPostForm(t, p.URL+"/confirm", url.Values{"token": {u.Query().Get("token")}}); code != 200 {
			t.Fatalf("confirm: %d\n%s", code, body)
		}
	}
	return confirmation
}

// TestServeWelcomeMail runs the reader's first day through serve: a column
// goes out, a new reader subscribes and confirms (twice), and the outbox
// sends the confirmation and then one welcome.
func TestServeWelcomeMail(t *testing.T) {
	for _, mode := range []string{"latest", "note", "off"} {
		t.Run(mode, func(t *testing.T) {
			smtpSrv := testkit.StartSMTP(t)
			dbPath, columns := serveFolder(t)
			text := "KNIEPUNKT 030: Heiße KI-Luft\n\nIm Silicon Valley wird derzeit viel heiße Luft produziert.\n\nZum Weiterlesen:\nQuelle: https://example.com/30\n"
			if err := os.WriteFile(filepath.Join(columns, "030.txt"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			common := []string{"--db", dbPath, "--columns", columns, "--timezone", "UTC"}
			runCmd(t, append([]string{"subscribers", "add", "alt@example.org", "--name", "Alt", "--confirmed", "--consent-note", "Papier"}, common...)...)

			p := startServe(t, dbPath, columns, smtpSrv.Addr, "--welcome", mode)
			// The column as subscribers got it, sent with serve's --base-url.
			runCmd(t, append([]string{"send", "--smtp-addr", smtpSrv.Addr, "--smtp-tls", "off", "--from", "KNIEPUNKT <kolumne@example.org>",
				"--base-url", p.URL}, common...)...)
			column := testkit.ReadMail(t, smtpSrv.WaitMail(t, "alt@example.org").Data)

			const email = "neu@example.org"
			confirmation := subscribeAndConfirm(t, p, smtpSrv, email)
			if h := testkit.ParseMail(t, confirmation).Header; h.Get("List-Unsubscribe") != "" {
				t.Error("the confirmation mail carries List-Unsubscribe")
			}
			if mode == "off" {
				// Nothing is queued, so nothing can come later.
				if got := welcomesFor(t, dbPath, email); len(got) != 0 {
					t.Fatalf("--welcome off queued %v", got)
				}
				return
			}
			welcome := testkit.ReadMail(t, smtpSrv.WaitMails(t, email, 2)[1].Data)
			// The server has the mail; its record follows a moment later.
			testkit.Eventually(t, "the welcome recorded as sent", func() bool { return welcomesFor(t, dbPath, email)["sent"] == 1 })
			if ws := welcomesFor(t, dbPath, email); len(ws) != 1 || ws["sent"] != 1 {
				t.Errorf("welcome mails in the outbox: %v, want one, sent", ws)
			}

			unsub := strings.Trim(welcome.Header.Get("List-Unsubscribe"), "<>")
			if !strings.HasPrefix(unsub, p.URL+"/unsubscribe?token=") || unsub == strings.Trim(column.Header.Get("List-Unsubscribe"), "<>") {
				t.Fatalf("List-Unsubscribe %q: want the new reader's own link", unsub)
			}
			if welcome.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" ||
				welcome.Header.Get("List-Id") == "" || welcome.Header.Get("List-Id") != column.Header.Get("List-Id") {
				t.Errorf("welcome list headers: %v", welcome.Header)
			}
			for _, part := range []string{welcome.Text, welcome.HTML} {
				if !strings.Contains(part, unsub) || !strings.Contains(part, "Hallo Neu,") || !strings.Contains(part, p.URL+"/archive") {
					t.Errorf("welcome part lacks the greeting, the archive or the reader's unsubscribe link:\n%s", part)
				}
			}

			// The column in it is the mail subscribers got, with this
			// reader's own links.
			oldUnsub := strings.Trim(column.Header.Get("List-Unsubscribe"), "<>")
			personal := strings.NewReplacer(oldUnsub, unsub, "alt@example.org", email)
			colText := personal.Replace(column.Text)
			colHTML := column.HTML[strings.Index(column.HTML, `<div class="mail-preheader"`):]
			colHTML = personal.Replace(colHTML)
			switch mode {
			case "latest":
				if welcome.Subject != "Willkommen bei KNIEPUNKT – zum Einstieg: Heiße KI-Luft" {
					t.Errorf("subject %q", welcome.Subject)
				}
				if !strings.HasSuffix(welcome.Text, colText) || !strings.HasSuffix(welcome.HTML, colHTML) {
					t.Errorf("welcome does not end with the column as subscribers got it:\n%s", welcome.Text)
				}
				if !strings.Contains(welcome.Text, "Im Silicon Valley wird derzeit viel heiße Luft produziert.") {
					t.Error("the column's text is missing")
				}
			case "note":
				if welcome.Subject != "Willkommen bei KNIEPUNKT" || strings.Contains(welcome.Text, "Silicon Valley") {
					t.Errorf("note: subject %q, text:\n%s", welcome.Subject, welcome.Text)
				}
			}

			// The link works: one click unsubscribes.
			if code, body := httpPostForm(t, unsub, url.Values{"List-Unsubscribe": {"One-Click"}}); code != 200 {
				t.Errorf("one-click unsubscribe from the welcome: %d\n%s", code, body)
			}
			n := 0
			for _, m := range smtpSrv.Messages() {
				if m.To == email {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d mails for the new reader, want the confirmation and one welcome", n)
			}
		})
	}
}

// TestServeArchiveFeed reads /archive.atom of a running serve with a feed
// parser: the sent column, with its article, and nothing unsent.
func TestServeArchiveFeed(t *testing.T) {
	smtpSrv := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	for n, title := range map[string]string{"029": "Vorher", "030": "Heiße KI-Luft"} {
		text := "---\ndate: 2026-03-02\n---\nKNIEPUNKT " + n + ": " + title + "\n\nAbsatz von " + n + " & <mehr>.\n"
		if err := os.WriteFile(filepath.Join(columns, n+".txt"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"--db", dbPath, "--columns", columns, "--timezone", "UTC"}
	runCmd(t, append([]string{"subscribers", "add", "alt@example.org", "--confirmed", "--consent-note", "Papier"}, common...)...)
	runCmd(t, append([]string{"send", "--column", "29", "--smtp-addr", smtpSrv.Addr, "--smtp-tls", "off", "--from", "K <k@example.org>"}, common...)...)
	p := startServe(t, dbPath, columns, smtpSrv.Addr)

	code, body := httpGet(t, p.URL+"/archive.atom")
	if code != 200 {
		t.Fatalf("feed: %d\n%s", code, body)
	}
	feed, err := gofeed.NewParser().ParseString(body)
	if err != nil {
		t.Fatalf("gofeed: %v\n%s", err, body)
	}
	if len(feed.Items) != 1 {
		t.Fatalf("%d entries, want only the sent column:\n%s", len(feed.Items), body)
	}
	it := feed.Items[0]
	if it.Title != "KNIEPUNKT 029: Vorher" || it.Link != p.URL+"/archive/29" ||
		it.PublishedParsed == nil || !it.PublishedParsed.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) ||
		!strings.Contains(it.Content, "Absatz von 029 &amp; &lt;mehr&gt;.") {
		t.Errorf("entry: %q %q %v\n%s", it.Title, it.Link, it.PublishedParsed, it.Content)
	}
	// The page the entry links to shows the same article.
	if code, page := httpGet(t, it.Link); code != 200 || !strings.Contains(page, "Absatz von 029 &amp; &lt;mehr&gt;.") {
		t.Errorf("archive page %d:\n%s", code, page)
	}
}

// TestServeRefusesBrokenWelcomeOverride: a broken welcome template stops
// serve at start, naming the file, not at the first confirmation.
func TestServeRefusesBrokenWelcomeOverride(t *testing.T) {
	dbPath, columns := serveFolder(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "welcome", "en.html")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{{define "greeting"}}{{.Nope}}{{end}}<p>{{template "greeting" .}}</p>`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "serve", "--db", dbPath, "--columns", columns, "--listen", freeAddr(t), "--templates", dir},
		func(string) string { return "" }, strings.NewReader(""), &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), bad) {
		t.Errorf("exit %d, stderr %q; want 1 naming %s", code, errs.String(), bad)
	}
}

// A setting the delivery side needs (here the DKIM key) stops serve before
// it listens: no "serving" line, no port opened and closed in a restart
// loop.
func TestServeChecksDeliveryBeforeListening(t *testing.T) {
	dbPath, columns := serveFolder(t)
	missing := filepath.Join(t.TempDir(), "dkim.pem")
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "serve", "--db", dbPath, "--columns", columns, "--listen", freeAddr(t),
		"--dkim-selector", "s1", "--dkim-key", missing},
		func(string) string { return "" }, strings.NewReader(""), &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), missing) || strings.Contains(errs.String(), "msg=serving") {
		t.Errorf("exit %d, stderr %q; want 1 naming %s before serving", code, errs.String(), missing)
	}
}
