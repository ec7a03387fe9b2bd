package bounce

// Exchange and Microsoft 365 non-delivery reports without a usable
// delivery-status part. Exchange 2007 and later: "Delivery has failed to
// these recipients or groups:" and, under "Diagnostic information for
// administrators:", the address followed by "#550 5.1.1
// RESOLVER.ADR.RecipNotFound; not found ##" or "Remote Server returned
// '...'". Exchange 2000/2003: "Your message did not reach some or all of
// the intended recipients." and "'user@example.com' on DATE" with the
// reason and "<host #5.1.1>" below. Microsoft 365 since 2017: "Your
// message to user@example.com couldn't be delivered." and, under "More
// Info for Email Admins", "Reported error: 550 5.1.10 ...".
func exchangeFormat() textFormat {
	return textFormat{
		name: "exchange",
		detect: []string{
			"delivery has failed to these recipients or groups",
			"your message did not reach some or all of the intended recipients",
			"the following recipient(s) cannot be reached", "the following recipient(s) could not be reached",
			"diagnostic information for administrators", "more info for email admins",
		},
		cut:   []string{"original message headers:"},
		delay: []string{"delivery to the following recipients has been delayed", "delivery is delayed to these recipients"},
		scan:  exchangeBlocks,
	}
}

var exchangeProse = lazyRegexp(`(?i)your message to (\S+@\S+?) couldn't be delivered`)

func exchangeBlocks(section string) []block {
	blocks := recipientBlocks(section)
	for _, m := range exchangeProse().FindAllStringSubmatch(section, 10) {
		blocks = append(blocks, block{addr: m[1]})
	}
	return blocks
}
