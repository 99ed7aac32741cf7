package loglevel

import (
	"log/slog"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in       string
		want     slog.Level
		wantFail bool
	}{
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"info+2", slog.LevelInfo + 2, false},
		{"", 0, true},
		{"verbose", 0, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.wantFail || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, fail %v", tt.in, got, err, tt.want, tt.wantFail)
		}
	}
}
