package bounce

import "strings"

// textFormat describes one family of plain-text bounce reports: the ones
// written before RFC 3464, and the ones servers still write without a
// delivery-status part. Each family is one small file (qmail.go, exim.go,
// ...) that fills in this table row.
type textFormat struct {
	name string
	// detect: one of these phrases (lower-case, whitespace made single
	// spaces) in the report's text makes it of this family.
	detect []string
	// start: the failed recipients follow the first of these phrases; the
	// whole text is searched when none occurs.
	start []string
	// cut: the report's own text ends at the first of these lines, where
	// the returned message begins.
	cut []string
	// delay: phrases that make the report a warning that delivery goes on.
	delay []string
	// scan finds the failed recipients and what was said about each in the
	// report's text; recipientBlocks when nil.
	scan func(section string) []block
}

// block is one failed recipient a report names and the text about it.
type block struct{ addr, text string }

// textFormats are the plain-text families in the order they are tried:
// the ones with the most specific wording first.
func textFormats() []textFormat {
	return []textFormat{
		qmailFormat(), yahooFormat(), eximFormat(), mailruFormat(), japaneseFormat(),
		sendmailFormat(), postfixFormat(), exchangeFormat(), gmailFormat(), sesFormat(),
		dominoFormat(), courierFormat(),
	}
}

func (f textFormat) read(m *message, rep *Report) bool {
	if !automated(m) {
		return false
	}
	if !containsAny(m.lowerText(), f.detect) {
		return false
	}
	section := f.section(m.text())
	if containsAny(lowerText(section), f.delay) {
		rep.Reason = Delayed
		return true
	}
	scan := f.scan
	if scan == nil {
		scan = recipientBlocks
	}
	events := blockEvents(m, rep, section, scan(section))
	if len(events) == 0 {
		return false
	}
	rep.Events = append(rep.Events, events...)
	return true
}

// section is the part of text that holds the failed recipients: after the
// start phrase, before the returned message.
func (f textFormat) section(text string) string {
	low := lowerASCII(text)
	if i, p := indexAny(low, f.start); i >= 0 {
		text, low = text[i+len(p):], low[i+len(p):]
	}
	return cutAt(text, low, f.cut)
}

// cutAt ends text at the start of the line holding the first of markers
// (found in low, text lower-cased by lowerASCII).
func cutAt(text, low string, markers []string) string {
	i, _ := indexAny(low, markers)
	if i < 0 {
		return text
	}
	return text[:strings.LastIndexByte(text[:i], '\n')+1]
}

// blockEvents turns the blocks into events, one per address: blocks for
// the same address are joined, the report's own addresses are skipped,
// and a block that says nothing takes the lines about its address from
// the rest of the report (or the whole report when it names one address).
func blockEvents(m *message, rep *Report, section string, blocks []block) []Event {
	own := ownAddresses(m, rep)
	var order []string
	texts := map[string]string{}
	for _, b := range blocks {
		a := cleanAddress(b.addr)
		if a == "" || own[a] {
			continue
		}
		if _, ok := texts[a]; !ok {
			order = append(order, a)
		}
		texts[a] = strings.TrimSpace(texts[a] + "\n" + b.text)
	}
	events := make([]Event, 0, len(order))
	for _, a := range order {
		diag := texts[a]
		if diag == "" {
			diag = linesAbout(section, a)
		}
		if diag == "" && len(order) == 1 {
			diag = section
		}
		events = append(events, failure(a, "", diag, "failed"))
	}
	return events
}

// ownAddresses are addresses a report names that are not failed
// recipients: where the report went, who sent it, the mail system's own.
func ownAddresses(m *message, rep *Report) map[string]bool {
	own := map[string]bool{}
	for _, a := range rep.DeliveredTo {
		own[strings.ToLower(a)] = true
	}
	own[m.from] = true
	return own
}

// recipientLine matches a line that names one recipient at its start, the
// way most plain-text reports list them:
//
//	<user@example.com>: host mx said: 550 ...      (Postfix, qmail, Yahoo)
//	  user@example.com                             (Exim, Gmail, SES)
//	'user@example.com' on 3/2/2026 7:01 AM         (Exchange 2003)
//	user@example.com<mailto:user@example.com>      (Exchange 2007+)
//	<user@example.com> ... unknown user            (Sendmail, T-Online)
var recipientLine = lazyRegexp(`^\s*(?:<([^<>\s]+@[^<>\s]+)>|'([^'\s]+@[^'\s]+)'|"([^"\s]+@[^"\s]+)"|([^<>\s'":;,()]+@[^<>\s'":;,()]+))` +
	`(?:\s*\((?:expanded|generated) from [^)]*\))?(?:<mailto:[^>]*>)?\s*(?::\s*(.*?)|\s*\.\.\.\s*(.*?)|\s+on\s+.*?)?\s*$`)

// recipientBlocks finds the recipient lines and, for each, its text: the
// rest of the line and the lines that follow up to a blank line or the next
// recipient.
func recipientBlocks(section string) []block {
	return blocksAt(section, func(line string) (block, bool) {
		sm := recipientLine().FindStringSubmatch(line)
		if sm == nil {
			return block{}, false
		}
		return block{addr: sm[1] + sm[2] + sm[3] + sm[4], text: sm[5] + sm[6]}, true
	})
}

// blocksAt cuts section into blocks: each begins at a line for which
// starts reports a recipient and runs to a blank line or the next such
// line.
func blocksAt(section string, starts func(line string) (block, bool)) []block {
	var blocks []block
	var cur *block
	for _, line := range splitLines(section) {
		if b, ok := starts(line); ok {
			blocks = append(blocks, b)
			cur = &blocks[len(blocks)-1]
			continue
		}
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		if cur != nil && len(cur.text) < maxPartBytes/16 {
			cur.text += "\n" + strings.TrimSpace(line)
		}
	}
	return blocks
}

// lowerASCII lower-cases ASCII letters only, so positions in the result
// are positions in s.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
