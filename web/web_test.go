package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

func TestDoubleOptInFlow(t *testing.T) {
	e := newWebEnv(t, nil)
	smtpSrv := testkit.StartSMTP(t)

	res := e.subscribe("  Ann@Example.ORG ", "Ann")
	if res.status != http.StatusOK || !strings.Contains(res.body, "Fast geschafft") {
		t.Fatalf("subscribe: %d\n%s", res.status, res.body)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusPending {
		t.Fatalf("status %s, want pending", got)
	}
	sub, _ := e.store.FindByEmail(context.Background(), "ann@example.org")
	if sub.Email != "Ann@example.org" || sub.Name != "Ann" || sub.Lang != "de" {
		t.Errorf("stored %+v", sub)
	}
	evs, _ := e.store.Events(context.Background(), sub.ID)
	if len(evs) != 1 || evs[0].Kind != subscribers.EventSubscribed || evs[0].IP != "127.0.0.1" || evs[0].UserAgent != "test-agent/1.0" ||
		evs[0].ConsentText != e.pages.ConsentText("de") || !evs[0].At.Equal(e.clock.Now()) {
		t.Fatalf("subscribe evidence %+v", evs)
	}
	if n := len(testkit.DueOutbox(t, e.db)); n != 1 {
		t.Fatalf("outbox rows %d, want 1", n)
	}

	// The real outbox worker sends it, as serve does.
	e.drainOutbox(smtpSrv)
	msgs := smtpSrv.Messages()
	if len(msgs) != 1 || msgs[0].To != "ann@example.org" {
		t.Fatalf("mails %+v", msgs)
	}
	confirmMail := testkit.ParseMail(t, msgs[0].Data)
	if to, err := confirmMail.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "Ann@example.org" {
		t.Fatalf("mail to %v (%v), want the address as stored", to, err)
	}
	link := testkit.ConfirmLink(t, testkit.MailText(t, msgs[0].Data))
	if !strings.HasPrefix(link, "http://news.test/confirm?token=") {
		t.Fatalf("link %s", link)
	}
	// That one token exists and only its hash is stored is for the owner
	// of the tokens table to check: subscribers' TestConfirmTokenStoredHashed.
	u, _ := url.Parse(link)
	tok := u.Query().Get("token")

	// GET shows a button and changes nothing.
	res = e.get("/confirm?" + u.RawQuery)
	if res.status != http.StatusOK || !strings.Contains(res.body, `action="/confirm"`) || !strings.Contains(res.body, tok) {
		t.Fatalf("confirm page: %d\n%s", res.status, res.body)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusPending {
		t.Fatalf("GET /confirm changed status to %s", got)
	}

	e.clock.Add(time.Hour)
	res = e.postForm("/confirm", url.Values{"token": {tok}}, map[string]string{"User-Agent": "browser/2", "Accept-Language": "en"})
	if res.status != http.StatusOK || !strings.Contains(res.body, "Willkommen") {
		t.Fatalf("confirm: %d\n%s", res.status, res.body)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusActive {
		t.Fatalf("status %s, want active", got)
	}
	// Replay: harmless, same page, no second event.
	res = e.postForm("/confirm", url.Values{"token": {tok}}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("replay: %d", res.status)
	}
	evs, _ = e.store.Events(context.Background(), sub.ID)
	kinds := []string{}
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	if strings.Join(kinds, ",") != "subscribed,confirmation_sent,confirmed" {
		t.Fatalf("events %v", kinds)
	}
	if msgID := strings.Trim(confirmMail.Header.Get("Message-Id"), "<>"); msgID == "" || !strings.Contains(evs[1].Detail, msgID) {
		t.Errorf("confirmation_sent detail %q", evs[1].Detail)
	}
	c := evs[2]
	if c.UserAgent != "browser/2" || c.IP != "127.0.0.1" || c.ConsentText != e.pages.ConfirmConsentText("de") || !c.At.Equal(e.clock.Now()) {
		t.Errorf("confirm evidence %+v", c)
	}

	// Unsubscribe: GET shows a button, POST (one-click) unsubscribes.
	utok := e.store.UnsubscribeToken(sub.ID)
	res = e.get("/unsubscribe?token=" + utok)
	if res.status != http.StatusOK || !strings.Contains(res.body, `action="/unsubscribe"`) {
		t.Fatalf("unsubscribe page %d\n%s", res.status, res.body)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusActive {
		t.Fatalf("GET /unsubscribe changed status to %s", got)
	}
	res = e.do(http.MethodPost, "/unsubscribe?token="+utok, strings.NewReader("List-Unsubscribe=One-Click"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Gmail"})
	if res.status != http.StatusOK || res.header.Get("Location") != "" || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("one-click: %d %v", res.status, res.header)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusUnsubscribed {
		t.Fatalf("status %s after one-click", got)
	}
	evs, _ = e.store.Events(context.Background(), sub.ID)
	last := evs[len(evs)-1]
	if last.Kind != subscribers.EventUnsubscribed || last.UserAgent != "Gmail" || !strings.Contains(last.Detail, "RFC 8058") {
		t.Errorf("unsubscribe evidence %+v", last)
	}
	// The old confirm link must not bring them back.
	res = e.postForm("/confirm", url.Values{"token": {tok}}, nil)
	if res.status != http.StatusBadRequest {
		t.Errorf("old confirm link after unsubscribe: %d", res.status)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusUnsubscribed {
		t.Fatalf("old confirm link re-activated: %s", got)
	}
	// Nothing in the log carries a token.
	if logs := e.logBuf.String(); strings.Contains(logs, tok) || strings.Contains(logs, utok) {
		t.Errorf("token in logs:\n%s", logs)
	}
}

func TestSubscribeInvalidInput(t *testing.T) {
	e := newWebEnv(t, nil)
	long := strings.Repeat("x", 101)
	cases := []struct {
		name, email, nameField, wantField, wantMsg string
	}{
		{"empty email", "", "", "email", "Bitte geben Sie Ihre E-Mail-Adresse ein."},
		{"blank email", "   ", "", "email", "Bitte geben Sie Ihre E-Mail-Adresse ein."},
		{"no at", "ann.example.org", "", "email", "gültigen E-Mail-Adresse"},
		{"two ats", "a@b@example.org", "", "email", "gültigen E-Mail-Adresse"},
		{"no dot in domain", "ann@localhost", "", "email", "gültigen E-Mail-Adresse"},
		{"display name", "Ann <ann@example.org>", "", "email", "gültigen E-Mail-Adresse"},
		{"header injection", "ann@example.org\r\nBcc: x@y.org", "", "email", "gültigen E-Mail-Adresse"},
		{"space", "ann smith@example.org", "", "email", "gültigen E-Mail-Adresse"},
		{"name too long", "ann@example.org", long, "name", "höchstens 100 Zeichen"},
		{"name line break", "ann@example.org", "Ann\nBcc: x", "name", "höchstens 100 Zeichen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.subscribe(c.email, c.nameField)
			if res.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.status)
			}
			if !strings.Contains(res.body, c.wantMsg) || !strings.Contains(res.body, `id="`+c.wantField+`-error"`) {
				t.Errorf("message for %s missing:\n%s", c.wantField, res.body)
			}
			if v := strings.TrimSpace(c.email); v != "" && !strings.Contains(v, "\n") && !strings.Contains(res.body, `value="`+strings.ReplaceAll(strings.ReplaceAll(v, "<", "&lt;"), ">", "&gt;")+`"`) {
				t.Errorf("typed value not kept:\n%s", res.body)
			}
		})
	}
	if n := e.subscriberCount(); n != 0 {
		t.Errorf("invalid input stored %d subscribers", n)
	}
	if n := e.queued(); n != 0 {
		t.Errorf("invalid input queued %d mails", n)
	}
	// English pages speak English.
	res := e.postForm("/subscribe", url.Values{"email": {"nope"}, "lang": {"en"}}, nil)
	if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.body, "does not look like a valid email") {
		t.Errorf("english 422: %d\n%s", res.status, res.body)
	}
	// JSON clients get JSON.
	res = e.postForm("/subscribe", url.Values{"email": {"nope"}}, map[string]string{"Accept": "application/json"})
	var ans jsonAnswer
	if err := json.Unmarshal([]byte(res.body), &ans); err != nil || res.status != 422 || ans.Status != "invalid" || ans.Errors["email"] == "" {
		t.Errorf("json 422: %d %s", res.status, res.body)
	}
}

func TestSubscribeBodyLimit(t *testing.T) {
	e := newWebEnv(t, nil)
	big := url.Values{"email": {"ann@example.org"}, "name": {strings.Repeat("x", 17<<10)}}.Encode()
	res := e.do(http.MethodPost, "/subscribe", strings.NewReader(big), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.status != http.StatusRequestEntityTooLarge || !strings.Contains(res.body, "zu groß") {
		t.Fatalf("declared large body: %d\n%s", res.status, res.body)
	}
	// Without Content-Length (chunked) the limit still holds while reading.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/subscribe", struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = -1
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked large body: %d", r.StatusCode)
	}
	if n := e.subscriberCount(); n != 0 {
		t.Errorf("stored %d", n)
	}
}

func TestSubscribeIPRateLimit(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.0/8")
	e := newWebEnv(t, func(c *Config) { c.IPRateLimit = 2; c.TrustedProxies = []netip.Prefix{proxy} })
	from := func(ip string, i int) int {
		return e.postForm("/subscribe", url.Values{"email": {"p" + string(rune('a'+i)) + "@example.org"}},
			map[string]string{"X-Forwarded-For": "203.0.113.9, " + ip}).status
	}
	for i := 0; i < 2; i++ {
		if s := from("198.51.100.1", i); s != http.StatusOK {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	res := e.postForm("/subscribe", url.Values{"email": {"pz@example.org"}}, map[string]string{"X-Forwarded-For": "198.51.100.1"})
	if res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "Zu viele Anfragen") {
		t.Fatalf("third request: %d\n%s", res.status, res.body)
	}
	if e.stored("pz@example.org") {
		t.Error("limited request stored a subscriber")
	}
	// Another client behind the same proxy has its own budget.
	if s := from("198.51.100.2", 5); s != http.StatusOK {
		t.Fatalf("other client: %d", s)
	}
	// subscribers.Evidence records the client, not the proxy.
	sub, err := e.store.FindByEmail(context.Background(), "pa@example.org")
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := e.store.Events(context.Background(), sub.ID)
	if evs[0].IP != "198.51.100.1" {
		t.Errorf("evidence IP %q", evs[0].IP)
	}
}

func TestSubscribeUntrustedForwardedForIgnored(t *testing.T) {
	e := newWebEnv(t, func(c *Config) { c.IPRateLimit = 1 })
	for i, want := range []int{200, 429} {
		res := e.postForm("/subscribe", url.Values{"email": {"u" + string(rune('a'+i)) + "@example.org"}},
			map[string]string{"X-Forwarded-For": "192.0.2." + string(rune('1'+i))})
		if res.status != want {
			t.Fatalf("request %d: %d, want %d (spoofed X-Forwarded-For must not buy a new budget)", i, res.status, want)
		}
	}
}

func TestHoneypot(t *testing.T) {
	e := newWebEnv(t, nil)
	good := e.subscribe("real@example.org", "")
	bot := e.postForm("/subscribe", url.Values{"email": {"bot@example.org"}, "website": {"http://spam"}}, nil)
	if bot.status != good.status || bot.body != good.body {
		t.Fatalf("honeypot answer differs: %d vs %d", bot.status, good.status)
	}
	if e.stored("bot@example.org") {
		t.Error("honeypot stored a subscriber")
	}
	if n := testkit.OutboxCount(t, e.db, "bot@example.org"); n != 0 {
		t.Error("honeypot queued a mail")
	}
}

func TestSubscribeNoEnumeration(t *testing.T) {
	e := newWebEnv(t, nil)
	ctx := context.Background()
	e.subscribe("pending@example.org", "")
	if _, err := e.store.Add(ctx, subscribers.AddParams{Email: "active@example.org", Confirmed: true, ConsentNote: "paper form"}); err != nil {
		t.Fatal(err)
	}
	left, err := e.store.Add(ctx, subscribers.AddParams{Email: "left@example.org", Confirmed: true, ConsentNote: "paper form"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Unsubscribe(ctx, left.ID, subscribers.Evidence{}); err != nil {
		t.Fatal(err)
	}
	var first response
	for i, addr := range []string{"new@example.org", "pending@example.org", "active@example.org", "left@example.org"} {
		for _, accept := range []string{"text/html", "application/json"} {
			res := e.postForm("/subscribe", url.Values{"email": {addr}}, map[string]string{"Accept": accept})
			if accept == "text/html" && i == 0 {
				first = res
			}
			if accept == "text/html" && (res.status != first.status || res.body != first.body) {
				t.Errorf("%s: answer differs from a new address", addr)
			}
			if accept == "application/json" && (res.status != 200 || !strings.Contains(res.body, `"status":"ok"`)) {
				t.Errorf("%s json: %d %s", addr, res.status, res.body)
			}
		}
	}
	if got := e.status("active@example.org"); got != subscribers.StatusActive {
		t.Errorf("re-subscribing demoted an active subscriber to %s", got)
	}
	if n := testkit.OutboxCount(t, e.db, "active@example.org"); n != 0 {
		t.Errorf("active subscriber got %d confirmation mails", n)
	}
	if got := e.status("left@example.org"); got != subscribers.StatusPending {
		t.Errorf("unsubscribed person re-subscribing: %s, want pending", got)
	}
}

func TestPerAddressLimit(t *testing.T) {
	e := newWebEnv(t, nil)
	for i := 0; i < 5; i++ {
		// Different IPs would not help: the limit is per address.
		if res := e.subscribe("victim@example.org", ""); res.status != http.StatusOK {
			t.Fatalf("submission %d: %d", i, res.status)
		}
		e.clock.Add(time.Minute)
	}
	if n := testkit.OutboxCount(t, e.db, "victim@example.org"); n != 3 {
		t.Fatalf("queued %d confirmation mails, want 3", n)
	}
	if n := e.eventCount("victim@example.org", subscribers.EventSubscribed); n != 3 {
		t.Errorf("recorded %d subscribe events, want 3 (over the limit nothing is stored)", n)
	}
	e.clock.Add(24 * time.Hour)
	e.subscribe("VICTIM@example.org", "")
	if n := testkit.OutboxCount(t, e.db, "victim@example.org"); n != 4 {
		t.Fatalf("a day later: %d mails, want 4", n)
	}
}

func TestConfirmTokens(t *testing.T) {
	e := newWebEnv(t, nil)
	ctx := context.Background()
	e.subscribe("ann@example.org", "")
	items := testkit.DueOutbox(t, e.db)
	m, err := e.optin.RenderOutbox(ctx, items[0])
	if err != nil {
		t.Fatal(err)
	}
	link := testkit.ConfirmLink(t, m.Text)
	u, _ := url.Parse(link)
	tok := u.Query().Get("token")

	cases := []struct {
		name, token string
		status      int
		want        string
	}{
		{"empty", "", 400, "funktioniert nicht"},
		{"garbage", "not-a-token", 400, "funktioniert nicht"},
		{"right length, unknown", strings.Repeat("A", 43), 400, "funktioniert nicht"},
		{"unsubscribe token is not a confirm token", e.store.UnsubscribeToken(1), 400, "funktioniert nicht"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, res := range []response{e.get("/confirm?token=" + url.QueryEscape(c.token)), e.postForm("/confirm", url.Values{"token": {c.token}}, nil)} {
				if res.status != c.status || !strings.Contains(res.body, c.want) || !strings.Contains(res.body, `href="/"`) {
					t.Errorf("%d\n%s", res.status, res.body)
				}
			}
		})
	}

	// Expired: eight days later the link is refused, clearly, with a way back.
	e.clock.Add(8 * 24 * time.Hour)
	for _, res := range []response{e.get("/confirm?token=" + tok), e.postForm("/confirm", url.Values{"token": {tok}}, nil)} {
		if res.status != http.StatusGone || !strings.Contains(res.body, "abgelaufen") || !strings.Contains(res.body, "Erneut abonnieren") {
			t.Fatalf("expired: %d\n%s", res.status, res.body)
		}
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusPending {
		t.Fatalf("expired token changed status to %s", got)
	}
	// A new subscribe brings a new, working link.
	e.subscribe("ann@example.org", "")
	items = testkit.DueOutbox(t, e.db)
	m, err = e.optin.RenderOutbox(ctx, items[len(items)-1])
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(testkit.ConfirmLink(t, m.Text))
	if res := e.postForm("/confirm?token="+url.QueryEscape(u.Query().Get("token")), nil, nil); res.status != 200 {
		t.Fatalf("fresh token in query: %d\n%s", res.status, res.body)
	}
	if got := e.status("ann@example.org"); got != subscribers.StatusActive {
		t.Fatalf("status %s", got)
	}
	// Once confirmed, the mail still queued is not needed any more.
	if _, err := e.optin.RenderOutbox(ctx, items[0]); !isCancelled(err) {
		t.Errorf("render for an active subscriber: %v, want ErrOutboxCancelled", err)
	}
}

func isCancelled(err error) bool { return err != nil && errors.Is(err, db.ErrOutboxCancelled) }

func TestUnsubscribeBadToken(t *testing.T) {
	e := newWebEnv(t, nil)
	for _, res := range []response{
		e.get("/unsubscribe?token=forged"),
		e.do(http.MethodPost, "/unsubscribe?token=forged", strings.NewReader("List-Unsubscribe=One-Click"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
		e.postForm("/unsubscribe", url.Values{"token": {"AAAAAAAAAAAAAAAAAAAAAAAA"}}, nil),
	} {
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, "Abmeldelink ist ungültig") {
			t.Errorf("%d\n%s", res.status, res.body)
		}
	}
	// A forgotten subscriber's link still answers "unsubscribed".
	ctx := context.Background()
	sub, err := e.store.Add(ctx, subscribers.AddParams{Email: "gone@example.org", Confirmed: true, ConsentNote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Forget(ctx, "gone@example.org"); err != nil {
		t.Fatal(err)
	}
	res := e.postForm("/unsubscribe", url.Values{"token": {e.store.UnsubscribeToken(sub.ID)}}, nil)
	if res.status != http.StatusOK {
		t.Errorf("forgotten subscriber: %d", res.status)
	}
	// Multipart one-click (RFC 8058 allows it) with the token in the URL.
	sub2, _ := e.store.Add(ctx, subscribers.AddParams{Email: "mp@example.org", Confirmed: true, ConsentNote: "x"})
	body := "--XX\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XX--\r\n"
	res = e.do(http.MethodPost, "/unsubscribe?token="+e.store.UnsubscribeToken(sub2.ID), strings.NewReader(body),
		map[string]string{"Content-Type": "multipart/form-data; boundary=XX"})
	if res.status != http.StatusOK || e.status("mp@example.org") != subscribers.StatusUnsubscribed {
		t.Errorf("multipart one-click: %d", res.status)
	}
}

func TestGetNeverChangesState(t *testing.T) {
	e := newWebEnv(t, nil)
	ctx := context.Background()
	e.subscribe("ann@example.org", "")
	it := testkit.DueOutbox(t, e.db)[0]
	m, _ := e.optin.RenderOutbox(ctx, it)
	link := testkit.ConfirmLink(t, m.Text)
	u, _ := url.Parse(link)
	sub, _ := e.store.FindByEmail(ctx, "ann@example.org")
	// Everything stored about anyone, read through the owners' exports: the
	// subscribers with their evidence and service mails, the outbox, and
	// whether the confirm link still works (a spent token would not).
	snapshot := func() string {
		var b strings.Builder
		err := e.store.List(ctx, subscribers.Filter{}, func(s *subscribers.Subscriber) error {
			evs, err := e.store.Events(ctx, s.ID)
			if err != nil {
				return err
			}
			mails, err := db.SubscriberOutbox(ctx, e.db, s.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s %s %s %s %d events %+v\n", s.Email, s.Status, s.UpdatedAt, s.ConfirmedAt, len(evs), mails)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.optin.CheckConfirmToken(ctx, u.Query().Get("token"))
		fmt.Fprintf(&b, "outbox %d, confirm token: %v", e.queued(), err)
		return b.String()
	}
	before := snapshot()
	for _, p := range []string{"/confirm?" + u.RawQuery, "/unsubscribe?token=" + e.store.UnsubscribeToken(sub.ID), "/subscribe?email=x@example.org", "/", "/archive"} {
		e.get(p)
		e.do(http.MethodHead, p, nil, nil)
	}
	if after := snapshot(); after != before {
		t.Fatalf("GET changed state: %s → %s", before, after)
	}
	if res := e.get("/subscribe"); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /subscribe: %d", res.status)
	}
}

func TestSuppressedAddressMayResubscribe(t *testing.T) {
	e := newWebEnv(t, nil)
	ctx := context.Background()
	if _, err := e.store.Add(ctx, subscribers.AddParams{Email: "back@example.org", Confirmed: true, ConsentNote: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Forget(ctx, "back@example.org"); err != nil {
		t.Fatal(err)
	}
	e.subscribe("back@example.org", "")
	if got := e.status("back@example.org"); got != subscribers.StatusPending {
		t.Fatalf("status %s", got)
	}
	if s, _ := e.store.IsSuppressed(ctx, "back@example.org"); !s {
		t.Fatal("suppression lifted before confirmation")
	}
	m, err := e.optin.RenderOutbox(ctx, testkit.DueOutbox(t, e.db)[0])
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(testkit.ConfirmLink(t, m.Text))
	if res := e.postForm("/confirm", url.Values{"token": {u.Query().Get("token")}}, nil); res.status != 200 {
		t.Fatalf("confirm %d", res.status)
	}
	if s, _ := e.store.IsSuppressed(ctx, "back@example.org"); s {
		t.Fatal("suppression not lifted on confirmation")
	}
}

func TestPurgePending(t *testing.T) {
	e := newWebEnv(t, nil)
	ctx := context.Background()
	e.subscribe("old@example.org", "")
	e.subscribe("kept@example.org", "")
	// Someone who confirmed once, left, and re-subscribed long ago.
	ret, _ := e.store.Add(ctx, subscribers.AddParams{Email: "ret@example.org", Confirmed: true, ConsentNote: "x"})
	e.store.Unsubscribe(ctx, ret.ID, subscribers.Evidence{})
	e.subscribe("ret@example.org", "")
	e.clock.Add(29 * 24 * time.Hour)
	e.subscribe("kept@example.org", "") // a fresh request keeps it
	e.subscribe("new@example.org", "")
	e.clock.Add(2 * 24 * time.Hour)
	n, err := e.optin.PurgePending(ctx, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
	if _, err := e.store.FindByEmail(ctx, "old@example.org"); err != subscribers.ErrNotFound {
		t.Errorf("old pending not purged: %v", err)
	}
	for _, a := range []string{"kept@example.org", "ret@example.org", "new@example.org"} {
		if _, err := e.store.FindByEmail(ctx, a); err != nil {
			t.Errorf("%s purged: %v", a, err)
		}
	}
	if n := testkit.OutboxCount(t, e.db, "old@example.org"); n != 0 {
		t.Errorf("purged subscriber left %d outbox rows", n)
	}
}

func TestRenderOutboxCancelled(t *testing.T) {
	e := newWebEnv(t, nil)
	ctx := context.Background()
	e.subscribe("x@example.org", "")
	it := testkit.DueOutbox(t, e.db)[0]
	sub, _ := e.store.FindByEmail(ctx, "x@example.org")
	if _, err := e.store.Unsubscribe(ctx, sub.ID, subscribers.Evidence{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.optin.RenderOutbox(ctx, it); !isCancelled(err) {
		t.Errorf("unsubscribed: %v", err)
	}
	if err := e.store.Forget(ctx, "x@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.optin.RenderOutbox(ctx, it); !isCancelled(err) {
		t.Errorf("forgotten: %v", err)
	}
	// OutboxSent for a forgotten subscriber is not an error.
	if err := e.db.InTx(ctx, func(tx *db.Tx) error { return e.optin.OutboxSent(ctx, tx, it, "<m@x>") }); err != nil {
		t.Errorf("OutboxSent after forget: %v", err)
	}
}

func TestEnglishConfirmationMail(t *testing.T) {
	e := newWebEnv(t, nil)
	res := e.postForm("/subscribe", url.Values{"email": {"en@example.org"}}, map[string]string{"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
	if !strings.Contains(res.body, "Almost done") || res.header.Get("Content-Language") != "en" {
		t.Fatalf("english answer:\n%s", res.body)
	}
	m, err := e.optin.RenderOutbox(context.Background(), testkit.DueOutbox(t, e.db)[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Subject, "Please confirm") || !strings.Contains(m.Text, "en@example.org") {
		t.Errorf("mail %+v", m)
	}
	sub, _ := e.store.FindByEmail(context.Background(), "en@example.org")
	evs, _ := e.store.Events(context.Background(), sub.ID)
	if evs[0].ConsentText != e.pages.ConsentText("en") {
		t.Errorf("consent text %q", evs[0].ConsentText)
	}
}

func TestPagesAndHeaders(t *testing.T) {
	e := newWebEnv(t, nil)
	cases := []struct {
		path   string
		status int
		want   string
	}{
		{"/", 200, `<form method="post" action="/subscribe"`},
		{"/?lang=en", 200, "Subscribe to KNIEPUNKT"},
		{"/archive", 200, `<a href="/archive/30">KNIEPUNKT 030: Heiße KI-Luft</a>`},
		{"/archive/30", 200, "<p>Im Silicon Valley</p>"},
		{"/archive/29", 200, "KNIEPUNKT 029: Vorher"}, // /archive/029 redirects: requests_test.go
		{"/archive/31", 404, "Seite nicht gefunden"},
		{"/archive/abc", 404, "Seite nicht gefunden"},
		{"/nope", 404, "Seite nicht gefunden"},
		{"/static/style.css", 200, ":root"},
		{"/healthz", 200, "ok"},
	}
	for _, c := range cases {
		res := e.get(c.path)
		if res.status != c.status || !strings.Contains(res.body, c.want) {
			t.Errorf("GET %s: %d, want %d with %q\n%s", c.path, res.status, c.status, c.want, res.body)
		}
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", c.path, csp)
		}
		if res.header.Get("X-Content-Type-Options") != "nosniff" || res.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", c.path, res.header)
		}
		if res.header.Get("Set-Cookie") != "" {
			t.Errorf("GET %s sets a cookie", c.path)
		}
	}
	res := e.get("/archive/30")
	if !strings.Contains(res.body, `Quelle: <a href="https://example.org/q">`) {
		t.Errorf("further reading missing:\n%s", res.body)
	}
}

func TestMetrics(t *testing.T) {
	e := newWebEnv(t, nil)
	e.subscribe("m@example.org", "")
	e.get("/")
	res := e.get("/metrics")
	for _, want := range []string{
		`newsletter_subscribers{state="pending"} 1`,
		`newsletter_subscribers{state="active"} 0`,
		`newsletter_outbox_pending{kind="confirm"} 1`,
		`newsletter_subscribe_requests_total{outcome="accepted"} 1`,
		`newsletter_http_request_duration_seconds_count{code="200",method="POST",route="/subscribe"} 1`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("metrics missing %q", want)
		}
	}
	// Through a proxy, the request is from outside: no metrics for it.
	if res := e.do(http.MethodGet, "/metrics", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"}); res.status != http.StatusNotFound {
		t.Errorf("proxied /metrics: %d, want 404", res.status)
	}
}

func TestJSONAndCORS(t *testing.T) {
	e := newWebEnv(t, func(c *Config) { c.AllowedOrigins = []string{"https://author.example"} })
	pre := e.do(http.MethodOptions, "/subscribe", nil, map[string]string{
		"Origin": "https://author.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
	if pre.header.Get("Access-Control-Allow-Origin") != "https://author.example" {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
	res := e.do(http.MethodPost, "/subscribe", strings.NewReader(`{"email":"js@example.org","name":"Jo"}`), map[string]string{
		"Origin": "https://author.example", "Content-Type": "application/json", "Accept": "application/json"})
	if res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != "https://author.example" || !strings.Contains(res.body, `"status":"ok"`) {
		t.Fatalf("json subscribe: %d %v %s", res.status, res.header, res.body)
	}
	if got := e.status("js@example.org"); got != subscribers.StatusPending {
		t.Errorf("status %s", got)
	}
	other := e.do(http.MethodOptions, "/subscribe", nil, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
	if other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed")
	}
	bad := e.do(http.MethodPost, "/subscribe", strings.NewReader(`{"email":`), map[string]string{"Content-Type": "application/json", "Accept": "application/json"})
	if bad.status != 422 {
		t.Errorf("malformed json: %d %s", bad.status, bad.body)
	}
}

func TestRemoteIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.5:1234", nil, "203.0.113.5"},
		{"203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"}, // not from a proxy: header ignored
		{"10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:80", []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}, "198.51.100.7"}, // spoofed left part skipped
		{"10.0.0.2:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:80", []string{"garbage"}, "10.0.0.2"},
		{"10.0.0.2:80", nil, "10.0.0.2"},
		{"[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"[::ffff:203.0.113.5]:80", nil, "203.0.113.5"},
	}
	for _, c := range cases {
		if got := remoteIP(c.remote, trusted, c.xff); got != c.want {
			t.Errorf("remoteIP(%s, %v) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

func TestNegotiateLang(t *testing.T) {
	have := []string{"de", "en"}
	for h, want := range map[string]string{
		"":                         "",
		"fr-FR":                    "",
		"en-US,en;q=0.9":           "en",
		"de-DE,de;q=0.9,en;q=0.8":  "de",
		"fr;q=1,en;q=0.2,de;q=0.7": "de",
		"EN":                       "en",
		"en;q=0":                   "",
	} {
		if got := negotiateLang(h, have); got != want {
			t.Errorf("negotiateLang(%q) = %q, want %q", h, got, want)
		}
	}
}

// Unreadable bodies are the client's fault: 400 with a page, never a 500;
// and a one-click unsubscribe with its token in the URL still works.
func TestMalformedBodiesGet400(t *testing.T) {
	e := newWebEnv(t, nil)
	for _, tt := range []struct {
		name, path, ctype, body string
	}{
		{"bad escape", "/subscribe", "application/x-www-form-urlencoded", "email=%zz"},
		{"multipart without boundary", "/subscribe", "multipart/form-data", "x"},
		{"garbage multipart unsubscribe", "/unsubscribe", "multipart/form-data; boundary=xyz", "garbage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(http.MethodPost, tt.path, strings.NewReader(tt.body), map[string]string{"Content-Type": tt.ctype})
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400\n%s", res.status, res.body)
			}
		})
	}
	sub, err := e.store.Add(context.Background(), subscribers.AddParams{Email: "leave@example.org", Confirmed: true, ConsentNote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	res := e.do(http.MethodPost, "/unsubscribe?token="+e.store.UnsubscribeToken(sub.ID), strings.NewReader("garbage"),
		map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"})
	if res.status != http.StatusOK || e.status("leave@example.org") != subscribers.StatusUnsubscribed {
		t.Fatalf("one-click with unreadable body: %d, status %s", res.status, e.status("leave@example.org"))
	}
}

// The name field is free text from anyone: it must not reach the
// confirmation mail, which would make the form a spam relay.
func TestConfirmationMailCarriesNoName(t *testing.T) {
	e := newWebEnv(t, nil)
	spam := "Gewinner! 1000 EUR: https://spam.example/win"
	if res := e.subscribe("victim@example.org", spam); res.status != http.StatusOK {
		t.Fatalf("subscribe: %d", res.status)
	}
	items := testkit.DueOutbox(t, e.db)
	if len(items) != 1 {
		t.Fatalf("outbox %d", len(items))
	}
	m, err := e.optin.RenderOutbox(context.Background(), items[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{m.Subject, m.Text, m.HTML} {
		if strings.Contains(part, "spam.example") || strings.Contains(part, "Gewinner") {
			t.Fatalf("confirmation mail carries the name field:\n%s", part)
		}
	}
}
