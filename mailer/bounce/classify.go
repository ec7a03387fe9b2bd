package bounce

import "strings"

// Hard or soft, as DESIGN.md "Bounces and complaints" defines them: hard
// only when the address does not exist or takes no mail; everything else
// that failed is soft, since a policy, spam, authentication, content or
// size rejection of one message says nothing about the mailbox, and a
// soft bounce repeated over --soft-bounce-limit campaigns ends the same way.

// hardCodes are the enhanced status codes (RFC 3463, RFC 7505) that say the
// address does not exist or takes no mail. Any other specific 5.x.x code is
// soft; X.0.0 and 5.x.0 are too general and leave it to the text.
var hardCodes = map[string]bool{
	"1.1":  true, // bad destination mailbox address: unknown user
	"1.2":  true, // bad destination system address: unknown host or domain
	"1.3":  true, // bad destination mailbox address syntax: can never work
	"1.6":  true, // destination mailbox has moved, no forwarding address
	"1.10": true, // recipient address has null MX (RFC 7505)
	"2.1":  true, // mailbox disabled, not accepting messages
	"4.4":  true, // unable to route: the domain does not resolve
}

// notAboutRecipient are phrases that put the fault on the sending side
// (our envelope sender, our IP, our relay) whatever else the text says, so
// the reply says nothing about the recipient's mailbox.
var notAboutRecipient = []string{
	"sender address rejected", "sender verify failed", "sender rejected",
	"sender was rejected", "envelope sender",
	"sender domain", "mail from command", "client host", "reverse dns",
	"ptr record", "helo command", "blocked using", "spamhaus",
	"relay access denied", "relaying denied", "not permitted to relay",
	"unable to relay", "absender unbekannt", "absenderadresse", "absenderdomain",
}

// hardPhrases say the address does not exist or takes no mail, in the
// words servers use when they give no specific status code (Sisimai's
// userunknown, hostunknown, hasmoved, suspend and notaccept reasons).
// "mailbox unavailable" is missing on purpose: RFC 5321 uses it for any
// 550, policy included (Outlook.com answers it for addresses that do not
// exist, and the soft-bounce limit catches those).
var hardPhrases = []string{
	// unknown user
	"user unknown", "unknown user", "unknown recipient", "recipient unknown",
	"no such user", "no such recipient", "no such mailbox", "no such account",
	"no such person", "no mailbox here", "mailbox not found", "mailbox does not exist",
	"user not found", "recipient not found", "address not found", "account not found",
	"recipientnotfound", "recipnotfound", "not found by smtp address lookup",
	"does not exist", "doesn't exist", "no longer exists",
	"invalid recipient", "invalid mailbox", "invalid user", "invalid local user",
	"unknown local part", "unknown local-part", "unknown address",
	"address couldn't be found", "address could not be found",
	"wasn't found at", "was not found at", "not listed in domino directory",
	"not listed in public name", "is not a valid mailbox", "no valid mailbox",
	// disabled, deleted, moved
	"account is disabled", "account has been disabled", "account disabled",
	"mailbox disabled", "mailbox is disabled", "mailbox has been disabled",
	"account has been deactivated", "account is deactivated", "account deactivated",
	"account has been suspended", "account is suspended", "account has been deleted",
	"mailbox has been deleted", "no longer in use", "no longer active",
	"is no longer available", "has moved", "user has been removed",
	// unknown host or domain, domain takes no mail
	"host unknown", "unknown host", "host not found", "domain not found",
	"no such domain", "unknown domain", "unrouteable address", "unroutable address",
	"does not accept mail", "nullmx", "null mx",
	// other languages
	"unbekannt", "existiert nicht", "nicht gefunden", "gibt es nicht",
	"utilisateur inconnu", "adresse inconnue", "n'existe pas",
	"usuario desconocido", "no existe",
	"не существует", "не найден", "несуществующ",
	"存在しません", "存在しない", "宛先不明", "あて先不明",
}

// providerHard are replies in which a provider documents that the address
// does not exist although its status code says something else: Microsoft
// 365's directory-based edge blocking answers "550 5.4.1 Recipient address
// rejected: Access denied. AS(201806281)" for addresses not in the tenant.
var providerHard = []string{"as(201806281)"}

// doesntHaveAccount matches "doesn't have a yahoo.com account" and the like.
var doesntHaveAccount = lazyRegexp(`(?:doesn'?t|does not) have an? [a-z0-9.\-]+ account`)

// ReplyKind says whether an SMTP server's reply refusing a recipient at
// send time (say "550 5.1.1 no such user") is a hard or a soft bounce, by
// the same rule as a bounce report's diagnostic: the one hard-bounce rule
// for every way a failure comes in.
func ReplyKind(reply string) Kind {
	kind, _ := classify("", reply)
	return kind
}

// classify decides hard or soft for a failed delivery and picks the status
// code to report: the Status field's, unless it is general (X.0.0, 5.1.0)
// and the diagnostic names a specific one of the same class.
func classify(statusField, diag string) (Kind, string) {
	status := pickStatus(statusField, diag)
	low := lowerText(diag)
	if status == "" {
		// No enhanced code: the reply code says whether it was final.
		if c := replyCode(low); c != 0 && c/100 == 4 {
			return Soft, ""
		}
	}
	if containsAny(low, notAboutRecipient) {
		return Soft, status
	}
	if containsAny(low, providerHard) {
		return Hard, status
	}
	if status != "" {
		if status[0] == '4' {
			return Soft, status
		}
		if subject, detail, ok := splitStatus(status); ok && detail != "0" {
			if hardCodes[subject+"."+detail] {
				return Hard, status
			}
			return Soft, status
		}
	}
	if containsAny(low, hardPhrases) || doesntHaveAccount().MatchString(low) {
		return Hard, status
	}
	return Soft, status
}

// splitStatus splits "5.1.10" into "1" and "10".
func splitStatus(s string) (subject, detail string, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// pickStatus chooses the enhanced status code for an event.
func pickStatus(statusField, diag string) string {
	fromField := statusCodes(statusField)
	inDiag := statusCodes(diag)
	var first string
	if len(fromField) > 0 {
		first = fromField[0]
	} else if len(inDiag) > 0 {
		first = inDiag[0]
	}
	if first == "" {
		return ""
	}
	if _, detail, _ := splitStatus(first); detail != "0" {
		return first
	}
	for _, c := range inDiag {
		if _, d, _ := splitStatus(c); d != "0" && c[0] == first[0] {
			return c
		}
	}
	return first
}

var statusCodeRE = lazyRegexp(`[245]\.\d{1,3}\.\d{1,3}`)

// statusCodes finds enhanced status codes in text, skipping digits that
// are part of something longer (an IP address, a version number).
func statusCodes(s string) []string {
	var out []string
	for _, loc := range statusCodeRE().FindAllStringIndex(s, 20) {
		i, j := loc[0], loc[1]
		if i > 0 && (isDigit(s[i-1]) || s[i-1] == '.') {
			continue
		}
		if j < len(s) && (isDigit(s[j]) || (s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
			continue
		}
		out = append(out, s[i:j])
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var replyCodeRE = lazyRegexp(`(?:^|[^\d.])([245]\d\d)(?:[ \-]|$)`)

// replyCode is the first SMTP reply code in the text, 0 when none.
func replyCode(s string) int {
	m := replyCodeRE().FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	return int(m[1][0]-'0')*100 + int(m[1][1]-'0')*10 + int(m[1][2]-'0')
}

// failure builds the event for a recipient a report says was not reached.
func failure(recipient, statusField, diag, action string) Event {
	kind, status := classify(statusField, diag)
	return Event{
		Kind:       kind,
		Recipient:  recipient,
		Status:     status,
		Diagnostic: oneLine(diag, maxDiagnostic),
		Action:     action,
	}
}

// maxDiagnostic keeps a diagnostic to what fits a line of `bounces list`.
const maxDiagnostic = 300
