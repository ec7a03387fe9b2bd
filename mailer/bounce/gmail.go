package bounce

// Gmail's reports without a delivery-status part: the old "Delivery to the
// following recipient failed permanently:" with the address indented on
// its own line and the remote reply under "Technical details of permanent
// failure:", and the newer "Your message wasn't delivered to ADDRESS
// because ...". Delay warnings: "has been delayed", "Message not delivered
// yet".
func gmailFormat() textFormat {
	return textFormat{
		name: "gmail",
		detect: []string{
			"delivery to the following recipient failed permanently",
			"delivery to the following recipients failed permanently",
			"delivery to the following recipient has been delayed",
			"your message wasn't delivered to",
		},
		cut:   []string{"----- original message -----"},
		delay: []string{"has been delayed", "message not delivered yet", "this is a warning message only"},
		scan:  gmailBlocks,
	}
}

var gmailProse = lazyRegexp(`(?i)wasn't delivered to (\S+@\S+?) because([^\n]*)`)

func gmailBlocks(section string) []block {
	blocks := recipientBlocks(section)
	for _, m := range gmailProse().FindAllStringSubmatch(section, 10) {
		blocks = append(blocks, block{addr: m[1], text: m[2]})
	}
	return blocks
}
