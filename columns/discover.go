package columns

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DuplicateError reports files that claim the same column number.
// None of them is used until the author resolves it: sending the wrong one
// cannot be undone.
type DuplicateError struct {
	Number int
	Files  []string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: all are column %03d; none of them is used until only one is left",
		strings.Join(e.Files, ", "), e.Number)
}

// Discover parses every *.txt and *.md entry in dir (not hidden ones; the
// folder is not searched further down) and returns the columns sorted by
// number. Only regular UTF-8 text files become columns (see parseFile and
// Parse): a symbolic link, a folder, a FIFO or binary content named like a
// column is reported in problems by name, as is a file that fails to parse
// or shares its number with another file; none of them is used, and the
// other columns are unaffected. err is only for a folder that cannot be read.
func Discover(dir string, loc *time.Location) (cols []*Column, problems []error, err error) {
	parsed, problems, err := parseFolder(dir, loc)
	if err != nil {
		return nil, nil, err
	}
	cols, problems = group(parsed, problems)
	return cols, problems, nil
}

// parseFolder parses the column files of dir (see Discover), numbers not
// yet checked against each other.
func parseFolder(dir string, loc *time.Location) (cols []*Column, problems []error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read columns folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		ext := strings.ToLower(filepath.Ext(name))
		if ext != ".txt" && ext != ".md" {
			continue
		}
		// Whatever carries a column's name is checked by parseFile, which
		// refuses links, folders, FIFOs and binary content by name: the
		// author sees why a file is not a column instead of nothing.
		c, err := parseFile(filepath.Join(dir, name), loc)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		cols = append(cols, c)
	}
	return cols, problems, nil
}

// group keeps the columns whose number no other claims, sorted by number;
// a number claimed more than once (two files, a file and a feed item, two
// feed items) becomes one DuplicateError naming them all, added to
// problems, which come back sorted by their text so reports are stable.
func group(parsed []*Column, problems []error) ([]*Column, []error) {
	byNumber := map[int][]*Column{}
	for _, c := range parsed {
		byNumber[c.Number] = append(byNumber[c.Number], c)
	}
	var cols []*Column
	for n, cs := range byNumber {
		if len(cs) == 1 {
			cols = append(cols, cs[0])
			continue
		}
		d := &DuplicateError{Number: n}
		for _, c := range cs {
			d.Files = append(d.Files, c.Where())
		}
		sort.Strings(d.Files)
		problems = append(problems, d)
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i].Number < cols[j].Number })
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
	return cols, problems
}

// Find returns the column with the given number, or the highest
// numbered one for number 0; nil when there is none.
func Find(cols []*Column, number int) *Column {
	var found *Column
	for _, c := range cols {
		if number == 0 && (found == nil || c.Number > found.Number) || number != 0 && c.Number == number {
			found = c
		}
	}
	return found
}
