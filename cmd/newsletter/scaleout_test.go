package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/mailer"
	"newsletter/subscribers"
)

// Several instances on one PostgreSQL database, from the outside: these
// tests run whatever the test engine, on a throw-away cluster, and skip
// (saying so) where the PostgreSQL server binaries are missing.

// startSenders starts k `send` child processes at once.
func startSenders(t testing.TB, f *sendFixture, k int) ([]*exec.Cmd, []*bytes.Buffer) {
	t.Helper()
	cmds := make([]*exec.Cmd, k)
	outs := make([]*bytes.Buffer, k)
	for i := range cmds {
		outs[i] = &bytes.Buffer{}
		cmds[i] = f.child(t, outs[i])
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			if c.ProcessState == nil {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		}
	})
	return cmds, outs
}

// logTrouble logs the senders' errors and warnings.
func logTrouble(t testing.TB, outs []*bytes.Buffer) {
	t.Helper()
	for i, o := range outs {
		for _, line := range strings.Split(o.String(), "\n") {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") && !strings.Contains(line, "imprint") {
				t.Logf("sender %d: %s", i, line)
			}
		}
	}
}

// checkOnce checks every one of n subscribers got column 031, each with a
// single Message-ID, and returns the number of duplicates.
func checkOnce(t *testing.T, f *sendFixture, n int) (dups int) {
	t.Helper()
	byRcpt := f.srv.ByRecipient()
	if len(byRcpt) != n {
		t.Errorf("%d of %d subscribers got the column", len(byRcpt), n)
	}
	for rcpt, msgs := range byRcpt {
		dups += len(msgs) - 1
		ids := map[string]bool{}
		for _, m := range msgs {
			ids[testkit.ParseMail(t, m.Data).Header.Get("Message-Id")] = true
		}
		if len(ids) != 1 {
			t.Errorf("%s got %d copies with different Message-IDs %v", rcpt, len(msgs), ids)
		}
	}
	cs := mailer.NewCampaignStore(testkit.OpenDBFile(t, f.dbPath, nil))
	c, err := cs.Find(context.Background(), 31)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := cs.Counts(context.Background(), c.ID)
	if sent, other := counts.Sent, counts.Total()-counts.Sent; err != nil || sent != n || other != 0 {
		t.Errorf("delivery log: %d sent, %d not sent (%v)", sent, other, err)
	}
	return dups
}

func TestPostgresThreeSendersOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	// Enough for several lease renewals: renewals that lost to the other
	// senders' transactions once let leases lapse.
	const n = 3000
	f := newSendFixtureAt(t, n, testkit.PostgresURL(t, false))
	// A lease well above the renewal's worst delay on a loaded test machine:
	// this is about the claims; a lease that lapses on a live sender (2 s
	// under the whole suite's load did, once) is a timing matter that
	// BenchmarkSendProcesses reports as dups/op.
	f.vars = map[string]string{"NEWSLETTER_LEASE": "10s"}

	cmds, outs := startSenders(t, f, 3)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("sender %d: %v\n%s", i, err, outs[i])
		}
	}
	// They ran side by side: more than one of them sent a share.
	working := 0
	for _, o := range outs {
		if strings.Contains(o.String(), "campaign run ended") && !strings.Contains(o.String(), "sent_now=0 ") {
			working++
		}
	}
	if working < 2 {
		t.Errorf("only %d of three senders sent anything; they did not overlap", working)
	}
	if dups := checkOnce(t, f, n); dups != 0 {
		t.Errorf("%d duplicates from three live senders, want 0", dups)
		logTrouble(t, outs)
	}
}

func TestPostgresKillOneOfThreeSenders(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	const n, workers = 300, 4
	f := newSendFixtureAt(t, n, testkit.PostgresURL(t, false))
	f.srv.SetDelay(10 * time.Millisecond) // slow enough to kill mid-campaign

	cmds, outs := startSenders(t, f, 3)
	deadline := time.Now().Add(60 * time.Second)
	for f.srv.Count() < n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("the senders made no progress:\n%s", outs[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmds[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmds[0].Wait()
	atKill := f.srv.Count()
	if atKill >= n {
		t.Fatalf("the campaign was done (%d messages) before the kill; slow the server down", atKill)
	}
	for i, c := range cmds[1:] {
		if err := c.Wait(); err != nil {
			t.Errorf("sender %d: %v\n%s", i+1, err, outs[i+1])
		}
	}
	// What the survivors left to the dead sender's leases, a later run
	// takes over (as serve's retry loop would).
	var out bytes.Buffer
	if err := f.child(t, &out).Run(); err != nil {
		t.Fatalf("send after the crash: %v\n%s", err, out.String())
	}
	dups := checkOnce(t, f, n)
	if dups > workers {
		t.Errorf("%d duplicates, want at most %d (the killed sender's mails in flight)", dups, workers)
	}
	t.Logf("killed one of three after %d messages; %d duplicates", atKill, dups)
}

func TestPostgresTwoServeInstances(t *testing.T) {
	const n = 12 // within the per-IP cap of confirmation mails
	smtpSrv := testkit.StartSMTP(t)
	_, columns := serveFolder(t)
	pg := testkit.PostgresURL(t, false)
	procs := []*serveProc{
		startServe(t, pg, columns, smtpSrv.Addr, "--ip-rate-limit", "0"),
		startServe(t, pg, columns, smtpSrv.Addr, "--ip-rate-limit", "0"),
	}
	// Sign-ups spread across both, at once.
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := procs[i%2]
			addr := fmt.Sprintf("leserin%d@example.org", i)
			if code, body := httpPostForm(t, p.URL+"/subscribe", url.Values{"email": {addr}}); code != 200 {
				t.Errorf("subscribe %s on instance %d: %d\n%s", addr, i%2, code, body)
			}
		}()
	}
	wg.Wait()
	testkit.Eventually(t, "a confirmation mail for every sign-up", func() bool { return len(smtpSrv.ByRecipient()) == n })
	// Both outbox workers had their chance at every mail.
	time.Sleep(2 * time.Second)
	for rcpt, msgs := range smtpSrv.ByRecipient() {
		if len(msgs) != 1 {
			t.Errorf("%s got %d confirmation mails, want 1", rcpt, len(msgs))
		}
	}

	// Each confirms on the other instance than the one it signed up on.
	for i := range n {
		addr := fmt.Sprintf("leserin%d@example.org", i)
		link := testkit.ConfirmLink(t, testkit.MailText(t, smtpSrv.WaitMail(t, addr).Data))
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		other := procs[(i+1)%2]
		if code, body := httpPostForm(t, other.URL+"/confirm", url.Values{"token": {u.Query().Get("token")}}); code != 200 || !strings.Contains(body, "Willkommen") {
			t.Errorf("confirm %s: %d\n%s", addr, code, body)
		}
		if st, _ := subscriberStatus(t, pg, addr); st != subscribers.StatusActive {
			t.Errorf("%s is %s after confirming", addr, st)
		}
	}
}
