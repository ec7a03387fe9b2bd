package mailer

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

const testPassword = "s3cret-pass"

// remoteName makes the mailer reach the test server (on loopback) under a
// name that is not loopback, as a mail server on another machine would be.
func remoteName(e *testEnv) func(*Options) {
	return func(o *Options) {
		o.SMTPAddr = "mail.example.test:587"
		o.dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, e.srv.Addr)
		}
	}
}

func withLogin(password string) func(*Options) {
	return func(o *Options) { o.SMTPUser = "kolumne"; o.SMTPPassword = password }
}

func TestLoginWithoutTLSIsRefusedClearly(t *testing.T) {
	for _, mode := range []TLSMode{TLSOff, TLSOpportunistic} {
		t.Run(string(mode), func(t *testing.T) {
			e := newTestEnv(t)
			e.srv.AuthUser, e.srv.AuthPassword = "kolumne", testPassword // offers AUTH PLAIN, no STARTTLS
			e.addSubscribers("a", 5, subscribers.StatusActive)
			c := e.start(31)
			m := e.mailer(remoteName(e), withLogin(testPassword), func(o *Options) { o.SMTPTLS = mode })
			// A configuration error ends the run at once, whatever the wait.
			res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Hour})
			want := "SMTP server mail.example.test:587 offers login only without TLS (AUTH PLAIN); " +
				"refusing to send the password in clear text"
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if !errors.Is(err, ErrSMTPConfig) || errors.Is(err, ErrSMTPUnreachable) {
				t.Errorf("err %v is not a configuration error", err)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err %q: password or several lines", err)
			}
			if e.srv.Logins() != 0 || e.srv.Count() != 0 {
				t.Errorf("%d logins, %d messages", e.srv.Logins(), e.srv.Count())
			}
			if res == nil || res.Counts.Pending != 5 || res.Counts.Waiting != 0 {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestPlainLoginToLoopbackServer(t *testing.T) {
	e := newTestEnv(t)
	e.srv.AuthUser, e.srv.AuthPassword = "kolumne", testPassword
	e.addSubscribers("a", 5, subscribers.StatusActive)
	c := e.start(31)
	// The server is on 127.0.0.1: the password never crosses a network.
	m := e.mailer(withLogin(testPassword), func(o *Options) { o.SMTPTLS = TLSOff })
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished() || res.Counts.Sent != 5 || e.srv.Logins() < 1 {
		t.Fatalf("counts %+v, %d logins", res.Counts, e.srv.Logins())
	}

	// A wrong password is refused by the server: a configuration error too.
	c2 := e.start(32)
	m = e.mailer(withLogin("wrong-"+testPassword), func(o *Options) { o.SMTPTLS = TLSOff })
	_, err = m.RunCampaign(context.Background(), c2, RunOptions{Wait: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "535") || !errors.Is(err, ErrSMTPConfig) {
		t.Fatalf("err = %v, want the 535 refusal", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatal("password in error")
	}
}

func TestNoLoginOfferedSaysWhatToChange(t *testing.T) {
	e := newTestEnv(t) // offers no AUTH at all
	e.addSubscribers("a", 1, subscribers.StatusActive)
	c := e.start(31)
	m := e.mailer(withLogin(testPassword), func(o *Options) { o.SMTPTLS = TLSOff })
	_, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "offers no login (SMTP AUTH) without TLS") ||
		!errors.Is(err, ErrLoginNeedsTLS) || !errors.Is(err, ErrSMTPConfig) {
		t.Fatalf("err = %v", err)
	}
}

// TestServeReportsConfigErrorOnceAndBacksOff runs serve's loops (the retry
// loop and the outbox) against a server that cannot be used as configured:
// the error is logged once, and connections are spaced by the outage's
// backoff instead of one every retry interval.
func TestServeReportsConfigErrorOnceAndBacksOff(t *testing.T) {
	e := newTestEnv(t)
	e.srv.AuthUser, e.srv.AuthPassword = "kolumne", testPassword
	e.addSubscribers("a", 3, subscribers.StatusActive)
	e.start(31)
	pending := e.addSubscribers("p", 1, subscribers.StatusPending)
	ctx := context.Background()
	err := e.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := db.EnqueueOutbox(ctx, tx, db.OutboxItem{Kind: db.OutboxKindConfirm, SubscriberID: pending[0], Recipient: "p0@example.net"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.SyncBuffer
	m := e.mailer(remoteName(e), withLogin(testPassword), func(o *Options) {
		o.SMTPTLS = TLSOff
		o.Workers = 1
		o.Logger = logs.Logger(slog.LevelInfo)
	})
	s, err := m.NewScheduler("@yearly", time.UTC, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunUntil(t, "a few connection rounds", func(ctx context.Context) {
		s.Start(ctx)
		m.RunOutbox(ctx, &fakeOutboxMails{sent: map[int64]string{}}, 5*time.Millisecond)
		s.Stop()
	}, func() bool {
		m.sender.outage.mu.Lock()
		defer m.sender.outage.mu.Unlock()
		return m.sender.outage.rounds >= 4
	})

	m.sender.outage.mu.Lock()
	rounds := m.sender.outage.rounds
	m.sender.outage.mu.Unlock()
	// Each round is one connection of the retry loop or the outbox (both
	// wait for the round to be due; at most both in the same round).
	if sessions := e.srv.Sessions(); sessions > 2*rounds+2 {
		t.Errorf("%d connections in %d backoff rounds: not backing off", sessions, rounds)
	}
	out := logs.String()
	if n := countLines(out, "ERROR", "cannot be used as configured"); n != 1 {
		t.Errorf("the configuration error was logged %d times, want once:\n%s", n, out)
	}
	if n := countLines(out, "ERROR", ""); n != 1 {
		t.Errorf("%d error lines, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "offers login only without TLS") || strings.Contains(out, testPassword) {
		t.Errorf("log:\n%s", out)
	}
	if e.srv.Count() != 0 {
		t.Errorf("%d messages", e.srv.Count())
	}
}
