package bounce

import "strings"

// Lotus/HCL Domino: "Your message ... was not delivered to:" with the
// address indented, then "because:" and the reason ("User x (x@y) not
// listed in Domino Directory").
func dominoFormat() textFormat {
	return textFormat{
		name:   "domino",
		detect: []string{"was not delivered to:"},
		start:  []string{"was not delivered to:"},
		scan:   dominoBlocks,
	}
}

func dominoBlocks(section string) []block {
	i := strings.Index(lowerASCII(section), "because:")
	if i < 0 {
		return nil
	}
	reason := section[i+len("because:"):]
	var blocks []block
	for _, b := range recipientBlocks(section[:i]) {
		blocks = append(blocks, block{addr: b.addr, text: reason})
	}
	return blocks
}
