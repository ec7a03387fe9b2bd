package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// checkAllEncrypted fails unless want messages came, each over TLS.
func checkAllEncrypted(t *testing.T, srv *testkit.SMTPServer, want int) {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != want {
		t.Fatalf("%d messages, want %d", len(msgs), want)
	}
	for _, m := range msgs {
		if !m.TLS {
			t.Fatalf("message to %s came in clear text", m.To)
		}
	}
}

// The stock Debian Postfix on localhost: STARTTLS with a self-signed
// "snakeoil" certificate that names neither 127.0.0.1 nor localhost. The
// default mode encrypts and delivers (opportunistic security, RFC 7435);
// before, every message failed on the certificate.
func TestOpportunisticEncryptsWithSelfSignedCertificate(t *testing.T) {
	e := newTestEnv(t)
	e.srv.ServeTLS(t, testkit.SelfSignedCert(t, "debian"), false)
	e.addSubscribers("a", 3, subscribers.StatusActive)
	c := e.start(31)
	m := e.mailer() // opportunistic, the default
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Sent != 3 {
		t.Fatalf("counts %+v", res.Counts)
	}
	checkAllEncrypted(t, e.srv, 3)

	// The admin's test copy goes the same way.
	if err := m.SendTest(context.Background(), e.column(31), "probe@example.com"); err != nil {
		t.Fatal(err)
	}
	checkAllEncrypted(t, e.srv, 4)
}

// starttls and tls verify the certificate: a private relay's CA is refused
// until it is trusted (RootCAs, from --smtp-ca), then mail goes out.
func TestVerifyingModesNeedTheCA(t *testing.T) {
	for _, mode := range []TLSMode{TLSStartTLS, TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			e := newTestEnv(t)
			ca := testkit.NewCA(t)
			e.srv.ServeTLS(t, ca.Issue(t, "127.0.0.1", "localhost"), mode == TLSImplicit)
			e.addSubscribers("a", 3, subscribers.StatusActive)
			c := e.start(31)

			m := e.mailer(func(o *Options) { o.SMTPTLS = mode })
			res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Hour})
			var cve *tls.CertificateVerificationError
			if err == nil || !errors.Is(err, ErrSMTPConfig) || !errors.As(err, &cve) || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("without the CA: err = %v, want a configuration error about the certificate", err)
			}
			if e.srv.Count() != 0 || res == nil || res.Counts.Pending != 3 || res.Counts.Waiting != 0 {
				t.Fatalf("without the CA: %d messages, result %+v", e.srv.Count(), res)
			}

			m = e.mailer(func(o *Options) { o.SMTPTLS = mode; o.RootCAs = ca.Pool() })
			res, err = m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
			if err != nil || res.Counts.Sent != 3 {
				t.Fatalf("with the CA: %v, %+v", err, res)
			}
			checkAllEncrypted(t, e.srv, 3)
		})
	}
}

// A password goes only over TLS whose certificate verifies, or to a
// server on this machine: over unverified TLS someone in the path could
// have answered and would take it. The error says so, in terms of the
// server (the command line adds which setting to change).
func TestPasswordLoginOverUnverifiedTLS(t *testing.T) {
	e := newTestEnv(t)
	e.srv.AuthUser, e.srv.AuthPassword = "kolumne", testPassword
	e.srv.ServeTLS(t, testkit.SelfSignedCert(t, "debian"), false)
	e.addSubscribers("a", 2, subscribers.StatusActive)
	c := e.start(31)

	m := e.mailer(remoteName(e), withLogin(testPassword))
	_, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Hour})
	if err == nil || !errors.Is(err, ErrLoginUnverified) || !errors.Is(err, ErrSMTPConfig) ||
		!strings.HasPrefix(err.Error(), "SMTP server mail.example.test:587 offers login only by password (AUTH PLAIN), and its TLS certificate does not verify (x509: ") ||
		!strings.HasSuffix(err.Error(), "refusing to send the password to a server that may not be the one it claims to be") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), testPassword) {
		t.Errorf("err %q names a flag or the password", err)
	}
	if e.srv.Logins() != 0 || e.srv.Count() != 0 {
		t.Fatalf("%d logins, %d messages", e.srv.Logins(), e.srv.Count())
	}

	// The same relay on this machine: the password never crosses a network.
	m = e.mailer(withLogin(testPassword))
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil || res.Counts.Sent != 2 || e.srv.Logins() < 1 {
		t.Fatalf("loopback: %v, %+v, %d logins", err, res, e.srv.Logins())
	}
	checkAllEncrypted(t, e.srv, 2)
}

// Opportunistic TLS whose certificate verifies against a trusted CA counts
// as verified: the login to a remote relay goes ahead.
func TestPasswordLoginOverVerifiedOpportunisticTLS(t *testing.T) {
	e := newTestEnv(t)
	e.srv.AuthUser, e.srv.AuthPassword = "kolumne", testPassword
	ca := testkit.NewCA(t)
	e.srv.ServeTLS(t, ca.Issue(t, "mail.example.test"), false)
	e.addSubscribers("a", 2, subscribers.StatusActive)
	c := e.start(31)
	m := e.mailer(remoteName(e), withLogin(testPassword), func(o *Options) { o.RootCAs = ca.Pool() })
	res, err := m.RunCampaign(context.Background(), c, RunOptions{Wait: time.Minute})
	if err != nil || res.Counts.Sent != 2 || e.srv.Logins() < 1 {
		t.Fatalf("%v, %+v, %d logins", err, res, e.srv.Logins())
	}
	checkAllEncrypted(t, e.srv, 2)
}

// Library errors speak of the server, never of our flags: the command line
// maps the kind (errors.Is) to the setting that changes it.
func TestLoginErrorsNameNoFlag(t *testing.T) {
	for _, tc := range []struct {
		offered   []string
		encrypted bool
		verifyErr error
		kind      error
	}{
		{[]string{"PLAIN"}, false, nil, ErrLoginNeedsTLS},
		{nil, false, nil, ErrLoginNeedsTLS},
		{nil, true, nil, ErrNoLogin},
		{[]string{"LOGIN"}, true, errors.New("x509: certificate signed by unknown authority"), ErrLoginUnverified},
	} {
		err := noLoginError("mail.example.test:587", tc.offered, tc.encrypted, tc.verifyErr)
		if !errors.Is(err, tc.kind) || strings.Contains(err.Error(), "--") {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}
