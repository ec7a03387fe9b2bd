package bounce

import "strings"

// Amazon SES reports forwarded as mail. Current ones are RFC 3464 DSNs
// ("An error occurred while trying to deliver the mail to the following
// recipients:"); older ones are plain text: "The following message to
// <user@example.com> was undeliverable." and "The reason for the
// problem:" with the remote reply quoted.
func sesFormat() textFormat {
	return textFormat{
		name: "ses",
		detect: []string{
			"was undeliverable. the reason for the problem",
			"an error occurred while trying to deliver the mail to the following recipients",
		},
		cut:  []string{"------ this is a copy of the message"},
		scan: sesBlocks,
	}
}

var sesUndeliverable = lazyRegexp(`(?i)message to <([^<>\s]+@[^<>\s]+)> was undeliverable`)

func sesBlocks(section string) []block {
	reason := ""
	if i := strings.Index(lowerASCII(section), "the reason for the problem:"); i >= 0 {
		reason = section[i+len("the reason for the problem:"):]
	}
	var blocks []block
	for _, m := range sesUndeliverable().FindAllStringSubmatch(section, 10) {
		blocks = append(blocks, block{addr: m[1], text: reason})
	}
	if len(blocks) == 0 {
		blocks = recipientBlocks(section)
	}
	return blocks
}
