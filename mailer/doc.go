// Package mailer sends every mail of the newsletter over SMTP, and keeps
// the record that makes each column reach each subscriber once.
//
// # One send path
//
// Every mail leaves through one sender (send.go): campaign workers, the
// outbox and the admin's test copy alike. The sender owns the SMTP
// connections (dial, TLS, login: smtp.go, auth.go), the outage tracking
// (outage.go), the rate limit over all connections, and the classification
// of the server's replies: 2xx sent, 4xx or a failure on the wire
// temporary, 5xx final, and a 5xx saying the address does not exist or
// takes no mail (by bounce.ReplyKind, the rule bounce reports are read by
// too) a hard bounce that marks the subscriber bounced. A connection that
// cannot be opened is no attempt at any mail: it opens an outage, logged
// once, and connections are tried again with a backoff shared by all.
// Messages are composed as bytes (message.go), signed with DKIM when
// configured (dkim.go), and sent as they are.
//
// # Campaigns and the delivery log
//
// A campaign is one column sent to the confirmed subscribers at its start;
// its deliveries form the delivery log. RunCampaign claims due deliveries in
// batches under a lease it renews while alive, hands them to Workers
// connections, and records each outcome with group commit (campaignrun.go,
// marker.go). A connection lets the server accept its next message (the
// final "." of DATA) only after the previous outcome is committed, so a
// crash sends at most one message per connection twice, with the same
// Message-ID. Running a campaign takes the Mailer's send lock.
//
// # Outbox
//
// Confirmation mails, and welcome mails after a confirmation, are queued
// in the durable outbox (a db table) by the subscribers package; RunOutbox
// drains it through the same sender (outbox.go). subscribers renders the
// confirmation mails, Welcome the welcome mails (welcome.go).
//
// # Archive
//
// Archive (archive.go) is every column that has a campaign, as it was
// sent: parsed once from the source kept with the campaign, for the web
// archive, its Atom feed and the welcome mail.
//
// # Retries
//
// One retry policy (retry.go) serves deliveries and outbox items: the first
// retry after Options.RetryBackoff, each further one after twice the pause
// before, with jitter, until Options.RetryFor has passed.
//
// # Scheduler
//
// The Scheduler runs RunDue (resume unfinished campaigns, start the new
// column) on a cron schedule and, in between, retries due deliveries every
// few seconds (scheduler.go, run.go).
//
// Settings are validated by the caller (the command line); New checks only
// what the mailer cannot work without, and its errors speak of the values.
package mailer
