package testlog

import (
	"log/slog"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Log receives and runs its
// cleanups when the test calls finish.
type recorder struct {
	testing.TB
	logged   []string
	cleanups []func()
}

func (r *recorder) Log(args ...any) {
	for _, a := range args {
		r.logged = append(r.logged, a.(string))
	}
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		want  []string // messages that reach t.Log, in order
	}{
		{"warn", slog.LevelWarn, []string{"w", "e"}},
		{"debug", slog.LevelDebug, []string{"d", "i", "w", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			l := New(r, tt.level)
			l.Debug("d")
			l.Info("i")
			l.Warn("w")
			l.Error("e")
			r.finish()
			l.Error("after the end")
			if len(r.logged) != len(tt.want) {
				t.Fatalf("logged %q, want messages %q", r.logged, tt.want)
			}
			for i, line := range r.logged {
				if strings.HasSuffix(line, "\n") || !strings.Contains(line, "msg="+tt.want[i]) {
					t.Errorf("line %d = %q, want msg=%s without a trailing newline", i, line, tt.want[i])
				}
			}
		})
	}
}
