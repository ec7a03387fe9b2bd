package mailer

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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

// link is what this process knows about reaching the SMTP server, shared by
// every worker and run of a Mailer (and the outbox). A failed connection
// is no attempt at any delivery: it opens an outage, logged once, during
// which connection rounds are spaced by a backoff that starts small and
// doubles up to a minute. The first connection that succeeds ends it.
//
// A server that answers but cannot be used as configured (ErrSMTPConfig)
// gets the same backoff, so serve does not dial it every few seconds; the
// link does not log it (send prints it as its one error line), serve's
// loops report it once through reportConfig.
type link struct {
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

func newLink(o *Options, now func() time.Time) *link {
	return &link{log: o.Logger, addr: o.SMTPAddr, base: min(o.RetryBackoff, time.Second), now: now}
}

// failed records a connection that could not be opened. Workers failing
// in the same round (before retryAt) do not lengthen the backoff; the
// first failure of an outage is the one warning about it.
func (l *link) failed(err error) {
	fatal := errors.Is(err, ErrSMTPConfig)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fatal = nil
	if fatal {
		l.fatal = err
	}
	var de *dialError
	if errors.As(err, &de) {
		err = de.err // the address is said anyway
	}
	now := l.now()
	l.lastErr = err
	if !l.down {
		l.down, l.since, l.rounds = true, now, 0
		if !fatal {
			l.log.Warn("cannot connect to the SMTP server; deliveries wait (no attempt is counted) and the connection is retried with backoff",
				"addr", l.addr, "err", err.Error())
		}
	} else if now.Before(l.retryAt) {
		return
	}
	l.rounds++
	l.retryAt = now.Add(jitter(l.base, l.rounds, maxConnBackoff))
	l.log.Debug("SMTP connection failed", "addr", l.addr, "round", l.rounds, "next", l.retryAt, "err", err.Error())
}

// reportConfig reports whether err, a configuration error, is news: not
// the one reported last since the server was last usable. serve logs it
// only then.
func (l *link) reportConfig(err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err.Error() == l.reported {
		return false
	}
	l.reported = err.Error()
	return true
}

// ok records a connection that was opened; it ends an outage.
func (l *link) ok() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return
	}
	msg := "SMTP server reachable again"
	if l.fatal != nil {
		msg = "SMTP server usable again"
	}
	l.log.Info(msg, "addr", l.addr,
		"down_for", l.now().Sub(l.since).Round(time.Second), "failed_rounds", l.rounds)
	l.down, l.rounds, l.retryAt, l.lastErr, l.fatal, l.reported = false, 0, time.Time{}, nil, nil, ""
}

// wait is how long until the next connection round; 0 when the server is
// not known to be down or the round is due.
func (l *link) wait() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return 0
	}
	return max(l.retryAt.Sub(l.now()), 0)
}

// unreachable is the error a run stops with during an outage: the
// configuration error itself when that is what the last round met.
func (l *link) unreachable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal != nil {
		return l.fatal
	}
	return &UnreachableError{Addr: l.addr, Since: l.since, Err: l.lastErr}
}

// jitter is base doubled n-1 times, capped, with ±25 % jitter so that
// many waiting senders do not come back as one burst.
func jitter(base time.Duration, n int, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}
