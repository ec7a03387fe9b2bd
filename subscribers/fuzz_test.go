package subscribers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"newsletter/subscribers"
)

// addressSeeds are the addresses and names of issue 9 (formulas, one
// mailbox under many spellings, header injection, terminal escapes) and of
// the existing examples.
var addressSeeds = []string{
	"  Leser@Example.ORG ",
	"a.b+tag@sub.example.de",
	"max@Müller.de",
	"kontakt@bücher.example",
	"a@b.de\r\nBcc: x@y.de",
	"a@b.de\nx",
	`"Eve" <eve@example.org>`,
	"a@b@example.org",
	"a@-bad-.de",
	"a..b@example.org",
	"x@" + strings.Repeat("abcdefghi.", 26) + "de",
	"jörg@example.org",
	"a@example.org\x00",
	"=HYPERLINK(\"https://evil.example\",\"Klick\")@example.org",
	"=cmd|'/Ccalc'!A0@example.org",
	"+1-1@example.org",
	"@SUM(1+1)@example.org",
	"target+n1@gmail.com",
	"t.a.r.g.e.t+n10@GoogleMail.com",
	"a@xn--mller-kva.de",
	"a@xn--.de",
	"a@example.org.",
	"a@EXAMPLE.org\u3002de",
	"Anna \u202eMüller",
	"Agent \u009b31m",
	"\tAnna\f",
	strings.Repeat("ä", 101),
}

// FuzzNormalizeEmail: any input gives an address or an *InvalidError,
// never a panic; an accepted address is one line without controls or
// spaces, within RFC 5321's length, and normalising it again gives itself.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range addressSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		email, key, err := subscribers.NormalizeEmail(raw)
		if err != nil {
			var ie *subscribers.InvalidError
			if !errors.As(err, &ie) || ie.Field != "email" {
				t.Fatalf("error %v is not an *InvalidError for email", err)
			}
			return
		}
		if email == "" || len(email) > 254 || !utf8.ValidString(email) ||
			strings.ContainsFunc(email, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
			t.Fatalf("NormalizeEmail(%q) accepted %q", raw, email)
		}
		if key != strings.ToLower(key) {
			t.Fatalf("key %q of %q is not lower case", key, raw)
		}
		again, key2, err := subscribers.NormalizeEmail(email)
		if err != nil || again != email || key2 != key {
			t.Fatalf("not idempotent: %q → %q (%q) → %q (%q), %v", raw, email, key, again, key2, err)
		}
	})
}

// FuzzNormalizeName: an accepted name has no control character (so no line
// break for a To: header), at most 100 characters, and is its own
// normalisation.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range addressSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := subscribers.NormalizeName(raw)
		if err != nil {
			var ie *subscribers.InvalidError
			if !errors.As(err, &ie) || ie.Field != "name" {
				t.Fatalf("error %v is not an *InvalidError for name", err)
			}
			return
		}
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, unicode.IsControl) {
			t.Fatalf("NormalizeName(%q) accepted %q", raw, name)
		}
		if again, err := subscribers.NormalizeName(name); err != nil || again != name {
			t.Fatalf("not idempotent: %q → %q → %q, %v", raw, name, again, err)
		}
	})
}

// FuzzImport: no CSV input makes the import panic; it ends with a result
// or a clear error, and every bad row is reported with its line number
// and a one-line reason. Seeds: the existing examples and issue 9's rows
// (stray quotes, NUL and CRLF in quoted fields, a field of 1,000,081
// characters, formulas).
func FuzzImport(f *testing.F) {
	for _, s := range []string{
		"email,name\na@example.org,A\n",
		"email\n\"unterminated\n",
		"email,status,subscribed_at\nx@example.org,active,2026-01-01\n",
		"\ufeffEmail;Name\n",
		"email,email\n",
		"",
		"email,name\nfrueh@example.org,Frueh\n\"unterminated,foo\nok@example.com,x\n",
		"email\nbare\"quote@example.org\nok@example.com\n",
		"email,name\n\"nul\x00@example.org\",\"A\x00B\"\n",
		"email,name\r\n\"crlf@example.org\r\nfake.csv:9: forged line\",\"A\r\nB\"\r\nok@example.org,x\r\n",
		"email,name\n=HYPERLINK(\"https://evil.example\")@example.org,=HYPERLINK(\"https://evil.example\",\"x\")\n" +
			"\"=cmd|'/Ccalc'!A0@example.org\",+1-1\n+1-1@example.org,@SUM(1)\n",
		"Email,Name,Status,subscribed_at,notes\ngut@example.org,Gut,,2026-01-02,x\nkein-at.example.org,,,,\n" +
			"zwei@example.org,,weird,,\ndrei@example.org,,active,,\nfuenf@example.org,,,gestern,\nGUT@example.org,Doppelt,,,\n",
		"email,lang,confirmed_at\ntarget+n1@gmail.com,xx,2026-13-01\nt.a.r.g.e.t@googlemail.com,en,2026-01-01\n",
	} {
		f.Add(s)
	}
	// Generated here rather than kept as a 1 MB file in testdata.
	long := strings.Repeat("A", 1_000_081)
	f.Add("email,name\n" + long + "@example.org,x\nok@example.org," + long + "\n\"" + long + "\n")

	st := newStore(f)
	f.Fuzz(func(t *testing.T, in string) {
		var problems []subscribers.ImportProblem
		res, err := st.Import(context.Background(), strings.NewReader(in), subscribers.ImportOptions{ConsentNote: "fuzz"},
			func(p subscribers.ImportProblem) { problems = append(problems, p) })
		if err != nil && err.Error() == "" {
			t.Fatal("an error without a message")
		}
		lines := strings.Count(in, "\n") + 1
		if len(problems) != res.Rejected {
			t.Fatalf("%d problems reported, %d rejected", len(problems), res.Rejected)
		}
		if n := res.Added + res.Unchanged + res.Rejected; n > lines {
			t.Fatalf("%d rows counted in %d lines: %+v", n, lines, res)
		}
		for _, p := range problems {
			if p.Line < 2 || p.Line > lines {
				t.Fatalf("problem at line %d of %d: %+v", p.Line, lines, p)
			}
			if p.Reason == "" || strings.ContainsFunc(p.Reason, unicode.IsControl) {
				t.Fatalf("reason %q is not one line of text", p.Reason)
			}
		}
	})
}
