package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"newsletter/internal/testkit"
)

// tlsFixture is the send fixture with its SMTP server restarted to speak
// STARTTLS (or implicit TLS) with cert.
func tlsFixture(t *testing.T, subscribers int, implicit bool, cert tls.Certificate) *sendFixture {
	t.Helper()
	f := newSendFixture(t, subscribers)
	f.srv.ServeTLS(t, cert, implicit)
	return f
}

// The stock Debian Postfix on localhost with its "snakeoil" certificate,
// and the default --smtp-tls: the campaign and the test copy go out
// encrypted (they failed on the certificate before).
func TestSendThroughSelfSignedRelay(t *testing.T) {
	f := tlsFixture(t, 3, false, testkit.SelfSignedCert(t, "debian"))
	env := f.env()
	delete(env, "NEWSLETTER_SMTP_TLS") // the default: opportunistic
	c := &cli{t: t, dir: f.dir, env: env}
	out, errOut, code := c.run("", "send", "--db", f.dbPath, "--to", "probe@example.com")
	if code != 0 {
		t.Fatalf("send --to: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = c.run("", "send", "--db", f.dbPath)
	if code != 0 || !strings.Contains(out, "sent                3") {
		t.Fatalf("send: exit %d\n%s%s", code, out, errOut)
	}
	for _, m := range f.srv.Messages() {
		if !m.TLS {
			t.Errorf("message to %s came in clear text", m.To)
		}
	}
	if f.srv.Count() != 4 {
		t.Errorf("%d messages, want 4", f.srv.Count())
	}
}

// --smtp-tls starttls and tls verify: a private relay's certificate is
// refused, with the flag that fixes it, until --smtp-ca names its CA.
func TestSendSMTPCA(t *testing.T) {
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			ca := testkit.NewCA(t)
			f := tlsFixture(t, 2, mode == "tls", ca.Issue(t, "127.0.0.1"))
			env := f.env()
			env["NEWSLETTER_SMTP_TLS"] = mode
			env["NEWSLETTER_WAIT"] = "1h" // a configuration error is not waited for
			c := &cli{t: t, dir: f.dir, env: env}
			_, errOut, code := c.run("", "send", "--db", f.dbPath)
			if code != 1 || !strings.Contains(errOut, "certificate signed by unknown authority; trust the CA that signed it with --smtp-ca FILE") ||
				strings.Count(errOut, "newsletter: ") != 1 {
				t.Fatalf("without --smtp-ca: exit %d\n%s", code, errOut)
			}
			if f.srv.Count() != 0 {
				t.Fatalf("%d messages without the CA", f.srv.Count())
			}

			caFile := filepath.Join(f.dir, "relay-ca.pem")
			if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := c.run("", "send", "--db", f.dbPath, "--smtp-ca", caFile)
			if code != 0 || !strings.Contains(out, "sent                2") {
				t.Fatalf("with --smtp-ca: exit %d\n%s%s", code, out, errOut)
			}
			for _, m := range f.srv.Messages() {
				if !m.TLS {
					t.Errorf("message to %s came in clear text", m.To)
				}
			}
		})
	}
}

// --smtp-ca is checked where it is read: a file that cannot be read or
// holds no certificate is named at once, before any database or server.
func TestSMTPCAIsChecked(t *testing.T) {
	c := newCLI(t)
	notPEM := filepath.Join(c.dir, "key.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(c.dir, "missing.pem"), "--smtp-ca: cannot read " + filepath.Join(c.dir, "missing.pem") + ": no such file or directory"},
		{notPEM, "--smtp-ca: " + notPEM + " holds no PEM certificate"},
	} {
		_, errOut, code := c.run("", "send", "--dry-run", "--smtp-ca", tc.file)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "newsletter: ") != 1 {
			t.Errorf("%s: exit %d, %q", tc.file, code, errOut)
		}
	}
}

// The library's login errors speak of the server; send names the flag
// that changes it.
func TestSendLoginErrorNamesTheFlag(t *testing.T) {
	f := newSendFixture(t, 1) // offers no AUTH, no STARTTLS
	env := f.env()
	env["NEWSLETTER_SMTP_USER"] = "kolumne"
	env["NEWSLETTER_SMTP_PASSWORD"] = "s3cret-pass"
	c := &cli{t: t, dir: f.dir, env: env}
	_, errOut, code := c.run("", "send", "--db", f.dbPath, "--to", "probe@example.com")
	want := "offers no login (SMTP AUTH) without TLS; use --smtp-tls starttls or tls, or leave --smtp-user empty for a server that needs no login"
	if code != 1 || !strings.Contains(errOut, want) || strings.Contains(errOut, "s3cret-pass") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// A file error wrapped on its way up keeps what wrapped it on stderr: the
// reader learns it is the DKIM key that is missing, not just a path.
func TestWrappedFileErrorKeepsItsContext(t *testing.T) {
	f := newSendFixture(t, 1)
	missing := filepath.Join(f.dir, "missing.pem")
	_, errOut, code := f.run(t, "send", "--dkim-selector", "s1", "--dkim-key", missing)
	if code != 1 || !strings.Contains(errOut, "DKIM key") || !strings.Contains(errOut, missing+": no such file or directory") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}
