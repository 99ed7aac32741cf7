// Package testlog sends a test's slog output to t.Log. It imports nothing
// of DDNRS, so any package or test helper may use it.
package testlog

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// New returns a logger that writes records at level and above to t.Log,
// one line each, until the test ends. Records logged later are dropped:
// libp2p and Raft's transport have goroutines that may still log after
// Close returns, and t.Log after the end of a test is a race.
func New(t testing.TB, level slog.Leveler) *slog.Logger {
	w := &writer{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// writer sends log lines to t.Log until done.
type writer struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
