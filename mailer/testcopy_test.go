package mailer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// The test copy goes through the one send path: a server that is down is
// an outage like any other (recorded, one warning, a clear error), and the
// copy goes out once the server is back and the next round is due.
func TestSendTestRidesTheOutageTracking(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 1, subscribers.StatusActive)
	e.writeColumn(31, "Heiße KI-Luft")
	col := e.column(31)
	e.srv.Stop()
	var logs testkit.SyncBuffer
	m := e.mailer(func(o *Options) { o.Logger = logs.Logger(slog.LevelInfo) })
	ctx := context.Background()

	err := m.SendTest(ctx, col, "probe@example.com")
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrSMTPUnreachable) || ue.Addr != e.srv.Addr {
		t.Fatalf("err = %v, want unreachable", err)
	}
	want := "test copy to probe@example.com not sent: SMTP server " + e.srv.Addr + " unreachable since"
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q\nwant it to start with %q, on one line", err, want)
	}
	if m.sender.outage.wait() == 0 {
		t.Error("the failed connection opened no outage")
	}
	// Again during the outage: refused at once, still one warning.
	if err := m.SendTest(ctx, col, "probe@example.com"); !errors.Is(err, ErrSMTPUnreachable) {
		t.Fatalf("second try: err = %v", err)
	}
	if n := countLines(logs.String(), "WARN", "cannot connect to the SMTP server"); n != 1 {
		t.Errorf("%d outage warnings, want 1:\n%s", n, logs.String())
	}

	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the next connection round", func() bool { return m.sender.outage.wait() == 0 })
	if err := m.SendTest(ctx, col, "a0@example.net"); err != nil {
		t.Fatal(err)
	}
	if e.srv.Count() != 1 || countLines(logs.String(), "INFO", "SMTP server reachable again") != 1 {
		t.Errorf("%d messages; log:\n%s", e.srv.Count(), logs.String())
	}
	subject := testkit.ParseMail(t, e.srv.Messages()[0].Data).Header.Get("Subject")
	if !strings.Contains(subject, "[Test]") {
		t.Errorf("subject %q is not marked as a test copy", subject)
	}
}
