package subscribers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"newsletter/subscribers"
)

func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"Lea Müller, 李, שלום 🙂":           "Lea Müller, 李, שלום 🙂",
		"ua \u009b2J\x1b[31m":             `ua \u009b2J\x1b[31m`,
		"exe.\u202etxt \u2066a\u2069":     `exe.\u202etxt \u2066a\u2069`,
		"a\x00b\r\nc\td\x7f":              `a\x00b\r\nc\td\x7f`,
		"nel\u0085ls\u2028ps\u2029\u200f": `nel\u0085ls\u2028ps\u2029\u200f`,
		"bad \xff\xfe utf-8":              `bad \xff\xfe utf-8`,
		`C:\Users`:                        `C:\Users`,
	} {
		if got := subscribers.EscapeText(in); got != want {
			t.Errorf("EscapeText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeJSON(t *testing.T) {
	v := map[string]string{"ua": "x\u009b2J\u202eevil\u2066\x7f\x1b", "name": "Lea Müller", "n": "a\nb"}
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	out := subscribers.EscapeJSON(raw.Bytes())
	for _, r := range []rune{0x9b, 0x202e, 0x2066, 0x7f, 0x1b} {
		if bytes.ContainsRune(out, r) {
			t.Errorf("%U raw in %s", r, out)
		}
	}
	if !bytes.Contains(out, []byte(`\u202e`)) || !bytes.Contains(out, []byte("Lea Müller")) || !bytes.Contains(out, []byte("{\n  ")) {
		t.Errorf("escaped JSON:\n%s", out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["ua"] != v["ua"] || back["name"] != v["name"] || back["n"] != v["n"] {
		t.Fatalf("decodes to %q, %v; want %q", back, err, v)
	}
}

// A bad row is reported in one line: control characters escaped, and a
// huge field clipped to about 200 characters.
func TestImportProblemsAreOneShortLine(t *testing.T) {
	st := newStore(t)
	in := "email,name,lang\n" +
		strings.Repeat("x", 1_000_081) + "@example.org,Lang,\n" +
		"\"nul\x00@example.org\r\nstandard input:9: real@example.org: fake\",,\n" +
		"ok@example.org,,\u009b" + strings.Repeat("y", 5000) + "\n"
	var problems []subscribers.ImportProblem
	if _, err := st.Import(context.Background(), strings.NewReader(in), subscribers.ImportOptions{}, func(p subscribers.ImportProblem) {
		problems = append(problems, p)
	}); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 3 {
		t.Fatalf("problems %d, want 3", len(problems))
	}
	for _, p := range problems {
		for _, s := range []string{p.Email, p.Reason} {
			if n := utf8.RuneCountInString(s); n > 230 {
				t.Errorf("line %d: %d characters reported", p.Line, n)
			}
			if strings.ContainsAny(s, "\x00\r\n\u009b") {
				t.Errorf("line %d: control character in %q", p.Line, s)
			}
		}
	}
	if p := problems[1]; !strings.HasPrefix(p.Email, `nul\x00@example.org\nstandard input:9:`) {
		t.Errorf("escaped address %q", p.Email)
	}
	if p := problems[0]; !strings.Contains(p.Email, "more bytes)") {
		t.Errorf("clipped address does not say it is clipped: %q", p.Email)
	}
}

// Export neutralises formulas; import takes off exactly the ' export put
// on, so export → import → export is the identity.
func TestExportNeutralisesFormulasAndRoundTrips(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	names := []string{`=HYPERLINK("http://x.example","y")`, "+49 30 1234", "-1", "@SUM(A1)", "'t Hart", "'=already quoted", "''two", "'", "plain"}
	for i, n := range names {
		if _, err := st.Add(ctx, subscribers.AddParams{Email: string(rune('a'+i)) + "@example.org", Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Add(ctx, subscribers.AddParams{Email: "-dash+tag@example.org"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := st.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[0]] = r[1]
		for _, cell := range r[:2] {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("formula cell %q", cell)
			}
		}
	}
	for email, want := range map[string]string{"a@example.org": `'=HYPERLINK("http://x.example","y")`, "b@example.org": "'+49 30 1234",
		"e@example.org": "'t Hart", "f@example.org": "''=already quoted", "g@example.org": "'''two", "h@example.org": "'", "'-dash+tag@example.org": ""} {
		if c, ok := got[email]; !ok || c != want {
			t.Errorf("%s: cell %q (present %v), want %q", email, c, ok, want)
		}
	}
	other := newStore(t)
	if _, err := other.Import(ctx, bytes.NewReader(out.Bytes()), subscribers.ImportOptions{}, func(p subscribers.ImportProblem) { t.Errorf("problem %+v", p) }); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := other.Export(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Fatalf("round trip differs:\n%s---\n%s", out.String(), again.String())
	}
	if s, err := other.FindByEmail(ctx, "-dash+tag@example.org"); err != nil || s.Email != "-dash+tag@example.org" {
		t.Fatalf("imported %+v %v", s, err)
	}
}
