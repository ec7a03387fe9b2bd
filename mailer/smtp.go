package mailer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync/atomic"
	"syscall"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// newMailClient builds the go-mail client for one connection to host:port
// from the options. It only dials when asked.
func newMailClient(o *Options, host string, port int, extra ...gomail.Option) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(o.SMTPTimeout),
		// One NOOP per message would halve throughput on a busy connection;
		// a dead connection shows on MAIL FROM anyway and is redialled.
		gomail.WithoutNoop(),
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs}
	switch o.SMTPTLS {
	case TLSOff:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		// Encryption whatever the certificate (RFC 7435): refusing a
		// self-signed one would not send in clear instead, it would not
		// send at all. login checks the certificate before a password.
		tc.InsecureSkipVerify = true
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	// No SMTP AUTH here: smtpConn.connect logs in itself (see login), once
	// TLS is settled and the server's offer is known.
	opts = append(opts, extra...)
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %w", o.SMTPAddr, err)
	}
	return c, nil
}

// smtpConn is one SMTP connection, dialled on first use, kept open for
// many messages and redialled after a failure that may have broken it.
// It is not safe for concurrent use: each worker owns one.
type smtpConn struct {
	opts   *Options
	client *gomail.Client
	sc     *smtp.Client
	// raw is the TCP connection of the dial in progress: go-mail does not
	// close it when the greeting, STARTTLS or AUTH fails, and a sender
	// retrying through an outage would leak one socket per try.
	raw net.Conn
	// used is set once a transaction began on this connection: a failure
	// at the next MAIL FROM then means the server closed it while idle.
	used bool
	live *atomic.Int32 // optional: counts open connections of a run
}

func newSMTPConn(o *Options, host string, port int, live *atomic.Int32) (*smtpConn, error) {
	c := &smtpConn{opts: o, live: live}
	var extra []gomail.Option
	if o.SMTPTLS != TLSImplicit {
		// With a dial function of its own go-mail would skip implicit TLS,
		// so that mode keeps go-mail's dialer.
		extra = append(extra, gomail.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			dial := (&net.Dialer{}).DialContext
			if o.dial != nil {
				dial = o.dial
			}
			nc, err := dial(ctx, network, addr)
			c.raw = nc
			if err != nil {
				return nc, err
			}
			return newBufConn(nc), nil
		}))
	}
	client, err := newMailClient(o, host, port, extra...)
	if err != nil {
		return nil, err
	}
	c.client = client
	return c, nil
}

// bufConn collects what is written to the connection until the peer has
// to answer: a read sends it first. A message body then goes out in one
// write instead of one per 4 KiB (net/textproto's buffer), while SMTP's
// strict command/reply order (no pipelining) means nothing the server
// waits for is ever held back: the client reads the reply to every line
// it sends. Nothing is sent early either, so the final "." still leaves
// only when the sender writes it. Close does not flush: what is still
// buffered then is never waited for (a dropped half-written DATA), and
// QUIT is flushed by reading its reply.
type bufConn struct {
	net.Conn
	w *bufio.Writer
}

func newBufConn(nc net.Conn) *bufConn {
	return &bufConn{Conn: nc, w: bufio.NewWriterSize(nc, 64<<10)}
}

func (b *bufConn) Write(p []byte) (int, error) { return b.w.Write(p) }

func (b *bufConn) Read(p []byte) (int, error) {
	if b.w.Buffered() > 0 {
		if err := b.w.Flush(); err != nil {
			return 0, err
		}
	}
	return b.Conn.Read(p)
}

// connected reports whether the connection is open.
func (c *smtpConn) connected() bool { return c.sc != nil }

// connect dials, greets, starts TLS and logs in unless the connection is
// open. Any failure is a *dialError: nothing was handed over.
func (c *smtpConn) connect(ctx context.Context) error {
	if c.sc != nil {
		return nil
	}
	c.raw = nil
	sc, err := c.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if c.raw != nil {
			_ = c.raw.Close()
			c.raw = nil
		}
		return &dialError{addr: c.opts.SMTPAddr, err: err, fatal: !isNetworkError(err)}
	}
	if c.opts.SMTPUser != "" {
		if err := login(sc, c.opts); err != nil {
			_ = sc.Close()
			c.raw = nil
			return &dialError{addr: c.opts.SMTPAddr, err: err, fatal: !isNetworkError(err)}
		}
	}
	c.raw = nil
	c.sc, c.used = sc, false
	if c.live != nil {
		c.live.Add(1)
	}
	return nil
}

// errNotConnected is a send over a connection that is not open: the
// sender opens it first, so this is never the server's doing.
var errNotConnected = errors.New("SMTP connection is not open")

// send transmits one finished message (already signed, if DKIM is on) to
// a single recipient over the open connection and returns the server's
// reply to the end of DATA. The raw path is the same MAIL/RCPT/DATA
// sequence go-mail's Send runs, but over bytes we have already produced,
// so the DKIM signature covers exactly what goes on the wire.
//
// beforeEnd, if set, is called just before the final "." that makes the
// server accept the message: the sender waits there for its previous
// message to be recorded, so MAIL, RCPT and the body overlap with that
// commit while at most one accepted-but-unrecorded message per connection
// can exist.
func (c *smtpConn) send(from, to string, msg []byte, beforeEnd func()) (string, error) {
	sc := c.sc
	if sc == nil {
		return "", errNotConnected
	}
	if err := sc.UpdateDeadline(c.opts.SMTPTimeout); err != nil {
		c.drop()
		return "", err
	}
	if err := sc.Mail("<" + from + ">"); err != nil {
		stale := c.used && isConnectionGone(err)
		c.afterError(err)
		if stale {
			return "", &staleConnError{err: err}
		}
		// A refused sender says nothing about the recipient's mailbox.
		return "", &senderRefusedError{err: err}
	}
	c.used = true
	if err := sc.Rcpt("<" + to + ">"); err != nil {
		c.afterError(err)
		return "", err
	}
	w, err := sc.Data()
	if err != nil {
		c.afterError(err)
		return "", err
	}
	if _, err := w.Write(msg); err != nil {
		// A half-written DATA cannot be resumed on this connection.
		c.drop()
		return "", err
	}
	if beforeEnd != nil {
		beforeEnd()
	}
	if err := w.Close(); err != nil {
		c.afterError(err)
		return "", err
	}
	reply := "250 OK"
	if dc, ok := w.(*smtp.DataCloser); ok && dc.ServerResponse() != "" {
		reply = "250 " + dc.ServerResponse()
	}
	return oneLine(reply), nil
}

// afterError keeps the connection when the server answered with a reply
// (the transaction is reset and the next message may go through) and drops
// it when the failure was on the wire.
func (c *smtpConn) afterError(err error) {
	var tpe *textproto.Error
	if errors.As(err, &tpe) && c.sc != nil {
		if c.sc.Reset() == nil {
			return
		}
	}
	c.drop()
}

func (c *smtpConn) drop() {
	if c.sc != nil {
		_ = c.sc.Close()
		c.gone()
	}
}

// close ends the session politely.
func (c *smtpConn) close() {
	if c.sc != nil {
		_ = c.sc.Quit()
		_ = c.sc.Close()
		c.gone()
	}
}

func (c *smtpConn) gone() {
	c.sc, c.used = nil, false
	if c.live != nil {
		c.live.Add(-1)
	}
}

// dialError is a failure to reach or greet the server. Its text names the
// address, never the credentials. fatal marks failures retrying cannot fix
// (STARTTLS required but not offered, a certificate or login refused): the
// run stops with the message instead of retrying for days.
type dialError struct {
	addr  string
	err   error
	fatal bool
}

func (e *dialError) Error() string {
	var ae *authError
	if errors.As(e.err, &ae) {
		return ae.Error() // a whole sentence that names the server
	}
	return fmt.Sprintf("connect to SMTP server %s: %v", e.addr, e.err)
}
func (e *dialError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrSMTPConfig) hold for a fatal dialError.
func (e *dialError) Is(target error) bool { return e.fatal && target == ErrSMTPConfig }

// isNetworkError reports failures of the network or of a server that is
// down or overloaded: worth retrying.
func isNetworkError(err error) bool {
	var ne net.Error
	var tpe *textproto.Error
	switch {
	case errors.As(err, &tpe):
		return tpe.Code >= 400 && tpe.Code < 500
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// isConnectionGone reports a failure that says the connection is dead
// rather than anything about a message: an error on the wire, or 421
// ("closing transmission channel").
func isConnectionGone(err error) bool {
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		return tpe.Code == 421
	}
	return isNetworkError(err)
}

// staleConnError is a kept-open connection that turned out dead at MAIL
// FROM (the server timed it out or restarted): nothing was handed over, so
// the message is sent again over a new connection without counting.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// senderRefusedError is a reply to MAIL FROM: never a bounce of the recipient.
type senderRefusedError struct{ err error }

func (e *senderRefusedError) Error() string { return "sender refused: " + e.err.Error() }
func (e *senderRefusedError) Unwrap() error { return e.err }

// oneLine keeps a reply storable and loggable: one line, bounded length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
