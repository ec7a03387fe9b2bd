package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"newsletter/mailer/bounce"
)

func basicAuth(user, password string) map[string]string {
	return map[string]string{
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)),
		"Content-Type":  "application/json",
	}
}

// postmarkBounce is a bounce webhook post as Postmark writes it; id is
// written as the JSON number Postmark sends.
func postmarkBounce(typ, id, email, details string) string {
	b, err := json.Marshal(map[string]any{
		"RecordType": "Bounce", "MessageStream": "outbound", "Type": typ, "TypeCode": 1,
		"Name": "Hard bounce", "Tag": "", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
		"ServerID": 23, "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
		"Details": details, "Email": email, "From": "kolumne@example.org", "BouncedAt": "2026-03-02T08:59:54Z",
		"DumpAvailable": true, "Inactive": true, "CanActivate": true, "Subject": "KNIEPUNKT 030",
	})
	if err != nil {
		panic(err)
	}
	return strings.Replace(string(b), `"MessageID"`, `"ID":`+id+`,"MessageID"`, 1)
}

func TestPostmarkWebhook(t *testing.T) {
	const pw = "pm-secret-password"
	withMeta := strings.Replace(postmarkBounce("HardBounce", "9", "ina@example.net", "smtp;550 5.1.1 user unknown"),
		`"Subject"`, `"Metadata":{"message-id":"<k30.s9@example.org>","n":3},"Subject"`, 1)
	tests := []struct {
		name, body string
		want       *bounce.Report
	}{
		{"hard bounce, a 64-bit ID kept exactly",
			postmarkBounce("HardBounce", "4323372036854775807", "Anna@Example.net", "smtp;550 5.1.1 The email account that you tried to reach does not exist."),
			&bounce.Report{Format: "postmark", MessageID: "postmark:4323372036854775807",
				Events: []bounce.Event{hard("anna@example.net", "5.1.1", "The email account that you tried to reach does not exist")}}},
		{"soft bounce", postmarkBounce("SoftBounce", "2", "ben@example.net", "smtp;452 4.2.2 mailbox full"),
			&bounce.Report{Format: "postmark", MessageID: "postmark:2", Events: []bounce.Event{soft("ben@example.net", "4.2.2", "mailbox full")}}},
		{"a spam filter's notice is soft", postmarkBounce("SpamNotification", "3", "cem@example.net", ""),
			&bounce.Report{Format: "postmark", MessageID: "postmark:3", Events: []bounce.Event{soft("cem@example.net", "", "unable to deliver")}}},
		{"blocked is soft", postmarkBounce("Blocked", "4", "dora@example.net", "smtp;554 5.7.1 blocked"),
			&bounce.Report{Format: "postmark", MessageID: "postmark:4", Events: []bounce.Event{soft("dora@example.net", "5.7.1", "blocked")}}},
		{"bad address is hard", postmarkBounce("BadEmailAddress", "5", "emil@example", ""),
			&bounce.Report{Format: "postmark", MessageID: "postmark:5", Events: []bounce.Event{hard("emil@example", "", "")}}},
		{"spam complaint",
			`{"RecordType":"SpamComplaint","ID":6,"Type":"SpamComplaint","TypeCode":512,"Email":"fay@example.net","MessageID":"x"}`,
			&bounce.Report{Format: "postmark", MessageID: "postmark:6", Events: []bounce.Event{complained("fay@example.net", "spam complaint")}}},
		{"our Message-ID in metadata", withMeta,
			&bounce.Report{Format: "postmark", MessageID: "postmark:9", OriginalMessageID: "k30.s9@example.org",
				Events: []bounce.Event{hard("ina@example.net", "5.1.1", "user unknown")}}},
		{"auto-reply is no bounce", postmarkBounce("AutoResponder", "7", "gus@example.net", ""), nil},
		{"delivery is no bounce", `{"RecordType":"Delivery","ID":8,"Recipient":"hal@example.net","MessageID":"x"}`, nil},
	}
	e := newHookEnv(t, WebhookConfig{PostmarkUser: "postmark", PostmarkPassword: pw}, WebhookDeps{})
	for _, tc := range tests {
		e.postOne(t, tc.name, "postmark", tc.body, basicAuth("postmark", pw), tc.want)
	}
}

func TestPostmarkWebhookRefused(t *testing.T) {
	const pw = "pm-secret-password"
	body := postmarkBounce("HardBounce", "1", "anna@example.net", "")
	e := newHookEnv(t, WebhookConfig{PostmarkUser: "postmark", PostmarkPassword: pw}, WebhookDeps{})
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no credentials", map[string]string{"Content-Type": "application/json"}},
		{"wrong password", basicAuth("postmark", "pm-secret-passwore")},
		{"password as prefix", basicAuth("postmark", "pm-secret")},
		{"wrong user", basicAuth("postmarks", pw)},
		{"swapped", basicAuth(pw, "postmark")},
		{"not basic", map[string]string{"Authorization": "Bearer " + pw}},
	} {
		res := e.post("postmark", body, tc.header)
		if res.status != http.StatusUnauthorized || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: %d %q, want 401 with a Basic challenge", tc.name, res.status, res.header.Get("WWW-Authenticate"))
		}
	}
	if n := len(e.intake.reports()); n != 0 {
		t.Errorf("intake called %d times", n)
	}
	if strings.Contains(e.logBuf.String(), pw) || strings.Contains(e.logBuf.String(), "pm-secret") {
		t.Errorf("a password is in the log:\n%s", e.logBuf.String())
	}
	// A body the relay could not have sent, with the right password: 400.
	if res := e.post("postmark", "not json", basicAuth("postmark", pw)); res.status != http.StatusBadRequest {
		t.Errorf("not JSON: %d, want 400", res.status)
	}
}
