package web

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	netsmtp "net/smtp"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

// testClock is an injectable clock: tests move time instead of sleeping.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// webEnv is a whole web side on a real SQLite file.
type webEnv struct {
	t      testing.TB
	clock  *testClock
	db     *db.DB
	store  *subscribers.Store
	pages  *templates.Pages
	optin  *subscribers.OptIn
	web    *Server
	srv    *httptest.Server
	logBuf *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// fakeArchive is a fixed list of sent columns with their article bodies.
type fakeArchive struct {
	cols   []*columns.Column
	bodies map[int]template.HTML
}

func (a *fakeArchive) Sent(context.Context) ([]*columns.Column, error) { return a.cols, nil }
func (a *fakeArchive) BodyHTML(c *columns.Column) (template.HTML, error) {
	return a.bodies[c.Number], nil
}

func mustOpenDB(tb testing.TB, clock *testClock) *db.DB {
	tb.Helper()
	d, err := db.Open(context.Background(), filepath.Join(tb.TempDir(), "test.db"), db.WithClock(clock.Now))
	if err != nil {
		tb.Fatalf("open db: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func newWebEnv(t testing.TB, mutate func(*Config)) *webEnv {
	t.Helper()
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	d := mustOpenDB(t, clock)
	key, err := d.SecretKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	store := subscribers.NewStore(d, key)
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT", Imprint: "Impressum"})
	if err != nil {
		t.Fatal(err)
	}
	optin := subscribers.NewOptIn(store, pages, subscribers.OptInConfig{BaseURL: "http://news.test"})
	logBuf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg, store, d, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Lang: "de"}
	if mutate != nil {
		mutate(&cfg)
	}
	archive := &fakeArchive{cols: []*columns.Column{
		{Number: 30, Title: "Heiße KI-Luft", TitleLine: "KNIEPUNKT 030: Heiße KI-Luft", Date: time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC),
			Links: []columns.Link{{Label: "Quelle", URL: "https://example.org/q"}}},
		{Number: 29, Title: "Vorher", TitleLine: "KNIEPUNKT 029: Vorher"},
	}, bodies: map[int]template.HTML{30: "<p>Im Silicon Valley</p>"}}
	web, err := New(cfg, Deps{OptIn: optin, Pages: pages, Health: d, Archive: archive, Bodies: archive, Metrics: metrics,
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	return &webEnv{t: t, clock: clock, db: d, store: store, pages: pages, optin: optin, web: web, srv: srv, logBuf: logBuf}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request without following redirects.
func (e *webEnv) do(method, path string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *webEnv) get(path string) response { return e.do(http.MethodGet, path, nil, nil) }

func (e *webEnv) postForm(path string, v url.Values, header map[string]string) response {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, x := range header {
		h[k] = x
	}
	return e.do(http.MethodPost, path, strings.NewReader(v.Encode()), h)
}

func (e *webEnv) subscribe(email, name string) response {
	return e.postForm("/subscribe", url.Values{"email": {email}, "name": {name}}, map[string]string{"User-Agent": "test-agent/1.0"})
}

func (e *webEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.SQL().QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *webEnv) status(email string) subscribers.Status {
	e.t.Helper()
	sub, err := e.store.FindByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatalf("find %s: %v", email, err)
	}
	return sub.Status
}

// pendingOutbox returns the pending outbox rows, oldest first.
func (e *webEnv) pendingOutbox() []db.OutboxItem {
	e.t.Helper()
	rows, err := e.db.SQL().Query(`SELECT id, kind, subscriber_id, recipient, payload, attempts FROM outbox WHERE state = 'pending' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []db.OutboxItem
	for rows.Next() {
		var it db.OutboxItem
		if err := rows.Scan(&it.ID, &it.Kind, &it.SubscriberID, &it.Recipient, &it.Payload, &it.Attempts); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

// drainOutbox is a stand-in for the mailer's outbox worker (subscribers may
// not import mailer): compose each pending confirmation mail, send it to
// smtpAddr over real SMTP, and mark it sent with OutboxSent in one
// transaction, as the mailer does.
func (e *webEnv) drainOutbox(smtpAddr string) {
	e.t.Helper()
	ctx := context.Background()
	for _, it := range e.pendingOutbox() {
		m, err := e.optin.ComposeOutbox(ctx, it)
		if err != nil {
			e.t.Fatalf("compose %d: %v", it.ID, err)
		}
		msgID := "<confirm-" + it.Recipient + "@news.test>"
		raw := buildTestMail(e.t, it.Recipient, msgID, m)
		if err := netsmtp.SendMail(smtpAddr, nil, "news@news.test", []string{it.Recipient}, raw); err != nil {
			e.t.Fatalf("send %d: %v", it.ID, err)
		}
		err = e.db.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(`UPDATE outbox SET state = 'sent', message_id = ?, sent_at = ? WHERE id = ?`, msgID, tx.NowText(), it.ID); err != nil {
				return err
			}
			return e.optin.OutboxSent(ctx, tx, it, msgID)
		})
		if err != nil {
			e.t.Fatalf("mark sent %d: %v", it.ID, err)
		}
	}
}

func buildTestMail(t testing.TB, to, msgID string, m templates.RenderedMail) []byte {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ct, s string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		w, err := mw.CreatePart(map[string][]string{"Content-Type": {part.ct}, "Content-Transfer-Encoding": {"8bit"}})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, part.s)
	}
	mw.Close()
	var b bytes.Buffer
	b.WriteString("From: news@news.test\r\nTo: " + to + "\r\nMessage-ID: " + msgID + "\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", m.Subject) + "\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/alternative; boundary=" + mw.Boundary() + "\r\n\r\n")
	b.Write(body.Bytes())
	return b.Bytes()
}

// smtpSink is an in-test SMTP server that keeps what it receives.
type smtpSink struct {
	Addr string
	mu   sync.Mutex
	msgs []sinkMsg
}

type sinkMsg struct {
	From string
	To   []string
	Data []byte
}

type sinkSession struct {
	sink *smtpSink
	cur  sinkMsg
}

func (s *sinkSession) Reset()                                      { s.cur = sinkMsg{} }
func (s *sinkSession) Logout() error                               { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error { s.cur.From = from; return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.cur)
	s.sink.mu.Unlock()
	return nil
}

func startSMTPSink(t testing.TB) *smtpSink {
	t.Helper()
	sink := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: sink}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.Addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sink
}

func (s *smtpSink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

var confirmLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/confirm\?token=[A-Za-z0-9_%-]+`)

// confirmLink finds the confirm link in the text part of a received mail.
func confirmLink(t testing.TB, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(msg.Body)
	link := confirmLinkRE.FindString(string(b))
	if link == "" {
		t.Fatalf("no confirm link in mail:\n%s", b)
	}
	return link
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
