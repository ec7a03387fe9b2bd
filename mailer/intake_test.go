package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/mailer/bounce"
	"newsletter/subscribers"
)

func headerOf(tb testing.TB, data []byte) mail.Header { return testkit.ParseMail(tb, data).Header }

// intakeEnv is a test environment whose mailer sends with a bounce
// address, and the intake on the same database.
type intakeEnv struct {
	*testEnv
	m      *Mailer
	intake *Intake
	col    int // the last column sent
}

const testBounceAddress = "bounces@example.org"

func newIntakeEnv(t *testing.T, bounceAddress string, softLimit int) *intakeEnv {
	t.Helper()
	e := newTestEnv(t)
	m := e.mailer(func(o *Options) { o.BounceAddress = bounceAddress })
	in, err := NewIntake(e.db, e.store, IntakeOptions{BounceAddress: bounceAddress, SoftBounceLimit: softLimit, Secret: m.opts.Secret})
	if err != nil {
		t.Fatal(err)
	}
	return &intakeEnv{testEnv: e, m: m, intake: in, col: 29}
}

// sentMail is one column mail as the SMTP server saw it.
type seenMail struct {
	ReturnPath string // MAIL FROM
	MessageID  string // without angle brackets
}

// sendColumn sends the next column to every active subscriber and returns
// what the server saw, by recipient.
func (e *intakeEnv) sendColumn() map[string]seenMail {
	e.t.Helper()
	e.col++
	c := e.start(e.col)
	res, err := e.m.RunCampaign(context.Background(), c, RunOptions{})
	if err != nil || !res.Finished() {
		e.t.Fatalf("campaign %d: %+v, %v", e.col, res, err)
	}
	out := map[string]seenMail{}
	prefix := fmt.Sprintf("<c%d.", e.col)
	for _, msg := range e.srv.Messages() {
		h := headerOf(e.t, msg.Data)
		if strings.HasPrefix(h.Get("Message-Id"), prefix) {
			out[msg.To] = seenMail{ReturnPath: msg.From, MessageID: strings.Trim(h.Get("Message-Id"), "<>")}
		}
	}
	return out
}

// dsn is a Postfix-shaped delivery status notification: delivered to to,
// about rcpt, with the returned message's headers.
func dsn(id, to, rcpt, status, origMessageID string) []byte {
	diag := "550 " + status + " <" + rcpt + ">: Recipient address rejected: User unknown in virtual mailbox table"
	if strings.HasPrefix(status, "4") || status == "5.2.2" {
		diag = "552 " + status + " <" + rcpt + ">: Mailbox full"
	}
	return []byte(strings.ReplaceAll(`Return-Path: <>
Delivered-To: `+to+`
Date: Mon,  2 Mar 2026 07:00:08 +0100 (CET)
From: MAILER-DAEMON@relay.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: `+to+`
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"
Message-Id: <`+id+`@relay.example.org>

--B1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.example.org.

<`+rcpt+`>: host mx1.example.net said: `+diag+`

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.org

Final-Recipient: rfc822; `+rcpt+`
Action: failed
Status: `+status+`
Diagnostic-Code: smtp; `+diag+`

--B1
Content-Type: text/rfc822-headers

Message-ID: <`+origMessageID+`>
From: "Kniepunkt" <kolumne@example.org>
To: <`+rcpt+`>
Subject: KNIEPUNKT

--B1--
`, "\n", "\r\n"))
}

// arf is a feedback-loop complaint with the recipient redacted: only the
// envelope sender (a VERP address) and the Message-ID tell whom it is about.
func arf(id, mailFrom, origMessageID string) []byte {
	return []byte(strings.ReplaceAll(`Delivered-To: fbl@example.org
Date: Mon, 2 Mar 2026 11:41:08 +0000
From: Feedback Loop <feedback@fbl.example.net>
Subject: FW: KNIEPUNKT
To: fbl@example.org
Message-ID: <`+id+`@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="B2"

--B2
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report.

--B2
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1.0
Version: 1
Original-Mail-From: <`+mailFrom+`>

--B2
Content-Type: message/rfc822

Return-Path: <`+mailFrom+`>
Message-ID: <`+origMessageID+`>
From: "Kniepunkt" <kolumne@example.org>
To: redacted@fbl.example.net
Subject: KNIEPUNKT

Hallo,
--B2--
`, "\n", "\r\n"))
}

func (e *intakeEnv) ingest(raw []byte) *IntakeResult {
	e.t.Helper()
	res, err := e.intake.Ingest(context.Background(), "pipe", raw, false)
	if err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
	return res
}

func (e *intakeEnv) events(id int64) []subscribers.BounceEvent {
	e.t.Helper()
	evs, err := e.store.BounceEvents(context.Background(), subscribers.BounceFilter{SubscriberID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *intakeEnv) reviewCount() int {
	e.t.Helper()
	items, err := e.intake.Review(context.Background(), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(items)
}

// TestIntakeEffects: what each kind of report does to the subscriber, once.
func TestIntakeEffects(t *testing.T) {
	const addr = "leser0@example.net"
	tests := []struct {
		name string
		// run sends columns and ingests reports; it returns what the last
		// ingest said.
		run         func(e *intakeEnv) *IntakeResult
		status      subscribers.Status
		events      int    // bounce events stored for the subscriber
		consent     string // the newest consent event's kind
		kept        bool   // the last message was kept for review
		applied     int    // by the last ingest
		lineHas     string // in the last ingest's lines
		reviewCount int
	}{
		{
			name: "hard bounce via VERP",
			run: func(e *intakeEnv) *IntakeResult {
				m := e.sendColumn()[addr]
				return e.ingest(dsn("r1", m.ReturnPath, addr, "5.1.1", m.MessageID))
			},
			status: subscribers.StatusBounced, events: 1, consent: subscribers.EventBounced, applied: 1,
			lineHas: "hard 5.1.1 leser0@example.net verp: bounced",
		},
		{
			name: "soft bounces in three campaigns in a row",
			run: func(e *intakeEnv) *IntakeResult {
				var res *IntakeResult
				for i := range 3 {
					m := e.sendColumn()[addr]
					res = e.ingest(dsn(fmt.Sprintf("s%d", i), m.ReturnPath, addr, "5.2.2", m.MessageID))
					if i < 2 && e.subscriberStatus(1) != subscribers.StatusActive {
						e.t.Fatalf("bounced after %d soft bounces", i+1)
					}
				}
				return res
			},
			status: subscribers.StatusBounced, events: 3, consent: subscribers.EventBounced, applied: 1,
			lineHas: "soft 5.2.2 leser0@example.net verp: bounced (3 soft bounces in a row)",
		},
		{
			name: "a delivered campaign between soft bounces resets the run",
			run: func(e *intakeEnv) *IntakeResult {
				m := e.sendColumn()[addr]
				e.ingest(dsn("s1", m.ReturnPath, addr, "4.2.2", m.MessageID))
				e.sendColumn() // accepted, no bounce
				m = e.sendColumn()[addr]
				e.ingest(dsn("s3", m.ReturnPath, addr, "5.2.2", m.MessageID))
				m = e.sendColumn()[addr]
				return e.ingest(dsn("s4", m.ReturnPath, addr, "5.2.2", m.MessageID))
			},
			status: subscribers.StatusActive, events: 3, consent: subscribers.EventImported, applied: 1,
			lineHas: "counted (2 of 3 in a row)",
		},
		{
			name: "complaint from a feedback loop, recipient redacted",
			run: func(e *intakeEnv) *IntakeResult {
				m := e.sendColumn()[addr]
				return e.ingest(arf("c1", m.ReturnPath, m.MessageID))
			},
			status: subscribers.StatusUnsubscribed, events: 1, consent: subscribers.EventComplained, applied: 1,
			lineHas: "complaint - - verp leser0@example.net: unsubscribed",
		},
		{
			name: "the same report again changes nothing",
			run: func(e *intakeEnv) *IntakeResult {
				m := e.sendColumn()[addr]
				raw := dsn("r1", m.ReturnPath, addr, "5.1.1", m.MessageID)
				e.ingest(raw)
				return e.ingest(raw)
			},
			status: subscribers.StatusBounced, events: 1, consent: subscribers.EventBounced, applied: 0,
			lineHas: "repeat, taken in before (bounced)",
		},
		{
			name: "a forged VERP tag changes nothing, even with a true Message-ID",
			run: func(e *intakeEnv) *IntakeResult {
				m := e.sendColumn()[addr]
				local, domain, _ := strings.Cut(m.ReturnPath, "@")
				tag := []byte(local[len("bounces+"):])
				tag[3] = map[bool]byte{true: 'b', false: 'a'}[tag[3] == 'a']
				forged := "bounces+" + string(tag) + "@" + domain
				return e.ingest(dsn("f1", forged, addr, "5.1.1", m.MessageID))
			},
			status: subscribers.StatusActive, events: 0, consent: subscribers.EventImported, kept: true, applied: 0,
			lineHas: "hard 5.1.1 leser0@example.net forged", reviewCount: 1,
		},
		{
			name: "an address that is not ours changes nothing",
			run: func(e *intakeEnv) *IntakeResult {
				e.sendColumn()
				return e.ingest(dsn("u1", testBounceAddress, "stranger@example.com", "5.1.1", "unknown.id@example.org"))
			},
			status: subscribers.StatusActive, events: 0, consent: subscribers.EventImported, kept: true, applied: 0,
			lineHas: "hard 5.1.1 stranger@example.com unknown", reviewCount: 1,
		},
		{
			name: "named only by Final-Recipient: at most a soft bounce",
			run: func(e *intakeEnv) *IntakeResult {
				e.sendColumn()
				return e.ingest(dsn("fr1", testBounceAddress, addr, "5.1.1", "unknown.id@example.org"))
			},
			status: subscribers.StatusActive, events: 1, consent: subscribers.EventImported, applied: 1,
			lineHas: "hard 5.1.1 leser0@example.net final-recipient: counted (1 of 3 in a row)",
		},
		{
			name: "no VERP: the returned Message-ID identifies the mail",
			run: func(e *intakeEnv) *IntakeResult {
				m := e.sendColumn()[addr]
				return e.ingest(dsn("m1", "kolumne@example.org", "alias@example.com", "5.1.1", m.MessageID))
			},
			status: subscribers.StatusBounced, events: 1, consent: subscribers.EventBounced, applied: 1,
			lineHas: "hard 5.1.1 alias@example.com message-id leser0@example.net: bounced",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newIntakeEnv(t, testBounceAddress, 3)
			ids := e.addSubscribers("leser", 2, subscribers.StatusActive)
			res := tc.run(e)
			if got := e.subscriberStatus(ids[0]); got != tc.status {
				t.Errorf("status %s, want %s", got, tc.status)
			}
			if got := e.subscriberStatus(ids[1]); got != subscribers.StatusActive {
				t.Errorf("the other subscriber is %s", got)
			}
			evs := e.events(ids[0])
			if len(evs) != tc.events {
				t.Errorf("%d bounce events, want %d: %+v", len(evs), tc.events, evs)
			}
			consent, err := e.store.Events(context.Background(), ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if last := consent[len(consent)-1].Kind; last != tc.consent {
				t.Errorf("newest consent event %s, want %s", last, tc.consent)
			}
			if res.Kept != tc.kept || res.Applied != tc.applied {
				t.Errorf("kept %v applied %d, want %v %d", res.Kept, res.Applied, tc.kept, tc.applied)
			}
			if !strings.Contains(strings.Join(res.Lines, "\n"), tc.lineHas) {
				t.Errorf("lines %q lack %q", res.Lines, tc.lineHas)
			}
			if n := e.reviewCount(); n != tc.reviewCount {
				t.Errorf("%d messages kept for review, want %d", n, tc.reviewCount)
			}
		})
	}
}

// The event is stored with everything `bounces list` shows, and the next
// campaign skips the address.
func TestIntakeEventStoredAndNextCampaignSkips(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	ids := e.addSubscribers("leser", 3, subscribers.StatusActive)
	m := e.sendColumn()["leser1@example.net"]
	e.ingest(dsn("r1", m.ReturnPath, "leser1@example.net", "5.1.1", m.MessageID))
	evs := e.events(ids[1])
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	ev := evs[0]
	if ev.Kind != subscribers.BounceHard || ev.Status != "5.1.1" || ev.Column != 30 || ev.Mail != "column" ||
		ev.Source != "pipe" || ev.IdentifiedBy != IdentifiedVERP || ev.Address != "leser1@example.net" ||
		!strings.Contains(ev.Diagnostic, "User unknown") || ev.ReportKey != "r1@relay.example.org" || ev.At.IsZero() {
		t.Errorf("stored event %+v", ev)
	}
	before := len(e.srv.Messages())
	next := e.sendColumn()
	if _, ok := next["leser1@example.net"]; ok || len(next) != 2 || len(e.srv.Messages()) != before+2 {
		t.Fatalf("next campaign went to %v", next)
	}
}

// A bounce that arrives while a campaign is still sending: the rest of the
// run skips the address (claims read the subscriber's state).
func TestIntakeRunningCampaignSkips(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	e.addSubscribers("leser", 2, subscribers.StatusActive)
	m := e.sendColumn()["leser0@example.net"]
	// The next campaign has started: both are in its snapshot.
	e.col++
	c := e.start(e.col)
	e.ingest(dsn("r1", m.ReturnPath, "leser0@example.net", "5.1.1", m.MessageID))
	res, err := e.m.RunCampaign(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Skipped != 1 || res.Counts.Sent != 1 {
		t.Fatalf("counts %+v, want 1 sent and 1 skipped", res.Counts)
	}
	if got := e.srv.ByRecipient()["leser0@example.net"]; len(got) != 1 {
		t.Fatalf("leser0 got %d mails, want only the first column", len(got))
	}
}

// Outbox mails (confirmation, welcome) carry their row in the tag.
func TestIntakeOutboxMail(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	sub, err := e.store.Add(context.Background(), subscribers.AddParams{Email: "neu@example.net"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunUntil(t, "the confirmation mail", func(ctx context.Context) {
		e.m.RunOutbox(ctx, &fakeOutboxMails{sent: map[int64]string{}}, 10*time.Millisecond)
	}, func() bool { return len(e.srv.ByRecipient()["neu@example.net"]) > 0 })
	msg := e.srv.WaitMail(t, "neu@example.net")
	if !strings.HasPrefix(msg.From, "bounces+") {
		t.Fatalf("outbox mail sent from %q", msg.From)
	}
	id := strings.Trim(headerOf(t, msg.Data).Get("Message-Id"), "<>")
	res := e.ingest(dsn("o1", msg.From, "neu@example.net", "5.1.1", id))
	if e.subscriberStatus(sub.ID) != subscribers.StatusBounced || res.Applied != 1 {
		t.Fatalf("after the bounce of the confirmation mail: %s, %+v", e.subscriberStatus(sub.ID), res)
	}
	if evs := e.events(sub.ID); len(evs) != 1 || evs[0].Mail != db.OutboxKindConfirm || evs[0].Column != 0 {
		t.Fatalf("events %+v", evs)
	}
}

// Without --bounce-address the envelope sender is the From address, as
// before.
func TestNoBounceAddressKeepsFrom(t *testing.T) {
	e := newIntakeEnv(t, "", 3)
	e.addSubscribers("leser", 1, subscribers.StatusActive)
	m := e.sendColumn()["leser0@example.net"]
	if m.ReturnPath != "kolumne@example.org" {
		t.Fatalf("MAIL FROM %q", m.ReturnPath)
	}
}

// A dry run says what would be done and changes nothing, not even the
// review table.
func TestIntakeDryRun(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	ids := e.addSubscribers("leser", 1, subscribers.StatusActive)
	m := e.sendColumn()["leser0@example.net"]
	for _, tc := range []struct {
		raw  []byte
		want string
	}{
		{dsn("r1", m.ReturnPath, "leser0@example.net", "5.1.1", m.MessageID), "hard 5.1.1 leser0@example.net verp"},
		{dsn("r2", testBounceAddress, "leser0@example.net", "5.2.2", "x@y"), "soft 5.2.2 leser0@example.net final-recipient"},
		{dsn("r3", testBounceAddress, "nobody@example.com", "5.1.1", "x@y"), "hard 5.1.1 nobody@example.com unknown"},
		{[]byte("From: anna@example.net\r\nSubject: Danke!\r\n\r\nSchöne Kolumne.\r\n"), "none not a report"},
	} {
		res, err := e.intake.Ingest(context.Background(), "file", tc.raw, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Lines) != 1 || res.Lines[0] != tc.want || res.Applied != 0 {
			t.Errorf("dry run: %+v, want line %q", res, tc.want)
		}
	}
	if e.subscriberStatus(ids[0]) != subscribers.StatusActive || len(e.events(ids[0])) != 0 || e.reviewCount() != 0 {
		t.Fatal("the dry run changed something")
	}
}

// Mail that is no bounce is kept once, never lost.
func TestIntakeKeepsWhatIsNoBounce(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	reply := []byte("From: Anna <anna@example.net>\r\nTo: bounces@example.org\r\nSubject: Re: KNIEPUNKT\r\nMessage-ID: <reply1@example.net>\r\n\r\nDanke!\r\n")
	for range 2 {
		res := e.ingest(reply)
		if !res.Kept || res.Lines[0] != "none not a report: kept for review" {
			t.Fatalf("%+v", res)
		}
	}
	res := e.ingest([]byte{})
	if !res.Kept {
		t.Fatalf("empty message: %+v", res)
	}
	items, err := e.intake.Review(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[1].Reason != "not a report" || items[1].From != "anna@example.net" || items[1].Subject != "Re: KNIEPUNKT" {
		t.Fatalf("review %+v", items)
	}
	raw, err := e.intake.ReviewMessage(context.Background(), items[1].ID)
	if err != nil || string(raw) != string(reply) {
		t.Fatalf("kept %q, %v", raw, err)
	}
}

// A database that cannot be written is a passing failure: the MTA keeps
// the report and tries again.
func TestIntakeTemporaryFailure(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	e.addSubscribers("leser", 1, subscribers.StatusActive)
	m := e.sendColumn()["leser0@example.net"]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.intake.Ingest(ctx, "pipe", dsn("r1", m.ReturnPath, "leser0@example.net", "5.1.1", m.MessageID), false)
	if !errors.Is(err, ErrTemporary) {
		t.Fatalf("err %v, want ErrTemporary", err)
	}
}

// /metrics counts the stored events by kind and source; a source outside
// the known ones counts as "other", so the label stays bounded.
func TestIntakeMetrics(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	e.addSubscribers("leser", 2, subscribers.StatusActive)
	reg := prometheus.NewRegistry()
	if err := e.m.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	sent := e.sendColumn()
	m0, m1 := sent["leser0@example.net"], sent["leser1@example.net"]
	e.ingest(dsn("r1", m0.ReturnPath, "leser0@example.net", "5.1.1", m0.MessageID))
	if _, err := e.intake.Ingest(context.Background(), "carrier-pigeon", arf("c1", m1.ReturnPath, m1.MessageID), false); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "newsletter_bounce_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + " "
			}
			got[strings.TrimSpace(labels)] = m.GetCounter().GetValue()
		}
	}
	if got["kind=hard source=pipe"] != 1 || got["kind=complaint source=other"] != 1 || got["kind=soft source=pipe"] != 0 || len(got) != 30 {
		t.Fatalf("newsletter_bounce_events_total %v", got)
	}
}

// A relay's webhook event (signature checked by the caller) is applied as
// it says, also when only the recipient ties it to the subscriber; once
// per event id.
func TestIntakeApplyRelayEvents(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	ids := e.addSubscribers("leser", 3, subscribers.StatusActive)
	e.sendColumn()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		rep    *bounce.Report
		id     int64
		status subscribers.Status
		line   string
		kept   bool
	}{
		{"complaint event", &bounce.Report{MessageID: "ses:c-1", Events: []bounce.Event{{Kind: bounce.Complaint, Recipient: "leser0@example.net", Diagnostic: "abuse"}}},
			ids[0], subscribers.StatusUnsubscribed, "complaint - leser0@example.net relay: unsubscribed", false},
		{"the same event again", &bounce.Report{MessageID: "ses:c-1", Events: []bounce.Event{{Kind: bounce.Complaint, Recipient: "leser0@example.net"}}},
			ids[0], subscribers.StatusUnsubscribed, "complaint - leser0@example.net relay: repeat, taken in before (unsubscribed)", false},
		{"hard bounce event", &bounce.Report{MessageID: "mailgun:b-1", Events: []bounce.Event{{Kind: bounce.Hard, Recipient: "leser1@example.net", Status: "5.1.1"}}},
			ids[1], subscribers.StatusBounced, "hard 5.1.1 leser1@example.net relay: bounced", false},
		{"event with a forged return path", &bounce.Report{MessageID: "ses:b-2", ReturnPath: "bounces+" + strings.Repeat("a", VERPTagLen) + "@example.org",
			Events: []bounce.Event{{Kind: bounce.Hard, Recipient: "leser2@example.net", Status: "5.1.1"}}},
			ids[2], subscribers.StatusActive, "hard 5.1.1 leser2@example.net forged: kept for review", true},
	} {
		res, err := e.intake.Apply(ctx, "ses", tc.rep)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Lines) != 1 || res.Lines[0] != tc.line || res.Kept != tc.kept {
			t.Errorf("%s: %+v, want %q", tc.name, res, tc.line)
		}
		if got := e.subscriberStatus(tc.id); got != tc.status {
			t.Errorf("%s: status %s, want %s", tc.name, got, tc.status)
		}
	}
	if evs := e.events(ids[1]); len(evs) != 1 || evs[0].Column != 30 || evs[0].Source != "ses" {
		t.Fatalf("relay event stored as %+v", evs)
	}
}

// A proof goes to the author, no subscriber: its bounce is recognised by
// its tag and changes nothing.
func TestIntakeProofBounce(t *testing.T) {
	e := newIntakeEnv(t, testBounceAddress, 3)
	if err := e.db.InTx(context.Background(), func(tx *db.Tx) error {
		_, err := db.EnqueueOutbox(context.Background(), tx, db.OutboxItem{Kind: db.OutboxKindProof, Recipient: "autorin@example.org"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	testkit.RunUntil(t, "the proof", func(ctx context.Context) {
		e.m.RunOutbox(ctx, &fakeOutboxMails{sent: map[int64]string{}}, 10*time.Millisecond)
	}, func() bool { return len(e.srv.ByRecipient()["autorin@example.org"]) > 0 })
	msg := e.srv.WaitMail(t, "autorin@example.org")
	res := e.ingest(dsn("p1", msg.From, "autorin@example.org", "5.2.2", "x@y"))
	if res.Kept || res.Applied != 0 || len(res.Lines) != 1 ||
		res.Lines[0] != "soft 5.2.2 autorin@example.org verp: none: a proof mail, which goes to no subscriber" {
		t.Fatalf("%+v", res)
	}
}
