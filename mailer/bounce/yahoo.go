package bounce

// Yahoo's own failure notices (its outgoing servers run a qmail
// descendant): "Sorry, we were unable to deliver your message to the
// following address." then "<user@example.com>:" and the remote reply.
// Yahoo's replies as a receiving server ("554 delivery error: dd This user
// doesn't have a yahoo.com account", "421 4.7.0 [TSS04]") arrive inside
// other servers' reports and are read by the phrase table.
func yahooFormat() textFormat {
	return textFormat{
		name:   "yahoo",
		detect: []string{"we were unable to deliver your message to the following address"},
		start:  []string{"to the following address"},
		cut:    []string{"--- below this line is a copy of the message"},
	}
}
