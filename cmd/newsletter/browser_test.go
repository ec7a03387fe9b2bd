package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserSubscribeConfirmUnsubscribe drives a real headless Chromium
// through the pages as a reader would: fill in the form, follow the link
// from the captured confirmation mail, press confirm, then unsubscribe
// through the page. No JavaScript of ours is involved.
func TestBrowserSubscribeConfirmUnsubscribe(t *testing.T) {
	ctx := startBrowser(t)
	smtpSrv := testkit.StartSMTP(t)
	dbPath, columns := serveFolder(t)
	p := startServe(t, dbPath, columns, smtpSrv.Addr)

	rcpt := fmt.Sprintf("browser-%d@example.org", time.Now().UnixNano())
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), rcpt),
		chromedp.SendKeys(chromedp.ID("name"), "Bruno Browser"),
		chromedp.Click(chromedp.CSS(`form.subscribe button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.ID("email")),
	)
	if err != nil {
		t.Fatalf("subscribe in the browser: %v\n%s", err, p.errs.String())
	}
	h1 := heading(ctx, t)
	if !strings.Contains(h1, "Fast geschafft") && !strings.Contains(h1, "Almost done") {
		t.Fatalf("after subscribing: heading %q", h1)
	}

	link := testkit.ConfirmLink(t, testkit.MailText(t, smtpSrv.WaitMail(t, rcpt).Data))
	err = chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/confirm"] button`)),
	)
	if err != nil {
		t.Fatalf("open confirm link: %v", err)
	}
	if st, _ := subscriberStatus(t, dbPath, rcpt); st != subscribers.StatusPending {
		t.Fatalf("opening the link alone changed the status to %s", st)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/confirm"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/confirm"]`)),
	)
	if err != nil {
		t.Fatalf("confirm in the browser: %v", err)
	}
	if h1 := heading(ctx, t); !strings.Contains(h1, "Willkommen") && !strings.Contains(h1, "Welcome") {
		t.Fatalf("after confirming: %q", h1)
	}
	st, evs := subscriberStatus(t, dbPath, rcpt)
	if st != subscribers.StatusActive {
		t.Fatalf("status %s after confirm", st)
	}
	if ua := evs[len(evs)-1].UserAgent; !strings.Contains(ua, "Chrome") {
		t.Errorf("confirm evidence user agent %q", ua)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/unsubscribe?token="+unsubscribeToken(t, dbPath, rcpt)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/unsubscribe"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/unsubscribe"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/unsubscribe"]`)),
	)
	if err != nil {
		t.Fatalf("unsubscribe in the browser: %v", err)
	}
	if h1 := heading(ctx, t); !strings.Contains(h1, "abgemeldet") && !strings.Contains(h1, "unsubscribed") {
		t.Fatalf("after unsubscribing: %q", h1)
	}
	if st, _ := subscriberStatus(t, dbPath, rcpt); st != subscribers.StatusUnsubscribed {
		t.Fatalf("status %s after unsubscribe", st)
	}
}

// startBrowser starts a headless Chromium for the test (skipping it
// without one, or with -short) and returns its context, good for 90 s.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test needs Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}
	// Chromium writes its profile and crash files under TMPDIR. Its
	// singleton socket path must stay under the Unix limit of ~107 bytes,
	// so the folder is short and in /tmp, not under a long t.TempDir().
	tmp, err := os.MkdirTemp("/tmp", "cdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.UserDataDir(tmp),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "de-DE"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestBrowserHoldFromProof is the author's side: serve sends the proof of
// the column due next, the author opens its hold link in the browser
// (opening alone holds nothing), presses the button, sees the
// confirmation, and the column is held.
func TestBrowserHoldFromProof(t *testing.T) {
	ctx := startBrowser(t)
	smtpSrv := testkit.StartSMTP(t)
	dbPath, cols := serveFolder(t)
	f := &sendFixture{dbPath: dbPath, columns: cols, srv: smtpSrv}
	f.writeColumn(t, 31, "Heiße KI-Luft", "")
	// The weekly run is within 200 h, so the proof goes at once.
	p := startServe(t, dbPath, cols, smtpSrv.Addr, "--proof-to", "autorin@example.org", "--proof-before", "200h")

	link := testkit.HoldLink(t, testkit.MailText(t, smtpSrv.WaitMail(t, "autorin@example.org").Data))
	if !strings.HasPrefix(link, p.URL+"/hold?token=") {
		t.Fatalf("hold link %s does not use --base-url", link)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/hold"] button`)),
	)
	if err != nil {
		t.Fatalf("open hold link: %v\n%s", err, p.errs.String())
	}
	if h1 := heading(ctx, t); !strings.Contains(h1, "031") {
		t.Fatalf("hold page heading %q", h1)
	}
	if _, held := columnHold(t, dbPath, 31); held {
		t.Fatal("opening the hold link alone held the column")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/hold"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/hold"]`)),
	)
	if err != nil {
		t.Fatalf("hold in the browser: %v", err)
	}
	if h1 := heading(ctx, t); !strings.Contains(h1, "angehalten") && !strings.Contains(h1, "is held") {
		t.Fatalf("after holding: %q", h1)
	}
	h, held := columnHold(t, dbPath, 31)
	if !held || h.By != mailer.HeldByProof {
		t.Fatalf("after the button: %+v held=%v", h, held)
	}
	out, _, code := f.run(t, "columns")
	if code != 0 || !strings.Contains(out, "held (from the proof mail at ") {
		t.Errorf("columns: %d\n%s", code, out)
	}
}

// columnHold reads column number's hold from the database serve uses.
func columnHold(t testing.TB, dbPath string, number int) (mailer.Hold, bool) {
	t.Helper()
	d := testkit.OpenDBFile(t, dbPath, nil)
	defer d.Close()
	key, err := d.SecretKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h, ok, err := mailer.NewHolds(d, key, time.UTC).Find(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return h, ok
}

// heading is the text of the page's h1.
func heading(ctx context.Context, t *testing.T) string {
	t.Helper()
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatalf("read heading: %v", err)
	}
	return h1
}

// unsubscribeToken is the token a column mail to email would carry.
func unsubscribeToken(t testing.TB, dbPath, email string) string {
	t.Helper()
	d := testkit.OpenDBFile(t, dbPath, nil)
	defer d.Close()
	st := testkit.NewStore(t, d)
	sub, err := st.FindByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return st.UnsubscribeToken(sub.ID)
}
