package testkit

// An IMAP server for the bounce mailbox tests: go-imap's in-memory server
// on a loopback port, which can be stopped and started again on the same
// address with its mail kept.

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPServer is one user's mailboxes served over IMAP on 127.0.0.1.
type IMAPServer struct {
	Addr     string // HOST:PORT once started
	User     string // read only: the account is made by NewIMAPServer
	Password string // read only

	// Set before Start. Caps nil: IMAP4rev1 with MOVE and UIDPLUS.
	Caps imap.CapSet
	// TLS, if set, makes the server offer STARTTLS with this configuration
	// and refuse to log in before it; with ImplicitTLS it speaks TLS from
	// the first byte, as on port 993. Without it, logging in in the clear
	// is allowed.
	TLS         *tls.Config
	ImplicitTLS bool
	// Wrap, if set, wraps each session (to take capabilities away).
	Wrap func(imapserver.Session) imapserver.Session
	// Debug, if set, gets the raw protocol both ways, the login included.
	Debug io.Writer

	mem  *imapmemserver.Server
	user *imapmemserver.User
	mu   sync.Mutex
	srv  *imapserver.Server
}

// NewIMAPServer returns a stopped server whose user has an empty INBOX.
func NewIMAPServer(user, password string) *IMAPServer {
	s := &IMAPServer{User: user, Password: password, mem: imapmemserver.New(), user: imapmemserver.NewUser(user, password)}
	_ = s.user.Create("INBOX", nil)
	s.mem.AddUser(s.user)
	return s
}

// StartIMAP starts a server (user bounces@example.org) on a fresh loopback
// port with the settings set by configure (may be nil), and stops it when
// the test ends.
func StartIMAP(tb testing.TB, configure func(*IMAPServer)) *IMAPServer {
	tb.Helper()
	s := NewIMAPServer("bounces@example.org", "imap-password-c0ffee")
	if configure != nil {
		configure(s)
	}
	if err := s.Start(); err != nil {
		tb.Fatalf("start IMAP server: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Start listens (on a fresh loopback port the first time, on the same
// address after Stop) and serves in the background.
func (s *IMAPServer) Start() error {
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ { // the old port may linger after Stop
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	s.Addr = ln.Addr().String()
	caps := s.Caps
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}}
	}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := s.mem.NewSession()
			if s.Wrap != nil {
				sess = s.Wrap(sess)
			}
			return sess, nil, nil
		},
		Caps:         caps,
		Logger:       log.New(io.Discard, "", 0), // dropped connections are the point of some tests
		InsecureAuth: s.TLS == nil,
		DebugWriter:  s.Debug,
	}
	if s.TLS != nil && s.ImplicitTLS {
		ln = tls.NewListener(ln, s.TLS)
	} else {
		opts.TLSConfig = s.TLS
	}
	srv := imapserver.New(opts)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Stop closes the listener and every open connection; the mail stays.
func (s *IMAPServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Create makes a folder.
func (s *IMAPServer) Create(tb testing.TB, folder string) {
	tb.Helper()
	if err := s.user.Create(folder, nil); err != nil {
		tb.Fatalf("create %s: %v", folder, err)
	}
}

// Append delivers raw into folder.
func (s *IMAPServer) Append(tb testing.TB, folder string, raw []byte) {
	tb.Helper()
	if _, err := s.user.Append(folder, bytes.NewReader(raw), &imap.AppendOptions{}); err != nil {
		tb.Fatalf("append to %s: %v", folder, err)
	}
}

// IMAPMessage is one message as the server keeps it.
type IMAPMessage struct {
	Raw   []byte
	Flags []imap.Flag
}

// Has says whether the message carries flag.
func (m IMAPMessage) Has(flag imap.Flag) bool { return slices.Contains(m.Flags, flag) }

// Contents is every folder the server has, with its messages in order,
// read over IMAP without changing a flag.
func (s *IMAPServer) Contents(tb testing.TB) map[string][]IMAPMessage {
	tb.Helper()
	var c *imapclient.Client
	var err error
	switch {
	case s.TLS != nil && s.ImplicitTLS:
		c, err = imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	case s.TLS != nil:
		c, err = imapclient.DialStartTLS(s.Addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	default:
		c, err = imapclient.DialInsecure(s.Addr, nil)
	}
	if err != nil {
		tb.Fatalf("IMAP contents: %v", err)
	}
	defer c.Close()
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		tb.Fatalf("IMAP contents: login: %v", err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		tb.Fatalf("IMAP contents: list: %v", err)
	}
	out := map[string][]IMAPMessage{}
	for _, mb := range list {
		sel, err := c.Select(mb.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			tb.Fatalf("IMAP contents: select %s: %v", mb.Mailbox, err)
		}
		out[mb.Mailbox] = []IMAPMessage{}
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{ // 1:*
			UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			tb.Fatalf("IMAP contents: fetch %s: %v", mb.Mailbox, err)
		}
		sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
		for _, m := range msgs {
			var raw []byte
			if len(m.BodySection) > 0 {
				raw = m.BodySection[0].Bytes
			}
			out[mb.Mailbox] = append(out[mb.Mailbox], IMAPMessage{Raw: raw, Flags: m.Flags})
		}
	}
	_ = c.Logout().Wait()
	return out
}
