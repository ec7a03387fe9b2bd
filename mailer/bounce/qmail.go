package bounce

// qmail (and netqmail, vpopmail): "Hi. This is the qmail-send program at
// host." then "<user@example.com>:" with the reason on the next lines,
// ending "(#5.1.1)" when qmail knows the status code.
func qmailFormat() textFormat {
	return textFormat{
		name:   "qmail",
		detect: []string{"this is the qmail-send program", "i'm afraid i wasn't able to deliver your message"},
		start:  []string{"to the following addresses"},
		cut:    []string{"--- below this line is a copy of the message", "--- enclosed are the original headers"},
	}
}
