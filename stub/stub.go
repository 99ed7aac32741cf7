package stub

// stub.go: the Stub, its options, its life cycle and its one query
// handler, which every listener (UDP, TCP, DoH) wraps.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/forward"
	"github.com/ddnrs/ddnrs/internal/floorfile"
	"github.com/ddnrs/ddnrs/zone"
)

// Defaults of Options.
const (
	DefaultListen         = "127.0.0.1:53"
	DefaultTimeout        = 2 * time.Second
	DefaultProbeInterval  = 10 * time.Second
	DefaultFollowInterval = 30 * time.Second
)

// Files the stub keeps in its data directory.
const (
	cacheFile  = "cache.db"     // verified answers (diskcache.go)
	floorsFile = "serials.json" // serial floors (client.MarshalFloors)
	stateFile  = "state.json"   // the registry log followed, and its nodes (follow.go)
)

// ErrBadOptions is wrapped by New's error when Options are not usable.
var ErrBadOptions = errors.New("bad stub options")

// Options configure a Stub. Only DataDir is required, and some source of
// entry nodes and keys: Nodes with Anchors, or the log (LogURL, LogKey).
type Options struct {
	// Listen is the UDP and TCP address clients query. Default
	// DefaultListen (127.0.0.1:53); port 0 picks a free port (Addr).
	Listen string
	// DoH, when set, is the address of a DNS-over-HTTPS listener (RFC
	// 8484, GET and POST on /dns-query) serving DoHCert and DoHKey.
	DoH, DoHCert, DoHKey string
	// DataDir holds the verified-answer cache, the serial floors and the
	// log state. Required.
	DataDir string
	// Nodes are entry nodes' DNS addresses (HOST:PORT), besides those the
	// registry's log lists.
	Nodes []string
	// Region is the stub's region: nodes of the same region (from the
	// log) rank before others. Default "" (no preference).
	Region string
	// Anchors are owner keys pinned by the operator; they win over the
	// log's for the zones they name.
	Anchors client.Anchors
	// LogURL is a node's REST API serving the registry's transparency
	// log; LogKey its verifier, LogOrigin its origin. The log gives the
	// zones' owner keys and the entry nodes (node-admission entries).
	LogURL    string
	LogKey    note.Verifier
	LogOrigin string
	// FollowInterval is how often the log is read. Default 30s.
	FollowInterval time.Duration
	// Upstreams answer names outside DDNRS (package forward); none means
	// REFUSED for them. UpstreamTLS is the base TLS configuration for
	// DoT and DoH upstreams (nil: the system's roots).
	Upstreams   []forward.Upstream
	UpstreamTLS *tls.Config
	// Timeout bounds a DDNRS query. Default 2s.
	Timeout time.Duration
	// ProbeInterval is how often every entry node is measured. Default 10s.
	ProbeInterval time.Duration
	// CacheBytes bounds the in-memory verified-answer cache; 0 is
	// client.DefaultCacheBytes.
	CacheBytes int
	// LogQueries logs one line per answer (name, type, path, verified).
	// Default off: it is the hot path.
	LogQueries bool
	Logger     *slog.Logger
	// Registerer gets the stub's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stub is a running stub resolver. Start it, then Close it.
type Stub struct {
	opt      Options
	log      *slog.Logger
	now      func() time.Time
	verifier *client.Verifier
	cache    *client.Cache
	nodes    *nodeSet
	fwd      *forward.Forwarder
	met      *metrics
	db       *bolt.DB
	writes   chan diskPut
	fol      *follower

	udp  *dns.Server
	tcp  *dns.Server
	doh  *http.Server
	addr net.Addr

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// New checks opt and returns a Stub, not started.
func New(opt Options) (*Stub, error) {
	if opt.Listen == "" {
		opt.Listen = DefaultListen
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.ProbeInterval <= 0 {
		opt.ProbeInterval = DefaultProbeInterval
	}
	if opt.FollowInterval <= 0 {
		opt.FollowInterval = DefaultFollowInterval
	}
	if opt.LogOrigin == "" {
		opt.LogOrigin = "ddnrs.registry/log"
	}
	var errs []error
	if opt.DataDir == "" {
		errs = append(errs, errors.New("a data directory is required"))
	}
	if (opt.LogURL == "") != (opt.LogKey == nil) {
		errs = append(errs, errors.New("the log's URL and key go together"))
	}
	if len(opt.Nodes) == 0 && opt.LogURL == "" {
		errs = append(errs, errors.New("no entry nodes: give nodes, or the registry's log (which lists them)"))
	}
	if len(opt.Anchors) == 0 && opt.LogURL == "" {
		errs = append(errs, errors.New("no owner keys: give trust anchors, or the registry's log (which lists them)"))
	}
	for _, n := range opt.Nodes {
		if _, _, err := net.SplitHostPort(n); err != nil {
			errs = append(errs, fmt.Errorf("node %q: want HOST:PORT: %v", n, err))
		}
	}
	if (opt.DoH != "") && (opt.DoHCert == "" || opt.DoHKey == "") {
		errs = append(errs, errors.New("DoH needs a certificate and its key"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	s := &Stub{opt: opt, log: opt.Logger, now: opt.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.verifier = client.NewVerifier(opt.Anchors, s.now)
	s.cache = client.NewCache(opt.CacheBytes, s.now)
	s.nodes = newNodeSet(opt.Region, s.now)
	s.met = newMetrics(opt.Registerer)
	if len(opt.Upstreams) > 0 {
		f, err := forward.New(forward.Options{Upstreams: opt.Upstreams, TLS: opt.UpstreamTLS, Logger: s.log.With("component", "forward")})
		if err != nil {
			return nil, err
		}
		s.fwd = f
	}
	return s, nil
}

// Start restores the floors, the log state and the cache from the data
// directory, reads the log once (when given; a failure is logged, the
// saved state serves), measures the nodes, and starts the listeners.
func (s *Stub) Start(ctx context.Context) (err error) {
	if err := os.MkdirAll(s.opt.DataDir, 0o700); err != nil {
		return err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if err := floorfile.Keep(filepath.Join(s.opt.DataDir, floorsFile), s.verifier, s.log); err != nil {
		return err
	}
	if s.opt.LogURL != "" {
		f, err := s.newFollower()
		if err != nil {
			return err
		}
		s.fol = f
		if err := f.step(ctx); err != nil {
			s.log.Warn("registry log not read at start; using the saved state", "log", s.opt.LogURL, "err", err)
		}
	}
	s.updateNodes()
	loaded, dropped, err := s.openDisk(filepath.Join(s.opt.DataDir, cacheFile))
	if err != nil {
		return err
	}
	s.log.Info("verified answers loaded from disk", "loaded", loaded, "dropped", dropped)
	s.writes = make(chan diskPut, 1024)
	s.wg.Go(s.writer)
	s.nodes.probe(ctx, s.probeZone(), min(s.opt.Timeout, time.Second))
	if err := s.listen(); err != nil {
		return err
	}
	s.wg.Go(s.background)
	s.log.Info("stub resolver listening", "addr", s.addr.String(), "nodes", len(s.nodes.ranked()), "zones", len(s.zones()))
	return nil
}

// Addr is the UDP and TCP address the stub listens on.
func (s *Stub) Addr() net.Addr { return s.addr }

// Close stops the listeners, then the background work, and closes the
// cache file. It is idempotent.
func (s *Stub) Close(ctx context.Context) error {
	var errs []error
	s.closed.Do(func() {
		if s.doh != nil {
			errs = append(errs, s.doh.Shutdown(ctx))
		}
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if srv != nil {
				errs = append(errs, srv.ShutdownContext(ctx))
			}
		}
		if s.cancel != nil {
			s.cancel()
		}
		if s.writes != nil {
			close(s.writes)
		}
		s.wg.Wait()
		if s.db != nil {
			errs = append(errs, s.db.Close())
		}
		if s.fwd != nil {
			s.fwd.Close()
		}
	})
	return errors.Join(errs...)
}

// background follows the log and probes the nodes until Close.
func (s *Stub) background() {
	probe := time.NewTicker(s.opt.ProbeInterval)
	defer probe.Stop()
	follow := time.NewTicker(s.opt.FollowInterval)
	defer follow.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-probe.C:
			s.nodes.probe(s.ctx, s.probeZone(), min(s.opt.Timeout, time.Second))
		case <-follow.C:
			if s.fol == nil {
				continue
			}
			if err := s.fol.step(s.ctx); err != nil {
				s.log.Debug("registry log poll failed", "err", err)
			}
			s.updateNodes()
		}
	}
}

// zones returns the zones the stub holds an owner key for.
func (s *Stub) zones() []string {
	var out []string
	for z := range s.opt.Anchors {
		out = append(out, z)
	}
	if s.fol != nil {
		for z := range s.fol.anchors() {
			out = append(out, z)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// probeZone is the zone probes ask for: any zone the stub knows.
func (s *Stub) probeZone() string {
	if zs := s.zones(); len(zs) > 0 {
		return zs[0]
	}
	return "."
}

// updateNodes sets the entry nodes: configured ones and the log's.
func (s *Stub) updateNodes() {
	var es []Entry
	for _, n := range s.opt.Nodes {
		es = append(es, Entry{Addr: n})
	}
	if s.fol != nil {
		for _, e := range s.fol.entries() {
			if !slices.ContainsFunc(es, func(x Entry) bool { return x.Addr == e.Addr }) {
				es = append(es, e)
			}
		}
	}
	s.nodes.set(es)
}

// ddnrsName reports whether name lies in a zone the stub holds an owner
// key for: then only a verified answer is served for it.
func (s *Stub) ddnrsName(name string) bool {
	for n := name; n != ""; n = zone.Parent(n) {
		if s.verifier.Anchored(n) {
			return true
		}
		if n == "." {
			break
		}
	}
	return false
}
