package web

import (
	"context"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
	"newsletter/templates"
)

// webEnv is a whole web side on a real SQLite file.
type webEnv struct {
	t      testing.TB
	clock  *testkit.Clock
	db     *db.DB
	store  *subscribers.Store
	pages  *templates.Pages
	optin  *subscribers.OptIn
	web    *Server
	srv    *httptest.Server
	log    *slog.Logger
	logBuf *testkit.SyncBuffer
}

// fakeArchive is a fixed list of sent columns with their article bodies.
type fakeArchive struct {
	cols   []*columns.Column
	bodies map[int]template.HTML
}

func (a *fakeArchive) Sent(context.Context) ([]*columns.Column, error) { return a.cols, nil }
func (a *fakeArchive) BodyHTML(c *columns.Column) (template.HTML, error) {
	return a.bodies[c.Number], nil
}

func newWebEnv(t testing.TB, mutate func(*Config)) *webEnv {
	t.Helper()
	return newWebEnvDeps(t, mutate, nil)
}

// newWebEnvDeps is newWebEnv with the dependencies changed by mutateDeps
// (the webhooks' intake and SNS fetcher).
func newWebEnvDeps(t testing.TB, mutate func(*Config), mutateDeps func(*Deps)) *webEnv {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	d := testkit.OpenDB(t, clock)
	store := testkit.NewStore(t, d)
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT", Imprint: "Impressum"})
	if err != nil {
		t.Fatal(err)
	}
	optin := subscribers.NewOptIn(store, pages, subscribers.OptInConfig{BaseURL: "http://news.test"})
	logBuf := &testkit.SyncBuffer{}
	log := logBuf.Logger(slog.LevelInfo)
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
	key, err := d.SecretKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{OptIn: optin, Pages: pages, Health: d, Archive: archive, Bodies: archive, Metrics: metrics,
		Holds:          mailer.NewHolds(d, key, time.UTC),
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Log: log}
	if mutateDeps != nil {
		mutateDeps(&deps)
	}
	web, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	return &webEnv{t: t, clock: clock, db: d, store: store, pages: pages, optin: optin, web: web, srv: srv, log: log, logBuf: logBuf}
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

// subscriberCount is how many subscribers there are, in any state.
func (e *webEnv) subscriberCount() int {
	e.t.Helper()
	counts, err := e.store.CountByStatus(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// stored reports whether a subscriber with that address exists.
func (e *webEnv) stored(email string) bool {
	e.t.Helper()
	_, err := e.store.FindByEmail(context.Background(), email)
	if err != nil && !errors.Is(err, subscribers.ErrNotFound) {
		e.t.Fatalf("find %s: %v", email, err)
	}
	return err == nil
}

// eventCount is how many events of kind the subscriber's evidence holds.
func (e *webEnv) eventCount(email, kind string) int {
	e.t.Helper()
	ctx := context.Background()
	sub, err := e.store.FindByEmail(ctx, email)
	if err != nil {
		e.t.Fatalf("find %s: %v", email, err)
	}
	evs, err := e.store.Events(ctx, sub.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// queued is how many confirmation mails wait in the outbox.
func (e *webEnv) queued() int {
	e.t.Helper()
	n, err := e.db.OutboxDepth(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n[db.OutboxKindConfirm]
}

func (e *webEnv) status(email string) subscribers.Status {
	e.t.Helper()
	sub, err := e.store.FindByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatalf("find %s: %v", email, err)
	}
	return sub.Status
}

// drainOutbox sends every due confirmation mail to srv with the real
// outbox worker, as serve runs it (mailer.RunOutbox with OptIn as its
// mails), and returns once the outbox is empty.
func (e *webEnv) drainOutbox(srv *testkit.SMTPServer) {
	e.t.Helper()
	ctx := context.Background()
	key, err := e.db.SecretKey(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := mailer.New(e.db, e.store, nil, mailer.Options{SMTPAddr: srv.Addr, SMTPTLS: mailer.TLSOff,
		From: "KNIEPUNKT <news@news.test>", BaseURL: "http://news.test", Secret: key, Logger: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	testkit.DrainOutbox(e.t, e.db, func(ctx context.Context) { m.RunOutbox(ctx, e.optin, 10*time.Millisecond) })
}
