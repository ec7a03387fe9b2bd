// Package bounce reads bounce and complaint reports: what one message
// states, without a database and without acting on it. The intake
// (`bounces ingest`, IMAP, webhooks) decides what a report does to a
// subscriber; this package only says what the report says.
//
// # What Parse returns
//
// Parse reads one message (github.com/emersion/go-message for the MIME
// structure) and returns a Report: the report's own Message-ID (to take it
// in once), the addresses it was delivered to that may carry a VERP tag
// (Delivered-To, Envelope-To, X-Original-To, To), the returned message's
// Message-ID, List-Id and envelope sender, and Events, one per recipient:
// Kind (hard, soft, complaint), Recipient, enhanced Status, Diagnostic and
// Action. A message that states no event says why in Reason: an
// auto-reply, a success report, a delay warning, a feedback report that is
// no complaint, not a report at all, or unreadable. Format names the
// recogniser that read it, for `bounces ingest --dry-run`.
//
// # Recognisers
//
// Recognisers are tried in order (recognise.go): ARF (RFC 5965, arf.go),
// RFC 3464 delivery-status parts (rfc3464.go) and delivery-status fields
// written as text, then one small table row per family of plain-text
// reports (textformats.go: qmail, Yahoo, Exim, Mail.Ru, Japanese carriers,
// Sendmail, Postfix, Exchange and Microsoft 365, Gmail, Amazon SES, Domino,
// Courier), then any other failure report from a mail system (generic.go),
// and last auto-replies (RFC 3834 and the usual headers and subjects,
// autoreply.go), since many bounces carry Auto-Submitted too. Plain-text
// recognisers look only at mail that comes from a mail system, so a
// reader's reply that quotes a bounce is no bounce.
//
// # Hard and soft
//
// classify.go applies DESIGN.md's rule: hard only when the address does
// not exist or takes no mail (5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10, 5.2.1,
// 5.4.4, and the words servers use for these when they give no specific
// code); everything else that failed is soft, including 4.x.x, full
// mailboxes, expiry, and rejections for policy, spam, authentication,
// content or size. A reply that blames the sending side (the envelope
// sender, the client IP, relaying) is soft whatever else it says. The
// reason taxonomy follows Sisimai's documented reasons (userunknown,
// hostunknown, hasmoved, suspend and notaccept are hard; the others soft);
// the code is our own. ReplyKind applies the same rule to an SMTP reply
// refusing a recipient at send time, so mailer marks a subscriber bounced
// by it too.
//
// # Limits
//
// Parse reads at most Parser.MaxSize bytes (4 MiB by default; reports put
// their own text first, so the beginning is what matters), looks at most
// at Parser.MaxParts MIME parts, 8 levels deep, reads at most 1 MiB of any
// part and keeps at most 512 KiB of text. It never panics on bad input
// (FuzzParse) and returns an error only when the reader fails.
package bounce
