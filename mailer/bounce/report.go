package bounce

import "strings"

// Kind is what a failed delivery or a complaint means for the address.
type Kind string

const (
	// Hard: the address does not exist or takes no mail (unknown user or
	// domain, disabled mailbox, moved away, null MX).
	Hard Kind = "hard"
	// Soft: this one message failed for a reason that says nothing final
	// about the mailbox (4.x.x, full mailbox, expiry, policy, spam,
	// authentication, content, size).
	Soft Kind = "soft"
	// Complaint: the reader reported the mail as abuse (ARF abuse or fraud).
	Complaint Kind = "complaint"
)

// Reason says why a message states no event.
type Reason string

const (
	// AutoReply: a vacation or out-of-office reply (RFC 3834 and the usual
	// headers and subjects).
	AutoReply Reason = "auto-reply"
	// Delivered: a success report (Action delivered, relayed or expanded).
	Delivered Reason = "delivered"
	// Delayed: a warning that delivery is still being tried (Action
	// delayed). Delivery goes on; when it finally fails, the failure report
	// is the event.
	Delayed Reason = "delayed"
	// Feedback: a feedback report (ARF) that is no complaint: not-spam,
	// auth-failure (DMARC failure reports), virus, other.
	Feedback Reason = "feedback"
	// NotReport: mail that is neither a report nor an auto-reply, such as a
	// reader's reply.
	NotReport Reason = "not a report"
	// Unreadable: the message could not be read as mail at all.
	Unreadable Reason = "unreadable"
)

// Recognised reports whether r names a kind of mail that states no event
// (an auto-reply, a success report, a delay warning, a feedback report
// that is no complaint), as opposed to mail that could not be read as a
// report at all.
func (r Reason) Recognised() bool {
	switch r {
	case AutoReply, Delivered, Delayed, Feedback:
		return true
	}
	return false
}

// Event is one thing a report states about one recipient.
type Event struct {
	Kind Kind
	// Recipient is the address the report names, lower-cased: the DSN's
	// Final-Recipient, the ARF Original-Rcpt-To, or the address a
	// non-standard report names. Empty when the report names none (ARF
	// reports with the recipient redacted, a bounce that names only a
	// display name); the report may still be identified by VERP or by the
	// returned Message-ID.
	Recipient string
	// OriginalRecipient is the DSN's Original-Recipient when it differs
	// from Recipient (the address was an alias or was forwarded).
	OriginalRecipient string
	// Status is the enhanced status code (RFC 3463) such as "5.1.1", or ""
	// when the report states none.
	Status string
	// Diagnostic is what the remote server said (Diagnostic-Code or the
	// report's text), on one line, clipped; for a complaint the feedback
	// type and the reporting agent.
	Diagnostic string
	// Action is the DSN Action ("failed"); "failed" for non-standard
	// bounces, "" for complaints.
	Action string
}

// String is the event as `bounces ingest --dry-run` prints it:
// KIND STATUS ADDRESS, with "-" for a missing status or address.
func (e Event) String() string {
	status, addr := e.Status, e.Recipient
	if status == "" {
		status = "-"
	}
	if addr == "" {
		addr = "-"
	}
	return string(e.Kind) + " " + status + " " + addr
}

// Report is what one message states.
type Report struct {
	// Format names the recogniser that read the message ("rfc3464", "arf",
	// "qmail", "exim", ..., "auto-reply"); "" when none did.
	Format string
	// MessageID is the report's own Message-ID, without angle brackets, for
	// taking each report in once.
	MessageID string
	From      string // the report's From address
	Subject   string // decoded
	// DeliveredTo are the addresses the report was delivered to, which
	// carry the VERP tag when the report came back to a VERP return path:
	// Delivered-To, Envelope-To, X-Original-To, then To, in that order,
	// each once, as written.
	DeliveredTo []string
	// ReturnPath is the envelope sender of the returned message when the
	// report states it (ARF Original-Mail-From, the returned message's
	// Return-Path, Postfix's X-Postfix-Sender): a VERP address when the
	// report itself went elsewhere, as complaint feedback loops do.
	ReturnPath string
	// OriginalMessageID and ListID are the returned message's Message-ID
	// (without angle brackets) and List-Id (the id inside the angle
	// brackets), from the returned message or headers, from headers quoted
	// in a plain-text report, or from the report's In-Reply-To.
	OriginalMessageID string
	ListID            string
	// Events are the failures and complaints the report states; empty
	// when Reason says why there are none.
	Events []Event
	Reason Reason
	// Problem says what could not be read (a broken MIME structure, a part
	// cut short), even when the rest was understood.
	Problem string
	// Truncated is set when the message was longer than the size limit and
	// only its beginning was read.
	Truncated bool
}

// NoneLine is the line `bounces ingest --dry-run` prints for a message that
// states no event: "none REASON", with the format when one was recognised.
func (r *Report) NoneLine() string {
	line := "none " + string(r.Reason)
	if r.Format != "" && r.Format != string(r.Reason) {
		line += " (" + r.Format + ")"
	}
	if r.Problem != "" && r.Reason == Unreadable {
		line += ": " + r.Problem
	}
	return line
}

func (r *Report) addProblem(p string) {
	if r.Problem == "" {
		r.Problem = p
	} else if !strings.Contains(r.Problem, p) {
		r.Problem += "; " + p
	}
}

// sanitise makes every text of the report valid UTF-8: reports come in any
// charset or none, and what is shown or stored must be text.
func (r *Report) sanitise() {
	valid := func(s *string) { *s = strings.ToValidUTF8(*s, "\uFFFD") }
	for _, s := range []*string{&r.MessageID, &r.From, &r.Subject, &r.ReturnPath, &r.OriginalMessageID, &r.ListID, &r.Problem} {
		valid(s)
	}
	for i := range r.DeliveredTo {
		valid(&r.DeliveredTo[i])
	}
	for i := range r.Events {
		e := &r.Events[i]
		for _, s := range []*string{&e.Recipient, &e.OriginalRecipient, &e.Status, &e.Diagnostic, &e.Action} {
			valid(s)
		}
	}
}
