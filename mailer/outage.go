package mailer

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrSMTPUnreachable is returned (inside an *UnreachableError) when a run
// stops because the SMTP server could not be reached until its wait ended.
// The deliveries it had claimed are given back uncharged.
var ErrSMTPUnreachable = errors.New("SMTP server unreachable")

// UnreachableError says which server could not be reached since when, and
// the last connection error (never the credentials).
type UnreachableError struct {
	Addr  string
	Since time.Time
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("SMTP server %s unreachable since %s: %v", e.Addr, e.Since.Format("15:04:05"), e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSMTPUnreachable) hold.
func (e *UnreachableError) Is(target error) bool { return target == ErrSMTPUnreachable }

// maxConnBackoff caps the pause between connection rounds in an outage.
const maxConnBackoff = time.Minute

// outage is what this process knows about reaching the SMTP server, shared
// by every connection of its sender: campaign workers, the outbox and the
// test copy. A failed connection is no attempt at any delivery: it opens an
// outage, logged once, during which connection rounds are spaced by a
// backoff that starts small and doubles up to a minute. The first
// connection that succeeds ends it.
//
// A server that answers but cannot be used as configured (ErrSMTPConfig)
// gets the same backoff, so serve does not dial it every few seconds; the
// outage does not log it (send prints it as its one error line), serve's
// loops report it once through reportConfig.
type outage struct {
	log  *slog.Logger
	addr string
	base time.Duration

	mu       sync.Mutex
	now      func() time.Time
	down     bool
	since    time.Time
	rounds   int       // failed connection rounds in this outage
	retryAt  time.Time // next round
	lastErr  error
	fatal    error  // the last failure, when it was a configuration error
	reported string // the configuration error last reported
}

func newOutage(o *Options, now func() time.Time) *outage {
	return &outage{log: o.Logger, addr: o.SMTPAddr, base: min(o.RetryBackoff, time.Second), now: now}
}

// failed records a connection that could not be opened. Workers failing
// in the same round (before retryAt) do not lengthen the backoff; the
// first failure of an outage is the one warning about it.
func (o *outage) failed(err error) {
	fatal := errors.Is(err, ErrSMTPConfig)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fatal = nil
	if fatal {
		o.fatal = err
	}
	var de *dialError
	if errors.As(err, &de) {
		err = de.err // the address is said anyway
	}
	now := o.now()
	o.lastErr = err
	if !o.down {
		o.down, o.since, o.rounds = true, now, 0
		if !fatal {
			o.log.Warn("cannot connect to the SMTP server; deliveries wait (no attempt is counted) and the connection is retried with backoff",
				"addr", o.addr, "err", err.Error())
		}
	} else if now.Before(o.retryAt) {
		return
	}
	o.rounds++
	o.retryAt = now.Add(jitter(o.base, o.rounds, maxConnBackoff))
	o.log.Debug("SMTP connection failed", "addr", o.addr, "round", o.rounds, "next", o.retryAt, "err", err.Error())
}

// reportConfig reports whether err, a configuration error, is news: not
// the one reported last since the server was last usable. serve logs it
// only then.
func (o *outage) reportConfig(err error) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err.Error() == o.reported {
		return false
	}
	o.reported = err.Error()
	return true
}

// ok records a connection that was opened; it ends an outage.
func (o *outage) ok() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return
	}
	msg := "SMTP server reachable again"
	if o.fatal != nil {
		msg = "SMTP server usable again"
	}
	o.log.Info(msg, "addr", o.addr,
		"down_for", o.now().Sub(o.since).Round(time.Second), "failed_rounds", o.rounds)
	o.down, o.rounds, o.retryAt, o.lastErr, o.fatal, o.reported = false, 0, time.Time{}, nil, nil, ""
}

// wait is how long until the next connection round; 0 when the server is
// not known to be down or the round is due.
func (o *outage) wait() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return 0
	}
	return max(o.retryAt.Sub(o.now()), 0)
}

// unreachable is the error a run stops with during an outage: the
// configuration error itself when that is what the last round met.
func (o *outage) unreachable() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fatal != nil {
		return o.fatal
	}
	return &UnreachableError{Addr: o.addr, Since: o.since, Err: o.lastErr}
}
