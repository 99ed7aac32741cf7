package overlay_test

import (
	"context"
	"fmt"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
)

// zoneAnswerer stands in for a node's own dnsfront handler.
type zoneAnswerer struct{}

func (zoneAnswerer) AnswerLocal(ctx context.Context, name string, t uint16, do bool) (*overlay.QueryResponse, error) {
	if name != "www.example." {
		return nil, &overlay.RPCError{Code: overlay.CodeNotFound, Message: "no zone holds " + name}
	}
	return &overlay.QueryResponse{Msg: []byte("dns wire"), Head: []byte("signed head")}, nil
}

func quicHost() host.Host {
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.Transport(libp2pquic.NewTransport),
	)
	if err != nil {
		panic(err)
	}
	return h
}

// A member of the zone's group serves DDNRS-RPC; another node asks it.
// The caller verifies the answer and calls Penalize on the peer if it
// does not verify.
func ExampleClient_Query() {
	ctx := context.Background()
	owner, entry := quicHost(), quicHost()
	defer owner.Close()
	defer entry.Close()

	srv := overlay.NewServer(owner, overlay.ServerOptions{Answerer: zoneAnswerer{}})
	defer srv.Close()

	c := overlay.NewClient(entry, overlay.ClientOptions{})
	providers := []peer.AddrInfo{{ID: owner.ID(), Addrs: owner.Addrs()}}
	resp, from, err := c.Query(ctx, providers, &overlay.QueryRequest{Name: "www.example.", Type: 1, DO: true})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%s from the owner: %v\n", resp.Head, from == owner.ID())

	_, _, err = c.Query(ctx, providers, &overlay.QueryRequest{Name: "www.other.", Type: 1})
	fmt.Println(err)
	// Output:
	// signed head from the owner: true
	// overlay: rpc error not_found: no zone holds www.other.
}
