package testtool

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// LoadAverage returns the machine's one-minute load average
// (/proc/loadavg), failing the test when it cannot be read.
func LoadAverage(t testing.TB) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatalf("load average: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatalf("/proc/loadavg: %q", b)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("/proc/loadavg: %v", err)
	}
	return v
}

// Quiet reports whether a load average leaves this process the CPU time
// Raft's timers assume: at most two runnable tasks per core. Tests judge
// leader stability (no election during an attack or an upload) only
// then: on a machine loaded past it by others (the whole suite's
// packages in parallel on 2 cores), an election follows from CPU
// starvation whatever the code does, and the availability the stability
// protects is asserted separately (every query answered, every write
// committed).
func Quiet(load float64) bool { return load <= 2*float64(runtime.NumCPU()) }
