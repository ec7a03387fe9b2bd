package bounce

import "strings"

// RFC 3464 delivery status notifications: a message/delivery-status part
// with one group of fields per recipient (Final-Recipient, Action, Status,
// Diagnostic-Code). Postfix, Sendmail, Exim 4.9x, Microsoft 365, Exchange,
// Gmail, Amazon SES and most relays send these.

func readDSN(m *message, rep *Report) bool {
	return dsnEvents(m, m.dsn, rep)
}

// readDSNInText reads delivery-status fields written into the text of a
// message whose MIME structure is broken or that never had one.
func readDSNInText(m *message, rep *Report) bool {
	if len(m.dsn) > 0 || !automated(m) {
		return false
	}
	var groups []fields
	for _, g := range parseFieldGroups(m.text()) {
		if g.has("Final-Recipient") && (g.has("Action") || g.has("Status")) {
			groups = append(groups, g)
		}
	}
	return dsnEvents(m, groups, rep)
}

// dsnEvents turns the recipient groups into events: failed ones become
// hard or soft bounces; delivered and delayed ones are no events, and a
// report with only those says so.
func dsnEvents(m *message, groups []fields, rep *Report) bool {
	recipients, delayed := 0, false
	var events []Event
	for _, g := range groups {
		if rep.ReturnPath == "" {
			rep.ReturnPath = addressOf(g.get("X-Postfix-Sender"))
		}
		final, orig := g.get("Final-Recipient"), g.get("Original-Recipient")
		if final == "" && orig == "" {
			continue // the per-message group
		}
		recipients++
		status := g.get("Status")
		switch action := dsnAction(g.get("Action"), status); action {
		case "delivered", "relayed", "expanded":
			continue
		case "delayed":
			delayed = true
			continue
		}
		recipient := cleanAddress(final)
		if recipient == "" {
			recipient = cleanAddress(orig)
		}
		diag := diagnosticCode(g.get("Diagnostic-Code"))
		if diag == "" {
			diag = diagnosticCode(g.get("X-Exim-Diagnostic"))
		}
		if diag == "" {
			diag = linesAbout(m.text(), recipient)
		}
		ev := failure(recipient, status, diag, "failed")
		if o := cleanAddress(orig); o != "" && o != recipient {
			ev.OriginalRecipient = o
		}
		events = append(events, ev)
	}
	if recipients == 0 {
		return false
	}
	rep.Events = append(rep.Events, events...)
	if len(events) == 0 {
		rep.Reason = Delivered
		if delayed {
			rep.Reason = Delayed
		}
	}
	return true
}

// dsnAction is the Action field lower-cased, or, where an MTA left it out,
// what the status class implies.
func dsnAction(action, status string) string {
	if f := strings.Fields(strings.ToLower(action)); len(f) > 0 {
		return f[0]
	}
	switch c := statusCodes(status); {
	case len(c) > 0 && c[0][0] == '2':
		return "delivered"
	case len(c) > 0 && c[0][0] == '4':
		return "delayed"
	}
	return "failed"
}

// diagnosticCode drops the diagnostic type ("smtp; ", "X-Postfix; ").
func diagnosticCode(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i > 0 && i < 20 && !strings.ContainsAny(v[:i], " <@") {
		v = strings.TrimSpace(v[i+1:])
	}
	return v
}

// linesAbout collects, from a report's text, the lines near a mention of
// addr that carry a reply or status code or a word of failure: what the
// server said about that recipient when the structured part does not say
// it.
func linesAbout(text, addr string) string {
	if addr == "" || text == "" {
		return ""
	}
	lines := splitLines(text)
	var out []string
	for i, l := range lines {
		if !strings.Contains(strings.ToLower(l), addr) {
			continue
		}
		for j := i; j < len(lines) && j <= i+3; j++ {
			if j > i && strings.TrimSpace(lines[j]) == "" {
				break
			}
			if saysFailure(lines[j]) && !contains(out, lines[j]) {
				out = append(out, strings.TrimSpace(lines[j]))
			}
		}
		if len(out) >= 4 {
			break
		}
	}
	return strings.Join(out, " ")
}

// failureWords mark a line that says why a delivery failed.
var failureWords = []string{"unknown", "invalid", "rejected", "denied", "disabled", "not found", "full", "quota", "refused", "error"}

func saysFailure(line string) bool {
	low := strings.ToLower(line)
	return len(statusCodes(line)) > 0 || replyCode(low) >= 400 || containsAny(low, failureWords)
}

func contains(list []string, s string) bool {
	s = strings.TrimSpace(s)
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
