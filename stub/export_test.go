package stub

import (
	"context"
	"time"
)

// Ranked returns s's entry nodes best first, as its next query asks them.
func Ranked(s *Stub) []string { return s.nodes.ranked() }

// Probe measures every entry node once, as the prober does every
// ProbeInterval.
func Probe(s *Stub) { s.nodes.probe(context.Background(), s.probeZone(), time.Second) }

// Fails returns the consecutive failures the stub counts for node addr.
func Fails(s *Stub, addr string) int {
	for _, n := range s.nodes.snapshot() {
		if n.Addr == addr {
			return n.fails
		}
	}
	return -1
}
