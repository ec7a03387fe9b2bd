package subscribers

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want, key string
		wantErr       string
	}{
		{in: "  Leser@Example.ORG ", want: "Leser@example.org", key: "leser@example.org"},
		{in: "a.b+tag@sub.example.de", want: "a.b+tag@sub.example.de", key: "a.b+tag@sub.example.de"},
		{in: "max@Müller.de", want: "max@xn--mller-kva.de", key: "max@xn--mller-kva.de"},
		{in: "kontakt@bücher.example", want: "kontakt@xn--bcher-kva.example", key: "kontakt@xn--bcher-kva.example"},
		{in: "", wantErr: "empty"},
		{in: "a@b.de\r\nBcc: x@y.de", wantErr: "line breaks"},
		{in: "a@b.de\nx", wantErr: "line breaks"},
		{in: "no-at-sign.example.org", wantErr: "no @"},
		{in: "a b@example.org", wantErr: "spaces"},
		{in: "a@exa mple.org", wantErr: "spaces"},
		{in: `"Eve" <eve@example.org>`, wantErr: "bare address"},
		{in: "Eve <eve@example.org>", wantErr: "bare address"},
		{in: "<eve@example.org>", wantErr: "bare address"},
		{in: "a@b@example.org", wantErr: "more than one @"},
		{in: "@example.org", wantErr: "nothing before"},
		{in: "a@", wantErr: "no domain"},
		{in: "a@localhost", wantErr: "without a dot"},
		{in: "a@-bad-.de", wantErr: "invalid domain"},
		{in: ".a@example.org", wantErr: "dot"},
		{in: "a..b@example.org", wantErr: "dot"},
		{in: strings.Repeat("x", 65) + "@example.org", wantErr: "more than 64"},
		{in: "x@" + strings.Repeat("abcdefghi.", 26) + "de", wantErr: "longer than"},
		{in: "jörg@example.org", wantErr: "non-ASCII"},
		{in: "a@exam_ple.org", wantErr: "invalid domain"},
		{in: "a,b@example.org", wantErr: "bare address"},
		{in: "a@example.org\x00", wantErr: "control"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, key, err := NormalizeEmail(tt.in)
			if tt.wantErr != "" {
				var ie *InvalidError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NormalizeEmail(%q) err = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || key != tt.key {
				t.Fatalf("NormalizeEmail(%q) = %q, %q, %v; want %q, %q", tt.in, got, key, err, tt.want, tt.key)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	if n, err := NormalizeName("  Anna Müller "); err != nil || n != "Anna Müller" {
		t.Fatalf("got %q %v", n, err)
	}
	if _, err := NormalizeName("Anna\r\nBcc: x"); err == nil {
		t.Fatal("CR/LF in name accepted")
	}
	if _, err := NormalizeName(strings.Repeat("a", 101)); err == nil {
		t.Fatal("overlong name accepted")
	}
}
