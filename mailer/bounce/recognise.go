package bounce

import (
	"regexp"
	"strings"
)

// recogniser reads one family of reports. read returns false when the
// message is not of its family and has then changed nothing.
type recogniser struct {
	name string
	read func(m *message, rep *Report) bool
}

// recognisers are tried in this order; the first that reads the message
// wins. Structured reports first (ARF, RFC 3464), then the plain-text
// families of mail servers that write their own formats, then any other
// message a mail system sent about a failure, and only then auto-replies:
// many bounces carry Auto-Submitted too.
func recognisers() []recogniser {
	rs := []recogniser{
		{"arf", readARF},
		{"rfc3464", readDSN},
		{"rfc3464-text", readDSNInText},
	}
	for _, f := range textFormats() {
		rs = append(rs, recogniser{f.name, f.read})
	}
	return append(rs,
		recogniser{"generic", readGeneric},
		recogniser{"auto-reply", readAutoReply},
	)
}

func recognise(m *message, rep *Report) {
	for _, r := range recognisers() {
		if r.read(m, rep) {
			rep.Format = r.name
			break
		}
	}
	if len(rep.Events) == 0 && rep.Reason == "" {
		rep.Reason = NotReport
	}
	fillOriginal(m, rep)
}

// fillOriginal finds the returned message's Message-ID, List-Id and
// envelope sender: in its returned header, else in the delivery-status,
// else in headers quoted in the report's text, else in In-Reply-To.
func fillOriginal(m *message, rep *Report) {
	if o := m.original; o != nil {
		rep.OriginalMessageID = messageID(o.get("Message-ID"))
		rep.ListID = listID(o.get("List-Id"))
		if rep.ReturnPath == "" {
			rep.ReturnPath = addressOf(o.get("Return-Path"))
		}
	}
	for _, g := range m.dsn {
		if rep.OriginalMessageID == "" {
			rep.OriginalMessageID = messageID(g.get("X-Original-Message-ID"))
		}
	}
	text := m.text()
	if rep.OriginalMessageID == "" {
		rep.OriginalMessageID = messageID(quotedHeader(quotedMessageID(), text))
	}
	if rep.ListID == "" {
		rep.ListID = listID(quotedHeader(quotedListID(), text))
	}
	if rep.ReturnPath == "" {
		rep.ReturnPath = addressOf(quotedHeader(quotedReturnPath(), text))
	}
	if rep.OriginalMessageID == "" && len(rep.Events) > 0 {
		rep.OriginalMessageID = messageID(m.header.Get("In-Reply-To"))
	}
}

var (
	quotedMessageID  = lazyRegexp(`(?im)^[ \t]*message-id:[ \t]*(<[^>\s]+>)`)
	quotedListID     = lazyRegexp(`(?im)^[ \t]*list-id:[ \t]*([^\r\n]*<[^>\s]+>)`)
	quotedReturnPath = lazyRegexp(`(?im)^[ \t]*return-path:[ \t]*(<?[^>\s]+@[^>\s]+>?)`)
)

func quotedHeader(re *regexp.Regexp, text string) string {
	if m := re.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// mailSystemNames are senders and display names of mail systems, as
// opposed to people.
var mailSystemNames = []string{
	"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster",
	"mdaemon", "mail delivery", "mail system", "system administrator",
	"microsoftexchange", "microsoft outlook", "microsoft exchange",
}

// bounceSubjects are subjects mail systems give failure reports.
var bounceSubjects = []string{
	"undeliver", "undelivered", "returned mail", "delivery status notification",
	"delivery failure", "delivery failed", "mail delivery failed", "failure notice",
	"delivery notification", "non remis", "unzustellbar", "nicht zustellbar",
	"mail failure", "mail system error", "permanent delivery failure", "delivery problem",
	"returned to sender", "could not be delivered", "nondeliverable", "non-deliverable",
	"delivery status", "mail delivery", "nicht zugestellt",
	"недоставленное", "配送エラー", "配信エラー", "undelivered mail",
}

// automated reports whether the message comes from a mail system rather
// than a person: the plain-text recognisers look only at such messages, so
// a reader's reply that quotes a bounce is no bounce.
func automated(m *message) bool {
	h := m.header
	rp := strings.ToLower(strings.TrimSpace(h.Get("Return-Path")))
	if rp == "<>" || strings.Contains(rp, "mailer-daemon") {
		return true
	}
	if h.Get("X-Failed-Recipients") != "" {
		return true
	}
	if v := strings.ToLower(h.Get("Auto-Submitted")); v != "" && v != "no" {
		return true
	}
	if containsAny(strings.ToLower(h.Get("From")), mailSystemNames) {
		return true
	}
	return containsAny(strings.ToLower(m.subject), bounceSubjects)
}
