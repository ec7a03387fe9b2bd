package bounce

import "strings"

// RFC 5965 Abuse Reporting Format: multipart/report with
// report-type=feedback-report, a message/feedback-report part
// (Feedback-Type, Original-Rcpt-To, Original-Mail-From) and the returned
// message or its header. Yahoo, AOL and Microsoft (JMRP) redact the
// recipient; the report is then identified by VERP (Original-Mail-From,
// the returned Return-Path) or by the returned Message-ID.

// complaintTypes are the feedback types in which a reader reports the mail
// as unwanted. not-spam is the opposite; auth-failure (RFC 6591) is a DMARC
// failure report about mail that may not even be ours; virus and other
// say nothing about what the reader wants.
var complaintTypes = map[string]bool{"abuse": true, "fraud": true}

func readARF(m *message, rep *Report) bool {
	if len(m.feedback) == 0 && m.reportType != "feedback-report" {
		return false
	}
	fb := m.feedback
	if rp := addressOf(fb.get("Original-Mail-From")); rp != "" {
		rep.ReturnPath = rp
	}
	ft := strings.ToLower(strings.TrimSpace(fb.get("Feedback-Type")))
	if !complaintTypes[ft] {
		rep.Reason = Feedback
		return true
	}
	diag := ft + " report"
	if ua := fb.get("User-Agent"); ua != "" {
		diag += " by " + ua
	}
	recipients := complainants(m)
	if len(recipients) == 0 {
		recipients = []string{""}
	}
	for _, r := range recipients {
		rep.Events = append(rep.Events, Event{Kind: Complaint, Recipient: r, Diagnostic: oneLine(diag, maxDiagnostic)})
	}
	return true
}

// complainants are the recipients an ARF report names: Original-Rcpt-To,
// else Microsoft's X-HmXmrOriginalRecipient in the returned message, else
// the returned message's To when it names one address that is not
// redacted.
func complainants(m *message) []string {
	var out []string
	for _, v := range m.feedback.all("Original-Rcpt-To") {
		if a := cleanAddress(v); a != "" && !redacted(a) {
			out = append(out, a)
		}
	}
	if len(out) > 0 || m.original == nil {
		return out
	}
	if a := cleanAddress(m.original.get("X-HmXmrOriginalRecipient")); a != "" && !redacted(a) {
		return []string{a}
	}
	if to := headerAddresses(m.original.get("To")); len(to) == 1 {
		if a := strings.ToLower(to[0]); !redacted(a) {
			return []string{a}
		}
	}
	return nil
}

// redacted reports whether a feedback loop replaced the address with a
// placeholder ("redacted@aol.com", "xxxxxx@example.com").
func redacted(addr string) bool {
	local, _, _ := strings.Cut(addr, "@")
	if strings.Contains(local, "redacted") {
		return true
	}
	return strings.Trim(local, "x*") == ""
}
