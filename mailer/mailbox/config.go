package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Verdict is what the handler made of one message, and so where the
// poller puts it.
type Verdict int

const (
	// Retry leaves the message where it is, for the next poll. It is the
	// zero value: a handler that says nothing loses nothing.
	Retry Verdict = iota
	// Processed moves the message to FOLDER/Processed.
	Processed
	// Unrecognised moves the message to FOLDER/Unrecognised, for a human
	// to look at.
	Unrecognised
)

// String is the verdict's name, as logged.
func (v Verdict) String() string {
	switch v {
	case Processed:
		return "processed"
	case Unrecognised:
		return "unrecognised"
	case Retry:
		return "retry"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Handler takes in one message, raw as the server keeps it. An error
// leaves the message in place whatever the verdict (it is logged), so a
// failure that is not the message's fault never moves it.
type Handler func(ctx context.Context, raw []byte) (Verdict, error)

// Names of the sub-folders of Config.Folder (DESIGN "Bounces and
// complaints").
const (
	ProcessedFolder    = "Processed"
	UnrecognisedFolder = "Unrecognised"
)

// Defaults for the zero fields of Config.
const (
	DefaultPoll    = 5 * time.Minute
	DefaultMaxSize = 10 << 20 // bytes; a bounce with the whole original attached is far smaller
	// batchSize is how many messages one FETCH of sizes covers.
	batchSize = 100
	// stopGrace is how long a poll in progress may take to put away what
	// it has handled once its context is done; then its connection is cut.
	stopGrace = 5 * time.Second
)

// Config says which mailbox to poll, and how.
type Config struct {
	// Addr is the server's HOST:PORT.
	Addr string
	// Implicit: TLS from the first byte (imaps://, port 993). Otherwise the
	// connection must be upgraded with STARTTLS (imap://, port 143); only
	// a server on this machine (loopback) may be spoken to in the clear
	// when it offers no STARTTLS.
	Implicit bool
	// TLS configures the handshake; nil verifies the server's certificate
	// against the system's roots for the host in Addr.
	TLS *tls.Config

	User     string
	Password string // secret: never logged, never part of an error
	// Folder is polled; its sub-folders Processed and Unrecognised are
	// created when missing.
	Folder string

	// Poll is the pause between polls (DefaultPoll when zero).
	Poll time.Duration
	// MaxBackoff caps the pause between connection attempts while the
	// server cannot be reached; zero means the larger of Poll and 30m.
	MaxBackoff time.Duration
	// MaxSize: a larger message is moved to Unrecognised unread
	// (DefaultMaxSize when zero).
	MaxSize int64

	Logger *slog.Logger // nil: discard
}

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	host, port, err := net.SplitHostPort(c.Addr)
	switch {
	case err != nil || host == "" || port == "":
		return c, fmt.Errorf("mailbox: address %q is not HOST:PORT", c.Addr)
	case c.User == "":
		return c, errors.New("mailbox: no user name")
	case c.Password == "":
		return c, errors.New("mailbox: no password")
	case strings.Trim(c.Folder, "/") == "":
		return c, errors.New("mailbox: no folder")
	case c.Poll < 0 || c.MaxBackoff < 0 || c.MaxSize < 0:
		return c, errors.New("mailbox: negative poll, backoff or size")
	}
	c.Folder = strings.TrimRight(c.Folder, "/")
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(c.Poll, 30*time.Minute)
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	tc := &tls.Config{}
	if c.TLS != nil {
		tc = c.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	c.TLS = tc
	return c, nil
}

// subFolder names child under parent with the server's hierarchy
// delimiter; a server without hierarchy (delimiter NIL) gets "/", which is
// then just part of the name.
func subFolder(parent string, delim rune, child string) string {
	if delim == 0 {
		delim = '/'
	}
	return parent + string(delim) + child
}
