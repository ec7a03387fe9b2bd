package bounce

import "strings"

// The last resort for reports of mail systems none of the families knows
// (MDaemon, appliances, hosted filters): a message from a mail system, or
// with a bounce-like subject, or with X-Failed-Recipients, that says a
// delivery failed. Recipients come from X-Failed-Recipients, else from the
// lines that name an address; when no address can be found the failure is
// still reported without one, so VERP or the returned Message-ID can
// identify it.
func readGeneric(m *message, rep *Report) bool {
	if !bounceLike(m) {
		return false
	}
	section := genericSection(m.text())
	low := lowerText(section)
	if containsAny(low, genericDelay) || containsAny(strings.ToLower(m.subject), []string{"delay", "warning"}) {
		rep.Reason = Delayed
		return true
	}
	if containsAny(low, successStatements) || strings.Contains(strings.ToLower(m.subject), "(success)") {
		rep.Reason = Delivered
		return true
	}
	var blocks []block
	for _, v := range m.header.Values("X-Failed-Recipients") {
		for _, a := range addrInText().FindAllString(v, 20) {
			blocks = append(blocks, block{addr: a, text: linesAbout(section, strings.ToLower(a))})
		}
	}
	if len(blocks) == 0 {
		blocks = recipientBlocks(section)
	}
	if len(blocks) == 0 {
		blocks = labelledBlocks(section)
	}
	if events := blockEvents(m, rep, section, blocks); len(events) > 0 {
		rep.Events = append(rep.Events, events...)
		return true
	}
	if replyCode(low) >= 500 || len(statusCodes(section)) > 0 || containsAny(low, hardPhrases) ||
		containsAny(low, failureStatements) {
		rep.Events = append(rep.Events, failure(returnedTo(m, rep), "", section, "failed"))
		return true
	}
	return false
}

// bounceLike is stricter than automated: Auto-Submitted alone marks
// auto-replies as much as bounces, and a reader may well write
// "undeliverable" in a subject; a bounce-like subject counts only on mail
// sent with the null return path.
func bounceLike(m *message) bool {
	if m.header.Get("X-Failed-Recipients") != "" ||
		containsAny(strings.ToLower(m.header.Get("From")), mailSystemNames) {
		return true
	}
	rp := strings.TrimSpace(m.header.Get("Return-Path"))
	return (rp == "<>" || strings.EqualFold(rp, "<MAILER-DAEMON>")) &&
		containsAny(strings.ToLower(m.subject), bounceSubjects)
}

// genericCopyMarkers start the returned message in reports of any kind.
var genericCopyMarkers = []string{
	"original message", "copy of the message", "returned message", "message follows",
	"below this line", "original headers", "message headers", "text follows",
	"ursprünglichen nachricht",
}

var quotedTo = lazyRegexp(`(?im)^[ \t]*to:[ \t]*([^\r\n]+)`)

// successStatements say that a delivery succeeded (a success notification
// without a delivery-status part).
var successStatements = []string{
	"successfully relayed", "successfully delivered", "delivery succeeded", "delivered successfully",
	"erfolgreich zugestellt",
}

var genericDelay = []string{
	"will be retried", "will keep trying", "still being retried", "not yet been delivered",
	"this is a warning", "delivery is delayed", "has been delayed", "no action is required",
}

func genericSection(text string) string {
	return cutAt(text, lowerASCII(text), genericCopyMarkers)
}

// failureStatements say that a delivery failed, for reports without any
// code.
var failureStatements = []string{
	"could not be delivered", "couldn't be delivered", "cannot be delivered", "was not delivered",
	"delivery failed", "delivery has failed", "undeliverable", "permanent error",
	"nicht zugestellt", "konnte nicht zugestellt", "unzustellbar", "n'a pas pu être remis",
	"no se pudo entregar", "не может быть доставлено", "не доставлено",
}

// labelLine matches a recipient named after a label ("Recipient:
// user@example.com", "Empfänger: ...", "あて先: ...").
var labelLine = lazyRegexp(`^\s*([\p{L}][\p{L} ()-]{1,30})\s*[:：]\s*<?([^<>\s]+@[^<>\s]+?)>?\s*$`)

// headerLabels are labels of quoted header lines, which name no failed
// recipient.
var headerLabels = map[string]bool{
	"to": true, "from": true, "cc": true, "bcc": true, "reply-to": true, "sender": true,
	"return-path": true, "delivered-to": true, "x-original-to": true, "envelope-to": true,
	"sender address": true, "absenderadresse": true, "absender": true,
}

// labelledBlocks takes the recipients named after a label, each with the
// lines that follow up to a blank line.
func labelledBlocks(section string) []block {
	return blocksAt(section, func(line string) (block, bool) {
		sm := labelLine().FindStringSubmatch(line)
		if sm == nil || headerLabels[strings.ToLower(strings.TrimSpace(sm[1]))] {
			return block{}, false
		}
		return block{addr: sm[2]}, true
	})
}

// returnedTo is the one recipient of the returned message, for a report
// that names the recipient only by a display name: every mail of ours goes
// to one address, so its To is who was not reached. The returned header
// may be a part of its own or quoted in the text.
func returnedTo(m *message, rep *Report) string {
	var toField string
	if m.original != nil {
		toField = m.original.get("To")
	} else {
		toField = quotedHeader(quotedTo(), m.text())
	}
	to := headerAddresses(toField)
	if len(to) != 1 {
		return ""
	}
	a := strings.ToLower(to[0])
	if ownAddresses(m, rep)[a] {
		return ""
	}
	return a
}
