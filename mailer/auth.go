package mailer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/wneessen/go-mail/smtp"

	"newsletter/internal/loopback"
)

// ErrSMTPConfig marks an SMTP server that answers but cannot be used as
// configured (STARTTLS required but not offered, a certificate that does
// not verify, a login that is refused or cannot be made safely): retrying
// cannot fix it, only a change of the settings can.
var ErrSMTPConfig = errors.New("SMTP server cannot be used as configured")

// Why a login cannot be made, for errors.Is: the caller (the command
// line) knows which setting changes it. Each comes inside an error that
// says it of this server.
var (
	// ErrLoginNeedsTLS: without TLS the server offers no login, or only
	// one that sends the password itself.
	ErrLoginNeedsTLS = errors.New("SMTP login needs TLS")
	// ErrLoginUnverified: the connection is encrypted but the server's
	// certificate does not verify, and the server offers only logins that
	// send the password itself. Anyone in the path could have answered.
	ErrLoginUnverified = errors.New("SMTP login over TLS with a certificate that does not verify")
	// ErrNoLogin: the server offers no login (SMTP AUTH) at all.
	ErrNoLogin = errors.New("SMTP server offers no login")
)

// authError is a login that cannot be attempted: the server offers no
// mechanism that is both supported here and safe on this connection. Its
// text is the whole message; it names the server, never the credentials,
// and no setting of ours: kind (one of the Err*Login* values, or nil) says
// what the caller may advise.
type authError struct {
	msg  string
	kind error
}

func (e *authError) Error() string { return e.msg }

// Is makes errors.Is(err, kind) hold.
func (e *authError) Is(target error) bool { return e.kind != nil && target == e.kind }

// Login mechanisms in order of preference. PLAIN and LOGIN send the
// password itself, so they are used only over TLS whose certificate
// verifies, or to a server on this machine (loopback), as Go's net/smtp
// allows too: the password then never crosses a network. TLS that does not
// verify (opportunistic mode: a self-signed certificate) keeps a passive
// listener out but not someone in the path, who would answer the TLS and
// take the password; Postfix's "may" level does not log in there either.
// The SCRAM mechanisms and CRAM-MD5 never send the password and are fine
// without TLS; the channel-bound SCRAM-*-PLUS fail against someone in the
// path, so any TLS will do for them.
var (
	mechsChannelBound = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} // TLS only
	mechsNoPassword   = []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"}
	mechsPassword     = []string{"PLAIN", "LOGIN"}
)

// login runs SMTP AUTH on a connection that has said EHLO and, if it was
// going to, started TLS. The mechanism is chosen here rather than by
// go-mail's auto-discovery, which refuses PLAIN and LOGIN on any
// connection without TLS (loopback included) with a message that does not
// say what to change.
func login(sc *smtp.Client, o *Options) error {
	host, _, _ := net.SplitHostPort(o.SMTPAddr)
	tlsState, tlsErr := sc.GetTLSConnectionState()
	encrypted := tlsErr == nil
	var verifyErr error
	if encrypted {
		verifyErr = verifyPeer(tlsState, host, o.RootCAs)
	}
	verified := encrypted && verifyErr == nil
	_, offer := sc.Extension("AUTH")
	offered := strings.Fields(strings.ToUpper(offer))

	var candidates []string
	if encrypted {
		candidates = append(candidates, mechsChannelBound...)
	}
	candidates = append(candidates, mechsNoPassword...)
	if verified || loopback.Host(host) {
		candidates = append(candidates, mechsPassword...)
	}
	mech := ""
	for _, m := range candidates {
		if slices.Contains(offered, m) {
			mech = m
			break
		}
	}
	if mech == "" {
		return noLoginError(o.SMTPAddr, offered, encrypted, verifyErr)
	}
	var a smtp.Auth
	switch mech {
	case "SCRAM-SHA-256-PLUS":
		a = smtp.ScramSHA256PlusAuth(o.SMTPUser, o.SMTPPassword, tlsState)
	case "SCRAM-SHA-1-PLUS":
		a = smtp.ScramSHA1PlusAuth(o.SMTPUser, o.SMTPPassword, tlsState)
	case "SCRAM-SHA-256":
		a = smtp.ScramSHA256Auth(o.SMTPUser, o.SMTPPassword)
	case "SCRAM-SHA-1":
		a = smtp.ScramSHA1Auth(o.SMTPUser, o.SMTPPassword)
	case "CRAM-MD5":
		a = smtp.CRAMMD5Auth(o.SMTPUser, o.SMTPPassword)
	case "PLAIN":
		// Safety was decided above; go-mail's own check knows only the
		// names localhost, 127.0.0.1 and ::1 as loopback.
		a = smtp.PlainAuth("", o.SMTPUser, o.SMTPPassword, host, true)
	case "LOGIN":
		a = smtp.LoginAuth(o.SMTPUser, o.SMTPPassword, host, true)
	}
	if err := sc.Auth(a); err != nil {
		return fmt.Errorf("SMTP AUTH %s failed: %w", mech, err)
	}
	return nil
}

// noLoginError says why no login can be made. verifyErr is why the
// certificate of an encrypted connection does not verify, if it does not.
func noLoginError(addr string, offered []string, encrypted bool, verifyErr error) error {
	usesPassword := slices.ContainsFunc(offered, func(m string) bool { return slices.Contains(mechsPassword, m) })
	auth := strings.Join(offered, " ")
	switch {
	case encrypted && verifyErr != nil && usesPassword:
		return &authError{kind: ErrLoginUnverified, msg: fmt.Sprintf("SMTP server %s offers login only by password (AUTH %s), and its TLS certificate does not verify (%s); "+
			"refusing to send the password to a server that may not be the one it claims to be", addr, auth, oneLine(verifyErr.Error()))}
	case !encrypted && usesPassword:
		return &authError{kind: ErrLoginNeedsTLS, msg: fmt.Sprintf("SMTP server %s offers login only without TLS (AUTH %s); "+
			"refusing to send the password in clear text", addr, auth)}
	case !encrypted && len(offered) == 0:
		return &authError{kind: ErrLoginNeedsTLS, msg: fmt.Sprintf("SMTP server %s offers no login (SMTP AUTH) without TLS", addr)}
	case len(offered) == 0:
		return &authError{kind: ErrNoLogin, msg: fmt.Sprintf("SMTP server %s offers no login (SMTP AUTH)", addr)}
	}
	return &authError{msg: fmt.Sprintf("SMTP server %s offers no login mechanism supported here (AUTH %s); supported: %s",
		addr, auth, strings.Join(slices.Concat(mechsChannelBound, mechsNoPassword, mechsPassword), ", "))}
}

// verifyPeer checks the certificate of an encrypted connection as the
// verifying modes do: a chain to roots (nil: the system's) and host among
// its names. A handshake that verified already is taken as is.
func verifyPeer(cs *tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.VerifiedChains) > 0 {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}
