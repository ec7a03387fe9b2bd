package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test naming what it
// waited for when a generous deadline (30 s) passes first.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
