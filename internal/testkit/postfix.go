package testkit

// A private Postfix for the tests that need reports a real MTA wrote:
// Debian's postfix package, run as its own instance (config, queue and
// data directories in the test's temp dir), listening on 127.0.0.1 only,
// delivering its test domains to Maildirs and bouncing unknown users after
// it accepted them, so that Postfix itself writes the DSN.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostfixBin is where Debian's postfix package puts the command.
const PostfixBin = "/usr/sbin/postfix"

// Postfix is one private Postfix instance started by StartPostfix.
type Postfix struct {
	SMTPAddr  string   // 127.0.0.1:PORT, smtpd without TLS or AUTH
	Hostname  string   // myhostname, named in the DSNs it writes
	Domains   []string // the domains it delivers; any other address is refused delivery
	Dir       string   // config_directory (main.cf, master.cf, vmailbox)
	QueueDir  string   // queue_directory, every daemon's working directory
	MailBase  string   // virtual_mailbox_base: MailBase/DOMAIN/LOCAL/{new,cur,tmp}
	LogFile   string   // maillog_file
	mailboxes map[string]string
}

// postfixLocal is what a mailbox's local part may hold: the Maildir path is
// made from it.
var postfixLocal = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// StartPostfix starts a Postfix instance that delivers mail for each of
// mailboxes (lower-case LOCAL@DOMAIN) to its Maildir, and stops it when
// the test ends. Every other address at those domains is accepted at SMTP
// time and bounced afterwards as an unknown user (5.1.1), so Postfix writes
// a DSN to the envelope sender; mail to any other domain bounces too
// (nothing leaves the machine). Addresses take extensions after '+'
// (bounces+TAG@DOMAIN is delivered to bounces@DOMAIN), as a VERP return
// path needs.
//
// Postfix's master must start as root: the test is skipped when it is not
// root or when Debian's postfix package is not installed.
func StartPostfix(tb testing.TB, mailboxes ...string) *Postfix {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("the Postfix tests start a private Postfix instance, which needs root (CI runs as root)")
	}
	if _, err := os.Stat(PostfixBin); err != nil {
		tb.Skip("Postfix is not installed (" + PostfixBin + "); install it as .ci/run does: " +
			`echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && apt-get install -y postfix`)
	}
	if _, err := user.Lookup("postfix"); err != nil {
		tb.Skip("the postfix package's user is missing: " + err.Error())
	}
	if len(mailboxes) == 0 {
		tb.Fatal("StartPostfix: name at least one mailbox")
	}

	base := tb.TempDir()
	// Postfix's daemons run as the postfix user and the virtual agent as
	// nobody: both must be able to reach the directories below, which
	// t.TempDir makes 0700.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := searchable(base); err != nil {
		tb.Skip("a private Postfix cannot run under this temp dir: " + err.Error())
	}
	p := &Postfix{
		Hostname:  "mail.lists.test",
		Dir:       filepath.Join(base, "etc"),
		QueueDir:  filepath.Join(base, "queue"),
		MailBase:  filepath.Join(base, "mail"),
		LogFile:   filepath.Join(base, "maillog"),
		mailboxes: map[string]string{},
	}
	uid, gid := nobody()
	var vmailbox strings.Builder
	for _, m := range mailboxes {
		local, domain, ok := strings.Cut(m, "@")
		if !ok || !postfixLocal.MatchString(local) || !postfixLocal.MatchString(domain) || strings.Contains(local, "+") {
			tb.Fatalf("StartPostfix: mailbox %q is not a plain lower-case LOCAL@DOMAIN", m)
		}
		if !slices.Contains(p.Domains, domain) {
			p.Domains = append(p.Domains, domain)
		}
		rel := domain + "/" + local + "/"
		p.mailboxes[m] = filepath.Join(p.MailBase, domain, local)
		fmt.Fprintf(&vmailbox, "%s %s\n", m, rel)
		for _, sub := range []string{"", "tmp", "new", "cur"} {
			if err := mkdirOwned(filepath.Join(p.mailboxes[m], sub), uid, gid); err != nil {
				tb.Fatal(err)
			}
		}
	}
	dirs := []string{p.MailBase}
	for _, d := range p.Domains {
		dirs = append(dirs, filepath.Join(p.MailBase, d))
	}
	for _, d := range dirs {
		if err := os.Chown(d, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	// Postfix makes the queue's sub-directories on start, not the queue
	// directory itself.
	for _, d := range []string{p.Dir, p.QueueDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "vmailbox"), []byte(vmailbox.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	// The log file is written by postlogd as root; made beforehand so a
	// failed start can always be reported from it.
	if err := os.WriteFile(p.LogFile, nil, 0o644); err != nil {
		tb.Fatal(err)
	}

	// A free port, taken again by master a moment later. Another process
	// could grab it in between; then start fails and says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.SMTPAddr = ln.Addr().String()
	ln.Close()

	mainCF := fmt.Sprintf(postfixMainCF, p.QueueDir, filepath.Join(base, "data"), p.Hostname,
		strings.Join(p.Domains, " "), p.MailBase, filepath.Join(p.Dir, "vmailbox"), uid, gid, uid,
		p.LogFile, base)
	masterCF := fmt.Sprintf(postfixMasterCF, p.SMTPAddr)
	for name, text := range map[string]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(p.Dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}

	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("Postfix log (%s):\n%s", p.LogFile, p.Log())
		}
		p.Stop(tb)
	})
	if out, err := p.postfix("start"); err != nil {
		tb.Fatalf("postfix start: %v\n%s\nlog:\n%s", err, out, p.Log())
	}
	// master -w returns once master is up; smtpd is spawned on the first
	// connection, so a connect proves the listener.
	Eventually(tb, "Postfix listening on "+p.SMTPAddr, func() bool {
		c, err := net.DialTimeout("tcp", p.SMTPAddr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

// postfixMainCF is the instance's main.cf. Why each setting:
//   - compatibility_level pins today's defaults, so a newer package does
//     not change what the tests see;
//   - no local delivery (mydestination, local_recipient_maps, alias_maps
//     empty): nothing in /etc or /var/mail is read or written;
//   - default_transport error: mail for any other domain bounces at once,
//     nothing leaves the machine, and no DNS is asked (smtp_dns_support_level,
//     smtp_host_lookup, smtpd_peername_lookup);
//   - smtpd_reject_unlisted_recipient = no: an unknown user is accepted and
//     bounced by the virtual agent, so Postfix writes the DSN;
//   - the queue settings make retries and give-ups quick;
//   - maillog_file: the container may have no syslog.
const postfixMainCF = `# A private Postfix for tests, written by internal/testkit.
compatibility_level = 3.6
queue_directory = %s
data_directory = %s
mail_owner = postfix
myhostname = %s
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
default_transport = error:5.7.1 this test Postfix delivers to its own domains only
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
smtpd_banner = $myhostname ESMTP test Postfix
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = %s
virtual_mailbox_base = %s
virtual_mailbox_maps = texthash:%s
virtual_uid_maps = static:%d
virtual_gid_maps = static:%d
virtual_minimum_uid = %d
recipient_delimiter = +
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = 1m
bounce_queue_lifetime = 1m
biff = no
maillog_file = %s
maillog_file_prefixes = %s
`

// postfixMasterCF runs only the services this instance needs, none of
// them chrooted (the chroot would need copies of /etc files).
const postfixMasterCF = `# service type  private unpriv  chroot  wakeup  maxproc command
%s inet n       -       n       -       -       smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// postfix runs the postfix command on this instance.
func (p *Postfix) postfix(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, PostfixBin, append([]string{"-c", p.Dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// master keeps no copy of our pipes, but if a daemon ever did, Wait
	// would block on them: give up on the pipes after a while.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// Stop stops the instance and kills what is left of it: every process
// whose working directory is this instance's queue directory (master and
// all its daemons chdir there). Called by the test's cleanup; safe to call
// twice.
func (p *Postfix) Stop(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(p.Dir, "main.cf")); err != nil {
		return
	}
	if out, err := p.postfix("stop"); err != nil && len(p.procs()) > 0 {
		tb.Logf("postfix stop: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.procs()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range p.procs() {
		tb.Logf("killing leftover Postfix process %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// procs lists the processes running in this instance's queue directory.
func (p *Postfix) procs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == p.QueueDir {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Running reports whether any process of the instance is alive.
func (p *Postfix) Running() bool { return len(p.procs()) > 0 }

// Log returns what the instance logged so far.
func (p *Postfix) Log() string {
	b, err := os.ReadFile(p.LogFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// Maildir is the Maildir of one of the instance's mailboxes.
func (p *Postfix) Maildir(tb testing.TB, mailbox string) string {
	tb.Helper()
	dir, ok := p.mailboxes[mailbox]
	if !ok {
		tb.Fatalf("%s is not a mailbox of this Postfix", mailbox)
	}
	return dir
}

// Messages returns the messages delivered to mailbox so far, oldest first
// (by the time each file was written: Maildir names give only the second).
func (p *Postfix) Messages(tb testing.TB, mailbox string) [][]byte {
	tb.Helper()
	type file struct {
		path string
		at   time.Time
	}
	var files []file
	dir := p.Maildir(tb, mailbox)
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				tb.Fatal(err)
			}
			files = append(files, file{filepath.Join(dir, sub, e.Name()), fi.ModTime()})
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if !files[i].at.Equal(files[j].at) {
			return files[i].at.Before(files[j].at)
		}
		return files[i].path < files[j].path
	})
	var msgs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			tb.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// WaitMessages waits until mailbox holds n messages and returns them; it
// fails the test when more arrive or a minute passes first.
func (p *Postfix) WaitMessages(tb testing.TB, mailbox string, n int) [][]byte {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		msgs := p.Messages(tb, mailbox)
		if len(msgs) > n {
			tb.Fatalf("%s holds %d messages, want %d", mailbox, len(msgs), n)
		}
		if len(msgs) == n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %d messages in %s (have %d); Postfix log:\n%s", n, mailbox, len(msgs), p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// QueueEmpty reports whether Postfix holds no mail any more: everything
// was delivered or bounced, and the bounces delivered too.
func (p *Postfix) QueueEmpty(tb testing.TB) bool {
	tb.Helper()
	empty := true
	for _, q := range []string{"incoming", "active", "deferred", "maildrop", "hold"} {
		err := filepath.WalkDir(filepath.Join(p.QueueDir, q), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				empty = false
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
	}
	return empty
}

// nobody is the user the virtual agent delivers as.
func nobody() (uid, gid int) {
	uid, gid = 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		if n, err := strconv.Atoi(u.Uid); err == nil {
			uid = n
		}
		if n, err := strconv.Atoi(u.Gid); err == nil {
			gid = n
		}
	}
	return uid, gid
}

func mkdirOwned(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, uid, gid)
}

// searchable checks that other users may pass through dir and every
// directory above it.
func searchable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users (mode %v); set TMPDIR to a directory that is", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
