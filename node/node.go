// Package node wires a DDNRS node together: configuration, the zone store
// owned by the Raft state machine, the Raft group, the set of served
// zones (Served), the DNS servers and the admin endpoint, with their start and stop
// order.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/clustertls"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/logfollow"
	"github.com/ddnrs/ddnrs/metrics"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/standing"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// Errors returned by Node.
var (
	// ErrPortInUse is returned by Start when the DNS address is taken by
	// another socket. The error names the address.
	ErrPortInUse = errors.New("address already in use")
	// ErrNotRunning is returned by Publish, Submit and Stored before Start
	// has succeeded or after Close began. It is an admin.ErrUnavailable
	// (errors.Is), so the admin endpoint answers unavailable.
	ErrNotRunning error = notRunning{}
	// ErrNoLeaderYet is what /readyz reports while the group has no known
	// leader.
	ErrNoLeaderYet = errors.New("raft group has no leader")
)

// notRunning is ErrNotRunning.
type notRunning struct{}

func (notRunning) Error() string        { return "node is not running" }
func (notRunning) Is(target error) bool { return target == admin.ErrUnavailable }

// udpRetries is how often Start picks a new port when the DNS port was
// chosen by the kernel (port 0) for TCP and is taken for UDP.
const udpRetries = 5

// Node is one DDNRS node: a member of a Raft replica group whose state
// machine owns the zone store in the data directory, the set of the
// zones it serves (Served) (kept current by the state machine), DNS over UDP and
// TCP on one address, and the admin HTTPS endpoint.
//
// Start and Close are called by the owner (cmd, ops, tests), once each;
// Publish, Submit, Stored, Addr and the other accessors may be called from
// any goroutine while it runs. DNS answers come from the registry and
// never wait on Raft.
type Node struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	live intergroup.Liveness // last heartbeats seen, on a registry member (node/liveness.go)

	served Served
	sigs   *metrics.Signatures // first signature expiry per served zone: gauge and warnings

	standing   *standing.Standing  // caught up, still a member (readiness.go); made by Start
	removedIDs standing.RemovedIDs // node ids the registry log removed: joins refused (follow.go)

	mu      sync.Mutex
	running bool
	closed  bool
	closing bool // set first by Close: readiness off
	store   *raftfsm.Store
	fsm     *raftfsm.FSM
	group   *raftfsm.Group
	tcp     *dnsfront.TCPServer
	udp     *dnsfront.UDPServer
	enc     *encrypted // DoT, DoH and DoQ; nil when not configured
	admin   *admin.Server
	client  *admin.Client
	serving sync.WaitGroup // the Serve goroutines of the listeners

	bgStop context.CancelFunc // stops the background loops (join, announce)
	bg     sync.WaitGroup

	dnsh *dnsfront.Handler // the query handler; Close stops its other-group pool
	fwd  *forwarding       // [forward]; nil when off (forward.go)
	obs  dnsObservers      // its metrics and dnstap log (dnsobserve.go)
	// budget bounds the replies the TCP, DoT and DoQ servers hold for
	// clients that do not read (pending_budget); made by Start.
	budget *dnsfront.Budget
	ov     atomic.Pointer[intergroup.Overlay] // nil unless [overlay] enabled (overlay.go)

	// Registry (registry.go, follow.go, api.go).
	susp       dnsfront.SuspendSet               // zones suspended by the registry's log
	logAnchors atomic.Pointer[client.Anchors]    // owner keys from the registry's log
	logGroups  atomic.Pointer[map[string]string] // zone -> group, from the registry's log
	signer     note.Signer                       // the log's signer; nil off the registry group
	fol        *logfollow.Follower               // nil without [registry] log_verifier
	admission  *intergroup.Admission             // overlay admission (overlay_admit.go)
	routes     intergroup.Directory              // zones' members from the registry's log (intergroup/directory.go)
	trust      *clustertls.Policy                // which cluster certificates it accepts, for what
	renewer    *clustertls.Renewer               // renews the certificate ([tls] renew_url), or nil
	api        *apiServer                        // nil without [api] listen
	metricsSrv *metrics.Server                   // nil when [metrics] listen is off

	writes *writes.Path // the write path (write.go), made by New
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
	n := &Node{cfg: cfg, log: log}
	n.admission = &intergroup.Admission{
		Directory: cfg.overlayAdmit() == AdmitDirectory, Overlay: n.ov.Load, Log: log,
		Poll: func() {
			if f := n.fol; f != nil {
				f.Nudge()
			}
		},
	}
	n.trust = &clustertls.Policy{Group: cfg.Group.Name, RegistryMember: cfg.Registry.Member, RequireScope: cfg.TLS.RequireScope, Community: cfg.Group.Community, Log: log}
	n.sigs = metrics.NewSignatures(&n.served)
	n.metrics = metrics.New(n.raftStats, intergroup.NewCollector(n.ov.Load), n.sigs)
	n.writes = n.newWrites()
	return n, nil
}

// Metrics returns the node's metrics (its own Prometheus registry).
func (n *Node) Metrics() *Metrics { return n.metrics }

// Start opens the store under the Raft state machine, loads every stored
// zone into the registry, opens the Raft group (bootstrapping or joining
// as configured), binds DNS over TCP and then UDP on the same port, and
// binds the admin endpoint. ctx bounds the start only; the node runs until
// Close. On error everything opened so far is closed again.
//
// Once running, the node announces its admin and DNS addresses to the
// group (a SetMember command, through the leader) and, when configured to
// join and not yet a member, asks the join addresses to add it; both
// retry in the background until they succeed or Close.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running || n.closed {
		return errors.New("node: Start called after Start or Close")
	}
	// On failure, undo in reverse order whatever was opened.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	serverTLS, clientTLS, err := n.loadTLS()
	if err != nil {
		return err
	}
	apiLn, err := n.listenAPI()
	if err != nil {
		return err
	}
	if apiLn != nil {
		undo = append(undo, func() { apiLn.Close() })
	}
	metricsLn, err := n.listenMetrics()
	if err != nil {
		return err
	}
	if metricsLn != nil {
		undo = append(undo, func() { metricsLn.Close() })
	}
	backend, err := raftfsm.ParseBackend(n.cfg.Group.Store)
	if err != nil {
		return err
	}
	store, err := raftfsm.OpenStoreBackend(raftfsm.BackendStorePath(n.cfg.DataDir, backend), backend)
	if err != nil {
		return err
	}
	undo = append(undo, func() { store.Close() })
	// NewFSM loads the stored zones and hands each to onZone, so DNS
	// serves what this replica has before Raft is even up.
	fsm, err := raftfsm.NewFSM(store, raftfsm.FSMOptions{
		Logger: n.log.With("component", "fsm"),
		OnZone: n.onZone,
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g := n.cfg.Group
	grp, err := raftfsm.OpenGroup(ctx, raftfsm.GroupOptions{
		ID:                 g.ID,
		Dir:                filepath.Join(n.cfg.DataDir, "raft"),
		Bind:               g.RaftBind,
		Advertise:          g.RaftAdvertise,
		TLS:                serverTLS,
		Bootstrap:          g.Bootstrap,
		Logger:             n.log.With("component", "raft"),
		HeartbeatTimeout:   g.HeartbeatTimeout,
		ElectionTimeout:    g.ElectionTimeout,
		LeaderLeaseTimeout: g.LeaderLeaseTimeout,
		CommitTimeout:      g.CommitTimeout,
		ApplyTimeout:       g.ApplyTimeout,
		FSM:                fsm,
	})
	if err != nil {
		return fmt.Errorf("raft group: %w", err)
	}
	n.trust.SetConns(grp) // revoked certificates' Raft connections are closed
	undo = append(undo, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		grp.Close(cctx)
	})
	if n.cfg.Registry.Member {
		sg, err := translog.LoadSigner(n.path(n.cfg.Registry.LogKeyFile))
		if err != nil {
			return fmt.Errorf("registry.log_key_file: %w", err)
		}
		n.signer = sg
	}
	if n.cfg.Registry.LogVerifier != "" {
		// Anchors and suspensions from the saved state, before DNS serves.
		fol, err := n.newFollower()
		if err != nil {
			return err
		}
		n.fol = fol
	}
	var others dnsfront.OtherGroups // nil without the overlay
	var reader dnsfront.Reader = &n.served
	if n.cfg.Overlay.Enabled {
		ov, err := n.startOverlay(ctx, fsm)
		if err != nil {
			return err
		}
		n.ov.Store(ov)
		if a := n.logAnchors.Load(); a != nil {
			ov.Verifier().SetLogAnchors(*a)
		}
		if n.fol != nil {
			n.fol.PreviousTo(ov.Verifier())
		}
		ov.ProvideAll()
		undo = append(undo, func() { n.ov.Store(nil); ov.Close() })
		others = ov
		reader = ov.Reader() // without the child zones other groups hold

	}
	if n.cfg.Forward.Enabled() {
		fw, err := n.startForward(others) // forward.go
		if err != nil {
			return err
		}
		undo = append(undo, fw.fw.Close)
		n.fwd, others = fw, fw
	}
	hopt, err := n.handlerOptions(others) // dnsobserve.go
	if err != nil {
		return err
	}
	h := dnsfront.NewHandler(reader, hopt)
	undo = append(undo, func() { h.Close(); n.closeObservers() })
	n.dnsh = h
	n.budget = dnsfront.NewBudget(n.cfg.PendingBudget)
	tcp, udp, err := n.listen(h)
	if err != nil {
		return err
	}
	undo = append(undo, func() { udp.Close(); tcp.Close() })
	enc, err := n.startEncrypted(h, tcp.Addr().String())
	if err != nil {
		return err
	}
	undo = append(undo, func() { enc.Close(context.Background()) })
	client := admin.NewClient(clientTLS)
	n.store, n.fsm, n.group, n.client = store, fsm, grp, client
	n.standing = n.newStanding()
	adm, err := admin.Listen(n.cfg.Admin.Listen, n.trust.AdminServer(serverTLS), n.adminOptions())
	if err != nil {
		n.store, n.fsm, n.group, n.client = nil, nil, nil, nil
		return err
	}
	n.tcp, n.udp, n.admin = tcp, udp, adm
	n.enc = enc
	n.running = true
	apiSrv, err := n.startAPI(apiLn)
	if err != nil {
		n.running = false
		n.tcp, n.udp, n.admin, n.enc = nil, nil, nil, nil
		n.store, n.fsm, n.group, n.client = nil, nil, nil, nil
		adm.CloseUnserved() // not serving yet
		return err
	}
	n.api = apiSrv
	n.metricsSrv = metrics.Serve(metricsLn, n.metrics.Registry(), n.ready, n.cfg.Metrics.Pprof, n.log)
	n.serving.Add(3)
	go func() {
		defer n.serving.Done()
		tcp.Serve(context.Background())
	}()
	go func() {
		defer n.serving.Done()
		udp.Serve(context.Background())
	}()
	go func() {
		defer n.serving.Done()
		adm.Serve()
	}()
	bctx, stop := context.WithCancel(context.Background())
	n.bgStop = stop
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.membership(bctx)
	}()
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.standing.Run(bctx)
	}()
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.sigs.Watch(bctx, n.cfg.SignatureWarning, n.log)
	}()
	if n.cfg.Registry.Enabled() {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			n.heartbeats(bctx)
		}()
	}
	if n.fol != nil {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			n.fol.Run(bctx, n.cfg.Registry.FollowInterval)
		}()
	}
	if r := n.renewer; r != nil {
		n.bg.Add(1)
		go func() { defer n.bg.Done(); r.Run(bctx) }()
	}
	if n.cfg.Registry.Member {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			n.writes.RunLeases(bctx, n.cfg.Registry.LeaseCheck) // writes/leases.go
		}()
	}
	n.bg.Add(1)
	go func() { defer n.bg.Done(); n.writes.RunAcks(bctx) }() // writes/ack.go
	n.log.Info("node started", "id", g.ID, "group", g.Name, "dns", tcp.Addr().String(), "admin", adm.Addr(), "raft", grp.Addr(), "api", n.apiAddrLocked(), "metrics", n.metricsSrv.Addr(), "zones", len(n.served.Origins()))
	return nil
}

// onZone keeps the registry in step with the state machine. It runs on
// the FSM's goroutine; Served.Set and Delete never block on readers.
func (n *Node) onZone(origin string, z *zone.Zone) {
	if z == nil {
		n.served.Delete(origin)
		n.log.Info("zone no longer served", "zone", origin)
		if ov := n.ov.Load(); ov != nil {
			ov.OnZone(origin, nil)
		}
		return
	}
	n.served.Set(z)
	n.log.Debug("zone updated", "zone", origin, "serial", z.Serial())
	if ov := n.ov.Load(); ov != nil {
		ov.OnZone(origin, z)
	}
}

// listen binds TCP first, then UDP on the port TCP got. When the port was
// 0 and the kernel's pick is taken for UDP, it tries another port.
func (n *Node) listen(h *dnsfront.Handler) (*dnsfront.TCPServer, *dnsfront.UDPServer, error) {
	host, port, _ := hostport.Split(n.cfg.DNS)
	tcpOpt := n.cfg.tcpOptions(n.budget)
	tcpOpt.Logger = n.log.With("component", "dns-tcp")
	secret, _ := n.cfg.cookieSecret() // checked by Validate
	udpOpt := dnsfront.UDPOptions{
		Sockets:      n.cfg.UDPSockets,
		Workers:      n.cfg.UDPWorkers,
		RRL:          n.cfg.rrlOptions(),
		CookieSecret: secret,
		Logger:       n.log.With("component", "dns-udp"),
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

// ID returns the node's Raft server ID.
func (n *Node) ID() string { return n.cfg.Group.ID }

// AdminAddr returns the admin endpoint's advertised address (the
// configured admin.advertise, else the bound address); "" before Start.
func (n *Node) AdminAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.adminAddrLocked()
}

func (n *Node) adminAddrLocked() string {
	if n.cfg.Admin.Advertise != "" {
		return n.cfg.Admin.Advertise
	}
	if n.admin == nil {
		return ""
	}
	return n.admin.Addr()
}

// RaftAddr returns the address other members dial for Raft; "" before
// Start.
func (n *Node) RaftAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.group == nil {
		return ""
	}
	return n.group.Addr()
}

// DataDir returns the configured data directory.
func (n *Node) DataDir() string { return n.cfg.DataDir }

// Served returns the zones this node serves (a dnsfront.Reader).
func (n *Node) Served() *Served { return &n.served }

// Stored returns the local replica's zone at origin (a suspended zone
// too), or an error wrapping raftfsm.ErrNoZone.
func (n *Node) Stored(origin string) (*zone.Zone, error) {
	n.mu.Lock()
	fsm := n.fsm
	n.mu.Unlock()
	if fsm == nil {
		return nil, ErrNotRunning
	}
	origin = zone.CanonicalName(origin)
	st, ok := fsm.Zone(origin)
	if !ok || st.Zone == nil {
		return nil, fmt.Errorf("%s: %w", origin, raftfsm.ErrNoZone)
	}
	return st.Zone, nil
}

// lookupMember returns the addresses member id announced (SetMember).
func (n *Node) lookupMember(id string) (admin.MemberAddrs, bool) {
	n.mu.Lock()
	fsm := n.fsm
	n.mu.Unlock()
	if fsm == nil {
		return admin.MemberAddrs{}, false
	}
	m, ok := fsm.Member(id)
	return admin.MemberAddrs{Admin: m.Admin, DNS: m.DNS}, ok
}

// ready reports why the node is not ready, or nil: the store is open, the
// listeners are bound, Close has not begun, the state machine has not
// halted (a store that failed to write, an unknown command: it serves a
// frozen state until restarted), and Raft knows a leader.
func (n *Node) ready() error {
	n.mu.Lock()
	running, closing, grp, st, fsm := n.running, n.closing, n.group, n.standing, n.fsm
	n.mu.Unlock()
	if !running || closing {
		return ErrNotRunning
	}
	if err := st.Removed(); err != nil {
		return err
	}
	if err := fsm.Halted(); err != nil {
		return err // serving a frozen state until restarted (raftfsm.ErrHalted)
	}
	if id, _ := grp.Leader(); id == "" {
		return ErrNoLeaderYet
	}
	return st.Ready()
}

// Ready reports whether /readyz would answer 200 (see ready).
func (n *Node) Ready() error { return n.ready() }

// raftStats feeds the metrics collector.
func (n *Node) raftStats() (metrics.RaftStats, bool) {
	n.mu.Lock()
	grp := n.group
	n.mu.Unlock()
	if grp == nil {
		return metrics.RaftStats{}, false
	}
	st := grp.Stats()
	id, _ := grp.Leader()
	var lc time.Duration
	if id != n.cfg.Group.ID && !st.LastContact.IsZero() {
		lc = time.Since(st.LastContact)
	}
	return metrics.RaftStats{
		State: fmt.Sprint(st.State), Term: st.Term, LastIndex: st.LastIndex,
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		LastContact: lc, HasLeader: id != "",
	}, true
}

// Close stops the node in reverse start order under ctx's deadline:
// readiness off; the background loops stopped; the admin endpoint
// drained; DNS over UDP, then TCP (queries in flight are answered unless
// ctx ends first); leadership handed to another voter if this node leads;
// Raft shut down; the store closed last. It is idempotent and returns
// every error, joined.
func (n *Node) Close(ctx context.Context) error { return n.close(ctx, true) }

// CloseGroup stops nodes that make up a whole group stopping together
// (as `ddnrs dev` stops its members): the leader first, without handing
// leadership over, since no member would be left to take it, then the
// others at once. The followers stop before they miss the leader's
// heartbeats, so no election starts and nothing logs an error. It
// returns every error, joined.
func CloseGroup(ctx context.Context, nodes []*Node) error {
	var errs []error
	rest := make([]*Node, 0, len(nodes))
	for _, n := range nodes {
		if !n.leads() {
			rest = append(rest, n)
		} else if err := n.close(ctx, false); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.ID(), err))
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.close(ctx, false); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", n.ID(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// leads reports whether this running node is its group's leader.
func (n *Node) leads() bool {
	n.mu.Lock()
	g := n.group
	running := n.running && !n.closed
	n.mu.Unlock()
	if !running || g == nil {
		return false
	}
	id, _ := g.Leader()
	return id == n.cfg.Group.ID
}

// close is Close; handOver says whether a leader transfers leadership
// first.
func (n *Node) close(ctx context.Context, handOver bool) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed, n.closing = true, true
	running := n.running
	n.mu.Unlock()
	if !running {
		return nil
	}
	var errs []error
	n.bgStop()
	n.bg.Wait()
	if err := n.api.shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close api: %w", err))
	}
	if err := n.admin.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close admin: %w", err))
	}
	if err := n.metricsSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close metrics: %w", err))
	}
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
	n.dnsh.Close()
	if n.fwd != nil {
		n.fwd.fw.Close()
	}
	n.closeObservers() // dnsobserve.go: the dnstap log, once no query is answered
	if ov := n.ov.Load(); ov != nil {
		// Leave the DHT before Raft shuts down (docs/architecture.md, "Conventions the code relies on").
		if err := ov.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close overlay: %w", err))
		}
	}
	n.client.CloseIdle()
	if handOver {
		if err := n.handOver(ctx); err != nil {
			// Not fatal: the others elect a leader after the election timeout.
			n.log.Warn("leadership not handed over", "err", err)
		}
	}
	if err := n.group.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close raft: %w", err))
	}
	n.mu.Lock()
	store := n.store
	n.store, n.fsm = nil, nil
	n.mu.Unlock()
	if err := store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// handOver transfers leadership when this node leads and another voter
// exists, so writes stall for a transfer (milliseconds) rather than an
// election timeout.
func (n *Node) handOver(ctx context.Context) error {
	if id, _ := n.group.Leader(); id != n.cfg.Group.ID {
		return nil
	}
	members, err := n.group.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.Voter && m.ID != n.cfg.Group.ID {
			return n.group.TransferLeadership(ctx, "")
		}
	}
	return nil
}
