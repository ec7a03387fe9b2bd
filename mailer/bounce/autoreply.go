package bounce

import "strings"

// Auto-replies (RFC 3834 and what mail programs really send) are no
// events: vacation notices and out-of-office replies say the reader is
// away, not that the address is gone.

// autoReplyHeaders mark an automatic reply whatever their value, except
// "no".
var autoReplyHeaders = []string{"Auto-Submitted", "X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"}

// autoReplySubjects are the subjects mail programs give automatic replies,
// in the languages our readers write.
var autoReplySubjects = []string{
	"out of office", "out of the office", "automatic reply", "auto reply", "auto-reply",
	"autoreply", "auto response", "autoresponse", "vacation", "away from the office",
	"abwesenheitsnotiz", "abwesenheit", "automatische antwort", "im urlaub",
	"réponse automatique", "reponse automatique", "absence", "respuesta automática",
	"respuesta automatica", "risposta automatica", "automatisch antwoord",
	"automatyczna odpowiedź", "automatická odpověď", "automatisk svar",
	"自動応答", "自動返信",
}

func readAutoReply(m *message, rep *Report) bool {
	if !isAutoReply(m) {
		return false
	}
	rep.Reason = AutoReply
	return true
}

func isAutoReply(m *message) bool {
	for _, name := range autoReplyHeaders {
		if v := strings.ToLower(strings.TrimSpace(m.header.Get(name))); v != "" && v != "no" {
			return true
		}
	}
	switch strings.ToLower(strings.TrimSpace(m.header.Get("Precedence"))) {
	case "auto_reply", "auto-reply":
		return true
	}
	subject := strings.ToLower(m.subject)
	return strings.HasPrefix(subject, "auto:") || containsAny(subject, autoReplySubjects)
}
