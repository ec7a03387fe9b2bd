package bounce

// Sendmail's text (the first part of its DSNs, and the whole report from
// old versions and their descendants): "----- The following addresses had
// permanent fatal errors -----", the addresses in angle brackets, then the
// "Transcript of session" with the server's replies.
func sendmailFormat() textFormat {
	return textFormat{
		name: "sendmail",
		detect: []string{
			"the following addresses had permanent fatal errors", "transcript of session follows",
			"the original message was received at",
		},
		start: []string{"the following addresses had permanent fatal errors"},
		cut:   []string{"----- original message follows", "----- unsent message follows", "----- message header follows"},
		delay: []string{"could not send message for past", "this is a warning message only", "transient non-fatal errors"},
	}
}
