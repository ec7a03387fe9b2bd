package bounce

import "strings"

// field is one "Name: value" line of a header block, a delivery-status
// group or a feedback report, unfolded.
type field struct{ name, value string }

// fields keeps the order the fields were written in.
type fields []field

// get is the first value of the named field, "" when absent.
func (fs fields) get(name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// has reports whether the named field is present at all.
func (fs fields) has(name string) bool {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// all is every value of the named field, in order.
func (fs fields) all(name string) []string {
	var vs []string
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// maxFieldGroups bounds how many recipient groups one delivery-status part
// may hold; real reports name a handful.
const maxFieldGroups = 200

// parseFieldGroups reads text made of header-style fields in groups
// separated by blank lines (RFC 3464 delivery-status, RFC 5965 feedback
// report). It is lenient where MTAs are sloppy: lines that are no field are
// skipped, continuation lines are joined, and any line ending is accepted.
func parseFieldGroups(text string) []fields {
	var groups []fields
	var cur fields
	flush := func() {
		if len(cur) > 0 && len(groups) < maxFieldGroups {
			groups = append(groups, cur)
		}
		cur = nil
	}
	for _, line := range splitLines(text) {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(cur); n > 0 {
				cur[n-1].value = joinFolded(cur[n-1].value, line)
			}
			continue
		}
		if f, ok := splitField(line); ok {
			cur = append(cur, f)
		}
	}
	flush()
	return groups
}

// parseHeaderBlock reads the header fields at the start of text, up to the
// first blank line: the headers of a returned message, however damaged.
func parseHeaderBlock(text string) fields {
	var fs fields
	for _, line := range splitLines(text) {
		if strings.TrimSpace(line) == "" {
			if len(fs) > 0 {
				break
			}
			continue // leading blank lines before the headers
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(fs); n > 0 {
				fs[n-1].value = joinFolded(fs[n-1].value, line)
			}
			continue
		}
		f, ok := splitField(line)
		if !ok {
			if len(fs) == 0 {
				continue
			}
			break // the body began without a blank line
		}
		fs = append(fs, f)
	}
	return fs
}

// splitField splits "Name: value"; the name must be a valid field name
// (printable ASCII, no space), so prose with a colon is no field.
func splitField(line string) (field, bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 || i > 76 {
		return field{}, false
	}
	name := line[:i]
	for j := 0; j < len(name); j++ {
		if c := name[j]; c <= ' ' || c > '~' {
			return field{}, false
		}
	}
	return field{name: name, value: strings.TrimSpace(line[i+1:])}, true
}

const maxFieldValue = 8 << 10

func joinFolded(value, line string) string {
	if len(value) >= maxFieldValue {
		return value
	}
	return value + " " + strings.TrimSpace(line)
}

// splitLines splits on LF, dropping a CR before it.
func splitLines(text string) []string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
