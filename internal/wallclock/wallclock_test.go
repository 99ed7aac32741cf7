package wallclock

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"5m", 5 * time.Minute, false},
		{"-5m", -5 * time.Minute, false},
		{"90s", 90 * time.Second, false},
		{"5", 0, true},
		{"five minutes", 0, true},
		{"+-5m", 0, true},
	}
	for _, tt := range tests {
		got, err := parse(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), EnvOffset) {
			t.Errorf("parse(%q) error %q does not name %s", tt.in, err, EnvOffset)
		}
	}
}

// TestNowOffset: Now is time.Now moved by the offset; durations between
// two readings are not.
func TestNowOffset(t *testing.T) {
	defer func(o time.Duration) { offset = o }(offset)
	offset = -5 * time.Minute
	a, b := time.Now(), Now() // b is read after a: a - b is at most 5m
	if d := a.Sub(b); d <= 4*time.Minute || d > 5*time.Minute {
		t.Errorf("time.Now() - Now() = %v with offset -5m, want 4m to 5m", d)
	}
	if w := a.Round(0).Sub(b.Round(0)); w <= 4*time.Minute || w > 5*time.Minute {
		t.Errorf("wall time of time.Now() - Now() = %v, want 4m to 5m", w)
	}
	c := Now()
	if d := c.Sub(b); d < 0 || d > time.Minute {
		t.Errorf("Now() - Now() = %v, want a small non-negative duration", d)
	}
}

// FuzzParse: any environment value parses or is refused with an error,
// never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "5m", "-5m", "1h2m3s", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parse(s); err != nil && d != 0 {
			t.Errorf("parse(%q) = %v and error %v", s, d, err)
		}
	})
}

// TestLogTime: log records carry the moved time; other attributes, and
// records without an offset, are left alone.
func TestLogTime(t *testing.T) {
	defer func(o time.Duration) { offset = o }(offset)
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		offset time.Duration
		want   string
	}{{0, "time=2026-12-07T05:00:00.000Z"}, {5 * time.Minute, "time=2026-12-07T05:05:00.000Z"}, {-5 * time.Minute, "time=2026-12-07T04:55:00.000Z"}} {
		offset = tt.offset
		var b bytes.Buffer
		h := slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: LogTime})
		r := slog.NewRecord(at, slog.LevelInfo, "hello", 0)
		r.AddAttrs(slog.Time("seen", at))
		if err := h.Handle(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); !strings.HasPrefix(got, tt.want+" ") || !strings.Contains(got, "seen=2026-12-07T05:00:00.000Z") {
			t.Errorf("offset %v: logged %q, want %s and the seen attribute unchanged", tt.offset, got, tt.want)
		}
	}
}
