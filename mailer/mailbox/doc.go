// Package mailbox polls an IMAP folder that bounce and complaint reports
// are delivered to, and hands each message to a Handler; by the verdict it
// moves the message to FOLDER/Processed or FOLDER/Unrecognised, or leaves
// it for the next poll. It never deletes a message (DESIGN "Bounces and
// complaints").
//
// # A poll
//
// Connect with TLS: implicit (imaps, port 993) or STARTTLS, which is
// required except towards a server on this machine (loopback). Log in with
// AUTHENTICATE PLAIN when offered, else LOGIN; the password is never
// logged, and is cut out of any server error that quotes it. LIST the
// folder for its hierarchy delimiter and create the two sub-folders when
// missing (and subscribe to them). SELECT the folder and take every
// message not flagged \Deleted, oldest first, by UID in batches of 100:
// RFC822.SIZE first, so a message over Config.MaxSize (10 MiB) goes to
// Unrecognised unread; then BODY.PEEK[] (the \Seen flag is left alone),
// the handler, and at the end of each batch one MOVE (RFC 6851) per
// sub-folder. A server without MOVE gets COPY, STORE +FLAGS \Deleted and,
// with UIDPLUS, UID EXPUNGE of exactly those UIDs; without UIDPLUS the
// copied messages stay flagged \Deleted (a plain EXPUNGE would also remove
// what others flagged) and are not taken again. Messages put in Processed
// are flagged \Seen; those in Unrecognised keep their flags, unread, for
// a human.
//
// A message is taken again when the process stops between the handler
// and the move: the handler must take a report in once however often it
// comes, as mailer.Intake does (idempotent by the report's Message-ID).
//
// # Polling
//
// Poller.Run polls at once and then every Config.Poll. A poll that cannot
// reach or use the server (refused, TLS, login, missing folder) starts an
// outage, logged once as a warning (once more for each other error it meets),
// and the pause doubles up to Config.MaxBackoff; the first poll that works
// says "reachable again". When its context ends, Run lets the poll in
// progress finish the message in hand and move what it handled, and cuts
// the connection if the server keeps it waiting more than 5 s.
//
// # Wiring mailer.Intake
//
// The handler decides where a message goes. With mailer.Intake (see
// mailer/bounce and DESIGN "Bounces and complaints") the mapping is:
//
//   - an error wrapping mailer.ErrTemporary (database busy …): Retry, the
//     message waits for the next poll; any other error: Retry too, logged,
//     since a failure that is not the message's fault must not move it;
//   - a report that stated events (applied now, or a repeat): Processed;
//   - a report recognised as stating no event (an auto-reply, a success
//     report, a delay warning, a feedback report that is no complaint):
//     Processed;
//   - everything else kept for review (not a report, unreadable, a forged
//     VERP tag): Unrecognised, where the admin reads it.
//
// The adapter that says so is intakeHandler in cmd/newsletter (from
// mailer.IntakeResult's Kept and bounce.Reason.Recognised).
package mailbox
