package bounce

// Exim's plain-text reports (before 4.9x added a delivery-status part, and
// still the text of every Exim report): "This message was created
// automatically by mail delivery software." then "The following
// address(es) failed:" and each address indented by two spaces with the
// reason indented below it. Delay warnings say "has not yet been
// delivered".
func eximFormat() textFormat {
	return textFormat{
		name:   "exim",
		detect: []string{"this message was created automatically by mail delivery software", "the following address(es) failed"},
		start:  []string{"the following address(es) failed:", "the following address(es) failed"},
		cut:    eximCopyMarkers,
		delay:  []string{"has not yet been delivered", "delay reason:", "no action is required on your part"},
	}
}

// eximCopyMarkers start the returned message in Exim reports.
var eximCopyMarkers = []string{
	"------ this is a copy of the message", "------ this is a copy of the body of the message",
	"------ the body of the message is",
}
