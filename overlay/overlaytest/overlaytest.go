// Package overlaytest starts real overlay hosts on loopback for tests: QUIC
// on 127.0.0.1 with kernel-chosen ports, identity keys in t.TempDir, every
// host closed in t.Cleanup.
package overlaytest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/testlog"
	"github.com/ddnrs/ddnrs/overlay"
	"strconv"
)

// Option adjusts the options of host i before it starts.
type Option func(i int, o *overlay.HostOptions)

// NewHosts starts n hosts. Host 0 starts the overlay; every other host
// bootstraps through host 0 only and learns the rest from the DHT, as a
// node does in production. NewHosts returns once every host has at least
// one peer in its routing table and host 0 has all of them.
func NewHosts(t testing.TB, n int, opts ...Option) []*overlay.Host {
	t.Helper()
	hosts := make([]*overlay.Host, 0, n)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		o := overlay.HostOptions{
			KeyFile: filepath.Join(dir, "host"+strconv.Itoa(i)+".key"),
			Logger:  Logger(t),
		}
		if i > 0 {
			o.Bootstrap = hosts[0].Addrs()
		}
		for _, f := range opts {
			f(i, &o)
		}
		h, err := overlay.NewHost(ctx, o)
		if err != nil {
			t.Fatalf("NewHost(%d): %v", i, err)
		}
		t.Cleanup(func() {
			if err := h.Close(); err != nil {
				t.Errorf("host %d Close: %v", i, err)
			}
		})
		hosts = append(hosts, h)
	}
	WaitJoined(t, hosts)
	return hosts
}

// WaitJoined waits until every host has a peer in its routing table and
// hosts[0] has all the others; it fails the test after 20 s.
func WaitJoined(t testing.TB, hosts []*overlay.Host) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := hosts[0].RoutingTableSize() >= len(hosts)-1
		for _, h := range hosts[1:] {
			ok = ok && h.RoutingTableSize() > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			sizes := make([]int, len(hosts))
			for i, h := range hosts {
				sizes[i] = h.RoutingTableSize()
			}
			t.Fatalf("hosts did not join: routing table sizes %v", sizes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logger returns a logger that writes warnings and errors to t.Log until
// the test ends (libp2p may still log from goroutines finishing after it).
func Logger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }
