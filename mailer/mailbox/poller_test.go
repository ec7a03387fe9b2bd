package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"newsletter/internal/testkit"
)

// message is a small mail whose subject tells the test handler what to
// answer.
func message(subject string) []byte {
	return fmt.Appendf(nil, "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.org\r\nSubject: %s\r\nMessage-ID: <%s@mx.example.net>\r\n\r\nThis is the mail system.\r\n", subject, subject)
}

var subjectLine = regexp.MustCompile(`(?m)^Subject: (\S+)\r$`)

// recorder is a handler that answers by the subject (processed-…,
// unrecognised-…, retry-…, error-…, panic-…) and counts what it saw.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

func (r *recorder) handle(_ context.Context, raw []byte) (Verdict, error) {
	m := subjectLine.FindSubmatch(raw)
	if m == nil {
		return Unrecognised, nil
	}
	subject := string(m[1])
	r.mu.Lock()
	r.seen[subject]++
	r.mu.Unlock()
	switch kind, _, _ := strings.Cut(subject, "-"); kind {
	case "processed":
		return Processed, nil
	case "unrecognised":
		return Unrecognised, nil
	case "error":
		// An error keeps the message whatever the verdict says.
		return Processed, errors.New("database is locked")
	case "panic":
		panic("boom") // a reader that crashes on this message
	}
	return Retry, nil
}

func (r *recorder) count(subject string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[subject]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c
	}
	return n
}

// subjects lists the subjects of msgs, in order.
func subjects(msgs []testkit.IMAPMessage) []string {
	var out []string
	for _, m := range msgs {
		if s := subjectLine.FindSubmatch(m.Raw); s != nil {
			out = append(out, string(s[1]))
		}
	}
	return out
}

func countAll(contents map[string][]testkit.IMAPMessage) int {
	n := 0
	for _, msgs := range contents {
		n += len(msgs)
	}
	return n
}

// loginOnly is a session that offers no AUTHENTICATE mechanism, so the
// client must use LOGIN.
type loginOnly struct{ imapserver.SessionMove }

func (loginOnly) AuthenticateMechanisms() []string { return nil }
func (loginOnly) Authenticate(string) (sasl.Server, error) {
	return nil, errors.New("no SASL here")
}

// tlsPair is a server certificate for 127.0.0.1 and a client config that
// trusts it.
func tlsPair(t *testing.T) (server, client *tls.Config) {
	ca := testkit.NewCA(t)
	return &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "127.0.0.1")}}, &tls.Config{RootCAs: ca.Pool()}
}

// Every message in the folder reaches the handler once per poll, goes
// where its verdict says, byte for byte, and nothing is ever deleted; on
// every kind of server: with MOVE, with only UIDPLUS, with neither, over
// implicit TLS and STARTTLS, with LOGIN instead of AUTHENTICATE.
func TestPollPutsEachMessageWhereItsVerdictSays(t *testing.T) {
	serverTLS, clientTLS := tlsPair(t)
	for _, tc := range []struct {
		name      string
		configure func(*testkit.IMAPServer)
		implicit  bool
		auth      string // the command the server must have seen
	}{
		{name: "MOVE", auth: "AUTHENTICATE PLAIN"},
		{name: "IMAP4rev2", configure: func(s *testkit.IMAPServer) { s.Caps = imap.CapSet{imap.CapIMAP4rev2: {}} }, auth: "AUTHENTICATE PLAIN"},
		{name: "UIDPLUS without MOVE", configure: func(s *testkit.IMAPServer) {
			s.Caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
		}, auth: "AUTHENTICATE PLAIN"},
		{name: "neither MOVE nor UIDPLUS", configure: func(s *testkit.IMAPServer) { s.Caps = imap.CapSet{imap.CapIMAP4rev1: {}} }, auth: "AUTHENTICATE PLAIN"},
		{name: "implicit TLS", configure: func(s *testkit.IMAPServer) { s.TLS, s.ImplicitTLS = serverTLS, true }, implicit: true, auth: "AUTHENTICATE PLAIN"},
		{name: "STARTTLS", configure: func(s *testkit.IMAPServer) { s.TLS = serverTLS }, auth: "AUTHENTICATE PLAIN"},
		{name: "LOGIN only", configure: func(s *testkit.IMAPServer) {
			s.Wrap = func(sess imapserver.Session) imapserver.Session { return loginOnly{sess.(imapserver.SessionMove)} }
		}, auth: "LOGIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wire testkit.SyncBuffer
			srv := testkit.StartIMAP(t, func(s *testkit.IMAPServer) {
				s.Debug = &wire
				if tc.configure != nil {
					tc.configure(s)
				}
			})
			names := []string{"processed-1", "unrecognised-2", "retry-3", "error-4", "panic-5", "processed-6"}
			originals := map[string][]byte{}
			for _, n := range names {
				originals[n] = message(n)
				srv.Append(t, "INBOX", originals[n])
			}
			var logs testkit.SyncBuffer
			rec := newRecorder()
			p, err := New(Config{
				Addr: srv.Addr, Implicit: tc.implicit, TLS: clientTLS,
				User: srv.User, Password: srv.Password, Folder: "INBOX",
				Logger: logs.Logger(slog.LevelDebug),
			}, rec.handle)
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Poll(t.Context())
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			if want := (Stats{Processed: 2, Unrecognised: 2, Left: 2}); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			for _, n := range names {
				if got := rec.count(n); got != 1 {
					t.Errorf("%s handed over %d times, want once", n, got)
				}
			}
			after := srv.Contents(t)
			if n := countAll(after); n < len(names) {
				t.Fatalf("%d messages left on the server, %d were there: something was deleted\n%v", n, len(names), after)
			}
			check := func(folder string, want []string, flag imap.Flag, flagged bool) {
				t.Helper()
				var live []testkit.IMAPMessage
				for _, m := range after[folder] {
					if !m.Has(imap.FlagDeleted) {
						live = append(live, m)
					}
				}
				if got := subjects(live); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s holds %v, want %v", folder, got, want)
				}
				for _, m := range live {
					s := string(subjectLine.FindSubmatch(m.Raw)[1])
					if !bytes.Equal(m.Raw, originals[s]) {
						t.Errorf("%s: %s changed on the way:\n%q", folder, s, m.Raw)
					}
					if m.Has(flag) != flagged {
						t.Errorf("%s: %s has flags %v", folder, s, m.Flags)
					}
				}
			}
			check("INBOX", []string{"retry-3", "error-4"}, imap.FlagSeen, false)
			check("INBOX/Processed", []string{"processed-1", "processed-6"}, imap.FlagSeen, true)
			check("INBOX/Unrecognised", []string{"unrecognised-2", "panic-5"}, imap.FlagSeen, false)
			if len(after) != 3 {
				t.Errorf("folders %v, want INBOX and its two sub-folders", after)
			}

			// The next poll hands over only what was left.
			if _, err := p.Poll(t.Context()); err != nil {
				t.Fatalf("second poll: %v", err)
			}
			if rec.count("retry-3") != 2 || rec.count("error-4") != 2 || rec.total() != len(names)+2 {
				t.Errorf("second poll handed over %v", rec.seen)
			}
			if n := countAll(srv.Contents(t)); n != countAll(after) {
				t.Errorf("the second poll changed the number of messages: %d, then %d", countAll(after), n)
			}

			proto := wire.String()
			if !strings.Contains(proto, " "+tc.auth) {
				t.Errorf("the client did not log in with %s", tc.auth)
			}
			// Never a plain EXPUNGE: it would remove what others flagged.
			if regexp.MustCompile(`(?m)^T\d+ EXPUNGE`).MatchString(proto) {
				t.Error("the client sent EXPUNGE")
			}
			log := logs.String()
			for _, want := range []string{"created IMAP folder", "message left in the folder", "database is locked", "moved to Unrecognised"} {
				if !strings.Contains(log, want) {
					t.Errorf("the log lacks %q:\n%s", want, log)
				}
			}
			if strings.Contains(log, srv.Password) {
				t.Errorf("the log shows the password:\n%s", log)
			}
		})
	}
}

// Without MOVE and UIDPLUS the copies stay flagged \Deleted in the folder
// (a plain EXPUNGE would also remove what others flagged) and are not
// handed over again; a message someone else flagged \Deleted is left
// alone and kept.
func TestWithoutUIDPlusNothingIsExpunged(t *testing.T) {
	srv := testkit.StartIMAP(t, func(s *testkit.IMAPServer) { s.Caps = imap.CapSet{imap.CapIMAP4rev1: {}} })
	srv.Append(t, "INBOX", message("processed-1"))
	rec := newRecorder()
	p, err := New(Config{Addr: srv.Addr, User: srv.User, Password: srv.Password, Folder: "INBOX"}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if rec.count("processed-1") != 1 {
		t.Errorf("handed over %d times", rec.count("processed-1"))
	}
	c := srv.Contents(t)
	if len(c["INBOX"]) != 1 || !c["INBOX"][0].Has(imap.FlagDeleted) || len(c["INBOX/Processed"]) != 1 {
		t.Errorf("contents %v", c)
	}
}

// The folder may be any folder; sub-folders already there are used as they
// are, with what they hold; "inbox" is INBOX; a missing folder is an error
// that names it.
func TestFolders(t *testing.T) {
	srv := testkit.StartIMAP(t, nil)
	srv.Create(t, "Bounces")
	srv.Create(t, "Bounces/Processed")
	srv.Append(t, "Bounces/Processed", message("processed-0"))
	srv.Append(t, "Bounces", message("processed-1"))
	srv.Append(t, "INBOX", message("processed-2"))
	poll := func(folder string) (*recorder, error) {
		rec := newRecorder()
		p, err := New(Config{Addr: srv.Addr, User: srv.User, Password: srv.Password, Folder: folder}, rec.handle)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Poll(t.Context())
		return rec, err
	}
	if rec, err := poll("Bounces/"); err != nil || rec.total() != 1 {
		t.Fatalf("Bounces: %v, %v", rec.seen, err)
	}
	if rec, err := poll("inbox"); err != nil || rec.count("processed-2") != 1 {
		t.Fatalf("inbox: %v, %v", rec.seen, err)
	}
	c := srv.Contents(t)
	if got := subjects(c["Bounces/Processed"]); strings.Join(got, " ") != "processed-0 processed-1" {
		t.Errorf("Bounces/Processed holds %v", got)
	}
	if _, ok := c["Bounces/Unrecognised"]; !ok {
		t.Errorf("Bounces/Unrecognised was not created: %v", c)
	}
	if len(c["INBOX/Processed"]) != 1 || len(c["INBOX"]) != 0 {
		t.Errorf("INBOX: %v", c)
	}
	if _, err := poll("Bouncez"); err == nil || !strings.Contains(err.Error(), `folder "Bouncez" does not exist`) {
		t.Errorf("missing folder: %v", err)
	}
}

// A message over the size limit goes to Unrecognised without being read:
// the handler never sees it and its bytes never cross the wire.
func TestOversizeMessageIsMovedUnread(t *testing.T) {
	var wire testkit.SyncBuffer
	srv := testkit.StartIMAP(t, func(s *testkit.IMAPServer) { s.Debug = &wire })
	const limit = 64 << 10
	big := append(message("processed-big"), bytes.Repeat([]byte("0123456789abcdef\r\n"), 4*limit/18)...)
	fits := append(message("processed-fits"), bytes.Repeat([]byte("x"), limit-len(message("processed-fits"))-2)...)
	fits = append(fits, "\r\n"...)
	srv.Append(t, "INBOX", big)
	srv.Append(t, "INBOX", fits)
	var logs testkit.SyncBuffer
	rec := newRecorder()
	p, err := New(Config{Addr: srv.Addr, User: srv.User, Password: srv.Password, Folder: "INBOX", MaxSize: limit, Logger: logs.Logger(slog.LevelInfo)}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Unrecognised != 1 || st.Processed != 1 || rec.count("processed-big") != 0 || rec.count("processed-fits") != 1 {
		t.Errorf("stats %+v, handler saw %v", st, rec.seen)
	}
	if n := len(wire.String()); n > 2*limit {
		t.Errorf("%d bytes on the wire: the big message (%d bytes) was fetched", n, len(big))
	}
	c := srv.Contents(t)
	if len(c["INBOX/Unrecognised"]) != 1 || !bytes.Equal(c["INBOX/Unrecognised"][0].Raw, big) {
		t.Errorf("the big message is not in Unrecognised whole")
	}
	if !strings.Contains(logs.String(), "too large") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
}

// startRun runs a poller until the returned stop is called, which fails
// the test unless Run returns soon after.
func startRun(t *testing.T, cfg Config, h Handler) (stop func()) {
	t.Helper()
	p, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		p.Run(ctx)
	}()
	return func() {
		t.Helper()
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop")
		}
	}
}

// While the server is away, Run warns once and tries again with a growing
// pause; when it is back, Run says so and takes the mail that came
// meanwhile. It stops when its context ends.
func TestRunRidesOutAnOutage(t *testing.T) {
	srv := testkit.StartIMAP(t, nil)
	var logs testkit.SyncBuffer
	rec := newRecorder()
	stop := startRun(t, Config{
		Addr: srv.Addr, User: srv.User, Password: srv.Password, Folder: "INBOX",
		Poll: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond,
		Logger: logs.Logger(slog.LevelDebug),
	}, rec.handle)
	srv.Append(t, "INBOX", message("processed-1"))
	testkit.Eventually(t, "the first message", func() bool { return rec.count("processed-1") == 1 })

	srv.Stop()
	testkit.Eventually(t, "several failed polls", func() bool {
		return strings.Count(logs.String(), "bounce mailbox poll failed") >= 3
	})
	srv.Append(t, "INBOX", message("processed-2"))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the message that came during the outage", func() bool { return rec.count("processed-2") == 1 })
	testkit.Eventually(t, "reachable again", func() bool { return strings.Contains(logs.String(), "bounce mailbox reachable again") })
	stop()
	log := logs.String()
	if n := strings.Count(log, `msg="cannot poll the bounce mailbox`); n != 1 {
		t.Errorf("the outage was warned about %d times, want once:\n%s", n, log)
	}
	if rec.count("processed-1") != 1 {
		t.Errorf("processed-1 handed over %d times", rec.count("processed-1"))
	}
	if !strings.Contains(log, `msg="bounce mailbox polled" folder=INBOX processed=1 unrecognised=0 left=0`) {
		t.Errorf("the log does not say what a poll did:\n%s", log)
	}
	if c := srv.Contents(t); len(c["INBOX/Processed"]) != 2 {
		t.Errorf("contents %v", c)
	}
}

// Once the context ends, the poll finishes the message in hand, puts away
// what it handled and leaves the rest.
func TestStopMidPoll(t *testing.T) {
	srv := testkit.StartIMAP(t, nil)
	for i := range 5 {
		srv.Append(t, "INBOX", message(fmt.Sprintf("processed-%d", i)))
	}
	ctx, cancel := context.WithCancel(t.Context())
	seen := 0
	p, err := New(Config{Addr: srv.Addr, User: srv.User, Password: srv.Password, Folder: "INBOX"}, func(context.Context, []byte) (Verdict, error) {
		if seen++; seen == 2 {
			cancel()
		}
		return Processed, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Poll(ctx)
	if err != nil || st.Processed != 2 || seen != 2 {
		t.Fatalf("stats %+v, %d seen, %v", st, seen, err)
	}
	if c := srv.Contents(t); len(c["INBOX"]) != 3 || len(c["INBOX/Processed"]) != 2 {
		t.Errorf("contents %v", c)
	}
}

// The password never reaches the log: not when the server refuses it, not
// even when the server quotes it back in its refusal.
func TestPasswordNeverLogged(t *testing.T) {
	const wrong = "wrong-password-5e1f"
	srv := testkit.StartIMAP(t, func(s *testkit.IMAPServer) {
		s.Wrap = func(sess imapserver.Session) imapserver.Session { return quoter{sess.(imapserver.SessionMove)} }
	})
	var logs testkit.SyncBuffer
	stop := startRun(t, Config{
		Addr: srv.Addr, User: srv.User, Password: wrong, Folder: "INBOX",
		Poll: 10 * time.Millisecond, Logger: logs.Logger(slog.LevelDebug),
	}, newRecorder().handle)
	testkit.Eventually(t, "failed polls", func() bool { return strings.Count(logs.String(), "poll failed") >= 2 })
	stop()
	log := logs.String()
	if strings.Contains(log, wrong) || !strings.Contains(log, "log in as bounces@example.org") || !strings.Contains(log, "[password]") {
		t.Errorf("the log:\n%s", log)
	}
}

// quoter is a careless server that quotes the password it refuses, and
// offers only LOGIN, where the password goes as it is.
type quoter struct{ imapserver.SessionMove }

func (quoter) AuthenticateMechanisms() []string { return nil }
func (quoter) Authenticate(string) (sasl.Server, error) {
	return nil, errors.New("no SASL here")
}
func (quoter) Login(user, password string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "bad password " + password}
}

// TLS is verified: a certificate nobody vouches for is refused, implicit
// or by STARTTLS, and the password is not sent.
func TestTLSIsVerified(t *testing.T) {
	for _, implicit := range []bool{true, false} {
		var wire testkit.SyncBuffer
		srv := testkit.StartIMAP(t, func(s *testkit.IMAPServer) {
			s.TLS = &tls.Config{Certificates: []tls.Certificate{testkit.SelfSignedCert(t, "127.0.0.1")}}
			s.ImplicitTLS, s.Debug = implicit, &wire
		})
		p, err := New(Config{Addr: srv.Addr, Implicit: implicit, User: srv.User, Password: srv.Password, Folder: "INBOX"}, newRecorder().handle)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Poll(t.Context())
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("implicit=%v: %v", implicit, err)
		}
		if strings.Contains(wire.String(), srv.Password) {
			t.Errorf("implicit=%v: the password was sent", implicit)
		}
	}
}

func TestSubFolder(t *testing.T) {
	for _, tc := range []struct {
		parent string
		delim  rune
		want   string
	}{
		{"INBOX", '/', "INBOX/Processed"},
		{"INBOX", '.', "INBOX.Processed"},
		{"INBOX.bounces", '.', "INBOX.bounces.Processed"},
		{"bounces", 0, "bounces/Processed"},
	} {
		if got := subFolder(tc.parent, tc.delim, ProcessedFolder); got != tc.want {
			t.Errorf("subFolder(%q, %q) = %q, want %q", tc.parent, tc.delim, got, tc.want)
		}
	}
}

func TestConfigChecks(t *testing.T) {
	good := Config{Addr: "imap.example.org:993", User: "u", Password: "p", Folder: "INBOX"}
	h := newRecorder().handle
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no port", func(c *Config) { c.Addr = "imap.example.org" }, "HOST:PORT"},
		{"no user", func(c *Config) { c.User = "" }, "user"},
		{"no password", func(c *Config) { c.Password = "" }, "password"},
		{"no folder", func(c *Config) { c.Folder = "/" }, "folder"},
		{"negative poll", func(c *Config) { c.Poll = -time.Second }, "negative"},
	} {
		c := good
		tc.edit(&c)
		if _, err := New(c, h); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := New(good, nil); err == nil {
		t.Error("no handler: no error")
	}
	p, err := New(good, h)
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.Poll != DefaultPoll || p.cfg.MaxSize != DefaultMaxSize || p.cfg.MaxBackoff != 30*time.Minute || p.cfg.TLS.ServerName != "imap.example.org" {
		t.Errorf("defaults: %+v", p.cfg)
	}
	for v, want := range map[Verdict]string{Processed: "processed", Unrecognised: "unrecognised", Retry: "retry", Verdict(9): "Verdict(9)"} {
		if v.String() != want {
			t.Errorf("%d: %q", v, v.String())
		}
	}
}
