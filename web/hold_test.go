package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"newsletter/columns"
	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
	"newsletter/templates"
)

// holdToken is the hold link token a proof of column number would carry.
func (e *webEnv) holdToken(number int) string {
	e.t.Helper()
	key, err := e.db.SecretKey(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return mailer.NewHolds(e.db, key, nil).Token(number, mailer.ContentHash([]byte("KNIEPUNKT 031: Eins\n")))
}

func (e *webEnv) held(number int) (mailer.Hold, bool) {
	e.t.Helper()
	key, _ := e.db.SecretKey(context.Background())
	h, ok, err := mailer.NewHolds(e.db, key, nil).Find(context.Background(), number)
	if err != nil {
		e.t.Fatal(err)
	}
	return h, ok
}

func TestHoldPageThenButton(t *testing.T) {
	e := newWebEnv(t, nil)
	tok := e.holdToken(31)

	// GET shows the button and holds nothing (mail scanners open links).
	res := e.get("/hold?token=" + url.QueryEscape(tok))
	if res.status != 200 || !strings.Contains(res.body, `<form method="post" action="/hold">`) ||
		!strings.Contains(res.body, `value="`+tok+`"`) || !strings.Contains(res.body, "Anhalten: Kolumne 031") {
		t.Fatalf("hold page: %d\n%s", res.status, res.body)
	}
	if _, held := e.held(31); held {
		t.Fatal("GET held the column")
	}
	res = e.postForm("/hold", url.Values{"token": {tok}}, nil)
	if res.status != 200 || !strings.Contains(res.body, "Die Kolumne ist angehalten") || !strings.Contains(res.body, "newsletter release 031") {
		t.Fatalf("hold: %d\n%s", res.status, res.body)
	}
	h, held := e.held(31)
	if !held || h.By != mailer.HeldByProof {
		t.Fatalf("after POST: %+v %v", h, held)
	}
	if !strings.Contains(e.logBuf.String(), `msg="column held from the proof mail" column=31`) {
		t.Errorf("the hold is not logged:\n%s", e.logBuf.String())
	}
	// Again: harmless, and the page says it is held already.
	if res := e.postForm("/hold", url.Values{"token": {tok}}, nil); res.status != 200 {
		t.Errorf("second press: %d", res.status)
	}
	res = e.do("GET", "/hold?token="+url.QueryEscape(tok), nil, map[string]string{"Accept-Language": "en"})
	if res.status != 200 || !strings.Contains(res.body, "Hold column 031") || !strings.Contains(res.body, "The column is held already. (from the proof mail at ") {
		t.Errorf("hold page when held, in English: %d\n%s", res.status, res.body)
	}
}

func TestHoldRefusals(t *testing.T) {
	e := newWebEnv(t, nil)
	tok := e.holdToken(31)
	other := e.holdToken(32)
	for name, bad := range map[string]string{
		"empty":        "",
		"forged":       "31.00000000000000000000000000000000.AAAAAAAAAAAAAAAAAAAAAA",
		"other column": "31" + other[2:],
	} {
		if res := e.get("/hold?token=" + url.QueryEscape(bad)); res.status != 400 || !strings.Contains(res.body, "Dieser Link hält nichts an") {
			t.Errorf("%s: GET %d\n%s", name, res.status, res.body)
		}
		if res := e.postForm("/hold", url.Values{"token": {bad}}, nil); res.status != 400 {
			t.Errorf("%s: POST %d", name, res.status)
		}
	}
	if res := e.postForm("/hold", url.Values{"token": {tok}}, map[string]string{"Origin": "https://evil.example"}); res.status != 403 {
		t.Errorf("foreign origin: %d", res.status)
	}
	if _, held := e.held(31); held {
		t.Fatal("a refused request held the column")
	}

	// Sent: the link is dead, and says so.
	e.sendColumn(31)
	if res := e.get("/hold?token=" + url.QueryEscape(tok)); res.status != 410 || !strings.Contains(res.body, "Schon verschickt") {
		t.Errorf("sent: GET %d\n%s", res.status, res.body)
	}
	if res := e.postForm("/hold", url.Values{"token": {tok}}, nil); res.status != 410 {
		t.Errorf("sent: POST %d", res.status)
	}
}

// sendColumn sends column number to one subscriber through the real
// campaign path, so it has a finished campaign.
func (e *webEnv) sendColumn(number int) {
	e.t.Helper()
	ctx := context.Background()
	testkit.AddSubscribers(e.t, e.store, "leser", 1, subscribers.StatusActive)
	src := []byte(fmt.Sprintf("KNIEPUNKT %03d: Eins\n\nText.\n", number))
	col, err := columns.Parse(fmt.Sprintf("%03d.txt", number), src, time.UTC)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := mailer.NewCampaignStore(e.db).Start(ctx, col)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := templates.NewMailRenderer(templates.MailOptions{BaseURL: "http://news.test"})
	if err != nil {
		e.t.Fatal(err)
	}
	key, _ := e.db.SecretKey(ctx)
	srv := testkit.StartSMTP(e.t)
	m, err := mailer.New(e.db, e.store, mailer.TemplateRenderer(r), mailer.Options{SMTPAddr: srv.Addr, SMTPTLS: mailer.TLSOff,
		From: "KNIEPUNKT <news@news.test>", BaseURL: "http://news.test", Secret: key, Logger: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	if res, err := m.RunCampaign(ctx, c, mailer.RunOptions{}); err != nil || !res.Campaign.Finished() {
		e.t.Fatalf("send column %03d: %+v %v", number, res, err)
	}
}
