package templates

import (
	"strings"

	"newsletter/columns"
)

// Part is one part of a prepared mail (text or HTML) cut at its
// per-recipient values: Static[i] is followed by the value of Slots[i], and
// len(Static) == len(Slots)+1. A sender that encodes a campaign's mail once
// (mailer) encodes the static text once and only the values per recipient.
type Part struct {
	Static []string
	Slots  []Slot
}

// SlotValues are one recipient's values as one part shows them.
type SlotValues [SlotCount]string

// Fill joins the part's static text with the values: the part as the
// recipient gets it.
func (m *Part) Fill(vals *SlotValues) string {
	n := 0
	for _, s := range m.Static {
		n += len(s)
	}
	for _, k := range m.Slots {
		n += len(vals[k])
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range m.Static {
		b.WriteString(s)
		if i < len(m.Slots) {
			b.WriteString(vals[m.Slots[i]])
		}
	}
	return b.String()
}

// Parts are the text and HTML parts of the mail, cut at their
// per-recipient values. The HTML part has no Static text when the mail has
// no HTML part.
func (p *PreparedMail) Parts() (text, html Part) { return p.text, p.html }

// Values are the recipient's values as Personalize inserts them into the
// text and the HTML part: HTML-escaped for the HTML part; in the text part
// line breaks are flattened, and an unsubscribe URL that is not http(s) is
// replaced in both, as html/template would.
func (p *PreparedMail) Values(rc Recipient) (text, html SlotValues) {
	unsub := rc.UnsubscribeURL
	if !columns.IsWebURL(unsub) {
		unsub = "#invalid-unsubscribe-url"
	}
	text = SlotValues{
		SlotEmail:       mailTextValue(rc.Email),
		SlotName:        mailTextValue(rc.Name),
		SlotUnsubscribe: unsub,
	}
	html = SlotValues{
		SlotEmail:       mailHTMLEscape(rc.Email),
		SlotName:        mailHTMLEscape(rc.Name),
		SlotUnsubscribe: mailHTMLEscape(unsub),
	}
	return text, html
}
