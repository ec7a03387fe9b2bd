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
