package mailer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

func TestCampaignSendsEachActiveSubscriberOnce(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	active := e.addSubscribers("a", 25, subscribers.StatusActive)
	e.addSubscribers("p", 3, subscribers.StatusPending)
	e.addSubscribers("u", 2, subscribers.StatusUnsubscribed)
	e.addSubscribers("b", 2, subscribers.StatusBounced)

	c := e.start(31)
	if c.Recipients != len(active) {
		t.Fatalf("snapshot has %d recipients, want %d", c.Recipients, len(active))
	}
	if _, err := e.campaigns().Start(ctx, e.column(31)); !errors.Is(err, ErrCampaignExists) {
		t.Fatalf("second campaign for the same column: err = %v, want ErrCampaignExists", err)
	}
	m := e.mailer()
	res, err := m.RunCampaign(ctx, c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != 25 || res.Counts.Failed != 0 || res.Counts.Skipped != 0 || res.Sent != 25 {
		t.Fatalf("result %+v counts %+v", res, res.Counts)
	}
	if !res.Campaign.Finished() {
		t.Fatal("campaign not marked finished")
	}
	got := e.srv.ByRecipient()
	if len(got) != 25 {
		t.Fatalf("%d recipients got mail, want 25", len(got))
	}
	for rcpt, msgs := range got {
		if !strings.HasPrefix(rcpt, "a") {
			t.Errorf("%s got mail but is not active", rcpt)
		}
		if len(msgs) != 1 {
			t.Errorf("%s got %d messages", rcpt, len(msgs))
		}
	}

	// Headers of one message, and the stored Message-ID.
	var msgID string
	if err := e.db.SQL().QueryRow(`SELECT message_id FROM deliveries WHERE subscriber_id = ?`, active[0]).Scan(&msgID); err != nil {
		t.Fatal(err)
	}
	raw := got["a0@example.net"][0]
	if raw.From != "kolumne@example.org" {
		t.Errorf("envelope from %q", raw.From)
	}
	checkCampaignMessage(t, e, raw.Data, active[0], msgID)
}

func checkCampaignMessage(t *testing.T, e *testEnv, data []byte, subscriberID int64, storedID string) {
	t.Helper()
	msg := testkit.ParseMail(t, data)
	h := msg.Header
	for _, name := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Message-Id", "From", "To", "Subject", "Date"} {
		if n := len(h[textprotoKey(name)]); n != 1 {
			t.Errorf("header %s appears %d times, want exactly once", name, n)
		}
	}
	wantUnsub := "<https://news.example.org/unsubscribe?token=" + e.store.UnsubscribeToken(subscriberID) + ">"
	if got := h.Get("List-Unsubscribe"); got != wantUnsub {
		t.Errorf("List-Unsubscribe = %q, want %q", got, wantUnsub)
	}
	if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if got := h.Get("List-Id"); got != "Kniepunkt <kniepunkt.news.example.org>" {
		t.Errorf("List-Id = %q", got)
	}
	idRE := regexp.MustCompile(`^<c31\.[a-z2-7]{24}@example\.org>$`)
	if got := h.Get("Message-Id"); !idRE.MatchString(got) || got != "<"+storedID+">" {
		t.Errorf("Message-ID = %q (stored %q)", got, storedID)
	}
	if got := h.Get("User-Agent"); got != "newsletter" {
		t.Errorf("User-Agent = %q", got)
	}
	if got := h.Get("X-Mailer"); got != "newsletter" {
		t.Errorf("X-Mailer = %q", got)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Leserin a0" || to[0].Address != "a0@example.net" {
		t.Errorf("To = %v, %v", to, err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(h.Get("Subject"))
	if subj != "KNIEPUNKT 031: Heiße KI-Luft" {
		t.Errorf("Subject = %q", subj)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", types)
	}
}

func textprotoKey(s string) string {
	// net/mail keys headers in canonical MIME form.
	if s == "Message-Id" {
		return "Message-Id"
	}
	return mimeCanonical(s)
}

func mimeCanonical(s string) string {
	parts := strings.Split(s, "-")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
	}
	return strings.Join(parts, "-")
}

func TestTemporaryFailuresAreRetried(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 50, subscribers.StatusActive)
	// Every fifth recipient is greylisted on the first try.
	e.srv.Rcpt = func(rcpt string, attempt int) error {
		if attempt == 1 && strings.HasSuffix(strings.TrimSuffix(rcpt, "@example.net"), "5") || attempt == 1 && strings.HasSuffix(strings.TrimSuffix(rcpt, "@example.net"), "0") {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again"}
		}
		return nil
	}
	c := e.start(31)
	res, err := e.mailer().RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != 50 {
		t.Fatalf("counts %+v", res.Counts)
	}
	for rcpt, msgs := range e.srv.ByRecipient() {
		if len(msgs) != 1 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
	var retried int
	e.db.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE attempts = 2 AND state = 'sent'`).Scan(&retried)
	if retried != 10 {
		t.Errorf("%d deliveries took two attempts, want 10", retried)
	}
}

func TestRetryWaitLeftForServe(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 5, subscribers.StatusActive)
	e.srv.Rcpt = func(rcpt string, attempt int) error {
		if rcpt == "a1@example.net" {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}
	c := e.start(31)
	// The first retry is an hour away, beyond --wait: the run stops and
	// leaves it pending; the campaign is not finished.
	m := e.mailer(func(o *Options) { o.RetryBackoff = time.Hour; o.RetryFor = 72 * time.Hour })
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Finished() || res.Counts.Pending != 1 || res.Counts.Waiting != 1 || res.Counts.Sent != 4 || res.Campaign.Finished() {
		t.Fatalf("counts %+v finished %v", res.Counts, res.Campaign.Finished())
	}
	if res.NextRetry.Before(time.Now().Add(30 * time.Minute)) {
		t.Errorf("next retry %v, want about an hour away", res.NextRetry)
	}
	var reply string
	e.db.SQL().QueryRow(`SELECT last_reply FROM deliveries WHERE state = 'pending'`).Scan(&reply)
	if !strings.HasPrefix(reply, "421 ") {
		t.Errorf("last reply %q", reply)
	}
}

func TestRetriesGiveUpAfterRetryFor(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 2, subscribers.StatusActive)
	e.srv.Rcpt = func(rcpt string, attempt int) error {
		if rcpt == "a1@example.net" {
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
		}
		return nil
	}
	c := e.start(31)
	m := e.mailer(func(o *Options) { o.RetryBackoff = 20 * time.Millisecond; o.RetryFor = 100 * time.Millisecond })
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Failed != 1 || res.Counts.Sent != 1 {
		t.Fatalf("counts %+v", res.Counts)
	}
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reply, "gave up after") || !strings.Contains(res.Failures[0].Reply, "450") {
		t.Fatalf("failures %+v", res.Failures)
	}
}

func TestPermanentFailuresAndBounces(t *testing.T) {
	e := newTestEnv(t)
	ids := e.addSubscribers("a", 6, subscribers.StatusActive)
	e.srv.Rcpt = func(rcpt string, attempt int) error {
		switch rcpt {
		case "a1@example.net", "a2@example.net":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "a3@example.net":
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by policy"}
		}
		return nil
	}
	c := e.start(31)
	res, err := e.mailer().RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != 3 || res.Counts.Failed != 3 {
		t.Fatalf("counts %+v", res.Counts)
	}
	if len(res.Failures) != 2 || res.Failures[0].Count != 2 || !strings.HasPrefix(res.Failures[0].Reply, "550 5.1.1") {
		t.Fatalf("failures %+v", res.Failures)
	}
	active, bounced := subscribers.StatusActive, subscribers.StatusBounced
	for i, want := range []subscribers.Status{active, bounced, bounced, active, active, active} {
		if got := e.subscriberStatus(ids[i]); got != want {
			t.Errorf("subscriber a%d is %s, want %s", i, got, want)
		}
	}
	// One attempt each: 5xx is final.
	var maxAttempts int
	e.db.SQL().QueryRow(`SELECT MAX(attempts) FROM deliveries`).Scan(&maxAttempts)
	if maxAttempts != 1 {
		t.Errorf("max attempts %d, want 1", maxAttempts)
	}
	evs, err := e.store.Events(context.Background(), ids[1])
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Kind != subscribers.EventBounced {
		t.Errorf("bounce evidence %+v %v", evs, err)
	}
}

// countLines counts log lines at level WARN (or above) that contain s.
func countLines(log, level, s string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level="+level) && strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func TestServerDownThenBack(t *testing.T) {
	const n, workers = 400, 4
	e := newTestEnv(t)
	e.addSubscribers("a", n, subscribers.StatusActive)
	c := e.start(31)
	e.srv.Stop()
	var logs testkit.SyncBuffer
	m := e.mailer(func(o *Options) {
		o.Workers = workers
		o.BatchSize = 50
		o.Logger = logs.Logger(slog.LevelDebug)
	})

	// A pass with no wait ends at once, charging no delivery.
	res, err := m.RunCampaign(context.Background(), c, RunOptions{})
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrSMTPUnreachable) || ue.Addr != e.srv.Addr {
		t.Fatalf("err = %v, want unreachable", err)
	}
	if res.Counts.Pending != n || res.Counts.Waiting != 0 || res.Attempted != 0 {
		t.Fatalf("after a pass with the server down: %+v, attempted %d", res.Counts, res.Attempted)
	}

	// A run that may wait rides the outage out.
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = m.RunCampaign(context.Background(), c, RunOptions{Wait: 5 * time.Minute})
	}()
	testkit.Eventually(t, "a few failed connection rounds", func() bool {
		m.sender.outage.mu.Lock()
		defer m.sender.outage.mu.Unlock()
		return m.sender.outage.rounds >= 4
	})
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != n {
		t.Fatalf("counts %+v", res.Counts)
	}
	got := e.srv.ByRecipient()
	if len(got) != n {
		t.Fatalf("%d recipients got mail, want %d", len(got), n)
	}
	for rcpt, msgs := range got {
		if len(msgs) != 1 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
	var maxAttempts int
	e.db.SQL().QueryRow(`SELECT MAX(attempts) FROM deliveries`).Scan(&maxAttempts)
	if maxAttempts != 1 {
		t.Errorf("max attempts %d: the outage was charged to deliveries", maxAttempts)
	}
	out := logs.String()
	warnings := countLines(out, "WARN", "")
	outage := countLines(out, "WARN", "cannot connect to the SMTP server")
	if outage < 1 || warnings > 2*workers {
		t.Errorf("%d warnings (%d about the outage) for %d deliveries:\n%s", warnings, outage, n, out)
	}
	if countLines(out, "INFO", "SMTP server reachable again") != 1 {
		t.Errorf("no log line about the server coming back:\n%s", out)
	}
}

func TestServerGoesDownMidCampaign(t *testing.T) {
	const n = 200
	e := newTestEnv(t)
	e.addSubscribers("a", n, subscribers.StatusActive)
	e.srv.SetDelay(2 * time.Millisecond)
	c := e.start(31)
	var logs testkit.SyncBuffer
	m := e.mailer(func(o *Options) {
		o.BatchSize = 20
		o.RetryBackoff = time.Hour // a charged retry would not come due in this test
		o.RetryFor = 24 * time.Hour
		o.Logger = logs.Logger(slog.LevelInfo)
	})
	done := make(chan struct{})
	var res *RunResult
	var err error
	go func() {
		defer close(done)
		res, err = m.RunCampaign(context.Background(), c, RunOptions{Wait: 5 * time.Minute})
	}()
	testkit.Eventually(t, "some messages", func() bool { return e.srv.Count() >= 20 })
	e.srv.Stop()
	testkit.Eventually(t, "the outage to be noticed", func() bool { return m.sender.outage.wait() > 0 })
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	// Messages cut off in DATA are retried after RetryBackoff (an hour);
	// connections found dead at MAIL FROM, or not opened, cost nothing.
	waiting := res.Counts.Waiting
	if res.Counts.Sent+res.Counts.Pending != n || res.Counts.Pending != waiting || waiting > 4 {
		t.Fatalf("counts %+v\n%s", res.Counts, logs.String())
	}
	for rcpt, msgs := range e.srv.ByRecipient() {
		if len(msgs) != 1 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
	if w := countLines(logs.String(), "WARN", ""); w > 2*4+waiting {
		t.Errorf("%d warnings:\n%s", w, logs.String())
	}
}

func TestDroppedConnectionMidDataIsRetried(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 20, subscribers.StatusActive)
	e.srv.Drop = func(rcpt string, attempt int) bool { return attempt == 1 && strings.HasPrefix(rcpt, "a1") }
	c := e.start(31)
	res, err := e.mailer().RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != 20 {
		t.Fatalf("counts %+v", res.Counts)
	}
	got := e.srv.ByRecipient()
	if len(got) != 20 {
		t.Fatalf("%d recipients", len(got))
	}
	for rcpt, msgs := range got {
		if len(msgs) != 1 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
}

func TestTwoSendersNeverDoubleSend(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 300, subscribers.StatusActive)
	e.srv.SetDelay(time.Millisecond)
	c := e.start(31)
	small := func(o *Options) { o.BatchSize = 10; o.Workers = 3 }
	m1, m2 := e.mailer(small), e.mailer(small)
	var wg sync.WaitGroup
	var attempted [2]int
	for i, m := range []*Mailer{m1, m2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
			if err != nil {
				t.Error(err)
				return
			}
			attempted[i] = res.Attempted
		}()
	}
	wg.Wait()
	got := e.srv.ByRecipient()
	if len(got) != 300 {
		t.Fatalf("%d recipients got mail, want 300", len(got))
	}
	for rcpt, msgs := range got {
		if len(msgs) != 1 {
			t.Errorf("%s got %d messages", rcpt, len(msgs))
		}
	}
	if attempted[0]+attempted[1] != 300 {
		t.Errorf("attempts %v", attempted)
	}
	t.Logf("split between senders: %v", attempted)
}

func TestUnsubscribeMidCampaignIsHonoured(t *testing.T) {
	e := newTestEnv(t)
	ids := e.addSubscribers("a", 60, subscribers.StatusActive)
	e.srv.SetDelay(20 * time.Millisecond)
	c := e.start(31)
	m := e.mailer(func(o *Options) { o.BatchSize = 5; o.Workers = 1 })
	done := make(chan *RunResult)
	go func() {
		res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	testkit.Eventually(t, "the first message", func() bool { return e.srv.Count() > 0 })
	last := ids[len(ids)-1]
	if _, err := e.store.Unsubscribe(context.Background(), last, subscribers.Evidence{Detail: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Forget(context.Background(), "a58@example.net"); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res == nil {
		t.FailNow()
	}
	if got := e.srv.ByRecipient(); len(got["a59@example.net"]) != 0 || len(got["a58@example.net"]) != 0 || len(got) != 58 {
		t.Fatalf("unsubscribed/erased got mail, or %d recipients", len(got))
	}
	if res.Counts.Skipped != 2 || res.Counts.Sent != 58 || !res.Finished() {
		t.Fatalf("counts %+v", res.Counts)
	}
	// The erased person's row stays, without the person.
	var nulls int
	e.db.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE subscriber_id IS NULL AND state = 'skipped'`).Scan(&nulls)
	if nulls != 1 {
		t.Errorf("%d erased deliveries, want 1", nulls)
	}
}

func TestExpiredLeaseOfDeadSenderIsTakenOver(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 20, subscribers.StatusActive)
	c := e.start(31)
	// A sender that claimed 8 deliveries and died.
	claimed, _, err := e.campaigns().claim(context.Background(), c.ID, "dead-sender", 300*time.Millisecond, 8)
	if err != nil || len(claimed) != 8 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	res, err := e.mailer().RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != 20 {
		t.Fatalf("counts %+v", res.Counts)
	}
	var owned int
	e.db.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE lease_owner IS NOT NULL`).Scan(&owned)
	if owned != 0 {
		t.Errorf("%d rows still leased", owned)
	}
}

func TestMandatorySTARTTLSFailsClearly(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 3, subscribers.StatusActive)
	c := e.start(31)
	m := e.mailer(func(o *Options) { o.SMTPTLS = TLSStartTLS; o.SMTPPassword = "s3cret-pass"; o.SMTPUser = "u" })
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a STARTTLS error", err)
	}
	if strings.Contains(err.Error(), "s3cret-pass") {
		t.Fatal("password in error")
	}
	if res == nil || res.Counts.Pending != 3 || res.Counts.Waiting != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestRefusedLoginFailsClearly(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 5, subscribers.StatusActive)
	e.srv.RefuseAuth = true
	c := e.start(31)
	m := e.mailer(func(o *Options) { o.SMTPTLS = TLSOff; o.SMTPUser = "u"; o.SMTPPassword = "s3cret-pass" })
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "535") || errors.Is(err, ErrSMTPUnreachable) {
		t.Fatalf("err = %v, want the 535 login refusal", err)
	}
	if strings.Contains(err.Error(), "s3cret-pass") {
		t.Fatal("password in error")
	}
	if res == nil || res.Counts.Pending != 5 || res.Counts.Waiting != 0 || e.srv.Count() != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestVerdictOf(t *testing.T) {
	tests := []struct {
		err  error
		want verdict
	}{
		{nil, verdictSent},
		{io.EOF, verdictRetry},
		{errors.New("write tcp: broken pipe"), verdictRetry},
		{tpErr(421, "4.3.0 shutting down"), verdictRetry},
		{tpErr(451, "4.7.1 greylisted"), verdictRetry},
		{tpErr(550, "5.1.1 user unknown"), verdictBounced},
		{tpErr(550, "no such user"), verdictBounced},
		{tpErr(550, "5.7.1 spam"), verdictFailed},
		{tpErr(552, "5.2.2 mailbox full"), verdictFailed},
		{tpErr(554, "5.2.1 mailbox disabled"), verdictBounced},
		{&senderRefusedError{tpErr(550, "5.1.0 sender rejected")}, verdictFailed},
		// One hard-bounce rule with bounce reports (mailer/bounce):
		{tpErr(550, "rejected as spam"), verdictFailed},
		{tpErr(550, "5.1.10 recipient has a null MX"), verdictBounced},
		{tpErr(550, "5.4.4 unable to route"), verdictBounced},
	}
	for _, tt := range tests {
		if got, reply := verdictOf(tt.err); got != tt.want {
			t.Errorf("verdictOf(%v) = %v (%q), want %v", tt.err, got, reply, tt.want)
		}
	}
}

func tpErr(code int, msg string) error { return &textproto.Error{Code: code, Msg: msg} }

func TestConnectionLimitShrinksThePool(t *testing.T) {
	const n = 120
	e := newTestEnv(t)
	e.addSubscribers("a", n, subscribers.StatusActive)
	e.srv.MaxConns = 2
	c := e.start(31)
	var logs testkit.SyncBuffer
	m := e.mailer(func(o *Options) {
		o.Workers = 4
		o.BatchSize = 10
		o.Logger = logs.Logger(slog.LevelInfo)
	})
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != n {
		t.Fatalf("counts %+v", res.Counts)
	}
	for rcpt, msgs := range e.srv.ByRecipient() {
		if len(msgs) != 1 {
			t.Errorf("%s got %d", rcpt, len(msgs))
		}
	}
	var maxAttempts int
	e.db.SQL().QueryRow(`SELECT MAX(attempts) FROM deliveries`).Scan(&maxAttempts)
	if maxAttempts != 1 {
		t.Errorf("max attempts %d: refused connections were charged to deliveries", maxAttempts)
	}
	// Refused workers may retry a few times while the others send; what
	// matters is that the log does not grow with the list.
	if w, refused := countLines(logs.String(), "WARN", ""), countLines(logs.String(), "WARN", "too many connections"); w > 4 || refused < 1 || refused > 4 {
		t.Errorf("%d warnings (%d about refused connections), want 1 to 4:\n%s", w, refused, logs.String())
	}
}

// --rate caps the messages per second over all connections: 11 messages
// at 20 per second cannot all go out in less than half a second (the first
// goes at once, each further one waits its 50 ms). Unlimited, they do.
func TestRateLimitsTheCampaign(t *testing.T) {
	for _, tc := range []struct {
		rate    float64
		atLeast time.Duration
	}{{20, 500 * time.Millisecond}, {0, 0}} {
		e := newTestEnv(t)
		e.addSubscribers("a", 11, subscribers.StatusActive)
		c := e.start(31)
		m := e.mailer(func(o *Options) { o.Rate = tc.rate; o.Workers = 4 })
		t0 := time.Now()
		res, err := m.RunCampaign(context.Background(), c, RunOptions{})
		took := time.Since(t0)
		if err != nil || res.Counts.Sent != 11 {
			t.Fatalf("rate %v: %+v, %v", tc.rate, res.Counts, err)
		}
		if took < tc.atLeast {
			t.Errorf("rate %v: 11 messages in %v, want at least %v", tc.rate, took, tc.atLeast)
		}
	}
}
