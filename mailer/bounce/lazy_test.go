package bounce

import (
	"regexp"
	"testing"
)

// The patterns compile on first use, so a broken one would panic in the
// middle of reading a report rather than at start-up: compile them all.
func TestLazyPatternsCompile(t *testing.T) {
	for name, re := range map[string]func() *regexp.Regexp{
		"recipientLine": recipientLine, "quotedTo": quotedTo, "labelLine": labelLine,
		"doesntHaveAccount": doesntHaveAccount, "statusCodeRE": statusCodeRE, "replyCodeRE": replyCodeRE,
		"gmailProse": gmailProse, "addrInText": addrInText, "sesUndeliverable": sesUndeliverable,
		"quotedMessageID": quotedMessageID, "quotedListID": quotedListID, "quotedReturnPath": quotedReturnPath,
		"exchangeProse": exchangeProse,
	} {
		first, again := re(), re()
		if first == nil || first != again {
			t.Errorf("%s: not compiled exactly once", name)
		}
	}
}
