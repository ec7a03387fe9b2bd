package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// serveProc is `newsletter serve` running through run, as main runs it.
type serveProc struct {
	URL, DBPath, Columns string
	out, errs            *testkit.SyncBuffer
	cancel               context.CancelFunc
	done                 chan int
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serveFolder prepares a database path and a columns folder in a temp dir.
func serveFolder(t testing.TB) (dbPath, columns string) {
	t.Helper()
	dir := t.TempDir()
	columns = filepath.Join(dir, "columns")
	if err := os.Mkdir(columns, 0o755); err != nil {
		t.Fatal(err)
	}
	return testkit.NewDBName(t), columns // a file, or a PostgreSQL URL
}

// startServe runs serve on a free port against smtpAddr and waits until
// /healthz answers. The test's cleanup stops it like SIGINT and checks it
// exits 0.
func startServe(t testing.TB, dbPath, columns, smtpAddr string, extra ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	p := &serveProc{URL: "http://" + addr, DBPath: dbPath, Columns: columns, out: &testkit.SyncBuffer{}, errs: &testkit.SyncBuffer{}, done: make(chan int, 1)}
	args := append([]string{"newsletter", "serve", "--db", dbPath, "--columns", columns, "--listen", addr, "--base-url", p.URL,
		"--smtp-addr", smtpAddr, "--smtp-tls", "off", "--from", "KNIEPUNKT <kolumne@example.org>", "--timezone", "UTC"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		p.done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), p.out, p.errs)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(p.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-p.done:
			t.Fatalf("serve exited with %d before it answered:\n%s", code, p.errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz:\n%s", p.errs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop cancels the context as SIGINT does and expects exit status 0.
func (p *serveProc) stop(t testing.TB) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case code := <-p.done:
		if code != 0 {
			t.Errorf("serve exited with %d:\n%s", code, p.errs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop after cancel:\n%s", p.errs.String())
	}
}

func httpGet(t testing.TB, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func httpPostForm(t testing.TB, u string, v url.Values) (int, string) {
	t.Helper()
	res, err := http.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// subscriberStatus reads a subscriber's state and evidence through the
// store (WAL lets a second connection read while serve runs).
func subscriberStatus(t testing.TB, dbPath, email string) (subscribers.Status, []subscribers.Event) {
	t.Helper()
	ctx := context.Background()
	d := testkit.OpenDBFile(t, dbPath, nil)
	defer d.Close()
	st := testkit.NewStore(t, d)
	sub, err := st.FindByEmail(ctx, email)
	if err != nil {
		t.Fatalf("find %s: %v", email, err)
	}
	evs, err := st.Events(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Status, evs
}

func TestServeSubscribeConfirmAndShutdown(t *testing.T) {
	smtpSrv := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	p := startServe(t, dbPath, columns, smtpSrv.Addr)

	code, body := httpPostForm(t, p.URL+"/subscribe", url.Values{"email": {"serve@example.org"}, "name": {"Sabine"}})
	if code != 200 || !strings.Contains(body, "Fast geschafft") {
		t.Fatalf("subscribe: %d\n%s", code, body)
	}
	raw := smtpSrv.WaitMail(t, "serve@example.org").Data
	// The server has the mail; its record (and evidence) follows a moment
	// later, in the outbox worker's next transaction.
	testkit.Eventually(t, "the confirmation_sent evidence", func() bool {
		_, evs := subscriberStatus(t, dbPath, "serve@example.org")
		return len(evs) == 2
	})
	link := testkit.ConfirmLink(t, testkit.MailText(t, raw))
	if !strings.HasPrefix(link, p.URL+"/confirm?token=") {
		t.Fatalf("link %s does not use --base-url %s", link, p.URL)
	}
	u, _ := url.Parse(link)
	if code, _ := httpGet(t, link); code != 200 {
		t.Fatalf("confirm page %d", code)
	}
	if code, body := httpPostForm(t, p.URL+"/confirm", url.Values{"token": {u.Query().Get("token")}}); code != 200 || !strings.Contains(body, "Willkommen") {
		t.Fatalf("confirm: %d\n%s", code, body)
	}
	st, evs := subscriberStatus(t, dbPath, "serve@example.org")
	if st != subscribers.StatusActive {
		t.Fatalf("status %s", st)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "subscribed,confirmation_sent,confirmed" {
		t.Errorf("evidence %v", kinds)
	}

	code, metrics := httpGet(t, p.URL+"/metrics")
	for _, want := range []string{`newsletter_subscribers{state="active"} 1`, "newsletter_http_request_duration_seconds", "go_goroutines"} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("metrics missing %q", want)
		}
	}
	p.stop(t)
	logs := p.errs.String()
	if !strings.Contains(logs, "msg=stopped") {
		t.Errorf("no clean stop in log:\n%s", logs)
	}
	if strings.Contains(logs, u.Query().Get("token")) {
		t.Error("token in the log")
	}
}

func TestServeArchiveShowsOnlySentColumns(t *testing.T) {
	smtpSrv := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	for _, n := range []int{29, 30} {
		text := fmt.Sprintf("KNIEPUNKT %03d: Titel %d\n\nAbsatz von Kolumne %d.\n\nZum Weiterlesen:\nQuelle: https://example.com/%d\n", n, n, n, n)
		if err := os.WriteFile(filepath.Join(columns, fmt.Sprintf("%03d.txt", n)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Column 29 goes out (to one reader: send needs a list); 30 does not.
	var out, errs bytes.Buffer
	add := []string{"newsletter", "subscribers", "add", "leser@example.net", "--confirmed", "--consent-note", "test", "--db", dbPath}
	if code := run(context.Background(), add, func(string) string { return "" }, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("subscribers add: %d\n%s%s", code, out.String(), errs.String())
	}
	args := []string{"newsletter", "send", "--column", "29", "--db", dbPath, "--columns", columns, "--smtp-addr", smtpSrv.Addr,
		"--smtp-tls", "off", "--timezone", "UTC", "--from", "K <k@example.org>"}
	if code := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("send: %d\n%s%s", code, out.String(), errs.String())
	}
	p := startServe(t, dbPath, columns, smtpSrv.Addr)
	code, body := httpGet(t, p.URL+"/archive")
	if code != 200 || !strings.Contains(body, `href="/archive/29"`) || strings.Contains(body, "/archive/30") {
		t.Fatalf("archive: %d\n%s", code, body)
	}
	code, body = httpGet(t, p.URL+"/archive/29")
	if code != 200 || !strings.Contains(body, "Absatz von Kolumne 29.") || !strings.Contains(body, `href="https://example.com/29"`) {
		t.Fatalf("archive/29: %d\n%s", code, body)
	}
	if code, _ := httpGet(t, p.URL+"/archive/30"); code != 404 {
		t.Errorf("unsent column: %d, want 404", code)
	}
}

func TestServeRefusesBadWebFlags(t *testing.T) {
	dbPath, columns := serveFolder(t)
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"newsletter", "serve", "--db", dbPath, "--columns", columns, "--trusted-proxies", "not-a-cidr"},
		func(string) string { return "" }, strings.NewReader(""), &out, &errs)
	if code != 2 || !strings.Contains(errs.String(), "--trusted-proxies") {
		t.Errorf("exit %d, stderr %q", code, errs.String())
	}
}
