// Package testnet picks loopback ports for tests whose servers cannot bind
// port 0 and report it, or must come back on the same port after a
// restart: outside the kernel's ephemeral range (see internal/ports).
package testnet

import (
	"testing"

	"github.com/ddnrs/ddnrs/internal/ports"
)

// FreePort returns a port on ip that is free for TCP (and for UDP too when
// udpToo) at the time of the call, outside the kernel's ephemeral range.
// It fails the test when no free port is found.
func FreePort(t testing.TB, ip string, udpToo bool) int {
	t.Helper()
	p, err := ports.Free(ip, udpToo)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return p
}
