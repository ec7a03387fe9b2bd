package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"newsletter/internal/loopback"
)

// connectTimeout bounds dialling, the TLS handshake and the greeting.
const connectTimeout = 30 * time.Second

// session is one connection, logged in, with Config.Folder selected.
type session struct {
	c   *imapclient.Client
	cfg *Config
	log *slog.Logger

	move    bool // MOVE (RFC 6851, part of IMAP4rev2)
	uidPlus bool // UID EXPUNGE (RFC 4315, part of IMAP4rev2)
	dest    map[Verdict]string
}

// dial connects to the server over TLS, implicit or by STARTTLS. Only a
// server on this machine may be spoken to in the clear, and only when it
// refuses STARTTLS. The returned conn is the socket under the client:
// closing it cuts a session that hangs.
func dial(ctx context.Context, cfg *Config) (*imapclient.Client, net.Conn, error) {
	d := &net.Dialer{Timeout: connectTimeout}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, nil, err
	}
	// The client sets its own deadlines per command; until then this one
	// keeps a silent server from holding the handshake for ever.
	_ = raw.SetDeadline(time.Now().Add(connectTimeout))
	opts := &imapclient.Options{TLSConfig: cfg.TLS}
	if cfg.Implicit {
		tc := tls.Client(raw, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c := imapclient.New(tc, opts)
		return c, raw, greeting(c)
	}
	c, err := imapclient.NewStartTLS(raw, opts)
	if err == nil {
		return c, raw, nil
	}
	raw.Close()
	host, _, _ := net.SplitHostPort(cfg.Addr)
	var refused *imap.Error
	if !errors.As(err, &refused) || !loopback.Host(host) {
		return nil, nil, fmt.Errorf("STARTTLS: %w", err)
	}
	// A server on this machine that has no STARTTLS (a test server, a
	// local Dovecot): nothing leaves the machine.
	if raw, err = d.DialContext(ctx, "tcp", cfg.Addr); err != nil {
		return nil, nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(connectTimeout))
	c = imapclient.New(raw, opts)
	return c, raw, greeting(c)
}

func greeting(c *imapclient.Client) error {
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	return nil
}

// open logs in, finds the folder and its delimiter, creates the
// sub-folders when missing, and selects the folder.
func open(c *imapclient.Client, cfg *Config) (*session, error) {
	s := &session{c: c, cfg: cfg, log: cfg.Logger}
	if err := s.login(); err != nil {
		return nil, err
	}
	caps := c.Caps()
	s.move, s.uidPlus = caps.Has(imap.CapMove), caps.Has(imap.CapUIDPlus)

	top, err := s.find(cfg.Folder)
	if err != nil {
		return nil, err
	}
	if top == nil {
		return nil, fmt.Errorf("folder %q does not exist", cfg.Folder)
	}
	s.dest = map[Verdict]string{
		Processed:    subFolder(top.Mailbox, top.Delim, ProcessedFolder),
		Unrecognised: subFolder(top.Mailbox, top.Delim, UnrecognisedFolder),
	}
	for _, v := range []Verdict{Processed, Unrecognised} {
		if err := s.ensure(s.dest[v]); err != nil {
			return nil, err
		}
	}
	if _, err := c.Select(top.Mailbox, nil).Wait(); err != nil {
		return nil, fmt.Errorf("select %q: %w", top.Mailbox, err)
	}
	return s, nil
}

// login authenticates with AUTHENTICATE PLAIN when offered, else LOGIN.
func (s *session) login() error {
	if s.c.State() != imap.ConnStateNotAuthenticated {
		return nil // PREAUTH (only possible over implicit TLS)
	}
	caps := s.c.Caps()
	var err error
	switch {
	case caps.Has(imap.AuthCap(sasl.Plain)):
		err = s.c.Authenticate(sasl.NewPlainClient("", s.cfg.User, s.cfg.Password))
	case caps.Has(imap.CapLoginDisabled):
		return errors.New("the server offers neither AUTHENTICATE PLAIN nor LOGIN")
	default:
		err = s.c.Login(s.cfg.User, s.cfg.Password).Wait()
	}
	if err != nil {
		return fmt.Errorf("log in as %s: %w", s.cfg.User, err)
	}
	return nil
}

// find is the folder called name as the server lists it, or nil.
func (s *session) find(name string) (*imap.ListData, error) {
	list, err := s.c.List("", name, nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", name, err)
	}
	for _, d := range list {
		// INBOX is case-insensitive (RFC 3501 5.1).
		if d.Mailbox == name || strings.EqualFold(name, "INBOX") && strings.EqualFold(d.Mailbox, "INBOX") {
			for _, a := range d.Attrs {
				if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
					return nil, nil
				}
			}
			return d, nil
		}
	}
	return nil, nil
}

// ensure creates folder name unless it is there, and subscribes to it so
// that mail programs show it.
func (s *session) ensure(name string) error {
	if d, err := s.find(name); err != nil || d != nil {
		return err
	}
	err := s.c.Create(name, nil).Wait()
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
		return nil // made meanwhile by someone else
	}
	if err != nil {
		return fmt.Errorf("create folder %q: %w", name, err)
	}
	s.log.Info("created IMAP folder", "folder", name)
	_ = s.c.Subscribe(name).Wait() // only for the admin's mail program
	return nil
}

// uids lists the messages in the folder, oldest first. Messages flagged
// \Deleted are someone's to expunge (or ours, copied already on a server
// without MOVE and UIDPLUS): they are not taken again.
func (s *session) uids() ([]imap.UID, error) {
	data, err := s.c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return data.AllUIDs(), nil
}

// sizes is RFC822.SIZE of each of uids still there.
func (s *session) sizes(uids []imap.UID) (map[imap.UID]int64, error) {
	msgs, err := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch sizes: %w", err)
	}
	out := make(map[imap.UID]int64, len(msgs))
	for _, m := range msgs {
		out[m.UID] = m.RFC822Size
	}
	return out, nil
}

// errTooLarge says a message turned out larger than it was said to be.
var errTooLarge = errors.New("message larger than the size limit")

// body reads message uid whole without setting \Seen, and at most max
// bytes of it; nil when it is gone.
func (s *session) body(uid imap.UID, limit int64) ([]byte, error) {
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer cmd.Close()
	var raw []byte
	var readErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			b, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok || b.Literal == nil || raw != nil {
				continue
			}
			var buf bytes.Buffer
			buf.Grow(int(min(b.Literal.Size(), limit)))
			n, err := io.Copy(&buf, io.LimitReader(b.Literal, limit+1))
			switch {
			case err != nil:
				readErr = err
			case n > limit:
				readErr = errTooLarge // the rest is skipped by Next
			default:
				raw = buf.Bytes()
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("fetch message %d: %w", uid, err)
	}
	return raw, readErr
}

// put moves uids to the sub-folder for v. Without MOVE the messages are
// copied, flagged \Deleted and, with UIDPLUS, expunged by UID: exactly
// these, never another message someone else flagged. Without UIDPLUS
// either they stay flagged, for the admin's mail program to expunge, and
// are not taken again.
func (s *session) put(v Verdict, uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	set, dest := imap.UIDSetNum(uids...), s.dest[v]
	if v == Processed {
		// Read: the admin looking through Processed sees nothing new.
		if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
			return fmt.Errorf("flag as read: %w", err)
		}
	}
	if s.move {
		if _, err := s.c.Move(set, dest).Wait(); err != nil {
			return fmt.Errorf("move to %q: %w", dest, err)
		}
		return nil
	}
	if _, err := s.c.Copy(set, dest).Wait(); err != nil {
		return fmt.Errorf("copy to %q: %w", dest, err)
	}
	if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return fmt.Errorf("flag copied messages \\Deleted: %w", err)
	}
	if s.uidPlus {
		if err := s.c.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("expunge copied messages: %w", err)
		}
	}
	return nil
}

// close says goodbye and closes the connection.
func (s *session) close() {
	_ = s.c.Logout().Wait()
	_ = s.c.Close()
}
