package testkit

// The SMTP sink: a real server built on github.com/emersion/go-smtp that
// records what it receives and can refuse recipients (4xx/5xx), drop the
// connection in the middle of DATA, refuse logins, limit connections, be
// slow, go down and come back on the same address, and speak TLS (STARTTLS
// or implicit) with a certificate the test provides (see certs.go).

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPMessage is one accepted message, once per recipient.
type SMTPMessage struct {
	From string
	To   string // the RCPT address, lower-cased
	Data []byte
	TLS  bool // the session was encrypted when the message came
}

// SMTPServer is a test SMTP server. Set its fields before mail arrives.
type SMTPServer struct {
	// Addr is host:port; it stays the same across Stop and Start.
	Addr string

	// Rcpt, if set, decides on each RCPT TO: attempt counts the RCPTs seen
	// for that address so far, from 1. Return a *smtp.SMTPError to refuse.
	Rcpt func(rcpt string, attempt int) error
	// Drop, if set, is asked at DATA: true makes the server read part of
	// the message and close the connection without a reply.
	Drop func(rcpt string, attempt int) bool
	// Discard keeps no message data and, unless Rcpt or Drop is set, no
	// per-address attempt counts (benchmarks); Count still counts.
	Discard bool
	// MaxConns, if positive, refuses sessions beyond that many at once with
	// 421 at EHLO, as servers with a per-client connection limit do.
	MaxConns int
	// RefuseAuth makes the server offer AUTH CRAM-MD5 and refuse every
	// login with 535 (a wrong password).
	RefuseAuth bool
	// AuthUser and AuthPassword, when AuthUser is set, make the server
	// offer AUTH PLAIN (and nothing else), with or without TLS, accept exactly
	// these credentials and refuse mail from sessions not logged in.
	AuthUser, AuthPassword string
	// Listen is the address Start listens on the first time; default
	// 127.0.0.1:0.
	Listen string
	// TLS, if set, makes the server offer STARTTLS with this configuration
	// (its certificate); with ImplicitTLS it speaks TLS from the first byte
	// instead, as on port 465. Set both before Start.
	TLS         *tls.Config
	ImplicitTLS bool

	delay    atomic.Int64 // per message, nanoseconds
	active   atomic.Int32 // open sessions
	sessions atomic.Int64 // sessions ever opened
	logins   atomic.Int64 // successful logins

	mu       sync.Mutex
	msgs     []SMTPMessage
	attempts map[string]int
	srv      *smtp.Server
	ln       net.Listener
	count    atomic.Int64
}

// NewSMTPServer returns a stopped server listening on nothing yet; call
// Start. StartSMTP is the usual way.
func NewSMTPServer() *SMTPServer { return &SMTPServer{attempts: map[string]int{}} }

// StartSMTP starts a server on a fresh loopback port and stops it when the
// test ends.
func StartSMTP(tb testing.TB) *SMTPServer {
	tb.Helper()
	s := NewSMTPServer()
	if err := s.Start(); err != nil {
		tb.Fatalf("start SMTP server: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Start listens (on a fresh loopback port the first time, on the same
// address after Stop) and serves in the background.
func (s *SMTPServer) Start() error {
	addr := s.Addr
	if addr == "" {
		addr = s.Listen
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	// The old port may linger briefly after Stop.
	for try := 0; try < 50; try++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	s.Addr = l.Addr().String()
	if s.TLS != nil && s.ImplicitTLS {
		l = tls.NewListener(l, s.TLS)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		if n := s.active.Add(1); s.MaxConns > 0 && int(n) > s.MaxConns {
			s.active.Add(-1)
			return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many connections"}
		}
		s.sessions.Add(1)
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "smtptest.local"
	srv.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are the point of some tests
	srv.AllowInsecureAuth = true
	if !s.ImplicitTLS {
		srv.TLSConfig = s.TLS // offers STARTTLS when set
	}
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.mu.Lock()
	s.srv, s.ln = srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// Stop closes the listener and every open connection.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Close the listener ourselves too: if Serve has not registered it
		// yet, srv.Close would leave it open.
		_ = ln.Close()
		_ = srv.Close()
	}
}

// SetDelay makes each message take at least d before it is accepted.
func (s *SMTPServer) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Sessions is the number of SMTP sessions opened so far (connections
// greeted, refused ones beyond MaxConns not counted).
func (s *SMTPServer) Sessions() int { return int(s.sessions.Load()) }

// Logins is the number of successful logins so far.
func (s *SMTPServer) Logins() int { return int(s.logins.Load()) }

// Count is the number of messages accepted so far.
func (s *SMTPServer) Count() int { return int(s.count.Load()) }

// Messages returns a copy of the accepted messages.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

// ByRecipient groups the accepted messages by RCPT address.
func (s *SMTPServer) ByRecipient() map[string][]SMTPMessage {
	out := map[string][]SMTPMessage{}
	for _, m := range s.Messages() {
		out[m.To] = append(out[m.To], m)
	}
	return out
}

// WaitMail waits until a message for rcpt (any case) has arrived and
// returns the first one.
func (s *SMTPServer) WaitMail(tb testing.TB, rcpt string) SMTPMessage {
	tb.Helper()
	var got SMTPMessage
	Eventually(tb, "a mail to "+rcpt, func() bool {
		for _, m := range s.Messages() {
			if strings.EqualFold(m.To, rcpt) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// WaitMails waits until n messages for rcpt (any case) have arrived and
// returns them, oldest first.
func (s *SMTPServer) WaitMails(tb testing.TB, rcpt string, n int) []SMTPMessage {
	tb.Helper()
	var got []SMTPMessage
	Eventually(tb, fmt.Sprintf("%d mails to %s", n, rcpt), func() bool {
		got = got[:0]
		for _, m := range s.Messages() {
			if strings.EqualFold(m.To, rcpt) {
				got = append(got, m)
			}
		}
		return len(got) >= n
	})
	return got
}

type session struct {
	s        *SMTPServer
	conn     *smtp.Conn
	from     string
	to       []string
	n        []int // attempt number per recipient
	loggedIn bool
}

func (ss *session) Reset() { ss.from, ss.to, ss.n = "", nil, nil }

// AuthMechanisms offers CRAM-MD5 when logins are to be refused (a
// mechanism that may be used without TLS), PLAIN when AuthUser is set, and
// nothing otherwise.
func (ss *session) AuthMechanisms() []string {
	switch {
	case ss.s.RefuseAuth:
		return []string{"CRAM-MD5"}
	case ss.s.AuthUser != "":
		return []string{"PLAIN"}
	}
	return nil
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech == "PLAIN" && ss.s.AuthUser != "" {
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if username != ss.s.AuthUser || password != ss.s.AuthPassword {
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication credentials invalid"}
			}
			ss.loggedIn = true
			ss.s.logins.Add(1)
			return nil
		}), nil
	}
	return refuseLogin{}, nil
}

// refuseLogin sends a CRAM-MD5 challenge and refuses whatever comes back.
type refuseLogin struct{}

func (refuseLogin) Next(response []byte) ([]byte, bool, error) {
	if response == nil {
		return []byte("<1.1@smtptest.local>"), false, nil
	}
	return nil, true, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication credentials invalid"}
}
func (ss *session) Logout() error {
	ss.s.active.Add(-1)
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.AuthUser != "" && !ss.loggedIn {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	to = strings.ToLower(to)
	s := ss.s
	n := 1
	// Attempts are counted per address only for the hooks that ask:
	// a benchmark's million-entry map would count against the sender's
	// memory, in the same process.
	if !s.Discard || s.Rcpt != nil || s.Drop != nil {
		s.mu.Lock()
		s.attempts[to]++
		n = s.attempts[to]
		s.mu.Unlock()
	}
	if s.Rcpt != nil {
		if err := s.Rcpt(to, n); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	ss.n = append(ss.n, n)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	s := ss.s
	if len(ss.to) > 0 && s.Drop != nil && s.Drop(ss.to[0], ss.n[0]) {
		_, _ = io.CopyN(io.Discard, r, 64)
		_ = ss.conn.Conn().Close()
		return errors.New("connection dropped on purpose")
	}
	var data []byte
	if s.Discard {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	} else {
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, r); err != nil {
			return err
		}
		data = buf.Bytes()
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if !s.Discard {
		_, encrypted := ss.conn.TLSConnectionState()
		s.mu.Lock()
		for _, to := range ss.to {
			s.msgs = append(s.msgs, SMTPMessage{From: ss.from, To: to, Data: data, TLS: encrypted})
		}
		s.mu.Unlock()
	}
	s.count.Add(int64(len(ss.to)))
	return nil
}
