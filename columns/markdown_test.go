package columns

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMarkdownBlocks(t *testing.T) {
	src := "# T 1: Titel\n\nAbsatz mit <b>roh</b> und [Link](https://example.org/x).\n\n## Teil\n\n1. eins\n2. zwei\n   - tief\n\n> Zitat\n\n```\ncode  here\n```\n\n---\n"
	c, err := Parse("x.md", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Kind: BlockParagraph, Text: "Absatz mit roh und Link <https://example.org/x>."},
		{Kind: BlockHeading, Text: "Teil", Level: 2},
		{Kind: BlockListItem, Text: "eins", Marker: "1."},
		{Kind: BlockListItem, Text: "zwei", Marker: "2."},
		{Kind: BlockListItem, Text: "tief", Marker: "-", Level: 1},
		{Kind: BlockQuote, Text: "Zitat"},
		{Kind: BlockCode, Text: "code  here"},
		{Kind: BlockRule},
	}
	if !reflect.DeepEqual(c.Blocks, want) {
		t.Errorf("blocks:\n got %+v\nwant %+v", c.Blocks, want)
	}
	if strings.Contains(c.mdHTML, "<b>") || !strings.Contains(c.mdHTML, `<a href="https://example.org/x">Link</a>`) {
		t.Errorf("markdown HTML: %s", c.mdHTML)
	}
}
