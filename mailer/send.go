package mailer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"sync/atomic"
	"time"

	"newsletter/mailer/bounce"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/time/rate"
)

// sender is the one way a mail leaves the mailer: campaign workers, the
// outbox and the test copy all send through it. It owns what sending takes
// besides the message: SMTP connections (dial, TLS, login), the outage
// tracking that keeps an unreachable server from costing any mail an
// attempt, the rate limit over all connections, and the classification of
// the server's replies. One per Mailer, safe for concurrent use; each
// connection it opens has one user at a time.
type sender struct {
	opts    *Options
	host    string
	port    int
	from    string // envelope sender (MAIL FROM) unless a message names its own
	limiter *rate.Limiter
	outage  *outage
}

func newSender(o *Options, from string) (*sender, error) {
	host, portStr, err := net.SplitHostPort(o.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("SMTP address %q: want HOST:PORT: %w", o.SMTPAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("SMTP address %q: port is not a number", o.SMTPAddr)
	}
	limit := rate.Inf
	if o.Rate > 0 {
		limit = rate.Limit(o.Rate)
	}
	return &sender{
		opts: o, host: host, port: port, from: from,
		limiter: rate.NewLimiter(limit, 1),
		outage:  newOutage(o, time.Now),
	}, nil
}

// newConn returns a connection, opened by the first send over it. live,
// if set, counts the open connections of a campaign run (see connect).
func (s *sender) newConn(live *atomic.Int32) (*smtpConn, error) {
	return newSMTPConn(s.opts, s.host, s.port, live)
}

// errConnLater is a connection that failed while others of its run are
// open: the caller gives its mail back for them and pauses.
var errConnLater = errors.New("connection failed; other connections carry on")

// connect opens c unless it is open, riding out an outage until the time
// until: a failed connection is recorded on the outage (one warning per
// outage) and tried again when the outage's backoff says so. It returns a
// configuration error (ErrSMTPConfig) at once, ctx's error when ctx ends,
// errConnLater while other connections of c's run are open (they send the
// mail meanwhile), and an *UnreachableError once the next round would fall
// after until; with a zero until that is after the first failed round.
func (s *sender) connect(ctx context.Context, c *smtpConn, until time.Time) error {
	for !c.connected() {
		if wait := s.outage.wait(); wait > 0 {
			if c.live != nil && c.live.Load() > 0 {
				return errConnLater
			}
			if time.Now().Add(wait).After(until) {
				return s.outage.unreachable()
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		err := c.connect(ctx)
		if err == nil {
			s.outage.ok()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.outage.failed(err)
		if errors.Is(err, ErrSMTPConfig) {
			return err
		}
	}
	return nil
}

// send hands one finished message for one recipient to the server over c,
// with from as its envelope sender (MAIL FROM; "" for the sender's own: the
// From address), opening c first (see connect, whose errors it returns: then nothing was
// handed over), and says what became of it. It waits for the rate limit
// after connecting. A message not begun when ctx ends is not sent; one on
// the wire is finished.
//
// beforeEnd, if set, is called just before the final "." of DATA (see
// smtpConn.send): a campaign worker waits there until its previous message
// is recorded. A kept-open connection found dead at MAIL FROM (nothing
// handed over) is opened again and the message sent once more, where a
// failure counts.
func (s *sender) send(ctx context.Context, c *smtpConn, until time.Time, from, to string, msg []byte, beforeEnd func()) (verdict, string, error) {
	if err := ctx.Err(); err != nil {
		return 0, "", err
	}
	if from == "" {
		from = s.from
	}
	if err := s.connect(ctx, c, until); err != nil {
		return 0, "", err
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return 0, "", err
	}
	reply, err := c.send(from, to, msg, beforeEnd)
	var stale *staleConnError
	if errors.As(err, &stale) {
		if err := s.connect(ctx, c, until); err != nil {
			return 0, "", err
		}
		reply, err = c.send(from, to, msg, beforeEnd)
	}
	if err != nil {
		v, r := verdictOf(err)
		return v, r, nil
	}
	return verdictSent, reply, nil
}

// verdict is what to do with a mail after an attempt to send it.
type verdict int

const (
	verdictSent    verdict = iota
	verdictRetry           // 4xx, timeout, dropped connection
	verdictFailed          // 5xx: final for this address
	verdictBounced         // 5xx saying the mailbox does not exist: also mark the subscriber
)

// verdictOf classifies a send error into a verdict and the reply to record:
// 2xx sent, 4xx and failures on the wire temporary, 5xx final, and a 5xx
// that bounce.ReplyKind calls hard (the address does not exist or takes no
// mail) a hard bounce.
//
// go-mail's SendError.IsTemp looks only at the first digit, so an error
// without any SMTP code (network, timeout, EOF) would count as permanent
// there; here it is temporary, as it must be.
func verdictOf(err error) (verdict, string) {
	if err == nil {
		return verdictSent, ""
	}
	code, reply := 0, oneLine(err.Error())
	var tpe *textproto.Error
	var se *gomail.SendError
	switch {
	case errors.As(err, &tpe):
		code = tpe.Code
		reply = oneLine(fmt.Sprintf("%03d %s", tpe.Code, tpe.Msg))
	case errors.As(err, &se):
		code = se.ErrorCode()
	}
	switch {
	case code >= 500 && code < 600:
		var sre *senderRefusedError
		if !errors.As(err, &sre) && bounce.ReplyKind(reply) == bounce.Hard {
			return verdictBounced, reply
		}
		return verdictFailed, reply
	default:
		// 4xx, no code at all, or a code outside the SMTP error classes.
		return verdictRetry, reply
	}
}
