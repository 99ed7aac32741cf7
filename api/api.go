// Package api is DDNRS's REST API under /v1: the registry (applications
// for API access, their review, API keys), zones created, changed and
// deleted with owner-signed commands, suspensions, the transparency log and
// its proofs, cluster health, and an audit log of every keyed request,
// written where the request was served and read cluster-wide. The
// OpenAPI 3.0 document describing every endpoint is api/openapi.json,
// served at GET /v1/openapi.json.
//
// The package holds no state of its own besides the audit log and the rate
// limiters: everything else comes from a Backend, which package node
// implements (api must never import node).
package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"golang.org/x/mod/sumdb/note"
)

// Backend is what the API needs from the node it runs in. Its methods are
// called from HTTP handler goroutines, concurrently; none may block
// without honouring ctx.
type Backend interface {
	// Registry returns the local replica's registry state; ErrNotRegistry
	// when this node is not in the registry group.
	Registry() (*raftfsm.RegistryState, error)
	// ProposeRegistry applies an encoded registry command via the
	// registry group's leader and returns when this replica has applied it
	// too (so the caller reads its own write). Rejections are
	// *raftfsm.RejectedError.
	ProposeRegistry(ctx context.Context, cmd []byte) error
	// SubmitZone sends a zone command (raftfsm CreateZone,
	// PublishChange, RotateKey, DeleteZone), decoded once by the API, to
	// group ("" = the group that holds origin: local, or found through
	// the overlay); dryRun checks it against the group's current state
	// without applying. It returns the zone's serial after the command.
	SubmitZone(ctx context.Context, group, origin string, cmd raftfsm.Encoded, dryRun bool) (serial uint32, err error)
	// Zone returns the zone as its group stores it (local replica, or
	// DDNRS-RPC FetchZone); ErrNoZone if there is none.
	Zone(ctx context.Context, origin string) (*zone.Zone, error)
	// Health reports the nodes and groups of the cluster.
	Health(ctx context.Context) (Health, error)
	// LogSigner signs transparency-log checkpoints (nil on nodes outside
	// the registry group).
	LogSigner() note.Signer
	// LogOrigin is the checkpoint origin line (translog.DefaultOrigin
	// unless configured).
	LogOrigin() string
	// Now is the clock: the times of registry commands the API proposes,
	// key expiry and rate limits all read it.
	Now() time.Time
}

// Health is the answer of GET /v1/health.
type Health struct {
	Nodes  []NodeHealth  `json:"nodes"`
	Groups []GroupHealth `json:"groups"`
	// Partial is set when a node outside the registry group answers with
	// its own view (itself and its group) because no registry URL
	// answered, or it knows none.
	Partial bool `json:"partial,omitempty"`
}

// NodeHealth is one node as the registry's directory and its group see it.
type NodeHealth struct {
	ID         string    `json:"id"`
	Group      string    `json:"group"`
	Region     string    `json:"region,omitempty"`
	DNS        string    `json:"dns,omitempty"`
	Admin      string    `json:"admin,omitempty"`
	API        string    `json:"api,omitempty"`
	PeerID     string    `json:"peer_id,omitempty"`
	Transports []string  `json:"transports,omitempty"`
	Seen       time.Time `json:"seen"`
	Healthy    bool      `json:"healthy"`
	Applied    uint64    `json:"applied"`
	Lag        uint64    `json:"lag"`
}

// GroupHealth is one replica group.
type GroupHealth struct {
	Name     string `json:"name"`
	Leader   string `json:"leader,omitempty"`
	Members  int    `json:"members"`
	Healthy  int    `json:"healthy"`
	MaxLag   uint64 `json:"max_lag"`
	Registry bool   `json:"registry"`
	// Load is the RRsets the group holds, as a band
	// (raftfsm.NodeRecord.Load: 0 none, else b with 2^(b-1) <= RRsets <
	// 2^b): the highest its healthy nodes reported in their heartbeats.
	Load uint8 `json:"rrsets_band,omitempty"`
}

// Options configure a Server.
type Options struct {
	// Backend is required.
	Backend Backend
	// Logger; default: discard.
	Logger *slog.Logger
	// DataDir holds audit.db (bbolt), the node-local audit log. Required.
	DataDir string
	// RegistryURLs are registry API base URLs ("http://host:port"); when
	// the Backend says ErrNotRegistry, registry endpoints are
	// reverse-proxied to the first of them. Default: none (503 no_registry).
	RegistryURLs []string
	// RegistryTransport sends the requests proxied to RegistryURLs; give
	// it the node's cluster certificate for https registry URLs, so the
	// registry knows the proxying peer is a node (ClusterCAs). Default
	// http.DefaultTransport.
	RegistryTransport http.RoundTripper
	// TrustProxy honours X-Forwarded-For for per-IP limits from every
	// peer (set it only behind a proxy that sets the header). Default off:
	// the TCP peer's address counts, except for cluster nodes (ClusterCAs,
	// TrustNodeIPs): requests they proxy count against the client's
	// address (their last X-Forwarded-For hop), their own requests (log
	// following) are not limited.
	TrustProxy bool
	// ClusterCAs is the cluster CA: a TLS peer that presented a client
	// certificate it verifies is a cluster node (serve with ServerTLS so
	// that peers are asked for one). Default nil: no peer is a node by
	// its certificate.
	ClusterCAs *x509.CertPool
	// TrustNodeIPs makes every peer whose address is an address of a
	// node in the registry's directory a cluster node, certificate or not.
	// Insecure (anyone who can send from, or share, such an address can
	// choose the address its requests count against, and its own are not
	// limited): only for a registry serving plain HTTP, where nodes have
	// no other way to say who they are. Default false.
	TrustNodeIPs bool
	// RequestTimeout bounds each request's context. Default 30s.
	RequestTimeout time.Duration
	// IPLimits is the token bucket of each client IP (IPv4 address or
	// IPv6 /64) on endpoints without an API key. Default 120 per minute,
	// burst 40.
	IPLimits raftfsm.Limits
	// MaxOpenApplications caps the applications waiting for review
	// (pending or more_info): past it a submission gets 503
	// applications_full. The cap travels in each submission, so the
	// registry's state machine enforces it too. Default
	// DefaultMaxOpenApplications (1000).
	MaxOpenApplications int
	// NodeAgreementSHA256 is the SHA-256 (hex) of the operator agreement
	// community nodes accept ([api] node_agreement): a community node's
	// request must carry it (noderequests.go). Default "": this registry
	// takes no community node requests (404). NodeAgreementVersion, when
	// set, is the version label they must name. The open requests are
	// capped by MaxOpenApplications too.
	NodeAgreementSHA256, NodeAgreementVersion string
	// MaxLeases caps the live ephemeral zones one key made: past it a
	// create with expires or idle gets 409 lease_quota. The cap travels
	// in each claim. Default DefaultMaxLeases (10).
	MaxLeases int
	// MaxSubKeys caps the live sub-keys directly under one key: past it
	// POST /v1/keys gets 409 too_many_keys. The cap travels in each
	// IssueKey, so the registry's state machine enforces it. Default
	// DefaultMaxSubKeys (100).
	MaxSubKeys int
	// ApplicationsPerIPPerDay caps the applications one client address
	// (IPv4, or IPv6 /64) submits through this node per UTC day: past it
	// 429 application_limit. Counted in this node's memory (a restart,
	// or another registry member, starts from zero). Default
	// DefaultApplicationsPerIPPerDay (5).
	ApplicationsPerIPPerDay int
	// NodeID is this node's id: the "node" of its audit records, and the
	// peer AuditPeers may list that is not asked. Default "".
	NodeID string
	// AuditPeers lists the other nodes whose audit logs GET /v1/audit
	// merges with this node's (each asked with ?scope=node and the
	// caller's key). It is called once per cluster-wide read, with the
	// read's PeerTimeout context. Default nil: a read returns this node's
	// records only.
	AuditPeers func(ctx context.Context) ([]Peer, error)
	// PeerTimeout bounds the whole fan-out of a cluster-wide audit read;
	// nodes that have not answered by then are listed as unreachable.
	// Default DefaultPeerTimeout (2s).
	PeerTimeout time.Duration
	// PeerClient sends the fan-out requests. Default: a client of the
	// Server's own (plain HTTP, or HTTPS verified against the system's
	// roots), whose idle connections Close closes.
	PeerClient *http.Client
}

// Default limits.
const (
	DefaultPerMinute      = 60 // per key, when its Limits say 0
	DefaultBurst          = 20
	DefaultIPPerMinute    = 120
	DefaultIPBurst        = 40
	DefaultRequestTimeout = 30 * time.Second

	DefaultMaxOpenApplications     = 1000
	DefaultApplicationsPerIPPerDay = 5
	maxJSONBody                    = 1 << 20  // JSON request bodies
	maxZoneBody                    = 16 << 20 // zone files and commands
)

// Server serves the REST API. Its handler may be served by any number of
// goroutines; Close stops it.
type Server struct {
	b       Backend
	log     *slog.Logger
	opt     Options
	audit   *auditLog
	keys    *limiter
	ips     *limiter
	quota   *dailyQuota // applications per client per day
	proxies []*url.URL
	// proxyNext picks the registry URL to proxy to; a failure moves on.
	proxyNext atomic.Uint32
	// nodeIPs caches the directory's node addresses (clientIP,
	// TrustNodeIPs).
	nodeIPs atomic.Pointer[nodeIPs]
	// peers caches clusterPeer's answer per TLS connection state.
	peersMu sync.Mutex
	peers   map[weak.Pointer[tls.ConnectionState]]bool
	// peerClient reads peers' audit logs (Options.PeerClient).
	peerClient *http.Client
	mux        *http.ServeMux
	handler    http.Handler
	routes     []route
	// open remembers the staged uploads keys began here
	// (handlers_upload.go).
	open uploads
}

// New opens the audit log in opt.DataDir and builds the handler.
func New(opt Options) (*Server, error) {
	if opt.Backend == nil {
		return nil, errors.New("api: Options.Backend is required")
	}
	if opt.DataDir == "" {
		return nil, errors.New("api: Options.DataDir is required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = DefaultRequestTimeout
	}
	if opt.IPLimits.PerMinute == 0 {
		opt.IPLimits.PerMinute = DefaultIPPerMinute
	}
	if opt.IPLimits.Burst == 0 {
		opt.IPLimits.Burst = DefaultIPBurst
	}
	if opt.MaxOpenApplications <= 0 {
		opt.MaxOpenApplications = DefaultMaxOpenApplications
	}
	if opt.MaxLeases <= 0 {
		opt.MaxLeases = DefaultMaxLeases
	}
	if opt.MaxSubKeys <= 0 {
		opt.MaxSubKeys = DefaultMaxSubKeys
	}
	if opt.ApplicationsPerIPPerDay <= 0 {
		opt.ApplicationsPerIPPerDay = DefaultApplicationsPerIPPerDay
	}
	if opt.PeerTimeout <= 0 {
		opt.PeerTimeout = DefaultPeerTimeout
	}
	s := &Server{b: opt.Backend, log: opt.Logger, opt: opt, peerClient: opt.PeerClient}
	if s.peerClient == nil {
		s.peerClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	for _, u := range opt.RegistryURLs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" || pu.Host == "" {
			return nil, fmt.Errorf("api: registry URL %q: want http(s)://host:port", u)
		}
		s.proxies = append(s.proxies, pu)
	}
	a, err := openAudit(opt.DataDir)
	if err != nil {
		return nil, err
	}
	s.audit = a
	s.keys = newLimiter()
	s.ips = newLimiter()
	s.quota = newDailyQuota(opt.ApplicationsPerIPPerDay)
	s.mux = http.NewServeMux()
	s.routes = s.apiRoutes()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	s.mux.HandleFunc("/v1/", s.noRoute)
	s.webRoutes(s.mux)
	s.handler = s.mux
	return s, nil
}

// Handler returns the HTTP handler of the API (and of the web pages).
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the audit log and the idle connections to peers. Requests
// still running fail their audit write; stop the HTTP server first.
func (s *Server) Close() error {
	if s.opt.PeerClient == nil {
		s.peerClient.CloseIdleConnections()
	}
	return s.audit.close()
}

// noRoute answers /v1 requests no route matched: 405 with Allow when the
// path exists with other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); strings.HasPrefix(pattern, m+" ") {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, fmt.Errorf("%w: %s %s; allowed: %s", ErrMethod, r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	s.writeError(w, r, fmt.Errorf("%w: no endpoint %s %s", ErrNotFound, r.Method, r.URL.Path))
}
