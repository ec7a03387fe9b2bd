package bounce

import "strings"

// Japanese mobile carriers and providers. au (KDDI, ezweb.ne.jp) answers
// "The user(s) account is disabled." or "... temporarily over quota."
// with the address in angle brackets; providers write Japanese, often in
// ISO-2022-JP ("以下のあて先へのメール送信に失敗しました" and a line like
// "あて先: user@example.jp"). docomo and SoftBank reply inside other
// servers' DSNs ("550 Unknown user ..."), read by the phrase table.
func japaneseFormat() textFormat {
	return textFormat{
		name: "japanese",
		detect: []string{
			"the user(s) account is", "送信に失敗", "届かなかった", "配送できません", "配信できません",
		},
		cut:  []string{"----- 送信されたメール", "----- original message"},
		scan: addressLineBlocks,
	}
}

// addressLineBlocks takes every line that contains an address, with the
// lines after it up to a blank line, for reports that label the address
// ("あて先: ...") instead of starting the line with it.
func addressLineBlocks(section string) []block {
	if blocks := recipientBlocks(section); len(blocks) > 0 {
		return blocks
	}
	return blocksAt(section, func(line string) (block, bool) {
		a := addrInText().FindString(line)
		return block{addr: a, text: strings.TrimSpace(line)}, a != ""
	})
}
