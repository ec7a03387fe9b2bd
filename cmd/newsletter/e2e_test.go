package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// testMailpit is one real Mailpit process for the whole test binary:
// started by the first test that needs it, stopped by TestMain. Lazily,
// because the crash tests re-run this binary as child processes that need
// no Mailpit.
var testMailpit mailpitProc

type mailpitProc struct {
	once     sync.Once
	cmd      *exec.Cmd
	dir      string
	SMTPAddr string
	API      string // http://host:port
	skip     string // why there is none
}

func TestMain(m *testing.M) {
	code := testkit.Main(m) // and stops the test PostgreSQL, if started
	testMailpit.stop()
	os.Exit(code)
}

// findMailpit looks in the repository's bin/ (where `make run` and CI put
// it), then on PATH.
func findMailpit() string {
	if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "mailpit")); err == nil {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	return ""
}

// mailpit returns the running Mailpit, starting it on first use, or skips
// the test with the reason when it cannot run here.
func mailpit(t *testing.T) *mailpitProc {
	t.Helper()
	mp := &testMailpit
	mp.once.Do(mp.start)
	if mp.skip != "" {
		t.Skip(mp.skip)
	}
	return mp
}

func (mp *mailpitProc) start() {
	bin := findMailpit()
	if bin == "" {
		mp.skip = "Mailpit not found in ./bin/mailpit or on PATH; install it with: GOBIN=$PWD/bin go install github.com/axllent/mailpit@v1.33.1"
		return
	}
	dir, err := os.MkdirTemp("", "mailpit-e2e-")
	if err != nil {
		mp.skip = "no temp dir for Mailpit: " + err.Error()
		return
	}
	mp.dir = dir
	mp.SMTPAddr, mp.API = freeAddr(nil), "http://"+freeAddr(nil)
	mp.cmd = exec.Command(bin, "--smtp", mp.SMTPAddr, "--listen", strings.TrimPrefix(mp.API, "http://"),
		"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check")
	log, _ := os.Create(filepath.Join(dir, "mailpit.log"))
	mp.cmd.Stdout, mp.cmd.Stderr = log, log
	if err := mp.cmd.Start(); err != nil {
		mp.skip = "cannot start Mailpit: " + err.Error()
		return
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(mp.API + "/api/v1/messages")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
	}
	mp.skip = "Mailpit did not answer on " + mp.API
}

func (mp *mailpitProc) stop() {
	if mp.cmd != nil && mp.cmd.Process != nil {
		_ = mp.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = mp.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = mp.cmd.Process.Kill()
		}
	}
	if mp.dir != "" {
		os.RemoveAll(mp.dir)
	}
}

// mailpitMessage is the part of Mailpit's message JSON we read.
type mailpitMessage struct {
	ID      string
	Subject string
	To      []struct{ Address string }
	Text    string
	HTML    string
}

// waitMailpit polls Mailpit's REST API until a message to rcpt arrives
// and returns it in full.
func (mp *mailpitProc) waitFor(t *testing.T, rcpt string) mailpitMessage {
	t.Helper()
	var full mailpitMessage
	testkit.Eventually(t, "a mail for "+rcpt+" in Mailpit", func() bool {
		var list struct{ Messages []mailpitMessage }
		if err := getJSON(mp.API+"/api/v1/messages", &list); err != nil {
			t.Fatal(err)
		}
		for _, m := range list.Messages {
			for _, to := range m.To {
				if strings.EqualFold(to.Address, rcpt) {
					if err := getJSON(mp.API+"/api/v1/message/"+url.PathEscape(m.ID), &full); err != nil {
						t.Fatal(err)
					}
					return true
				}
			}
		}
		return false
	})
	return full
}

func getJSON(u string, v any) error {
	res, err := http.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// TestEndToEndMailpit subscribes through the real server, reads the
// confirmation mail from a real Mailpit through its REST API, follows the
// link and confirms.
func TestEndToEndMailpit(t *testing.T) {
	mp := mailpit(t)
	dbPath, columns := serveFolder(t)
	p := startServe(t, dbPath, columns, mp.SMTPAddr, "--lang", "en", "--list-name", "KNIEPUNKT", "--imprint", "Max Muster, Musterweg 1, 12345 Musterstadt")

	rcpt := fmt.Sprintf("e2e-%d@example.org", time.Now().UnixNano())
	code, body := httpPostForm(t, p.URL+"/subscribe", url.Values{"email": {rcpt}, "name": {"Erika"}, "lang": {"de"}})
	if code != 200 {
		t.Fatalf("subscribe: %d\n%s", code, body)
	}
	m := mp.waitFor(t, rcpt)
	if !strings.Contains(m.Subject, "KNIEPUNKT") || !strings.Contains(m.Text, "Hallo,") || strings.Contains(m.Text, "Erika") || !strings.Contains(m.Text, "Musterweg 1") {
		t.Errorf("mail: %q\n%s", m.Subject, m.Text)
	}
	link := testkit.ConfirmLink(t, m.Text)
	if !strings.HasPrefix(link, p.URL+"/confirm?token=") || !strings.Contains(m.HTML, link) {
		t.Fatalf("confirm link %q (text) not in HTML part too", link)
	}
	code, page := httpGet(t, link)
	if code != 200 || !strings.Contains(page, `<form method="post" action="/confirm">`) {
		t.Fatalf("confirm page: %d\n%s", code, page)
	}
	if st, _ := subscriberStatus(t, dbPath, rcpt); st != subscribers.StatusPending {
		t.Fatalf("after GET: %s", st)
	}
	tok := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)
	if tok == nil {
		t.Fatal("no token in the confirm form")
	}
	code, page = httpPostForm(t, p.URL+"/confirm", url.Values{"token": {tok[1]}})
	if code != 200 || !strings.Contains(page, "Willkommen") {
		t.Fatalf("confirm: %d\n%s", code, page)
	}
	st, evs := subscriberStatus(t, dbPath, rcpt)
	if st != subscribers.StatusActive {
		t.Fatalf("status %s", st)
	}
	var sent bool
	for _, e := range evs {
		sent = sent || (e.Kind == subscribers.EventConfirmationSent && strings.Contains(e.Detail, "@"))
	}
	if !sent {
		t.Errorf("no confirmation_sent evidence with a Message-ID: %+v", evs)
	}
}
