package testkit_test

import (
	"context"
	"encoding/base64"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

func TestClockDrivesTheDatabase(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := testkit.NewClock(at)
	d := testkit.OpenDB(t, clock)
	clock.Add(time.Hour)
	clock.Set(clock.Now().Add(time.Minute))
	err := d.InTx(context.Background(), func(tx *db.Tx) error {
		if want := at.Add(time.Hour + time.Minute); !tx.Now.Equal(want) {
			t.Errorf("tx.Now = %v, want %v", tx.Now, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Seeding goes through the store; a peek at the outbox claims nothing.
func TestSeedAndPeek(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	st := testkit.NewStore(t, d)
	ids := testkit.AddSubscribers(t, st, "a", 3, subscribers.StatusActive)
	sub, err := st.FindByID(context.Background(), ids[2])
	if err != nil || sub.Email != "a2@example.net" || sub.Name != "Leserin a2" || sub.Status != subscribers.StatusActive {
		t.Fatalf("seeded %+v, %v", sub, err)
	}
	if _, err := st.Add(context.Background(), subscribers.AddParams{Email: "p@example.org"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if items := testkit.DueOutbox(t, d); len(items) != 1 || items[0].Recipient != "p@example.org" {
			t.Fatalf("due %+v, want the one confirmation mail, still unclaimed", items)
		}
	}
	if n := testkit.OutboxCount(t, d, "p@example.org"); n != 1 {
		t.Fatalf("outbox count %d", n)
	}
}

func TestMailTextUndoesTransferEncoding(t *testing.T) {
	const text = "Bestätigen: http://news.test/confirm?token=x-_y\r\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	for name, raw := range map[string]string{
		"quoted-printable multipart": "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Best=C3=A4tigen: http://news.test/confirm?token=3D=\r\nx-_y\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n",
		"base64 single part": "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			b64[:20] + "\r\n" + b64[20:] + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			got := testkit.MailText(t, []byte(raw))
			if !strings.HasPrefix(got, "Bestätigen: ") {
				t.Errorf("text %q", got)
			}
			if link := testkit.ConfirmLink(t, got); link != "http://news.test/confirm?token=x-_y" {
				t.Errorf("link %q", link)
			}
		})
	}
}

// The sink keeps what it accepts, per recipient, and comes back on the
// same address after Stop.
func TestSMTPServerRecordsAndWaits(t *testing.T) {
	srv := testkit.StartSMTP(t)
	addr := srv.Addr
	srv.Stop()
	if err := srv.Start(); err != nil || srv.Addr != addr {
		t.Fatalf("restart on %s: %v (was %s)", srv.Addr, err, addr)
	}
	msg := "Subject: hi\r\n\r\nhello\r\n"
	if err := smtp.SendMail(srv.Addr, nil, "a@example.org", []string{"Ann@Example.org"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitMail(t, "ann@example.org")
	if got.To != "ann@example.org" || got.From != "a@example.org" || testkit.MailText(t, got.Data) != "hello\r\n" {
		t.Fatalf("got %+v", got)
	}
}
