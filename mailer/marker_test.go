package mailer

import (
	"context"
	"database/sql"
	"io"
	"net"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/subscribers"
)

// writeOutcomes records sent rows the same way with the marker's prepared
// statement (reused across transactions) and without it, and leaves a row
// already sent as it was.
func TestWriteOutcomesMarksSent(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 6, subscribers.StatusActive)
	c := e.start(31)
	ctx := context.Background()
	claimed, _, err := e.campaigns().claim(ctx, c.ID, "me", time.Minute, 6)
	if err != nil || len(claimed) != 6 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	st, err := e.db.SQL().PrepareContext(ctx, markSentSQL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(stmt *sql.Stmt, ds []delivery, reply string) {
		t.Helper()
		var batch []outcome
		for _, d := range ds {
			batch = append(batch, outcome{d: d, verdict: verdictSent, reply: reply, messageID: "m" + string(rune('0'+d.ID%10))})
		}
		err := e.db.InTx(ctx, func(tx *db.Tx) error {
			_, err := writeOutcomes(ctx, tx, stmt, "me", retryPolicy{backoff: time.Minute, giveUpAfter: time.Hour}, batch)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(st, claimed[:2], "250 first")
	write(st, claimed[2:4], "250 second")
	write(nil, claimed[4:], "250 third")
	write(st, claimed[:1], "250 again") // already sent: unchanged

	rows, err := e.db.SQL().Query(`SELECT id, state, attempts, last_reply, message_id, sent_at IS NOT NULL,
		first_attempt_at IS NOT NULL, lease_owner IS NULL FROM deliveries WHERE campaign_id = ? ORDER BY id`, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[int64]string{}
	for i, d := range claimed {
		want[d.ID] = []string{"250 first", "250 first", "250 second", "250 second", "250 third", "250 third"}[i]
	}
	n := 0
	for rows.Next() {
		var id int64
		var attempts int
		var state, reply, msgID string
		var sentAt, first, unleased bool
		if err := rows.Scan(&id, &state, &attempts, &reply, &msgID, &sentAt, &first, &unleased); err != nil {
			t.Fatal(err)
		}
		n++
		if state != "sent" || attempts != 1 || reply != want[id] || msgID != "m"+string(rune('0'+id%10)) || !sentAt || !first || !unleased {
			t.Errorf("row %d: %s attempts=%d reply=%q id=%q sent_at=%v first=%v unleased=%v",
				id, state, attempts, reply, msgID, sentAt, first, unleased)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("%d rows, want 6", n)
	}
}

// A worker that waits for its outcome gets it committed at once, without
// the marker waiting for the other workers' outcomes.
func TestMarkerWritesWhenAWorkerWaits(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 1, subscribers.StatusActive)
	c := e.start(31)
	claimed, _, err := e.campaigns().claim(context.Background(), c.ID, "me", time.Minute, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	o := e.opts
	o.Workers = 8
	mk := newMarker(e.campaigns(), &o, retryPolicy{backoff: time.Minute, giveUpAfter: time.Hour}, "me", nil)
	defer mk.close()
	mk.linger = time.Hour // only a waiting worker can end the batch
	done := mk.add(outcome{d: claimed[0], verdict: verdictSent, reply: "250 ok"})
	waited := make(chan struct{})
	go func() {
		mk.wait(done)
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the outcome was not committed while a worker waited for it")
	}
	if got, err := e.campaigns().Counts(context.Background(), c.ID); err != nil || got.Sent != 1 {
		t.Fatalf("counts %+v, %v", got, err)
	}
}

// bufConn sends nothing until the client reads (waits for a reply), and
// then everything written before, in order.
func TestBufConnHoldsWritesUntilRead(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	// net.Pipe has no buffer: a write that reached it would block until
	// the server reads, and fail at this deadline instead of hanging.
	_ = client.SetWriteDeadline(time.Now().Add(10 * time.Second))
	b := newBufConn(client)
	defer b.Close()
	for _, s := range []string{"MAIL FROM:<a@b>\r\n", "body ", "line\r\n"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatalf("write %q: %v (not buffered?)", s, err)
		}
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		var all []byte
		for len(all) < len("MAIL FROM:<a@b>\r\nbody line\r\n") {
			n, err := server.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- string(all)
		_, _ = server.Write([]byte("250 ok\r\n"))
	}()
	reply := make([]byte, 8)
	if _, err := io.ReadFull(b, reply); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "MAIL FROM:<a@b>\r\nbody line\r\n" {
		t.Errorf("server got %q", s)
	}
	if string(reply) != "250 ok\r\n" {
		t.Errorf("reply %q", reply)
	}
}
