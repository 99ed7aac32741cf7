package integration

import (
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/wallclock"
)

// TestClockOffsetRefused: the fault suite's test-only clock offset
// (internal/wallclock) that does not parse stops `ddnrs node` before it
// reads its config, with an error naming the variable and the form it
// wants; a good one passes (the node then fails on the missing config,
// as without it; integration/chaos checks it warns TEST-ONLY).
func TestClockOffsetRefused(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	for _, bad := range []string{"soon", "5", "+-5m"} {
		out, errOut, err := tryCmdEnv(dir, []string{wallclock.EnvOffset + "=" + bad}, ddnrsBin, "node", "--config", "missing.toml")
		if err == nil || !strings.Contains(errOut, wallclock.EnvOffset) || !strings.Contains(errOut, "5m") || strings.Contains(errOut, "missing.toml") {
			t.Errorf("ddnrs node with %s=%q: %v\n%s%s\nwant an error naming the variable and an example, before the config is read", wallclock.EnvOffset, bad, err, out, errOut)
		}
	}
	out, errOut, err := tryCmdEnv(dir, []string{wallclock.EnvOffset + "=-5m"}, ddnrsBin, "node", "--config", "missing.toml")
	if err == nil || !strings.Contains(errOut, "missing.toml") {
		t.Errorf("ddnrs node with a good offset and no config: %v\n%s%s\nwant the missing config named", err, out, errOut)
	}
}
