package columns

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzParse: whatever the author saves, parsing returns a column or a
// *ParseError naming the file, never a panic; a column is always usable
// for a mail, and only UTF-8 text becomes one. Seeds: the sample, the
// formats' examples and issue 9's attacks (a secret file's content, random
// bytes, NUL, invalid UTF-8, formulas, a line of a million characters).
func FuzzParse(f *testing.F) {
	f.Add("030-heisse-ki-luft.txt", readSample(f))
	f.Add("031-x.md", []byte("---\ntitle: KNIEPUNKT 031: T\ndate: 2026-01-02\n---\n# H\n\n- [a](https://a.example)\n\n## Links\n\n- b: https://b.example\n"))
	f.Add("x.txt", []byte("---\nnumber: 3\n---\nA\n\nB\nC\nLinks:\nL: https://x.example\n"))
	f.Add("x.md", []byte("# T 1: Titel\n\nAbsatz mit <b>roh</b> und [Link](https://example.org/x).\n\n## Teil\n\n1. eins\n2. zwei\n   - tief\n\n> Zitat\n\n```\ncode  here\n```\n\n---\n"))
	f.Add("003.txt", []byte("\uFEFFKNIEPUNKT 003: Drei  \r\nAbsatz eins.\r\n\r\nZum Weiterlesen:\r\nLabel: https://example.org/a\r\n"))
	// Issue 9: what a link to /etc/shadow or /etc/passwd would have read.
	f.Add("051-x.txt", []byte("root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"))
	f.Add("051-x.md", []byte("root:x:0:0:root:/root:/bin/bash\n"))
	// Names as a link or a path might carry them.
	f.Add("../../etc/passwd", []byte("root:x:0:0:root:/root:/bin/bash\n"))
	f.Add("051-x.txt -> /etc/shadow", []byte("KNIEPUNKT 051: x\nText.\n"))
	f.Add("columns/.././052-\x00.md", []byte("# KNIEPUNKT 052: x\n\nText.\n"))
	// Binary: random bytes, NUL, Latin-1, UTF-16, escape sequences, C1.
	f.Add("031-zufall.txt", randomBytes(5<<10))
	f.Add("031-zufall.md", randomBytes(512))
	f.Add("032.txt", []byte("KNIEPUNKT 032: Titel\nText\x00mit NUL.\n"))
	f.Add("033.txt", []byte("KNIEPUNKT 033: Hei\xdfe KI-Luft\nText.\n"))
	f.Add("034.txt", []byte("\xff\xfeK\x00N\x00I\x00"))
	f.Add("035.md", []byte("# KNIEPUNKT 035: Titel\n\n\x1b[2JText\u009b31m.\n"))
	f.Add("036.txt", []byte("KNIEPUNKT 036: Titel\r\nTab\there.\f\rOld Mac line.\n"))
	// Formulas and header injection in the title.
	f.Add("037.txt", []byte("KNIEPUNKT 037: =HYPERLINK(\"https://evil.example\",\"x\")\n=cmd|'/Ccalc'!A0\n+1-1@example.org\n"))
	f.Add("038.md", []byte("---\ntitle: \"KNIEPUNKT 038: a\\r\\nBcc: x@evil.example\"\nsubject: \"s\\nX: y\"\n---\nText.\n"))
	// A line of a million characters, as in the import row of issue 9.
	f.Add("039.txt", []byte("KNIEPUNKT 039: Lang\n"+strings.Repeat("x", 1_000_081)+"\n"))
	f.Add("040.md", []byte("# KNIEPUNKT 040: Lang\n\n"+strings.Repeat("[a](https://a.example) ", 20_000)+"\n"))

	f.Fuzz(func(t *testing.T, name string, data []byte) {
		c, err := Parse(name, data, time.UTC)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.File != name {
				t.Fatalf("error %v names %q, not %q", err, pe.File, name)
			}
			if c != nil {
				t.Fatalf("a column with the error %v", err)
			}
			return
		}
		if c.Number <= 0 || c.Title == "" || c.Subject == "" || len(c.Blocks) == 0 {
			t.Fatalf("unusable column: %+v", c)
		}
		for _, s := range []string{c.Subject, c.TitleLine, c.Title, c.Preheader} {
			if strings.ContainsFunc(s, unicode.IsControl) {
				t.Fatalf("control character in a one-line field: %q", s)
			}
		}
		if !utf8.Valid(data) || len(data) > MaxFileSize {
			t.Fatalf("%d bytes, not UTF-8 text, became a column", len(data))
		}
		if _, why := checkText(data); why != "" {
			t.Fatalf("binary content became a column: %s", why)
		}
	})
}
