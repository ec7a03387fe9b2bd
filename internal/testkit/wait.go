package testkit

import (
	"context"
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

// RunUntil runs work in the background until cond holds (see Eventually),
// then cancels the context work was given and waits for it to return.
func RunUntil(tb testing.TB, what string, work func(ctx context.Context), cond func() bool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		work(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	Eventually(tb, what, cond)
}
