package columns

import (
	"fmt"
	"time"
)

// Format is the source format of a column file.
type Format string

// The two formats the author may write in, and the one feed items are
// kept in (see html.go); the file extension decides.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
)

// Column is one issue of the column, parsed from a file in the columns
// folder. Its identity is Number.
type Column struct {
	Series    string // "KNIEPUNKT"; empty when the title has no series
	Number    int    // 30 for "KNIEPUNKT 030: …"
	Title     string // "Heiße KI-Luft", without the "SERIES NNN:" prefix
	TitleLine string // "KNIEPUNKT 030: Heiße KI-Luft"
	Subject   string // front-matter subject, else TitleLine
	Preheader string // front-matter preheader, else the start of the first paragraph
	Date      time.Time
	File      string // path the column was read from; "feed-NNN.html" for a feed item
	Format    Format
	// Origin is where a feed item came from: its link, else "feed:" and
	// its guid. Empty for a file. It is not part of Source.
	Origin string
	// Source is the file's bytes as parsed: what a campaign keeps, so a
	// later edit of the file changes nothing it sends.
	Source []byte

	// Blocks is the body as plain text, in reading order. The text part of
	// the mail is rendered from it; so is the HTML of text columns.
	Blocks []Block
	// Links is the further-reading list, in the author's order.
	Links []Link

	// mdHTML is the article body of a Markdown column rendered by goldmark
	// in safe mode (no raw HTML), or of an HTML column as sanitised, without
	// title and further-reading list.
	mdHTML string
}

// Link is one further-reading entry. Label may be empty (a bare URL).
type Link struct {
	Label string
	URL   string
}

// BlockKind says how a body block is laid out.
type BlockKind string

// Block kinds. Text columns only have paragraphs; Markdown brings the rest.
const (
	BlockParagraph BlockKind = "paragraph"
	BlockHeading   BlockKind = "heading"
	BlockListItem  BlockKind = "item"
	BlockQuote     BlockKind = "quote"
	BlockCode      BlockKind = "code"
	BlockRule      BlockKind = "rule"
)

// Block is one piece of the body as plain text. Paragraph text is a single
// line (the renderer wraps it); code keeps its line breaks.
type Block struct {
	Kind   BlockKind
	Text   string
	Level  int    // heading level, or list/quote nesting depth (0 = top)
	Marker string // list marker: "-", or "3." in ordered lists
}

// Due reports whether the column's publish date has come at now. A column
// without a date is always due.
func (c *Column) Due(now time.Time) bool {
	return c.Date.IsZero() || !c.Date.After(now)
}

// Where names the column's origin in messages: a feed item's Origin,
// else its file.
func (c *Column) Where() string {
	if c.Origin != "" {
		return c.Origin
	}
	return c.File
}

// NumberString is the number as the series writes it: at least three digits.
func (c *Column) NumberString() string { return fmt.Sprintf("%03d", c.Number) }

// ParseError is a problem in a column file, at a line (1-based; 0 when it
// concerns the whole file).
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// MarkdownHTML is the article body of a Markdown column as goldmark
// rendered it in safe mode, or of an HTML column (a feed item) as
// sanitised; empty for a plain-text column.
func (c *Column) MarkdownHTML() string { return c.mdHTML }
