package bounce

import "strings"

// Failure is the event for a failed delivery that a relay reports in its
// own format (a webhook's JSON rather than a report mail): hard or soft by
// the same rule as a report's, the status code picked the same way (the
// given one unless it is general and the diagnostic names a specific one),
// the recipient lower-cased and the diagnostic on one clipped line. The
// webhooks override the kind where the relay's own type decides (a
// SendGrid "blocked" is soft whatever its code says).
func Failure(recipient, status, diagnostic string) Event {
	return failure(strings.ToLower(strings.TrimSpace(recipient)), status, diagnostic, "failed")
}

// RelayComplaint is the event for a reader who marked a mail as spam, as a
// relay reports it: the recipient lower-cased like a Failure's, the
// diagnostic (the relay's own words) on one clipped line.
func RelayComplaint(recipient, diagnostic string) Event {
	return Event{Kind: Complaint, Recipient: strings.ToLower(strings.TrimSpace(recipient)), Diagnostic: oneLine(diagnostic, maxDiagnostic)}
}
