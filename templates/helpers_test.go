package templates

import (
	"os"
	"testing"
	"time"
)

// berlin is the default --timezone; tests fall back to a fixed zone when
// the system has no zoneinfo.
func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

func readSample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/030-heisse-ki-luft.txt")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
