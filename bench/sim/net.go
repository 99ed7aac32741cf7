package sim

// net.go: the simulated network. Every node is a real libp2p host on
// go-libp2p's mocknet (p2p/net/mock): streams carry bytes through
// in-memory pipes and every write arrives one link latency later, so a
// request and its answer cost one round trip of the two nodes' regions.
// Mocknet only connects peers that share a link, and linking every pair
// of 3,600 hosts up front would take gigabytes (13 million links); a
// link is made instead when a host first learns a peer's address (its
// peerstore's AddAddrs, which every dial of the DHT and of DDNRS-RPC
// goes through), with the latency of the two regions.

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// Net is the simulated network: a mocknet whose links are made on
// demand with the latency Delay gives for the two peers' regions.
type Net struct {
	mn    mocknet.Mocknet
	delay func(a, b int) time.Duration // one-way latency between regions a and b

	mu     sync.Mutex
	region map[peer.ID]int
	linked map[[2]peer.ID]bool

	links atomic.Int64
}

// newNet returns an empty network; delay gives the one-way latency
// between two regions (the same region included).
func newNet(delay func(a, b int) time.Duration) *Net {
	return &Net{mn: mocknet.New(), delay: delay, region: map[peer.ID]int{}, linked: map[[2]peer.ID]bool{}}
}

// Close closes every host and the mocknet.
func (n *Net) Close() error { return n.mn.Close() }

// Links is how many links were made.
func (n *Net) Links() int64 { return n.links.Load() }

// addHost makes a host in region r whose traffic counts in c.
func (n *Net) addHost(r int, c *Counter) (host.Host, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return nil, err
	}
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		return nil, err
	}
	// An address in 100::/64 (RFC 6666, discard-only), as mocknet's own.
	ip := make(net.IP, net.IPv6len)
	copy(ip, net.ParseIP("100::"))
	copy(ip[net.IPv6len-8:], id[len(id)-8:])
	a, err := ma.NewMultiaddr(fmt.Sprintf("/ip6/%s/tcp/4242", ip))
	if err != nil {
		return nil, err
	}
	ps.AddAddr(id, a, peerstore.PermanentAddrTTL)
	if err := ps.AddPrivKey(id, k); err != nil {
		return nil, err
	}
	if err := ps.AddPubKey(id, k.GetPublic()); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.region[id] = r
	n.mu.Unlock()
	h, err := n.mn.AddPeerWithPeerstore(id, &linkingStore{Peerstore: ps, net: n, self: id})
	if err != nil {
		return nil, err
	}
	return &countingHost{Host: h, c: c, net: n}, nil
}

// delayOf is the one-way latency between a and b.
func (n *Net) delayOf(a, b peer.ID) time.Duration {
	n.mu.Lock()
	ra, oka := n.region[a]
	rb, okb := n.region[b]
	n.mu.Unlock()
	if !oka || !okb {
		return 0
	}
	return n.delay(ra, rb)
}

// link makes the link between a and b when there is none, with the
// latency of their regions. Peers not on the network are ignored.
func (n *Net) link(a, b peer.ID) {
	if a == b {
		return
	}
	key := [2]peer.ID{a, b}
	if b < a {
		key = [2]peer.ID{b, a}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.linked[key] {
		return
	}
	ra, oka := n.region[a]
	rb, okb := n.region[b]
	if !oka || !okb {
		return
	}
	l, err := n.mn.LinkPeers(a, b)
	if err != nil {
		return
	}
	l.SetOptions(mocknet.LinkOptions{Latency: n.delay(ra, rb)})
	n.linked[key] = true
	n.links.Add(1)
}

// linkingStore is a host's peerstore that links the host to every peer
// whose address it learns.
type linkingStore struct {
	peerstore.Peerstore
	net  *Net
	self peer.ID
}

func (s *linkingStore) AddAddr(p peer.ID, a ma.Multiaddr, ttl time.Duration) {
	s.net.link(s.self, p)
	s.Peerstore.AddAddr(p, a, ttl)
}

func (s *linkingStore) AddAddrs(p peer.ID, as []ma.Multiaddr, ttl time.Duration) {
	s.net.link(s.self, p)
	s.Peerstore.AddAddrs(p, as, ttl)
}

func (s *linkingStore) SetAddr(p peer.ID, a ma.Multiaddr, ttl time.Duration) {
	s.net.link(s.self, p)
	s.Peerstore.SetAddr(p, a, ttl)
}

func (s *linkingStore) SetAddrs(p peer.ID, as []ma.Multiaddr, ttl time.Duration) {
	s.net.link(s.self, p)
	s.Peerstore.SetAddrs(p, as, ttl)
}

// Counter counts the bytes a set of hosts' DHT and DDNRS-RPC streams
// carry (identify and the other protocols libp2p runs itself are not
// counted), in both directions, and the streams opened.
type Counter struct {
	Sent, Received, Streams atomic.Int64
}

// Bytes is the total counted, both directions.
func (c *Counter) Bytes() int64 { return c.Sent.Load() + c.Received.Load() }

// countingHost counts the bytes of the streams its owner opens
// (NewStream) and accepts (the handlers it registers), and makes their
// close keep the link's latency (countingStream.CloseWrite).
type countingHost struct {
	host.Host
	c   *Counter
	net *Net
}

func (h *countingHost) wrap(s network.Stream) *countingStream {
	return &countingStream{Stream: s, c: h.c, delay: h.net.delayOf(s.Conn().LocalPeer(), s.Conn().RemotePeer())}
}

func (h *countingHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	h.c.Streams.Add(1)
	return h.wrap(s), nil
}

func (h *countingHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) {
		handler(h.wrap(s))
	})
}

func (h *countingHost) SetStreamHandlerMatch(pid protocol.ID, m func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, m, func(s network.Stream) {
		handler(h.wrap(s))
	})
}

// countingStream counts its bytes. Mocknet delays each write by the
// link's latency, but a close delivers what is still buffered at once
// (mock_stream.go, transport: a write under 256 bytes waits in a
// buffer for its timer, and the close drains the buffer): a DDNRS-RPC
// exchange, which writes a small frame and closes, would cross the
// link in no time. So CloseWrite and Close wait until the last write
// has arrived.
type countingStream struct {
	network.Stream
	c     *Counter
	delay time.Duration

	mu        sync.Mutex
	lastWrite time.Time
}

func (s *countingStream) arrived() {
	s.mu.Lock()
	due := s.lastWrite.Add(s.delay)
	s.mu.Unlock()
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

func (s *countingStream) CloseWrite() error {
	s.arrived()
	return s.Stream.CloseWrite()
}

func (s *countingStream) Close() error {
	s.arrived()
	return s.Stream.Close()
}

func (s *countingStream) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	s.c.Received.Add(int64(n))
	return n, err
}

func (s *countingStream) Write(b []byte) (int, error) {
	n, err := s.Stream.Write(b)
	s.c.Sent.Add(int64(n))
	s.mu.Lock()
	s.lastWrite = time.Now()
	s.mu.Unlock()
	return n, err
}
