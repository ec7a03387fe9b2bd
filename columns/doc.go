// Package columns is where columns come from: the column model, the
// parsers of the author's files, discovery in the columns folder, and the
// "new" rule that decides what goes out next and says why.
//
// A file per concern: column.go (the model), files.go (reading a file: only
// regular UTF-8 text files are read; links, FIFOs, folders and binary
// content are refused), parse.go (Parse, and what every format shares),
// frontmatter.go (the optional YAML header), text.go (the author's
// plain-text format), markdown.go (Markdown through goldmark), html.go (the
// HTML a feed item is kept as, made safe with bluemonday), discover.go (the
// folder), feed.go (an RSS or Atom feed read with gofeed), source.go (the
// feed's columns beside the folder's) and plan.go (the "new" rule).
//
// It imports nothing of this module, so every other package may use it.
package columns
