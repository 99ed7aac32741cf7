// Package overlay joins the replica groups into one system: one libp2p host
// per node (QUIC transport only, TLS 1.3 with both sides authenticated by
// peer id), a Kademlia DHT under the protocol prefix /ddnrs that maps zone
// keys to the members that hold them (placement), a Router that finds the
// enclosing zone of a name with a cache in front of the DHT, and DDNRS-RPC
// on libp2p streams (/ddnrs/rpc/1). See docs/architecture.md,
// "A query" and "DDNRS-RPC".
package overlay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults for HostOptions.
const (
	// DefaultListen is the listen address used when HostOptions.Listen is
	// empty: QUIC v1 on loopback, a port chosen by the kernel.
	DefaultListen = "/ip4/127.0.0.1/udp/0/quic-v1"
	// DefaultReprovideInterval is how often a host announces its zones
	// again. Provider records expire after 48 h in the DHT; 12 h leaves
	// room for three missed rounds.
	DefaultReprovideInterval = 12 * time.Hour
	// DefaultRetryInterval is how soon a zone whose announcement failed
	// (no peer reachable yet) is announced again.
	DefaultRetryInterval = 10 * time.Second
	// DefaultBootstrapTimeout bounds how long NewHost waits for bootstrap
	// peers to answer and enter the routing table.
	DefaultBootstrapTimeout = 10 * time.Second
)

// keyFileMode is the only permission an identity key file may have.
const keyFileMode fs.FileMode = 0o600

var (
	// ErrKeyPermissions is returned by NewHost when the identity key file
	// is readable or writable by anyone but its owner.
	ErrKeyPermissions = errors.New("overlay: identity key file must have mode 0600")
	// ErrNoKeyFile is returned by NewHost when HostOptions.KeyFile is empty:
	// a node's identity must survive a restart.
	ErrNoKeyFile = errors.New("overlay: no identity key file configured")
	// ErrClosed is returned by Host methods called after Close.
	ErrClosed = errors.New("overlay: host closed")
)

// HostOptions configures NewHost. The zero value of every field except
// KeyFile has a default that works on one machine.
type HostOptions struct {
	// KeyFile is the path of the node's libp2p identity key, kept in the
	// node's data directory. It is created (mode 0600) with a fresh Ed25519
	// key when missing and reused afterwards, so the peer id is stable.
	// Required.
	KeyFile string
	// Listen lists the multiaddrs to listen on; only QUIC v1 addresses are
	// accepted. Default: DefaultListen.
	Listen []string
	// Bootstrap lists the multiaddrs of peers to join through, each ending
	// in /p2p/ID. Empty means this host starts a new overlay; it joins when
	// others bootstrap to it.
	Bootstrap []string
	// Logger receives the host's logs. Default: discard.
	Logger *slog.Logger
	// ReprovideInterval is how often every provided zone is announced
	// again. Default: DefaultReprovideInterval.
	ReprovideInterval time.Duration
	// RetryInterval is how soon a failed announcement is retried.
	// Default: DefaultRetryInterval.
	RetryInterval time.Duration
	// BootstrapTimeout bounds the wait for bootstrap peers in NewHost.
	// Default: DefaultBootstrapTimeout.
	BootstrapTimeout time.Duration
	// AllowPeer, when set, admits only the peers it returns true for, on
	// both dialled and accepted connections (the overlay's membership
	// list), and Router lookups drop providers it refuses. It is called
	// on libp2p's goroutines and must be fast and safe for concurrent
	// use; when its answers change, call Host.Readmit. Default: any peer
	// that speaks QUIC with libp2p TLS.
	AllowPeer func(peer.ID) bool
	// Avoid, when set, reports the peers DHT searches should skip for
	// now: dead or silent ones, as the RPC client's scores say
	// (Scores.Suspect). Default: none skipped.
	Avoid func(peer.ID) bool
}

func (o *HostOptions) defaults() {
	if len(o.Listen) == 0 {
		o.Listen = []string{DefaultListen}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReprovideInterval <= 0 {
		o.ReprovideInterval = DefaultReprovideInterval
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.BootstrapTimeout <= 0 {
		o.BootstrapTimeout = DefaultBootstrapTimeout
	}
}

// Host is one node's presence in the overlay: a libp2p host, its DHT and
// the set of zones it provides. Its methods are safe for concurrent use.
// Close stops every goroutine the Host started and waits for them.
type Host struct {
	opts HostOptions
	log  *slog.Logger
	p2p  host.Host
	dht  *dht.IpfsDHT
	boot []peer.AddrInfo // the configured bootstrap peers

	prov      *providing
	runCtx    context.Context // ends at Close
	rejoining atomic.Bool     // a Readmit's rejoin is running
	bgMu      sync.Mutex      // orders Readmit's wg.Add before Close's wg.Wait

	stop      context.CancelFunc
	closed    atomic.Bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewHost loads or creates the identity key, starts the QUIC-only libp2p
// host and the DHT server, joins through the bootstrap peers and starts
// the re-provide loop. ctx bounds only the start (bootstrap); the Host
// lives until Close. Unreachable bootstrap peers are not an error: the DHT
// retries them while its routing table is empty.
func NewHost(ctx context.Context, opts HostOptions) (*Host, error) {
	opts.defaults()
	if opts.KeyFile == "" {
		return nil, ErrNoKeyFile
	}
	key, err := loadOrCreateKey(opts.KeyFile)
	if err != nil {
		return nil, err
	}
	boot, err := parseBootstrap(opts.Bootstrap)
	if err != nil {
		return nil, err
	}
	for _, l := range opts.Listen {
		m, err := ma.NewMultiaddr(l)
		if err != nil {
			return nil, fmt.Errorf("overlay: listen address %q: %w", l, err)
		}
		if !quicOnly(m) {
			return nil, fmt.Errorf("overlay: listen address %q: %w", l, ErrNotQUIC)
		}
	}
	p2p, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(opts.Listen...),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.ConnectionGater(gater{allow: opts.AllowPeer}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("ddnrs"),
	)
	if err != nil {
		return nil, fmt.Errorf("overlay: start libp2p host: %w", err)
	}
	return start(ctx, p2p, boot, opts)
}

// NewHostOn starts the overlay (the DHT with the settings of NewHost,
// the joining through boot and the re-provide loop) on a libp2p host
// the caller made, with any transport: the simulation (bench/sim) runs
// thousands of them on go-libp2p's mocknet, whose links have a latency.
// opts.KeyFile, Listen, Bootstrap and AllowPeer's connection gater are
// not used (the caller's host has its identity, addresses and gater);
// AllowPeer still filters the routing table, searches and providers.
// The Host closes p2p on Close, also when NewHostOn fails. A node uses
// NewHost.
func NewHostOn(ctx context.Context, p2p host.Host, boot []peer.AddrInfo, opts HostOptions) (*Host, error) {
	opts.defaults()
	return start(ctx, p2p, boot, opts)
}

// start runs the DHT on p2p, joins through boot and starts the
// re-provide loop; it closes p2p when it fails.
func start(ctx context.Context, p2p host.Host, boot []peer.AddrInfo, opts HostOptions) (*Host, error) {
	d, err := newDHT(p2p, boot, opts.Avoid, opts.AllowPeer)
	if err != nil {
		return nil, errors.Join(err, p2p.Close())
	}
	runCtx, stop := context.WithCancel(context.Background())
	h := &Host{
		opts:   opts,
		log:    opts.Logger.With("component", "overlay", "peer", p2p.ID().String()),
		p2p:    p2p,
		dht:    d,
		boot:   boot,
		stop:   stop,
		runCtx: runCtx,
	}
	h.prov = newProviding(h)
	bctx, cancel := context.WithTimeout(ctx, opts.BootstrapTimeout)
	defer cancel()
	h.bootstrap(bctx, boot)
	h.wg.Go(func() { h.prov.run(runCtx) })
	return h, nil
}

// ID returns the host's peer id, derived from its identity key.
func (h *Host) ID() peer.ID { return h.p2p.ID() }

// Addrs returns the host's listen addresses as full multiaddrs ending in
// /p2p/ID, the form HostOptions.Bootstrap takes.
func (h *Host) Addrs() []string {
	ai := peer.AddrInfo{ID: h.p2p.ID(), Addrs: h.p2p.Addrs()}
	full, err := peer.AddrInfoToP2pAddrs(&ai)
	if err != nil {
		return nil
	}
	out := make([]string, len(full))
	for i, m := range full {
		out[i] = m.String()
	}
	return out
}

// AddrInfo returns the host's id and listen addresses.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.p2p.ID(), Addrs: h.p2p.Addrs()}
}

// P2P returns the underlying libp2p host, for registering stream handlers
// (DDNRS-RPC) and opening streams. Callers must not close it; Host.Close
// does.
func (h *Host) P2P() host.Host { return h.p2p }

// DHT returns the host's Kademlia DHT, for measuring it (bench/sim
// follows its searches' query events). Callers must not close it or
// change its options; Host.Close does.
func (h *Host) DHT() *dht.IpfsDHT { return h.dht }

// RoutingTableSize returns how many peers are in the DHT routing table; 0
// means the host has not joined anyone yet.
func (h *Host) RoutingTableSize() int { return h.dht.RoutingTable().Size() }

// Connect dials a peer and waits for the handshake; the DHT adds it to the
// routing table once identify completes.
func (h *Host) Connect(ctx context.Context, ai peer.AddrInfo) error {
	return h.p2p.Connect(ctx, ai)
}

// Admits reports whether AllowPeer admits p (always true without
// AllowPeer).
func (h *Host) Admits(p peer.ID) bool { return gater{allow: h.opts.AllowPeer}.admit(p) }

// Readmit applies a change of AllowPeer's answers: it closes the
// connections of every peer AllowPeer no longer admits and drops them
// from the routing table, and, when the table is then empty, connects to
// the bootstrap peers again in the background (those refused before may
// be admitted now; the DHT itself retries only every few minutes), and
// keeps trying, backing off to rejoinMaxWait, until one joins. It
// returns the peers it disconnected. Safe to call from any goroutine; a
// no-op after Close.
func (h *Host) Readmit() []peer.ID {
	if h.closed.Load() {
		return nil
	}
	var gone []peer.ID
	for _, p := range h.p2p.Network().Peers() {
		if !h.Admits(p) {
			gone = append(gone, p)
			h.dht.RoutingTable().RemovePeer(p)
			if err := h.p2p.Network().ClosePeer(p); err != nil {
				h.log.Debug("closing a peer no longer admitted", "peer", p.String(), "err", err)
			}
		}
	}
	if len(gone) > 0 {
		h.log.Info("disconnected peers no longer admitted", "peers", len(gone))
	}
	if h.dht.RoutingTable().Size() == 0 && len(h.boot) > 0 && h.rejoining.CompareAndSwap(false, true) {
		h.bgMu.Lock()
		defer h.bgMu.Unlock()
		if h.closed.Load() {
			return gone
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer h.rejoining.Store(false)
			h.rejoin()
		}()
	}
	return gone
}

// ConnectPeers dials, in the background, up to max of the peers addrs
// name (multiaddrs ending in /p2p/ID) that AllowPeer admits and this host
// is not connected to: peers just admitted to the membership list, which
// may have refused this host until they admitted it in turn. Failures are
// logged at debug level. A no-op after Close.
func (h *Host) ConnectPeers(addrs []string, max int) {
	infos, err := parseBootstrap(addrs)
	if err != nil {
		h.log.Debug("admitted peers: bad address", "err", err)
		return
	}
	var todo []peer.AddrInfo
	for _, ai := range infos {
		if len(todo) >= max {
			break
		}
		if ai.ID == h.p2p.ID() || !h.Admits(ai.ID) || h.p2p.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		todo = append(todo, ai)
	}
	if len(todo) == 0 {
		return
	}
	h.bgMu.Lock()
	defer h.bgMu.Unlock()
	if h.closed.Load() {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(h.runCtx, h.opts.BootstrapTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, ai := range todo {
			wg.Go(func() {
				if err := h.p2p.Connect(ctx, ai); err != nil {
					h.log.Debug("admitted peer unreachable", "peer", ai.ID.String(), "err", err)
				}
			})
		}
		wg.Wait()
	}()
}

// rejoinMaxWait caps the wait between two rejoin attempts.
const rejoinMaxWait = 30 * time.Second

// rejoin connects to the admitted bootstrap peers until one enters the
// routing table or the host closes, waiting 1 s, then twice as long (up
// to rejoinMaxWait) after each failed round: a peer that just admitted
// this one may not have learned of it yet and refuses it for a while.
func (h *Host) rejoin() {
	wait := time.Second
	for h.dht.RoutingTable().Size() == 0 {
		var admitted []peer.AddrInfo
		for _, ai := range h.boot {
			if h.Admits(ai.ID) {
				admitted = append(admitted, ai)
			}
		}
		if len(admitted) == 0 {
			return // Readmit starts again when the list changes
		}
		ctx, cancel := context.WithTimeout(h.runCtx, h.opts.BootstrapTimeout)
		h.bootstrap(ctx, admitted)
		cancel()
		if h.dht.RoutingTable().Size() > 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-h.runCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, rejoinMaxWait)
	}
}

// Close stops re-providing, leaves the DHT and closes the libp2p host, in
// that order, and waits for every goroutine the Host started. Provider
// records this host put in other peers' DHT stores stay there until they
// expire (48 h); routers skip such peers when their RPC says the zone is
// not held. Close is idempotent.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.bgMu.Lock()
		h.closed.Store(true)
		h.bgMu.Unlock()
		h.stop()
		h.wg.Wait()
		h.closeErr = errors.Join(h.dht.Close(), h.p2p.Close())
	})
	return h.closeErr
}

// loadOrCreateKey reads the libp2p private key at path, or creates a new
// Ed25519 key there (mode 0600) when the file does not exist. The file holds
// the libp2p protobuf encoding of the key, which names its key type.
func loadOrCreateKey(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("overlay: identity key: %w", err)
		}
		if fi.Mode().Perm()&^keyFileMode != 0 {
			return nil, fmt.Errorf("%w: %s has %v", ErrKeyPermissions, path, fi.Mode().Perm())
		}
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("overlay: identity key %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("overlay: identity key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("overlay: generate identity key: %w", err)
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("overlay: encode identity key: %w", err)
	}
	if err := writeNewFile(path, b); err != nil {
		return nil, fmt.Errorf("overlay: write identity key: %w", err)
	}
	return k, nil
}

// writeNewFile writes b to a temporary file beside path with mode 0600,
// syncs it and links it into place, so path is either absent or complete,
// and an existing file is never replaced.
func writeNewFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(keyFileMode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(tmp, path)
}

// ErrNotQUIC is returned when a listen or bootstrap address is not a QUIC
// v1 address: the overlay runs on QUIC only.
var ErrNotQUIC = errors.New("overlay: not a QUIC v1 multiaddr")

// quicOnly reports whether m is an IP/UDP/QUIC-v1 address, with nothing
// but an optional /p2p/ID after it.
func quicOnly(m ma.Multiaddr) bool {
	seenQUIC := false
	for _, c := range m {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6, ma.P_UDP, ma.P_P2P:
		case ma.P_QUIC_V1:
			seenQUIC = true
		default:
			return false
		}
	}
	return seenQUIC
}

// parseBootstrap turns full multiaddrs (ending in /p2p/ID) into AddrInfos,
// one per peer.
func parseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	ms := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("overlay: bootstrap address %q: %w", a, err)
		}
		if !quicOnly(m) {
			return nil, fmt.Errorf("overlay: bootstrap address %q: %w", a, ErrNotQUIC)
		}
		ms = append(ms, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(ms...)
	if err != nil {
		return nil, fmt.Errorf("overlay: bootstrap addresses: %w", err)
	}
	return infos, nil
}

// gater keeps the overlay to itself: only QUIC v1 addresses are dialled or
// accepted (the transport set already ensures that; the gater makes it a
// rule), and, when allow is set, only the peers it admits get past the
// TLS handshake. The DHT protocol prefix /ddnrs keeps IPFS peers that do
// connect from ever entering the routing table.
type gater struct {
	allow func(peer.ID) bool
}

func (g gater) admit(p peer.ID) bool { return g.allow == nil || g.allow(p) }

func (g gater) InterceptPeerDial(p peer.ID) bool { return g.admit(p) }

func (g gater) InterceptAddrDial(p peer.ID, m ma.Multiaddr) bool {
	return g.admit(p) && quicOnly(m)
}

func (g gater) InterceptAccept(c network.ConnMultiaddrs) bool {
	return quicOnly(c.LocalMultiaddr()) && quicOnly(c.RemoteMultiaddr())
}

func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.admit(p)
}

func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
