package bounce

import (
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name, status, diag string
		kind               Kind
		wantStatus         string
	}{
		// Specific codes decide.
		{"unknown user", "5.1.1", "550 5.1.1 User unknown", Hard, "5.1.1"},
		{"unknown domain", "5.1.2", "Host not found", Hard, "5.1.2"},
		{"bad address syntax", "5.1.3", "501 5.1.3 Bad recipient address syntax", Hard, "5.1.3"},
		{"moved", "5.1.6", "550 5.1.6 Recipient has moved", Hard, "5.1.6"},
		{"null MX", "5.1.10", "Domain does not accept mail (nullMX)", Hard, "5.1.10"},
		{"disabled", "5.2.1", "550 5.2.1 mailbox disabled", Hard, "5.2.1"},
		{"no route", "5.4.4", "Host or domain name not found", Hard, "5.4.4"},
		{"mailbox full", "5.2.2", "552 5.2.2 Mailbox full", Soft, "5.2.2"},
		{"too large", "5.3.4", "552 5.3.4 Message size exceeds fixed limit", Soft, "5.3.4"},
		{"content", "5.6.0", "554 5.6.0 Message content rejected", Soft, "5.6.0"},
		{"policy", "5.7.1", "554 5.7.1 Message rejected as spam", Soft, "5.7.1"},
		{"DMARC", "5.7.26", "550-5.7.26 Unauthenticated email ... DMARC policy", Soft, "5.7.26"},
		{"temporary", "4.2.2", "452 4.2.2 Over quota", Soft, "4.2.2"},
		{"temporary user unknown stays soft", "4.1.1", "450 4.1.1 User unknown", Soft, "4.1.1"},
		{"expiry", "4.4.7", "Delivery time expired", Soft, "4.4.7"},
		// A policy code wins over words of an unknown user.
		{"policy code with user words", "5.7.1", "550 5.7.1 user unknown or access denied", Soft, "5.7.1"},

		// General codes leave it to the text.
		{"5.0.0 no such user", "5.0.0", "550 No such user here", Hard, "5.0.0"},
		{"5.0.0 mailbox unavailable", "5.0.0", "550 Requested action not taken: mailbox unavailable", Soft, "5.0.0"},
		{"5.0.0 with a specific code in the text", "5.0.0", "550 5.1.1 <a@b.example>: Recipient address rejected", Hard, "5.1.1"},
		{"4.0.0 with a specific code in the text", "4.0.0", "451 4.7.1 Please try again later", Soft, "4.7.1"},
		{"generic 5.1.0 with 5.1.1 quoted", "", "5.1.0 - Unknown address error 550-'5.1.1 <a@b>: User unknown'", Hard, "5.1.1"},
		{"yahoo dd", "5.0.0", "554 delivery error: dd This user doesn't have a yahoo.de account", Hard, "5.0.0"},
		{"mail.ru", "", "550 Message was not accepted -- invalid mailbox", Hard, ""},
		{"exchange recipient not found", "", "RESOLVER.ADR.RecipientNotFound; not found", Hard, ""},
		{"domino", "", "User x (x@y) not listed in Domino Directory", Hard, ""},
		{"account disabled", "", "The user(s) account is disabled.", Hard, ""},
		{"german", "", "Empfaenger unbekannt", Hard, ""},
		{"japanese", "", "あて先のメールアドレスは存在しません。", Hard, ""},
		{"russian", "", "Пользователь не существует", Hard, ""},
		{"over quota without code", "", "user is over quota", Soft, ""},
		{"nothing known", "", "retry timeout exceeded", Soft, ""},
		{"4xx reply without enhanced code", "", "421 Too many connections, user unknown later", Soft, ""},

		// The sender's side is never the recipient's fault.
		{"sender domain not found", "5.1.0", "550 5.1.0 <b@x>: Sender address rejected: Domain not found", Soft, "5.1.0"},
		{"our IP blocked", "", "554 Client host [192.0.2.1] blocked using zen.spamhaus.org; user unknown", Soft, ""},
		{"relay denied", "", "554 <a@b>: Relay access denied", Soft, ""},
		{"german sender unknown", "", "550 Absender unbekannt", Soft, ""},

		// Provider replies that contradict their code.
		{"M365 directory edge blocking", "5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", Hard, "5.4.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, status := classify(tt.status, tt.diag)
			if kind != tt.kind || status != tt.wantStatus {
				t.Errorf("classify(%q, %q) = %s %q, want %s %q", tt.status, tt.diag, kind, status, tt.kind, tt.wantStatus)
			}
		})
	}
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"550 5.1.1 User unknown", []string{"5.1.1"}},
		{"550-5.7.26 a 550 5.7.26 b", []string{"5.7.26", "5.7.26"}},
		{"Status: 5.1.10", []string{"5.1.10"}},
		{"(#5.1.1)", []string{"5.1.1"}},
		{"host 10.5.1.1 said", nil},           // part of an IP address
		{"deferred - 4.16.55.1; see", nil},    // part of a longer number
		{"version 2.5.1.", []string{"2.5.1"}}, // a sentence may end after the code
		{"<srv01.praxis.local #5.2.2>", []string{"5.2.2"}},
	}
	for _, tt := range tests {
		if got := statusCodes(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("statusCodes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rfc822; Anna@Example.NET", "anna@example.net"},
		{"rfc822;<anna@example.net>", "anna@example.net"},
		{"RFC822; anna@example.net (Anna)", "anna@example.net"},
		{"utf-8; Jürgen@Bäckerei.example", "jürgen@bäckerei.example"},
		{"rfc822;user+2Btag@example.org", "user+tag@example.org"},
		{"rfc822;user+tag@example.org", "user+tag@example.org"},
		{"Anna Schmidt <anna@example.net>", "anna@example.net"},
		{"rfc822; ", ""},
		{"no address here", ""},
	}
	for _, tt := range tests {
		if got := cleanAddress(tt.in); got != tt.want {
			t.Errorf("cleanAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEventString(t *testing.T) {
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Kind: Hard, Status: "5.1.1", Recipient: "a@b.example"}, "hard 5.1.1 a@b.example"},
		{Event{Kind: Soft, Recipient: "a@b.example"}, "soft - a@b.example"},
		{Event{Kind: Complaint}, "complaint - -"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestNoneLine(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"autoreply_en_ooo.eml", "none auto-reply"},
		{"postfix_delayed.eml", "none delayed (rfc3464)"},
		{"postfix_success.eml", "none delivered (rfc3464)"},
		{"arf_not_spam.eml", "none feedback (arf)"},
		{"reply_plain.eml", "none not a report"},
		{"empty.eml", "none unreadable: empty message"},
	}
	for _, tt := range tests {
		if got := parseFile(t, tt.file).NoneLine(); got != tt.want {
			t.Errorf("%s: NoneLine() = %q, want %q", tt.file, got, tt.want)
		}
	}
}
