package bounce

import (
	"strings"
	"testing"
)

// A relay's failure is judged by the same table as a report's.
func TestFailure(t *testing.T) {
	for _, tc := range []struct {
		name, rcpt, status, diag string
		kind                     Kind
		wantStatus               string
	}{
		{"unknown user", " Anna@Example.NET ", "5.1.1", "550 5.1.1 The email account that you tried to reach does not exist", Hard, "5.1.1"},
		{"policy is soft", "a@b.example", "5.7.1", "554 5.7.1 Message rejected as spam", Soft, "5.7.1"},
		{"general code, specific in text", "a@b.example", "5.0.0", "550 5.1.1 <a@b.example>: Recipient address rejected", Hard, "5.1.1"},
		{"no code, words decide", "a@b.example", "", "550 No such user here", Hard, ""},
		{"no code, temporary reply", "a@b.example", "", "452 Too many recipients", Soft, ""},
		{"nothing at all", "a@b.example", "", "", Soft, ""},
	} {
		ev := Failure(tc.rcpt, tc.status, tc.diag)
		if ev.Kind != tc.kind || ev.Status != tc.wantStatus || ev.Recipient != strings.ToLower(strings.TrimSpace(tc.rcpt)) || ev.Action != "failed" {
			t.Errorf("%s: %+v, want %s %q", tc.name, ev, tc.kind, tc.wantStatus)
		}
	}
	long := Failure("a@b.example", "5.2.2", strings.Repeat("mailbox full\n", 100))
	if strings.Contains(long.Diagnostic, "\n") || len(long.Diagnostic) > maxDiagnostic+len("…") {
		t.Errorf("diagnostic not one clipped line: %d bytes", len(long.Diagnostic))
	}
}

func TestRelayComplaint(t *testing.T) {
	ev := RelayComplaint("  Anna@Example.NET ", "spam report\r\nfrom the relay")
	if ev.Kind != Complaint || ev.Recipient != "anna@example.net" || strings.ContainsAny(ev.Diagnostic, "\r\n") || !strings.Contains(ev.Diagnostic, "spam report") {
		t.Errorf("RelayComplaint = %+v", ev)
	}
}
