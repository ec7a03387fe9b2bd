package testkit

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// SyncBuffer collects output written from many goroutines (a logger, a
// running `serve`'s stdout and stderr) for the test to read.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Logger is a text logger writing to s at level and above, for tests that
// read the log.
func (s *SyncBuffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: level}))
}

// Logger is the logger for tests that do not read the log: silent, or
// everything down to debug on stderr under go test -v.
func Logger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
