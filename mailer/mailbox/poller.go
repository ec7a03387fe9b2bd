package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Poller takes the messages out of one IMAP folder, hands each to its
// Handler and puts it where the verdict says. It never deletes a message.
type Poller struct {
	cfg Config
	h   Handler
	log *slog.Logger
	now func() time.Time

	// The outage: polls that could not reach or use the server, logged
	// once when it starts, and once more for each other error it meets
	// (refused, then the login): the admin sees what to fix.
	down   bool
	since  time.Time
	rounds int
	said   map[string]bool
}

// Stats counts what one poll did.
type Stats struct {
	Processed    int // moved to Processed
	Unrecognised int // moved to Unrecognised
	Left         int // left in the folder for the next poll
}

// New checks cfg and returns a poller; h is called for every message.
func New(cfg Config, h Handler) (*Poller, error) {
	if h == nil {
		return nil, errors.New("mailbox: no handler")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Poller{cfg: cfg, h: h, log: cfg.Logger.With("folder", cfg.Folder), now: time.Now}, nil
}

// Run polls at once and then every Config.Poll until ctx ends; while the
// server cannot be reached or used, the pause doubles up to
// Config.MaxBackoff. It returns when ctx is done, after the poll in
// progress has put away what it handled (or stopGrace has passed).
func (p *Poller) Run(ctx context.Context) {
	p.log.Info("polling the bounce mailbox", "addr", p.cfg.Addr, "user", p.cfg.User, "every", p.cfg.Poll.String())
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait := p.cfg.Poll
		st, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait = p.failed(err)
		} else {
			p.ok()
			p.logStats(st)
		}
		timer.Reset(wait)
	}
}

// Poll connects, takes every message in the folder once, and logs out.
// The error is about the server (unreachable, login refused, folder
// missing); what the handler says about a message is in the Stats.
func (p *Poller) Poll(ctx context.Context) (Stats, error) {
	var st Stats
	c, conn, err := dial(ctx, &p.cfg)
	if err != nil {
		return st, p.scrub(err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		// Commands take no context: once ctx ends the poll finishes the
		// message in hand and puts away what it handled, and if the server
		// keeps it waiting longer, the connection is cut.
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			conn.Close()
		}
	}()
	s, err := open(c, &p.cfg)
	if err != nil {
		c.Close()
		return st, p.scrub(err)
	}
	defer s.close()
	uids, err := s.uids()
	if err != nil {
		return st, p.scrub(err)
	}
	for len(uids) > 0 && ctx.Err() == nil {
		batch := uids[:min(batchSize, len(uids))]
		uids = uids[len(batch):]
		if err := p.batch(ctx, s, batch, &st); err != nil {
			return st, p.scrub(err)
		}
	}
	return st, nil
}

// batch handles the messages uids and then moves them, two commands for
// the lot. A crash between the handler and the move leaves a message to
// be handled again next time: the intake takes a report in once however
// often it comes.
func (p *Poller) batch(ctx context.Context, s *session, uids []imap.UID, st *Stats) error {
	sizes, err := s.sizes(uids)
	if err != nil {
		return err
	}
	put := map[Verdict][]imap.UID{}
	for _, uid := range uids {
		if ctx.Err() != nil {
			break
		}
		size, ok := sizes[uid]
		if !ok {
			continue // gone meanwhile (another client)
		}
		v, err := p.take(ctx, s, uid, size)
		if err != nil {
			// The server went away; what was handled is handled again.
			return err
		}
		if v == Retry {
			st.Left++
			continue
		}
		put[v] = append(put[v], uid)
	}
	for _, v := range []Verdict{Processed, Unrecognised} {
		if err := s.put(v, put[v]); err != nil {
			return err
		}
	}
	st.Processed += len(put[Processed])
	st.Unrecognised += len(put[Unrecognised])
	return nil
}

// take reads message uid and asks the handler about it. A message larger
// than Config.MaxSize is not read: it goes to Unrecognised.
func (p *Poller) take(ctx context.Context, s *session, uid imap.UID, size int64) (Verdict, error) {
	if size > p.cfg.MaxSize {
		p.log.Warn("message too large to be a report; moved to Unrecognised unread", "uid", uid, "size", size, "limit", p.cfg.MaxSize)
		return Unrecognised, nil
	}
	raw, err := s.body(uid, p.cfg.MaxSize)
	switch {
	case errors.Is(err, errTooLarge):
		p.log.Warn("message larger than the server said, and than the limit; moved to Unrecognised", "uid", uid, "limit", p.cfg.MaxSize)
		return Unrecognised, nil
	case err != nil:
		return Retry, err
	case raw == nil:
		return Retry, nil // gone meanwhile
	}
	v := p.call(ctx, uid, raw)
	p.log.Debug("bounce mailbox message", "uid", uid, "size", len(raw), "verdict", v.String())
	return v, nil
}

// call runs the handler. A handler that panics on a message could not
// read it: the message goes to Unrecognised instead of taking serve down
// at every poll.
func (p *Poller) call(ctx context.Context, uid imap.UID, raw []byte) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("reading a message failed; moved to Unrecognised", "uid", uid, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			v = Unrecognised
		}
	}()
	v, err := p.h(ctx, raw)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("message left in the folder for the next poll", "uid", uid, "err", err.Error())
		}
		return Retry
	}
	switch v {
	case Processed, Unrecognised:
		return v
	}
	return Retry
}

// failed records a poll that could not reach or use the server, and
// returns the pause before the next: Poll, doubling with each failure in
// a row, up to MaxBackoff.
func (p *Poller) failed(err error) time.Duration {
	msg := err.Error()
	switch {
	case !p.down:
		p.down, p.since, p.rounds, p.said = true, p.now(), 0, map[string]bool{}
		p.log.Warn("cannot poll the bounce mailbox; trying again with backoff", "addr", p.cfg.Addr, "err", msg)
	case !p.said[msg]:
		p.log.Warn("still cannot poll the bounce mailbox, now for another reason", "addr", p.cfg.Addr, "err", msg)
	default:
		p.log.Debug("bounce mailbox poll failed", "addr", p.cfg.Addr, "round", p.rounds+1, "err", msg)
	}
	p.said[msg] = true
	p.rounds++
	wait := p.cfg.Poll
	for i := 1; i < p.rounds && wait < p.cfg.MaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, p.cfg.MaxBackoff)
}

// ok records a poll that worked; it ends an outage.
func (p *Poller) ok() {
	if !p.down {
		return
	}
	p.log.Info("bounce mailbox reachable again", "addr", p.cfg.Addr,
		"down_for", p.now().Sub(p.since).Round(time.Second).String(), "failed_polls", p.rounds)
	p.down, p.rounds, p.said = false, 0, nil
}

func (p *Poller) logStats(st Stats) {
	if st.Processed+st.Unrecognised == 0 {
		p.log.Debug("bounce mailbox polled", "left", st.Left)
		return
	}
	p.log.Info("bounce mailbox polled", "processed", st.Processed, "unrecognised", st.Unrecognised, "left", st.Left)
}

// scrub keeps the password out of an error that will be logged: a server
// may quote what it was sent.
func (p *Poller) scrub(err error) error {
	if err == nil || !strings.Contains(err.Error(), p.cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), p.cfg.Password, "[password]"))
}
