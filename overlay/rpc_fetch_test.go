package overlay

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// testZones hands out one zone text, or err, counting calls.
type testZones struct {
	origin string
	text   []byte
	err    error
	calls  atomic.Int64
}

func (z *testZones) LocalZone(_ context.Context, origin string) ([]byte, []byte, error) {
	z.calls.Add(1)
	if z.err != nil {
		return nil, nil, z.err
	}
	if origin != z.origin {
		return nil, nil, &RPCError{Code: CodeNotFound, Message: "no zone " + origin}
	}
	return z.text, []byte("head of " + origin), nil
}

func TestFetchZone(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3<<20) // above the 1 MiB message limit
	good := &testZones{origin: "example.", text: big}
	broken := &testZones{origin: "example.", err: errors.New("disk on fire")}
	tests := []struct {
		name      string
		providers []*testZones
		clientCap int
		serverCap int
		origin    string
		want      error  // nil: the zone arrives
		code      string // the *RPCError code wanted, if any
	}{
		{name: "whole zone above the message limit", providers: []*testZones{good}, origin: "example."},
		{name: "failing member, then a good one", providers: []*testZones{broken, good}, origin: "example."},
		{name: "not held", providers: []*testZones{good}, origin: "other.", code: CodeNotFound},
		{name: "above the client's cap", providers: []*testZones{good}, clientCap: 1 << 20, origin: "example.", want: ErrZoneTooLarge, code: CodeTooLarge},
		{name: "above the server's cap", providers: []*testZones{good}, serverCap: 1 << 20, origin: "example.", want: ErrZoneTooLarge, code: CodeTooLarge},
		{name: "all fail", providers: []*testZones{broken}, origin: "example.", want: new(AllFailedError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var infos []peer.AddrInfo
			for _, z := range tt.providers {
				z.calls.Store(0)
				infos = append(infos, newTestProviderWith(t, nil, ServerOptions{Zones: z, MaxZoneSize: tt.serverCap}).info())
			}
			c := newTestClient(t, ClientOptions{MaxZoneSize: tt.clientCap})
			// Rank the providers in the listed order: a failing one first.
			for _, ai := range infos[1:] {
				c.Scores().Failure(ai.ID)
			}
			resp, _, err := c.FetchZone(context.Background(), infos, tt.origin)
			for i, z := range tt.providers {
				if z.calls.Load() != 1 {
					t.Errorf("provider %d asked %d times, want once", i, z.calls.Load())
				}
			}
			var all *AllFailedError
			switch {
			case tt.want == nil && tt.code == "":
				if err != nil {
					t.Fatalf("FetchZone: %v", err)
				}
				if !bytes.Equal(resp.Zone, big) || string(resp.Head) != "head of example." || resp.Form != ZoneFormPresentation {
					t.Errorf("FetchZone = %d bytes, head %q, form %d; want the %d-byte zone", len(resp.Zone), resp.Head, resp.Form, len(big))
				}
			case errors.As(tt.want, &all):
				if !errors.As(err, &all) {
					t.Errorf("FetchZone error = %v, want *AllFailedError", err)
				}
			default:
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("FetchZone error = %v, want %v", err, tt.want)
				}
				re, ok := errors.AsType[*RPCError](err)
				if tt.code != "" && (!ok || re.Code != tt.code) {
					t.Errorf("FetchZone error = %v, want remote code %s", err, tt.code)
				}
			}
		})
	}
}

func TestFetchZoneUnsupported(t *testing.T) {
	p := newTestProviderWith(t, &testAnswerer{}, ServerOptions{})
	c := newTestClient(t, ClientOptions{})
	_, _, err := c.FetchZone(context.Background(), []peer.AddrInfo{p.info()}, "example.")
	re, ok := errors.AsType[*RPCError](err)
	if !ok || re.Code != CodeUnsupported || !strings.Contains(re.Message, "no zones") {
		t.Errorf("FetchZone from a server without zones = %v, want %s", err, CodeUnsupported)
	}
	if got := p.srv.Stats().Fetches; got != 1 {
		t.Errorf("server Fetches = %d, want 1", got)
	}
}
