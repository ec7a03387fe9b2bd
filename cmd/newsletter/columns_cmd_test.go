package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestColumnsCommand(t *testing.T) {
	f := newSendFixture(t, 4)
	f.writeColumn(t, 30, "Alt", "")
	f.writeColumn(t, 33, "Später", "2999-01-01")
	if err := os.WriteFile(filepath.Join(f.columns, "040-kaputt.md"), []byte("---\ndate: nonsense\n---\n# x\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := f.run(t, "columns")
	if code != 0 {
		t.Fatalf("code %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "040-kaputt.md") {
		t.Errorf("parse problem not reported on stderr: %q", errOut)
	}
	for _, want := range []string{"NUMBER", "030", "skipped", "031", "new", "033", "scheduled", `Next: column 031 "KNIEPUNKT 031: Heiße KI-Luft"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	if _, errOut, code := f.run(t, "send"); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
	out, _, _ = f.run(t, "columns")
	if !strings.Contains(out, "sent (4 sent, 0 failed)") || !strings.Contains(out, "Next: nothing new") {
		t.Errorf("after sending:\n%s", out)
	}
}
