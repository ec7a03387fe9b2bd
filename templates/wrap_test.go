package templates

import (
	"reflect"
	"strings"
	"testing"
)

func TestMailWrap(t *testing.T) {
	tests := []struct {
		name, in          string
		width             int
		first, rest, want string
	}{
		{"fits", "kurz und gut", 72, "", "", "kurz und gut"},
		{"breaks on words", "aaa bbb ccc ddd", 7, "", "", "aaa bbb\nccc ddd"},
		{"counts runes not bytes", "äöü äöü äöü", 7, "", "", "äöü äöü\näöü"},
		{"long word stays whole", "a https://example.org/very/long b", 10, "", "", "a\nhttps://example.org/very/long\nb"},
		{"hanging indent", "eins zwei drei vier", 10, "- ", "  ", "- eins\n  zwei\n  drei\n  vier"},
		{"keeps line breaks", "a\nb c", 72, "> ", "> ", "> a\n> b c"},
		{"collapses spaces", "a   b", 72, "", "", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mailWrap(tt.in, tt.width, tt.first, tt.rest); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMailLinkLine(t *testing.T) {
	if got := mailLinkLine("Kurz", "https://e.org/"); got != "Kurz: https://e.org/" {
		t.Errorf("short: %q", got)
	}
	if got := mailLinkLine("", "https://e.org/"); got != "https://e.org/" {
		t.Errorf("bare: %q", got)
	}
	if got := mailLinkLine("Frage:", "https://e.org/"); got != "Frage: https://e.org/" {
		t.Errorf("colon: %q", got)
	}
	label := strings.Repeat("Wort ", 20)
	got := mailLinkLine(label, "https://e.org/x")
	lines := strings.Split(got, "\n")
	if len(lines) != 3 || lines[2] != "https://e.org/x" || !strings.HasSuffix(lines[1], ":") {
		t.Errorf("long label: %q", got)
	}
}

func TestMailLinkify(t *testing.T) {
	tests := []struct {
		in   string
		want []mailSegment
	}{
		{"kein Link", []mailSegment{{Text: "kein Link"}}},
		{"Siehe https://e.org/a.", []mailSegment{{Text: "Siehe "}, {Text: "https://e.org/a", URL: "https://e.org/a"}, {Text: "."}}},
		{"(https://e.org/a)", []mailSegment{{Text: "("}, {Text: "https://e.org/a", URL: "https://e.org/a"}, {Text: ")"}}},
		{"https://e.org/w_(x)", []mailSegment{{Text: "https://e.org/w_(x)", URL: "https://e.org/w_(x)"}}},
		{"„https://e.org/q“ und HTTP://E.ORG", []mailSegment{{Text: "„"}, {Text: "https://e.org/q", URL: "https://e.org/q"}, {Text: "“ und "}, {Text: "HTTP://E.ORG", URL: "HTTP://E.ORG"}}},
		{"http:// nichts", []mailSegment{{Text: "http:// nichts"}}},
	}
	for _, tt := range tests {
		if got := mailLinkify(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("mailLinkify(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
