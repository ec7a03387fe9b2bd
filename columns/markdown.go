package columns

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// markdown is shared: a goldmark.Markdown is safe for concurrent use.
// Without html.WithUnsafe raw HTML is dropped and javascript: links blanked.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Linkify, extension.Strikethrough))

// markdownBody parses a Markdown column: the title is front matter title or
// the first level-1 heading; a further-reading heading followed only by
// links becomes Links.
func (p *parser) markdownBody(c *Column, lines []srcLine) (titleParts, error) {
	var src strings.Builder
	for _, l := range lines {
		src.WriteString(l.text)
		src.WriteByte('\n')
	}
	source := []byte(src.String())
	doc := markdown.Parser().Parse(text.NewReader(source))

	var tp titleParts
	if p.fm.title == "" {
		var h1 *ast.Heading
		for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
			if h, ok := n.(*ast.Heading); ok && h.Level == 1 {
				h1 = h
				break
			}
		}
		if h1 == nil {
			return tp, p.errorf(1, "no title: add front matter \"title:\" or a \"# Title\" heading")
		}
		tp = splitTitle(mdInlineText(h1, source))
		doc.RemoveChild(doc, h1)
	}

	for n := doc.FirstChild(); n != nil; {
		h, ok := n.(*ast.Heading)
		if !ok || !linkHeadings[headingKey(mdInlineText(h, source))] {
			n = n.NextSibling()
			continue
		}
		var section []ast.Node
		next := h.NextSibling()
		for ; next != nil; next = next.NextSibling() {
			if nh, ok := next.(*ast.Heading); ok && nh.Level <= h.Level {
				break
			}
			section = append(section, next)
		}
		if links, ok := mdLinks(section, source); ok {
			c.Links = append(c.Links, links...)
			doc.RemoveChild(doc, h)
			for _, s := range section {
				doc.RemoveChild(doc, s)
			}
		}
		n = next
	}

	c.Blocks = mdBlocks(doc, source, 0, false)
	if len(c.Blocks) == 0 {
		return tp, p.errorf(p.fm.endLine+1, "the column has no text")
	}
	var out bytes.Buffer
	if err := markdown.Renderer().Render(&out, source, doc); err != nil {
		return tp, p.errorf(0, "render Markdown: %v", err)
	}
	c.mdHTML = out.String()
	return tp, nil
}

// mdLinks reads a further-reading section made only of link lines, in lists
// or paragraphs. ok is false when anything else is there: then the section
// stays in the body as the author wrote it.
func mdLinks(section []ast.Node, source []byte) (links []Link, ok bool) {
	for _, n := range section {
		switch n := n.(type) {
		case *ast.List:
			for item := n.FirstChild(); item != nil; item = item.NextSibling() {
				b := item.FirstChild()
				if b == nil || b.NextSibling() != nil {
					return nil, false
				}
				ls, ok := mdLinkLines(b, source)
				if !ok {
					return nil, false
				}
				links = append(links, ls...)
			}
		case *ast.Paragraph, *ast.TextBlock:
			ls, ok := mdLinkLines(n, source)
			if !ok {
				return nil, false
			}
			links = append(links, ls...)
		default:
			return nil, false
		}
	}
	return links, len(links) > 0
}

// mdLinkLines reads each line of a paragraph as one link: exactly one link
// per line, and the rest of the line's text is its label.
func mdLinkLines(block ast.Node, source []byte) ([]Link, bool) {
	var links []Link
	var label strings.Builder
	dest, nlinks := "", 0
	flush := func() bool {
		if nlinks != 1 {
			return false
		}
		l := strings.TrimRight(oneLine(label.String()), " :-–—")
		if l == dest {
			l = ""
		}
		links = append(links, Link{Label: l, URL: dest})
		label.Reset()
		dest, nlinks = "", 0
		return true
	}
	for n := block.FirstChild(); n != nil; n = n.NextSibling() {
		switch n := n.(type) {
		case *ast.Link:
			nlinks++
			dest = string(n.Destination)
			if t := mdInlineText(n, source); t != dest {
				label.WriteString(t)
			}
		case *ast.AutoLink:
			nlinks++
			dest = string(n.URL(source))
		default:
			var b strings.Builder
			mdWriteNode(&b, n, source)
			label.WriteString(b.String())
		}
		if !IsWebURL(dest) && nlinks > 0 {
			return nil, false
		}
		if t, ok := n.(*ast.Text); ok && (t.SoftLineBreak() || t.HardLineBreak()) {
			if !flush() {
				return nil, false
			}
		}
	}
	if nlinks > 0 || strings.TrimSpace(label.String()) != "" {
		if !flush() {
			return nil, false
		}
	}
	return links, len(links) > 0
}

// mdBlocks flattens the children of a Markdown node into plain-text blocks
// for the text part of the mail.
func mdBlocks(n ast.Node, source []byte, depth int, quote bool) []Block {
	var out []Block
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		out = append(out, mdBlock(c, source, depth, quote)...)
	}
	return out
}

func mdBlock(c ast.Node, source []byte, depth int, quote bool) []Block {
	switch c := c.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		kind := BlockParagraph
		if quote {
			kind = BlockQuote
		}
		if t := strings.TrimSpace(mdInlineText(c, source)); t != "" {
			return []Block{{Kind: kind, Text: t, Level: depth}}
		}
		return nil
	case *ast.Heading:
		return []Block{{Kind: BlockHeading, Text: oneLine(mdInlineText(c, source)), Level: c.Level}}
	case *ast.List:
		var out []Block
		num := c.Start
		for item := c.FirstChild(); item != nil; item = item.NextSibling() {
			marker := "-"
			if c.IsOrdered() {
				marker = strconv.Itoa(num) + "."
				num++
			}
			if item.FirstChild() == nil {
				out = append(out, Block{Kind: BlockListItem, Marker: marker, Level: depth})
			}
			for ic := item.FirstChild(); ic != nil; ic = ic.NextSibling() {
				switch ic.(type) {
				case *ast.Paragraph, *ast.TextBlock:
					b := Block{Kind: BlockListItem, Text: strings.TrimSpace(mdInlineText(ic, source)), Level: depth}
					if ic == item.FirstChild() {
						b.Marker = marker // later paragraphs continue the item
					}
					out = append(out, b)
				default:
					out = append(out, mdBlock(ic, source, depth+1, quote)...)
				}
			}
		}
		return out
	case *ast.Blockquote:
		return mdBlocks(c, source, depth, true)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		var b strings.Builder
		lines := c.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			b.Write(seg.Value(source))
		}
		return []Block{{Kind: BlockCode, Text: strings.TrimRight(b.String(), "\n"), Level: depth}}
	case *ast.ThematicBreak:
		return []Block{{Kind: BlockRule}}
	case *ast.HTMLBlock:
		return nil // raw HTML is left out of the HTML part too
	default:
		return mdBlocks(c, source, depth, quote)
	}
}

// mdInlineText is the plain text of a node's inline content. A link whose
// text differs from its target keeps the target in angle brackets, so the
// text part loses no address.
func mdInlineText(n ast.Node, source []byte) string {
	var b strings.Builder
	mdWriteInline(&b, n, source)
	return b.String()
}

func mdWriteInline(b *strings.Builder, n ast.Node, source []byte) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		mdWriteNode(b, c, source)
	}
}

// mdWriteNode writes the plain text of one inline node.
func mdWriteNode(b *strings.Builder, n ast.Node, source []byte) {
	switch n := n.(type) {
	case *ast.Text:
		b.Write(n.Value(source))
		switch {
		case n.HardLineBreak():
			b.WriteByte('\n')
		case n.SoftLineBreak():
			b.WriteByte(' ')
		}
	case *ast.String:
		b.Write(n.Value)
	case *ast.AutoLink:
		b.Write(n.URL(source))
	case *ast.Link:
		t, dest := mdInlineText(n, source), string(n.Destination)
		switch {
		case !IsWebURL(dest) && !strings.HasPrefix(strings.ToLower(dest), "mailto:"):
			b.WriteString(t) // relative or unsafe: the HTML part drops it too
		case t == "" || t == dest:
			b.WriteString(dest)
		default:
			b.WriteString(t + " <" + dest + ">")
		}
	case *ast.RawHTML:
		// dropped, as in the HTML part
	default:
		mdWriteInline(b, n, source)
	}
}
