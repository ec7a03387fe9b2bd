package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds Parse the corpus and its mutations: it must never panic,
// never fail on bytes in memory, and always say either what happened or why
// nothing did.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p := Parser{MaxSize: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := p.Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Parse failed on bytes in memory: %v", err)
		}
		if len(rep.Events) == 0 && rep.Reason == "" {
			t.Fatal("no events and no reason")
		}
		if len(rep.Events) > 0 && rep.Reason != "" {
			t.Fatalf("events %v and reason %q", rep.Events, rep.Reason)
		}
		for _, e := range rep.Events {
			switch e.Kind {
			case Hard, Soft, Complaint:
			default:
				t.Fatalf("kind %q", e.Kind)
			}
			if len(e.Diagnostic) > maxDiagnostic+len("…") {
				t.Fatalf("diagnostic of %d bytes", len(e.Diagnostic))
			}
			if !utf8.ValidString(e.Diagnostic) || !utf8.ValidString(e.Recipient) {
				t.Fatalf("invalid UTF-8 in %q", e)
			}
			_ = e.String()
		}
		_ = rep.NoneLine()
	})
}
