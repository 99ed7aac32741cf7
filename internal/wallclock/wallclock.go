// Package wallclock is the wall clock a node decides validity by:
// time.Now plus an offset that only the fault suite sets (TEST-ONLY).
//
// A node reads wall time to decide what is valid: RRSIG windows of
// other groups' answers (client.Verifier), certificate validity in TLS
// handshakes, certificates it issues and when it renews its own, lease
// deadlines a registry leader expires claims by, heartbeat times, the
// registry log's times, log record times. Each of those reads Now. The
// state machine reads no clock (the times it checks are in the commands);
// Raft's timers and every other duration run on the monotonic clock,
// which a skewed wall clock does not move.
//
// The offset comes from the environment variable DDNRS_TEST_CLOCK_OFFSET
// (a Go duration: "5m", "-5m", "90s"), read once when the process starts.
// It exists for `make chaos` (integration/chaos TestClockSkew), which
// runs each member as its own process: Linux offers no per-process
// CLOCK_REALTIME (time namespaces offset only the monotonic and boot
// clocks) and Go reads the clock through the vDSO, out of reach of
// LD_PRELOAD. Never set it in production: `ddnrs node` with it set
// warns so at start, and a value that does not parse stops it (Err).
package wallclock

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// EnvOffset is the environment variable the offset is read from.
const EnvOffset = "DDNRS_TEST_CLOCK_OFFSET"

// offset is added to time.Now; set once, before main runs.
var offset, parseErr = parse(os.Getenv(EnvOffset))

// parse reads an offset; "" is none.
func parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a Go duration such as 5m, -5m or 90s (test-only: the fault suite's clock skew): %w", EnvOffset, s, err)
	}
	return d, nil
}

// Now is time.Now moved by the offset. The monotonic reading moves with
// it, so durations between two Now readings are unaffected.
func Now() time.Time { return time.Now().Add(offset) }

// Offset returns the offset in effect (0 unless the fault suite set it).
func Offset() time.Duration { return offset }

// Err returns why DDNRS_TEST_CLOCK_OFFSET did not parse, or nil. A node
// refuses to start with it.
func Err() error { return parseErr }

// LogTime is a slog.HandlerOptions.ReplaceAttr that moves each record's
// time by the offset, so a skewed node's log reads its own clock.
func LogTime(groups []string, a slog.Attr) slog.Attr {
	if offset != 0 && len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().Add(offset))
	}
	return a
}
