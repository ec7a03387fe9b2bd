package mailer

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// ErrSMTPConfig marks an SMTP server that answers but cannot be used as
// configured (STARTTLS required but not offered, a certificate that does
// not verify, a login that is refused or cannot be made safely): retrying
// cannot fix it, only a change of the settings can.
var ErrSMTPConfig = errors.New("SMTP server cannot be used as configured")

// authError is a login that cannot be attempted: the server offers no
// mechanism that is both supported here and safe on this connection. Its
// text is the whole message; it names the server, never the credentials.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// Login mechanisms in order of preference. PLAIN and LOGIN send the
// password itself, so they are used only over TLS, or to a server on this
// machine (loopback), as Go's net/smtp allows too: the password then never
// crosses a network. The SCRAM mechanisms and CRAM-MD5 never send it and
// are fine without TLS.
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
	_, offer := sc.Extension("AUTH")
	offered := strings.Fields(strings.ToUpper(offer))

	var candidates []string
	if encrypted {
		candidates = append(candidates, mechsChannelBound...)
	}
	candidates = append(candidates, mechsNoPassword...)
	if encrypted || isLoopback(host) {
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
		return noLoginError(o.SMTPAddr, offered, encrypted)
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

// noLoginError says why no login can be made and what to change.
func noLoginError(addr string, offered []string, encrypted bool) error {
	usesPassword := slices.ContainsFunc(offered, func(m string) bool { return slices.Contains(mechsPassword, m) })
	var msg string
	switch {
	case !encrypted && usesPassword:
		msg = fmt.Sprintf("SMTP server %s offers login only without TLS (AUTH %s), which would send the password in clear; "+
			"use --smtp-tls starttls or tls (or --smtp-tls off with a server that needs no login)", addr, strings.Join(offered, " "))
	case !encrypted && len(offered) == 0:
		msg = fmt.Sprintf("SMTP server %s offers no login (SMTP AUTH) without TLS; "+
			"use --smtp-tls starttls or tls, or leave --smtp-user empty for a server that needs no login", addr)
	case len(offered) == 0:
		msg = fmt.Sprintf("SMTP server %s offers no login (SMTP AUTH); leave --smtp-user empty for a server that needs no login", addr)
	default:
		msg = fmt.Sprintf("SMTP server %s offers no login mechanism supported here (AUTH %s); supported: %s",
			addr, strings.Join(offered, " "), strings.Join(append(append(append([]string{}, mechsChannelBound...), mechsNoPassword...), mechsPassword...), ", "))
	}
	return &authError{msg: msg}
}

// isLoopback reports whether host names this machine: localhost or a
// loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
