package testkit_test

import (
	"net"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"newsletter/internal/testkit"
)

// The private Postfix listens on loopback only, delivers its mailboxes
// (extensions included) to Maildirs, accepts an unknown user and then
// writes the DSN to the envelope sender's Maildir, and leaves no process
// behind.
func TestPostfix(t *testing.T) {
	pf := testkit.StartPostfix(t, "bounces@lists.test", "alice@readers.test")

	host, port, _ := net.SplitHostPort(pf.SMTPAddr)
	if host != "127.0.0.1" {
		t.Fatalf("SMTP on %s, want 127.0.0.1", pf.SMTPAddr)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ip, _, _ := net.ParseCIDR(a.String())
		if ip == nil || ip.IsLoopback() || ip.To4() == nil {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second); err == nil {
			c.Close()
			t.Errorf("Postfix answers on %s too", ip)
		}
	}

	msg := "From: Kniepunkt <kolumne@lists.test>\r\nTo: alice@readers.test, carol@readers.test\r\n" +
		"Subject: Kolumne 031\r\nMessage-ID: <c031.test@lists.test>\r\n\r\nEin Absatz.\r\n"
	// Postfix answers 250 for all three, the unknown one included.
	err := smtp.SendMail(pf.SMTPAddr, nil, "bounces+t0k3n@lists.test",
		[]string{"alice@readers.test", "carol@readers.test", "alice+news@readers.test"}, []byte(msg))
	if err != nil {
		t.Fatalf("send through Postfix: %v", err)
	}

	got := pf.WaitMessages(t, "alice@readers.test", 2)
	for _, m := range got {
		if !strings.Contains(string(m), "Message-ID: <c031.test@lists.test>") {
			t.Errorf("delivered mail lacks the Message-ID:\n%s", m)
		}
	}
	dsn := string(pf.WaitMessages(t, "bounces@lists.test", 1)[0])
	for _, want := range []string{
		"Delivered-To: bounces+t0k3n@lists.test",
		"From: Mail Delivery System <MAILER-DAEMON@mail.lists.test>",
		"Content-Type: multipart/report; report-type=delivery-status;",
		"Final-Recipient: rfc822; carol@readers.test",
		"Action: failed",
		"Status: 5.1.1",
		"Message-ID: <c031.test@lists.test>",
	} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	if n := strings.Count(dsn, "Final-Recipient:"); n != 1 {
		t.Errorf("DSN names %d recipients, want only the unknown one:\n%s", n, dsn)
	}
	testkit.Eventually(t, "Postfix's queue to empty", func() bool { return pf.QueueEmpty(t) })

	pf.Stop(t)
	if pf.Running() {
		t.Fatal("Postfix processes left after Stop")
	}
	if c, err := net.DialTimeout("tcp", pf.SMTPAddr, time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	if _, err := os.Stat(pf.QueueDir); err != nil {
		t.Fatal(err)
	}
}
