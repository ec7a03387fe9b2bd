package columns

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The HTML format is what a feed item becomes (see feed.go): front matter
// with title, number and date, then the item's HTML. A campaign keeps
// these bytes, so a feed column parses again exactly as it was sent. The
// HTML is sanitised here, on every parse, not only when the feed is read:
// whatever reaches the mail went through htmlPolicy.

// htmlPolicy keeps what the column model can carry: paragraphs, headings,
// lists, quotes, code, rules, emphasis, links and images with http(s)
// addresses. No scripts, styles, frames, forms, event handlers or
// attributes beyond href, src, alt and an ordered list's start; no
// javascript: or data: URLs, nor relative ones (a mail has no base). A
// bluemonday.Policy is safe for concurrent use once built. Built on first
// use: only feed items need it.
var htmlPolicy = sync.OnceValue(newHTMLPolicy)

func newHTMLPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
		"ul", "ol", "li", "blockquote", "pre", "code",
		"em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "small", "mark", "abbr", "cite", "q",
		"div", "section", "article", "figure", "figcaption")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^[0-9]{1,6}$`)).OnElements("ol")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("src").OnElements("img")
	p.AllowAttrs("alt").Matching(bluemonday.Paragraph).OnElements("img")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	// "a<br>b" or table cells must not run words together once the tag is gone.
	p.AddSpaceWhenStrippingTag(true)
	// Text a reader never sees on a page stays out of the mail too.
	p.SkipElementsContent("form", "button", "select", "textarea", "svg", "math", "template", "canvas", "head")
	return p
}

// sanitizeHTML returns s with everything removed that the column model
// cannot carry or that is unsafe in a mail (see htmlPolicy).
func sanitizeHTML(s string) string {
	return htmlPolicy().Sanitize(s)
}

// htmlBody parses the body of an HTML column: the title is front matter
// title or the first <h1>; a further-reading heading followed only by
// links becomes Links, as in Markdown.
func (p *parser) htmlBody(c *Column, lines []srcLine) (titleParts, error) {
	var src strings.Builder
	for _, l := range lines {
		src.WriteString(l.text)
		src.WriteByte('\n')
	}
	nodes, err := htmlFragment(sanitizeHTML(src.String()))
	if err != nil {
		return titleParts{}, p.errorf(p.fm.endLine+1, "HTML: %v", err)
	}
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	for _, n := range nodes {
		ctx.AppendChild(n)
	}

	var tp titleParts
	if p.fm.title == "" {
		h1 := htmlFind(ctx, atom.H1)
		if h1 == nil {
			return tp, p.errorf(1, "no title: add front matter \"title:\" or an <h1> heading")
		}
		tp = splitTitle(htmlInlineText(h1))
		h1.Parent.RemoveChild(h1)
	}
	c.Links = htmlFurtherReading(ctx)

	c.Blocks = htmlBlocks(ctx, 0, false)
	if len(c.Blocks) == 0 {
		return tp, p.errorf(p.fm.endLine+1, "the column has no text")
	}
	var out strings.Builder
	for n := ctx.FirstChild; n != nil; n = n.NextSibling {
		htmlPrepareForMail(n)
		if err := html.Render(&out, n); err != nil {
			return tp, p.errorf(0, "render HTML: %v", err)
		}
	}
	c.mdHTML = strings.TrimSpace(out.String()) + "\n"
	return tp, nil
}

// htmlFragment parses s as the content of a <div>.
func htmlFragment(s string) ([]*html.Node, error) {
	return html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
}

// htmlFind is the first element a (depth first) under n.
func htmlFind(n *html.Node, a atom.Atom) *html.Node {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == a {
			return c
		}
		if f := htmlFind(c, a); f != nil {
			return f
		}
	}
	return nil
}

// htmlPrepareForMail makes images fit the mail's column: their own sizes
// are dropped by the policy, so a wide picture must not widen the mail.
func htmlPrepareForMail(n *html.Node) {
	if n.Type == html.ElementNode && n.DataAtom == atom.Img {
		n.Attr = append(n.Attr, html.Attribute{Key: "style", Val: "max-width:100%;height:auto"})
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		htmlPrepareForMail(c)
	}
}

// htmlFurtherReading takes a further-reading heading at the top level that
// is followed only by lists or paragraphs of links, up to the next heading
// of the same or a higher level, out of the body and returns its links.
func htmlFurtherReading(root *html.Node) []Link {
	var links []Link
	for n := root.FirstChild; n != nil; {
		lvl := htmlHeadingLevel(n)
		if lvl == 0 || !linkHeadings[headingKey(htmlInlineText(n))] {
			n = n.NextSibling
			continue
		}
		var section []*html.Node
		next := n.NextSibling
		for ; next != nil; next = next.NextSibling {
			if l := htmlHeadingLevel(next); l > 0 && l <= lvl {
				break
			}
			section = append(section, next)
		}
		if ls, ok := htmlLinks(section); ok {
			links = append(links, ls...)
			root.RemoveChild(n)
			for _, s := range section {
				root.RemoveChild(s)
			}
		}
		n = next
	}
	return links
}

// htmlHeadingLevel is 1 to 6 for <h1> to <h6>, else 0.
func htmlHeadingLevel(n *html.Node) int {
	if n.Type != html.ElementNode || len(n.Data) != 2 || n.Data[0] != 'h' || n.Data[1] < '1' || n.Data[1] > '6' {
		return 0
	}
	return int(n.Data[1] - '0')
}

// htmlLinks reads a further-reading section: lists whose items hold one
// link each, or paragraphs that are one link. ok is false when anything
// else is there; then the section stays in the body.
func htmlLinks(section []*html.Node) (links []Link, ok bool) {
	one := func(n *html.Node) bool {
		var a *html.Node
		count := 0
		var walk func(*html.Node)
		walk = func(x *html.Node) {
			for c := x.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.DataAtom == atom.A {
					a = c
					count++
					continue
				}
				walk(c)
			}
		}
		walk(n)
		if count != 1 {
			return false
		}
		href := htmlAttr(a, "href")
		if !IsWebURL(href) {
			return false
		}
		label := htmlInlineText(n)
		if t := htmlInlineText(a); t == href {
			label = strings.Replace(label, href, "", 1)
		} else {
			label = strings.Replace(label, t+" <"+href+">", t, 1)
		}
		label = strings.TrimRight(oneLine(label), " :-–—")
		links = append(links, Link{Label: label, URL: href})
		return true
	}
	for _, n := range section {
		switch {
		case n.Type == html.TextNode && strings.TrimSpace(n.Data) == "":
		case n.Type == html.ElementNode && (n.DataAtom == atom.Ul || n.DataAtom == atom.Ol):
			for li := n.FirstChild; li != nil; li = li.NextSibling {
				if li.Type == html.TextNode && strings.TrimSpace(li.Data) == "" {
					continue
				}
				if li.Type != html.ElementNode || li.DataAtom != atom.Li || !one(li) {
					return nil, false
				}
			}
		case n.Type == html.ElementNode && n.DataAtom == atom.P:
			if !one(n) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return links, len(links) > 0
}

func htmlAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// htmlBlock elements start a new block; everything else is inline.
var htmlBlockElems = map[atom.Atom]bool{
	atom.P: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Ul: true, atom.Ol: true, atom.Li: true, atom.Blockquote: true, atom.Pre: true, atom.Hr: true,
	atom.Div: true, atom.Section: true, atom.Article: true, atom.Figure: true, atom.Figcaption: true,
}

func htmlIsBlock(n *html.Node) bool {
	return n.Type == html.ElementNode && htmlBlockElems[n.DataAtom]
}

// htmlBlocks flattens the children of n into plain-text blocks for the
// text part of the mail. Inline content between blocks (text straight in
// a <div>) becomes a paragraph of its own.
func htmlBlocks(n *html.Node, depth int, quote bool) []Block {
	var out []Block
	var run []*html.Node
	flush := func() {
		if len(run) == 0 {
			return
		}
		kind := BlockParagraph
		if quote {
			kind = BlockQuote
		}
		if t := htmlNodesText(run); t != "" {
			out = append(out, Block{Kind: kind, Text: t, Level: depth})
		}
		run = run[:0]
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if !htmlIsBlock(c) {
			run = append(run, c)
			continue
		}
		flush()
		out = append(out, htmlBlock(c, depth, quote)...)
	}
	flush()
	return out
}

func htmlBlock(n *html.Node, depth int, quote bool) []Block {
	switch n.DataAtom {
	case atom.P, atom.Figcaption:
		return htmlBlocks(n, depth, quote)
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		if t := oneLine(htmlInlineText(n)); t != "" {
			return []Block{{Kind: BlockHeading, Text: t, Level: htmlHeadingLevel(n)}}
		}
		return nil
	case atom.Ul, atom.Ol:
		var out []Block
		num := 1
		if s, err := strconv.Atoi(htmlAttr(n, "start")); err == nil {
			num = s
		}
		for li := n.FirstChild; li != nil; li = li.NextSibling {
			if li.Type != html.ElementNode || li.DataAtom != atom.Li {
				continue // the policy keeps no other element here worth a block
			}
			marker := "-"
			if n.DataAtom == atom.Ol {
				marker = strconv.Itoa(num) + "."
				num++
			}
			out = append(out, htmlListItem(li, marker, depth, quote)...)
		}
		return out
	case atom.Li: // outside a list: read as one
		return htmlListItem(n, "-", depth, quote)
	case atom.Blockquote:
		return htmlBlocks(n, depth, true)
	case atom.Pre:
		return []Block{{Kind: BlockCode, Text: strings.Trim(htmlRawText(n), "\n"), Level: depth}}
	case atom.Hr:
		return []Block{{Kind: BlockRule}}
	default: // div, section, article, figure
		return htmlBlocks(n, depth, quote)
	}
}

// htmlListItem is one <li>: its inline text with the marker, then its
// nested blocks one level deeper; later paragraphs continue the item.
func htmlListItem(li *html.Node, marker string, depth int, quote bool) []Block {
	var out []Block
	var run []*html.Node
	first := true
	flush := func() {
		if t := htmlNodesText(run); t != "" {
			b := Block{Kind: BlockListItem, Text: t, Level: depth}
			if first {
				b.Marker = marker
			}
			first = false
			out = append(out, b)
		}
		run = run[:0]
	}
	for c := li.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type == html.ElementNode && c.DataAtom == atom.P:
			flush()
			run = append(run, c)
			flush()
		case htmlIsBlock(c):
			flush()
			out = append(out, htmlBlock(c, depth+1, quote)...)
		default:
			run = append(run, c)
		}
	}
	flush()
	if first && len(out) == 0 {
		out = append(out, Block{Kind: BlockListItem, Marker: marker, Level: depth})
	}
	return out
}

// htmlNodesText is the plain text of a run of inline nodes: whitespace
// collapsed as a browser does, a <br> kept as a line break.
func htmlNodesText(nodes []*html.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		htmlWriteInline(&b, n)
	}
	return htmlTidy(b.String())
}

// htmlInlineText is the plain text of n's content.
func htmlInlineText(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		htmlWriteInline(&b, c)
	}
	return htmlTidy(b.String())
}

// htmlTidy collapses whitespace runs to one space, except the line breaks
// of <br>, which are written as \n and kept.
func htmlTidy(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// htmlWriteInline writes the plain text of one inline node. A link whose
// text differs from its target keeps the target in angle brackets, as
// Markdown columns do, so the text part loses no address.
func htmlWriteInline(b *strings.Builder, n *html.Node) {
	switch {
	case n.Type == html.TextNode:
		// Newlines in source text are spaces; only <br> breaks a line.
		b.WriteString(strings.ReplaceAll(n.Data, "\n", " "))
	case n.Type != html.ElementNode:
	case n.DataAtom == atom.Br:
		b.WriteByte('\n')
	case n.DataAtom == atom.Img:
		if alt := oneLine(htmlAttr(n, "alt")); alt != "" {
			b.WriteString(" " + alt + " ")
		}
	case n.DataAtom == atom.A:
		t, dest := htmlInlineText(n), htmlAttr(n, "href")
		switch {
		case t == "" || t == dest:
			b.WriteString(dest)
		default:
			b.WriteString(t + " <" + dest + ">")
		}
	case htmlIsBlock(n): // a block inside inline content: keep it apart
		b.WriteByte(' ')
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			htmlWriteInline(b, c)
		}
		b.WriteByte(' ')
	default:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			htmlWriteInline(b, c)
		}
	}
}

// htmlRawText is the text of a <pre> as written, line breaks included.
func htmlRawText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		switch {
		case x.Type == html.TextNode:
			b.WriteString(x.Data)
		case x.Type == html.ElementNode && x.DataAtom == atom.Br:
			b.WriteByte('\n')
		}
		for c := x.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
