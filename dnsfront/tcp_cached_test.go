package dnsfront

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

// countingHandler counts which of its methods answered.
type countingHandler struct {
	*Handler
	cached, full atomic.Int64
}

func (c *countingHandler) HandleCached(raw, buf []byte, tr Transport, from netip.AddrPort) ([]byte, bool) {
	out, ok := c.Handler.HandleCached(raw, buf, tr, from)
	if ok {
		c.cached.Add(1)
	}
	return out, ok
}

func (c *countingHandler) HandleFrom(raw, buf []byte, tr Transport, from netip.AddrPort) ([]byte, bool) {
	c.full.Add(1)
	return c.Handler.HandleFrom(raw, buf, tr, from)
}

// TestTCPCachedRepliesMatch: over a TCP connection carrying a burst of
// pipelined queries, those whose replies are in the packed cache are
// answered by the reader (HandleCached, replies gathered into one write)
// and the others by HandleFrom, each exactly once, and every reply is
// byte for byte Handle's.
func TestTCPCachedRepliesMatch(t *testing.T) {
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\n@ 3600 IN A 192.0.2.7\n")
	h := &countingHandler{Handler: NewHandler(dnstest.NewZones(z, other), Options{})}
	queries := batchQueries(t)
	var want []string
	for _, q := range queries {
		h.Handler.Handle(q, make([]byte, 0, maxMsg), TCP) // fills the cache
	}
	for _, q := range queries {
		if r, ok := h.Handler.Handle(q, make([]byte, 0, maxMsg), TCP); ok {
			want = append(want, hex.EncodeToString(r))
		}
	}
	slices.Sort(want)

	s, err := ListenTCP("127.0.0.1:0", h, TCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // only catches a hang
	var burst []byte
	for _, q := range queries {
		burst = binary.BigEndian.AppendUint16(burst, uint16(len(q)))
		burst = append(burst, q...)
	}
	go c.Write(burst) // the replies are read meanwhile
	var got []string
	var l [2]byte
	for len(got) < len(want) {
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatalf("reading reply %d of %d: %v", len(got)+1, len(want), err)
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatal(err)
		}
		got = append(got, hex.EncodeToString(msg))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the %d replies over TCP differ from Handle's", len(got))
	}
	c.Close()
	s.Close() // waits for the connection's reader and its query goroutines
	<-done
	cached, full := h.cached.Load(), h.full.Load()
	if cached == 0 || full == 0 {
		t.Errorf("answered %d from the cache by the reader and %d by HandleFrom: want some of each", cached, full)
	}
	// Every query reached the handler once: the cached ones no further,
	// the others (those drawing no reply too) HandleFrom.
	if n := cached + full; n != int64(len(queries)) {
		t.Errorf("cached %d + full %d = %d answers for %d queries", cached, full, n, len(queries))
	}
}
