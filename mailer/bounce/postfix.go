package bounce

// Postfix's text, when no delivery-status part came with it (Postfix
// before 2.3, or a part lost on the way): "This is the mail system at host
// ..." (older: "This is the Postfix program at host ...") and then
// "<user@example.com>: host mx said: 550 ..." with indented continuation
// lines. Delay warnings say "THIS IS A WARNING ONLY".
func postfixFormat() textFormat {
	return textFormat{
		name:   "postfix",
		detect: []string{"this is the mail system at host", "this is the postfix program at host"},
		delay:  []string{"this is a warning only", "delayed mail (still being retried)"},
	}
}
