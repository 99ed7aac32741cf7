// Package node wires a DDNRS node together: configuration, the zone store,
// the registry of served zones, and the DNS servers, with their start and
// stop order.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// Errors returned by Node.
var (
	// ErrPortInUse is returned by Start when the DNS address is taken by
	// another socket. The error names the address.
	ErrPortInUse = errors.New("address already in use")
	// ErrNotRunning is returned by Publish and Stored before Start has
	// succeeded or after Close.
	ErrNotRunning = errors.New("node is not running")
)

// udpRetries is how often Start picks a new port when the DNS port was
// chosen by the kernel (port 0) for TCP and is taken for UDP.
const udpRetries = 5

// Node is one DDNRS node: a zone store in the data directory, the registry
// of the zones it serves, and DNS over UDP and TCP on one address.
//
// Start and Close are called by the owner (cmd, ops, tests), once each;
// Publish, Stored and Addr may be called from any goroutine while it runs.
type Node struct {
	cfg Config
	log *slog.Logger

	zones Zones

	mu      sync.Mutex
	running bool
	closed  bool
	store   *raftfsm.Store
	tcp     *dnsfront.TCPServer
	udp     *dnsfront.UDPServer
	enc     *encrypted     // DoT, DoH and DoQ; nil when not configured
	serving sync.WaitGroup // the two Serve goroutines

	pmu sync.Mutex // serialises Publish, so store and registry agree
}

// New checks cfg and returns a Node that Start will run. log receives the
// node's logs; nil discards them.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{cfg: cfg, log: log}, nil
}

// Start opens the store in the data directory, loads every stored zone
// into the registry, and binds DNS over TCP and then UDP on the same port.
// ctx bounds the start only; the servers run until Close. On error
// everything opened so far is closed again and nothing stored is changed.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running || n.closed {
		return errors.New("node: Start called after Start or Close")
	}
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	store, err := raftfsm.OpenStore(raftfsm.StorePath(n.cfg.DataDir))
	if err != nil {
		return err
	}
	if err := n.load(store); err != nil {
		store.Close()
		return err
	}
	if err := ctx.Err(); err != nil {
		store.Close()
		return err
	}
	h := dnsfront.NewHandler(&n.zones, dnsfront.Options{MaxUDPSize: n.cfg.MaxUDPSize, TCPKeepalive: n.cfg.TCPIdleTimeout})
	tcp, udp, err := n.listen(h)
	if err != nil {
		store.Close()
		return err
	}
	enc, err := n.startEncrypted(h, tcp.Addr().String())
	if err != nil {
		udp.Close()
		tcp.Close()
		store.Close()
		return err
	}
	n.enc = enc
	n.store, n.tcp, n.udp = store, tcp, udp
	n.running = true
	n.serving.Add(2)
	go func() {
		defer n.serving.Done()
		tcp.Serve(context.Background())
	}()
	go func() {
		defer n.serving.Done()
		udp.Serve(context.Background())
	}()
	n.log.Info("dns listening", "addr", tcp.Addr().String(), "zones", len(n.zones.Origins()))
	return nil
}

// load reads every stored zone into the registry.
func (n *Node) load(store *raftfsm.Store) error {
	origins, err := store.List()
	if err != nil {
		return fmt.Errorf("list stored zones: %w", err)
	}
	for _, o := range origins {
		z, err := store.Get(o)
		if err != nil {
			return fmt.Errorf("load zone %s: %w", o, err)
		}
		n.zones.Set(z)
		n.log.Debug("zone loaded", "zone", o, "serial", z.Serial())
	}
	return nil
}

// listen binds TCP first, then UDP on the port TCP got. When the port was
// 0 and the kernel's pick is taken for UDP, it tries another port.
func (n *Node) listen(h *dnsfront.Handler) (*dnsfront.TCPServer, *dnsfront.UDPServer, error) {
	host, port, _ := SplitHostPort(n.cfg.DNS)
	tcpOpt := dnsfront.TCPOptions{
		IdleTimeout: n.cfg.TCPIdleTimeout,
		MaxConns:    n.cfg.TCPMaxConns,
		MaxInflight: n.cfg.TCPMaxInflight,
		Logger:      n.log.With("component", "dns-tcp"),
	}
	udpOpt := dnsfront.UDPOptions{
		Sockets: n.cfg.UDPSockets,
		Workers: n.cfg.UDPWorkers,
		Logger:  n.log.With("component", "dns-udp"),
	}
	for try := 0; ; try++ {
		tcp, err := dnsfront.ListenTCP(n.cfg.DNS, h, tcpOpt)
		if err != nil {
			return nil, nil, listenError(n.cfg.DNS, err)
		}
		udpAddr := net.JoinHostPort(host, strconv.Itoa(int(tcp.Addr().Port())))
		udp, err := dnsfront.ListenUDP(udpAddr, h, udpOpt)
		if err == nil {
			return tcp, udp, nil
		}
		tcp.Close()
		if port != 0 || try >= udpRetries || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, listenError(udpAddr, err)
		}
	}
}

func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("dns %s: %w", addr, ErrPortInUse)
	}
	return err
}

// Addr returns the DNS address bound (TCP and UDP share it). It is the
// zero AddrPort before Start.
func (n *Node) Addr() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tcp == nil {
		return netip.AddrPort{}
	}
	return n.tcp.Addr()
}

// DataDir returns the configured data directory.
func (n *Node) DataDir() string { return n.cfg.DataDir }

// Zones returns the registry of served zones (a dnsfront.Reader).
func (n *Node) Zones() *Zones { return &n.zones }

// Publish stores z, replacing the stored zone of its origin, and serves it
// from the next query on. The store refuses a serial that is not above the
// stored one (raftfsm.ErrStaleSerial) unless the content is the same; on
// any error nothing changes.
func (n *Node) Publish(z *zone.Zone) error {
	n.mu.Lock()
	store := n.store
	n.mu.Unlock()
	if store == nil {
		return ErrNotRunning
	}
	n.pmu.Lock()
	defer n.pmu.Unlock()
	if err := store.Put(z); err != nil {
		return fmt.Errorf("publish %s serial %d: %w", z.Origin, z.Serial(), err)
	}
	n.zones.Set(z)
	n.log.Info("zone published", "zone", z.Origin, "serial", z.Serial())
	return nil
}

// Stored returns the stored zone at origin, or an error wrapping
// raftfsm.ErrNoZone.
func (n *Node) Stored(origin string) (*zone.Zone, error) {
	n.mu.Lock()
	store := n.store
	n.mu.Unlock()
	if store == nil {
		return nil, ErrNotRunning
	}
	return store.Get(origin)
}

// Close stops the node in reverse start order under ctx's deadline: UDP,
// then TCP (queries in flight are answered unless ctx ends first), then
// the store. It is idempotent and returns every error, joined.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if !n.running {
		return nil
	}
	var errs []error
	if err := n.enc.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close encrypted dns: %w", err))
	}
	if err := n.udp.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close dns udp: %w", err))
	}
	if err := n.tcp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close dns tcp: %w", err))
	}
	n.serving.Wait()
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	n.store = nil
	n.log.Info("node stopped")
	return errors.Join(errs...)
}
