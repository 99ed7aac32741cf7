package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/loglevel"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/standing"
	"github.com/ddnrs/ddnrs/writes"
)

// Config is one node's configuration, decoded from TOML over Default().
// Only node and cmd read it.
type Config struct {
	// DataDir holds the zone store (zones.db) and, for ddnrs dev, the
	// demo zone's owner key. Required; Default leaves it empty.
	DataDir string `toml:"data_dir"`
	// DNS is the address the DNS servers listen on, TCP and UDP on the same
	// port. Port 0 picks a free port (Node.Addr reports it). Default
	// "127.0.0.1:5300".
	DNS string `toml:"dns"`
	// SignatureWarning: a served zone whose first RRSIG expires within
	// this long is logged as a warning, once per zone and serial (an error
	// once expired); 0 turns it off. Default 240h (10 days, a third of the
	// owner tools' 30-day validity). The gauge
	// ddnrs_zone_signatures_expire_timestamp_seconds shows the date always.
	SignatureWarning time.Duration `toml:"signature_warning"`

	// TCPIdleTimeout closes a DNS-over-TCP connection idle this long
	// (RFC 7766 §6.2.3). Default 10s.
	TCPIdleTimeout time.Duration `toml:"tcp_idle_timeout"`
	// TCPMaxConns caps open DNS-over-TCP connections. Default 1000.
	TCPMaxConns int `toml:"tcp_max_conns"`
	// TCPMaxInflight caps queries answered at once on one TCP connection.
	// Default 32.
	TCPMaxInflight int `toml:"tcp_max_inflight"`
	// TCPMaxConnsPerClient caps the DNS-over-TCP (and DoT) connections of
	// one client (an IPv4 address, an IPv6 /64); at it, or at
	// tcp_max_conns, the longest-idle connection is closed for the
	// newcomer (RFC 7766 §6.2.3). Default 16.
	TCPMaxConnsPerClient int `toml:"tcp_max_conns_per_client"`
	// TCPMaxInflightPerClient caps the queries of one client answered at
	// once over TCP (and DoT), its connections together. Default 64.
	TCPMaxInflightPerClient int `toml:"tcp_max_inflight_per_client"`
	// TCPMaxPendingPerConn caps the octets of replies a TCP, DoT, DoQ or
	// DoH connection holds unread; a client reaching it is cut off. Default
	// 131072 (128 KiB).
	TCPMaxPendingPerConn int `toml:"tcp_max_pending_per_conn"`
	// PendingBudget caps the octets of such replies over all of the
	// node's TCP, DoT, DoQ and DoH connections. Default 67108864 (64 MiB).
	PendingBudget int64 `toml:"pending_budget"`
	// UDPSockets is the number of SO_REUSEPORT sockets for DNS over UDP;
	// 0 means one per CPU the process may run on (its affinity mask when
	// it starts serving: `taskset -c 0 ddnrs node` gets one). Default 0.
	UDPSockets int `toml:"udp_sockets"`
	// UDPWorkers is the number of goroutines reading each UDP socket.
	// Default 2.
	UDPWorkers int `toml:"udp_workers"`
	// MaxUDPSize is the largest UDP reply (EDNS0 buffer cap). Default 1232.
	MaxUDPSize int `toml:"max_udp_size"`
	// RRLRate is the response rate limit on UDP: responses per second to
	// one source prefix for one response (name and type, or zone, or
	// delegation; see dnsfront/rrl.go), beyond which responses are
	// dropped or slipped (dnsfront/rrl.go); 0 turns it off. Default 20.
	RRLRate int `toml:"rrl_rate"`
	// RRLSlip sends every RRLSlip-th response over the rate truncated
	// (TC=1, so a real client retries over TCP), or as BADCOOKIE to a
	// client that sent a cookie; 0 never. Default 2.
	RRLSlip int `toml:"rrl_slip"`
	// RRLIPv4Prefix and RRLIPv6Prefix are the source prefixes counted
	// together. Defaults 24 and 56.
	RRLIPv4Prefix int `toml:"rrl_ipv4_prefix"`
	RRLIPv6Prefix int `toml:"rrl_ipv6_prefix"`
	// RRLExempt lists source prefixes never rate limited. Default
	// ["127.0.0.0/8", "::1/128"]: a forged source cannot reach loopback
	// from the network, and local tools and tests query over it.
	RRLExempt []string `toml:"rrl_exempt"`
	// Cookies answers DNS cookies over UDP (RFC 7873, server cookies per
	// RFC 9018); a client returning a valid server cookie is exempt from
	// RRL. Default true.
	Cookies bool `toml:"cookies"`
	// CookieSecret is the server cookie secret, 32 hex digits; nodes
	// behind one anycast address share it. Default "": random at start.
	CookieSecret string `toml:"cookie_secret"`
	// Dnstap logs every DNS query and its reply in dnstap form
	// (dnsfront.Tap): "unix:PATH", the socket of a collector (`dnstap -u
	// PATH`), dialled again every second while absent, or "file:PATH", a
	// file replaced at start. Queries the writer cannot keep up with are
	// dropped and counted (ddnrs_dns_dnstap_dropped_total). Default "":
	// off.
	Dnstap string `toml:"dnstap"`
	// QueryMetrics counts DNS queries for Prometheus (ddnrs_dns_*: by
	// transport, answer source, rcode, query type and zone, with the time
	// to answer; docs/monitoring.md). Default true.
	QueryMetrics bool `toml:"query_metrics"`
	// QueryTrace answers the query trace option (EDNS 65003,
	// docs/trace-option.md) with each hop's node id and time. Default
	// true.
	QueryTrace bool `toml:"query_trace"`
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string `toml:"log_level"`
	// Encrypted configures DoT, DoH and DoQ (off by default).
	Encrypted EncryptedConfig `toml:"encrypted"`

	// Group is the node's Raft replica group ([group] in TOML).
	Group GroupConfig `toml:"group"`
	// Admin is the admin HTTPS endpoint ([admin] in TOML).
	Admin AdminConfig `toml:"admin"`
	// TLS names the cluster CA and this node's certificate ([tls] in TOML),
	// used by Raft and the admin endpoint, both with mutual TLS 1.3.
	TLS TLSConfig `toml:"tls"`
	// Overlay joins the node to the global overlay ([overlay] in TOML,
	// overlay.go); off by default.
	Overlay OverlayConfig `toml:"overlay"`
	// API is the REST API and web pages ([api] in TOML); off by default.
	API APIConfig `toml:"api"`
	// Registry joins the node to the registry ([registry] in TOML): the
	// registry group's own members, or nodes of other groups that send
	// heartbeats to it and follow its transparency log. Off by default.
	Registry RegistryConfig `toml:"registry"`
	// Metrics is the plain-HTTP listener for Prometheus ([metrics] in
	// TOML, metrics/listen.go); on, on loopback, by default.
	Metrics MetricsConfig `toml:"metrics"`
	// Forward sends recursive queries for names outside DDNRS to
	// upstream resolvers ([forward] in TOML, forward.go); off by default.
	Forward ForwardConfig `toml:"forward"`
}

// DefaultMetricsListen is [metrics] listen's default: loopback only, on
// a port no other default of Config uses.
const DefaultMetricsListen = "127.0.0.1:9153"

// MetricsConfig configures the plain-HTTP metrics listener: GET /metrics
// (the node's Prometheus registry, the same series the admin endpoint
// serves under mutual TLS), /healthz and /readyz, with no client
// certificate, so Prometheus can scrape it. It serves nothing else.
type MetricsConfig struct {
	// Listen is the listener's address; "" or "off" turns it off. Port 0
	// picks a free port (Node.MetricsAddr reports it). Anyone who can
	// reach it reads the metrics (zone counts, peer counts, Raft state):
	// a non-loopback address is logged as a warning at start. Several
	// nodes on one machine need one address each. Default
	// "127.0.0.1:9153" (DefaultMetricsListen).
	Listen string `toml:"listen"`
	// Pprof serves Go's runtime profiles (CPU, heap, goroutines, trace)
	// under /debug/pprof/ on the listener, for profiling a running node
	// (go tool pprof http://127.0.0.1:9153/debug/pprof/profile). Only
	// with a loopback Listen. Default false.
	Pprof bool `toml:"pprof"`
}

// Enabled reports whether the metrics listener is on.
func (c MetricsConfig) Enabled() bool { return c.Listen != "" && c.Listen != "off" }

func (c MetricsConfig) validate() []error {
	if !c.Enabled() {
		return nil
	}
	host, _, err := hostport.Split(c.Listen)
	if err != nil {
		return []error{fmt.Errorf("metrics.listen: %w (or \"off\")", err)}
	}
	if ip, perr := netip.ParseAddr(host); c.Pprof && host != "localhost" && (perr != nil || !ip.IsLoopback()) {
		return []error{fmt.Errorf("metrics.pprof: profiles show the node's internals: give metrics.listen a loopback address (127.0.0.1:9153), not %q", c.Listen)}
	}
	return nil
}

// APIConfig configures the REST API and web pages (package api).
type APIConfig struct {
	// Listen is the address of the REST API and web pages; "" turns
	// them off. Port 0 picks a free port (Node.APIAddr reports it).
	// Plain HTTP unless TLSCert and TLSKey are set. Default "".
	Listen string `toml:"listen"`
	// TLSCert and TLSKey name a PEM certificate chain and key to serve
	// HTTPS with; both or neither. Over HTTPS a client certificate is
	// asked for, not required: one the cluster CA ([tls] ca) issued
	// marks a node (its X-Forwarded-For trusted, its own requests not
	// limited); one of another CA fails the handshake. Default "" (plain
	// HTTP: put a TLS proxy in front; a registry member then trusts
	// X-Forwarded-For from any address of its node directory, insecure).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// TrustProxy honours X-Forwarded-For for the per-IP rate limits; set
	// it only behind a proxy that sets the header. Default false.
	TrustProxy bool `toml:"trust_proxy"`
	// IPPerMinute and IPBurst are the token bucket of each client address
	// on the endpoints used without an API key (and for failed
	// authentications). Cluster nodes' own requests are not limited.
	// Default 120 per minute, burst 40.
	IPPerMinute uint32 `toml:"ip_per_minute"`
	IPBurst     uint32 `toml:"ip_burst"`
	// MaxConns caps the API's open connections; past it new ones are
	// closed at accept, so a flood of the API cannot take the file
	// descriptors DNS and Raft need. Default 0: a quarter of the
	// process's RLIMIT_NOFILE, at most 1024 (api.DefaultMaxConns).
	MaxConns int `toml:"max_conns"`
	// MaxConnsPerIP caps one client's connections (an IPv4 address or an
	// IPv6 /64). Nodes proxying to a registry open at most 16. Default 0:
	// 32; with trust_proxy, max_conns (the proxy limits clients).
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// MaxOpenApplications caps the access applications waiting for
	// review on a registry member (503 applications_full past it).
	// Default 0: 1000 (api.DefaultMaxOpenApplications).
	MaxOpenApplications int `toml:"max_open_applications"`
	// NodeAgreement is the operator agreement's text file community
	// nodes accept, on a registry member: with it, the registry takes
	// community node requests for review (POST /v1/node-requests) whose
	// agreement hash is this file's; NodeAgreementVersion, when set, is
	// the version label they must name. Default "": no community node
	// requests (404).
	NodeAgreement        string `toml:"node_agreement"`
	NodeAgreementVersion string `toml:"node_agreement_version"`
	// ApplicationsPerIPPerDay caps one client's applications per UTC day
	// (an IPv4 address or IPv6 /64; counted per node, in memory). Default
	// 0: 5 (api.DefaultApplicationsPerIPPerDay).
	ApplicationsPerIPPerDay int `toml:"applications_per_ip_per_day"`
	// MaxLeases caps the live ephemeral zones (created with an expiry or
	// idle time) one API key holds on a registry member (409
	// lease_quota past it; the cap travels in each claim). Default 0: 10
	// (api.DefaultMaxLeases).
	MaxLeases int `toml:"max_leases"`
}

// RegistryConfig configures the node's part in the registry.
type RegistryConfig struct {
	// Member says this node's group is the registry group: it holds the
	// applications, keys, claims, node directory and transparency log,
	// and its API serves them. Default false.
	Member bool `toml:"member"`
	// LogKeyFile names the transparency log's signer key (a note signer
	// key, `ddnrs log keygen`); required on registry members. Relative
	// paths are from data_dir. Default "".
	LogKeyFile string `toml:"log_key_file"`
	// LogVerifier is the log's verifier key (note vkey). With it set, the
	// node follows the log: trust anchors of registered zones and the
	// suspended set. Default "" (not following).
	LogVerifier string `toml:"log_verifier"`
	// LogOrigin is the log's checkpoint origin line. Default
	// "ddnrs.registry/log".
	LogOrigin string `toml:"log_origin"`
	// URLs are base URLs of registry members' REST APIs
	// ("https://10.0.0.1:8053"), for nodes of other groups: the log is
	// followed there and the API proxies registry endpoints to them.
	// Over https the node presents its cluster certificate ([tls], which
	// https URLs require) and trusts the cluster CA besides the system's
	// roots: the registry then honours the X-Forwarded-For of the
	// requests it proxies and does not limit its own. Over http the
	// registry can only go by the node's address (insecure). Default none.
	URLs []string `toml:"urls"`
	// Admin lists registry members' admin endpoints (HOST:PORT, mutual
	// TLS with the cluster CA) that a node of another group sends its
	// heartbeats to. Default none (no heartbeats from a non-member).
	Admin []string `toml:"admin"`
	// Region is this node's region, recorded in the node directory and
	// used to place zones claimed with a region. Default "".
	Region string `toml:"region"`
	// FollowInterval is how often the log is polled. Default 5s.
	FollowInterval time.Duration `toml:"follow_interval"`
	// RotationGrace is how long after an owner key change (its log
	// entry's time) the previous owner key still verifies the zone's
	// answers from other groups, unless an answer signed by the new key
	// is verified first (writes/claims.go, logfollow). Default 10m.
	RotationGrace time.Duration `toml:"rotation_grace"`
	// HeartbeatInterval is how often the node reports itself to the
	// node directory. Default 10s.
	HeartbeatInterval time.Duration `toml:"heartbeat_interval"`
	// HeartbeatLease is how old a node's committed directory record may
	// grow before a heartbeat is written to the registry again; between
	// those writes (and changes of the node's addresses) heartbeats only
	// refresh the registry members' memory (node/liveness.go). Default
	// 0: 10 x heartbeat_interval.
	HeartbeatLease time.Duration `toml:"heartbeat_lease"`
	// LeaseCheck is how often the registry's leader looks for ephemeral
	// zones whose lease ran out and tears them down (writes/leases.go).
	// Default 30s (0 also means 30s).
	LeaseCheck time.Duration `toml:"lease_check"`
}

// Enabled reports whether the node takes part in the registry at all
// (heartbeats): a member, or a node that knows members to report to.
func (r RegistryConfig) Enabled() bool { return r.Member || len(r.Admin) > 0 }

// GroupConfig configures the node's membership in its Raft group.
type GroupConfig struct {
	// Name names the group in the registry's node directory, where
	// zones are placed on groups by name: the same on every member of a
	// group and different between groups. Letters, digits, '.', '_' and
	// '-'. Default "default".
	Name string `toml:"name"`
	// ID is the node's Raft server ID, unique in its group: letters,
	// digits, '.', '_' and '-'. Default "node1".
	ID string `toml:"id"`
	// RaftBind is the address Raft listens on (mutual TLS). Port 0 picks
	// a free port. Default "127.0.0.1:7300".
	RaftBind string `toml:"raft_bind"`
	// RaftAdvertise is the address other members dial to reach this
	// node's Raft listener. Empty means the bound address, which must
	// then not be a wildcard (0.0.0.0, ::). Default "".
	RaftAdvertise string `toml:"raft_advertise"`
	// Bootstrap makes a node without Raft state start a new group with
	// itself as its only voter. Ignored when Raft state exists. Default
	// true, so one node on one machine works alone.
	Bootstrap bool `toml:"bootstrap"`
	// Join lists admin addresses of members of an existing group; a node
	// without Raft state asks them in turn to add it until one does.
	// Exclusive with Bootstrap. Default none.
	Join []string `toml:"join"`
	// NonVoter makes Join ask to be added as a non-voting read replica.
	// Default false.
	NonVoter bool `toml:"non_voter"`
	// Community makes the group a community group: its nodes'
	// certificates are community:NAME (issued after the registry's
	// review), and it accepts them as members (clustertls.Policy).
	// Every node of the group sets it. Default false: community
	// certificates are refused.
	Community bool `toml:"community"`
	// Store is the zone store's engine on this node: "bbolt" (one file,
	// data_dir/zones.db) or "pebble" (an LSM directory,
	// data_dir/zones.pebble). Members of one group may differ; a node
	// keeps the engine its data directory was made with (changing it
	// starts from an empty store, refilled from the group's log or a
	// snapshot). Default "bbolt".
	Store string `toml:"store"`
	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and
	// CommitTimeout are hashicorp/raft's timeouts. Defaults
	// raftfsm.DefaultHeartbeatTimeout, DefaultElectionTimeout,
	// DefaultLeaderLeaseTimeout and DefaultCommitTimeout (300ms, 300ms,
	// 150ms, 50ms): a leader on a LAN is replaced in well under a second
	// without spurious elections (bench/README.md).
	HeartbeatTimeout   time.Duration `toml:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `toml:"election_timeout"`
	LeaderLeaseTimeout time.Duration `toml:"leader_lease_timeout"`
	CommitTimeout      time.Duration `toml:"commit_timeout"`
	// ApplyTimeout bounds how long a write waits to be committed before
	// it fails with no_quorum. Default 5s.
	ApplyTimeout time.Duration `toml:"apply_timeout"`
	// ReadyLag is how many entries a member may still have to apply,
	// behind the leader's commit index as of its start, when /readyz
	// first says ready. Default 0: all of them applied.
	ReadyLag uint64 `toml:"ready_lag"`
	// AckWait is how long the leader of a write, once it committed,
	// waits for the other members to have processed it before it
	// answers (read-your-writes: writes/ack.go); the answer lists the
	// members that have it and those that did not in time. Default 1s;
	// 0 answers at commit without asking.
	AckWait time.Duration `toml:"ack_wait"`
	// RemovedCheck is how long a member hears from no leader before it
	// asks the other members whether it was removed from the group
	// (then stops answering for the group's zones as a member), and how
	// often it asks again once removed (standing/removed.go). A leader
	// that removes a member also tells it at once. Default 10s; "-1s":
	// never ask.
	RemovedCheck time.Duration `toml:"removed_check"`
}

// AdminConfig configures the admin HTTPS endpoint (membership, writes,
// snapshots, health and metrics).
type AdminConfig struct {
	// Listen is the admin address. Port 0 picks a free port. Default
	// "127.0.0.1:7400".
	Listen string `toml:"listen"`
	// Advertise is the admin address other members use to reach this
	// node (forwarded writes, member status). Empty means the bound
	// address, which must then not be a wildcard. Default "".
	Advertise string `toml:"advertise"`
	// RequestTimeout bounds every admin request, forwarding included.
	// Default 10s.
	RequestTimeout time.Duration `toml:"request_timeout"`
	// ForwardTimeout bounds one call to another member's admin endpoint
	// (a forwarded write, a status query). Default 7s.
	ForwardTimeout time.Duration `toml:"forward_timeout"`
	// LeaderWait is how long a write waits for a leader to be known (an
	// election, a leader that has not announced its admin address yet)
	// before it fails with no_leader. Default 2s.
	LeaderWait time.Duration `toml:"leader_wait"`
	// Limits bound the zones this node accepts writes for ([admin.limits]).
	Limits ZoneLimits `toml:"limits"`
}

// TLSConfig names PEM files. All three set, or none: with none, the node
// uses (and on first start creates) a private CA and certificate under
// DataDir/tls, which suits a single machine only.
type TLSConfig struct {
	// CA is the cluster CA certificate; peers must present a certificate
	// it signed. Default "".
	CA string `toml:"ca"`
	// Cert is this node's certificate (server and client auth). Default "".
	Cert string `toml:"cert"`
	// Key is the private key of Cert. Default "".
	Key string `toml:"key"`
	// RequireScope refuses peers whose certificates name no group and
	// role (version 1, cluster-wide certificates), and a node certificate
	// of its own without one. Default false, so clusters whose
	// certificates predate scopes keep working; set it once every
	// certificate is reissued with `ddnrs ops cert issue --scope`
	// (docs/architecture.md, "Trust per group and role").
	RequireScope bool `toml:"require_scope"`
	// RenewURL is the issuing service (`ddnrs ops ca serve`) the node
	// renews Cert at, by itself, before it ends (clustertls.Renewer).
	// Default "": no renewal.
	RenewURL string `toml:"renew_url"`
	// RenewBefore renews that long before Cert ends. Default 0: when a
	// third of its lifetime is left.
	RenewBefore time.Duration `toml:"renew_before"`
	// RenewNewKey makes a new key at each renewal, signed by the old one
	// (clustertls.RenewKey); Key is rewritten. Default false: the key is
	// kept.
	RenewNewKey bool `toml:"renew_new_key"`
}

// Auto reports whether no TLS files are named, so the node makes its own.
func (c TLSConfig) Auto() bool { return c.CA == "" && c.Cert == "" && c.Key == "" }

// Default returns the configuration that works on one machine, with
// DataDir left for the caller to set.
func Default() Config {
	return Config{
		DNS:              "127.0.0.1:5300",
		TCPIdleTimeout:   10 * time.Second,
		SignatureWarning: 240 * time.Hour,
		TCPMaxConns:      1000,
		TCPMaxInflight:   32,

		TCPMaxConnsPerClient:    dnsfront.DefaultMaxConnsPerClient,
		TCPMaxInflightPerClient: dnsfront.DefaultMaxInflightPerClient,
		TCPMaxPendingPerConn:    dnsfront.DefaultMaxPendingPerConn,
		PendingBudget:           dnsfront.DefaultPendingBudget,
		UDPSockets:              0,
		UDPWorkers:              2,
		MaxUDPSize:              1232,
		RRLRate:                 dnsfront.DefaultRRLRate,
		RRLSlip:                 dnsfront.DefaultRRLSlip,
		RRLIPv4Prefix:           dnsfront.DefaultRRLIPv4Prefix,
		RRLIPv6Prefix:           dnsfront.DefaultRRLIPv6Prefix,
		RRLExempt:               []string{"127.0.0.0/8", "::1/128"},
		Cookies:                 true,
		QueryMetrics:            true,
		QueryTrace:              true,
		LogLevel:                "info",
		Encrypted:               DefaultEncrypted(),
		Group: GroupConfig{
			Name:               "default",
			ID:                 "node1",
			RaftBind:           "127.0.0.1:7300",
			Bootstrap:          true,
			HeartbeatTimeout:   raftfsm.DefaultHeartbeatTimeout,
			ElectionTimeout:    raftfsm.DefaultElectionTimeout,
			LeaderLeaseTimeout: raftfsm.DefaultLeaderLeaseTimeout,
			CommitTimeout:      raftfsm.DefaultCommitTimeout,
			ApplyTimeout:       raftfsm.DefaultApplyTimeout,
			AckWait:            DefaultAckWait,
			RemovedCheck:       standing.DefaultRemovedCheck,
			Store:              string(raftfsm.BackendBolt),
		},
		Overlay: OverlayConfig{RelayedTTL: DefaultRelayedTTL},
		Admin: AdminConfig{
			Listen:         "127.0.0.1:7400",
			RequestTimeout: 10 * time.Second,
			ForwardTimeout: 7 * time.Second,
			LeaderWait:     2 * time.Second,
			Limits:         DefaultZoneLimits(),
		},
		API:     APIConfig{IPPerMinute: api.DefaultIPPerMinute, IPBurst: api.DefaultIPBurst},
		Metrics: MetricsConfig{Listen: DefaultMetricsListen},
		Forward: DefaultForward(),
		Registry: RegistryConfig{
			LogOrigin:         "ddnrs.registry/log",
			FollowInterval:    5 * time.Second,
			RotationGrace:     10 * time.Minute,
			HeartbeatInterval: 10 * time.Second,
			LeaseCheck:        writes.DefaultLeaseCheck,
		},
	}
}

// ErrUnknownKey is returned (joined, one per key) by LoadConfig when the
// file holds a key Config does not have, typically a typo.
var ErrUnknownKey = errors.New("unknown configuration key")

// LoadConfig reads the TOML file at path over Default() and validates the
// result. Every problem is reported at once: unknown keys (wrapping
// ErrUnknownKey, each named) and every Validate error.
func LoadConfig(path string) (Config, error) {
	c := Default()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	var errs []error
	undecoded := md.Undecoded()
	keys := make([]string, 0, len(undecoded))
	for _, k := range undecoded {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	for _, k := range keys {
		errs = append(errs, fmt.Errorf("%s: %w", k, ErrUnknownKey))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("config %s:\n%w", path, err)
	}
	return c, nil
}

// Validate returns every problem of c at once, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if _, _, err := hostport.Split(c.DNS); err != nil {
		errs = append(errs, fmt.Errorf("dns: %w", err))
	}
	if c.SignatureWarning < 0 {
		errs = append(errs, fmt.Errorf("signature_warning: %v, want >= 0 (0 turns the warning off)", c.SignatureWarning))
	}
	if c.TCPIdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("tcp_idle_timeout: %v, want > 0", c.TCPIdleTimeout))
	}
	if c.TCPMaxConns <= 0 {
		errs = append(errs, fmt.Errorf("tcp_max_conns: %d, want > 0", c.TCPMaxConns))
	}
	if c.TCPMaxInflight <= 0 {
		errs = append(errs, fmt.Errorf("tcp_max_inflight: %d, want > 0", c.TCPMaxInflight))
	}
	if c.UDPSockets < 0 || c.UDPSockets > 256 {
		errs = append(errs, fmt.Errorf("udp_sockets: %d, want 0 (one per CPU) to 256", c.UDPSockets))
	}
	if c.UDPWorkers <= 0 || c.UDPWorkers > 1024 {
		errs = append(errs, fmt.Errorf("udp_workers: %d, want 1 to 1024", c.UDPWorkers))
	}
	if c.MaxUDPSize < 512 || c.MaxUDPSize > 65535 {
		errs = append(errs, fmt.Errorf("max_udp_size: %d, want 512 to 65535", c.MaxUDPSize))
	}
	errs = append(errs, c.validateRRL()...)
	if err := validateDnstap(c.Dnstap); err != nil {
		errs = append(errs, err)
	}
	if _, err := loglevel.Parse(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("log_level: %w", err))
	}
	errs = append(errs, c.Encrypted.validate()...)
	errs = append(errs, c.Group.validate()...)
	errs = append(errs, c.Admin.validate()...)
	errs = append(errs, c.TLS.validate()...)
	errs = append(errs, c.Overlay.validate()...)
	errs = append(errs, c.validateAdmit()...)
	errs = append(errs, c.API.validate()...)
	errs = append(errs, c.Registry.validate()...)
	errs = append(errs, c.Metrics.validate()...)
	errs = append(errs, c.Forward.validate()...)
	if c.TLS.Auto() {
		for i, u := range c.Registry.URLs {
			if strings.HasPrefix(strings.ToLower(u), "https:") {
				errs = append(errs, fmt.Errorf("registry.urls[%d]: %q is https, which needs [tls] (the cluster CA the registry's certificate and this node's are checked against, and the certificate this node presents)", i, u))
			}
		}
	}
	return errors.Join(errs...)
}

func (g GroupConfig) validate() []error {
	var errs []error
	if g.RemovedCheck >= 0 && g.RemovedCheck < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("group.removed_check: %v, want at least 100ms (or negative: never ask)", g.RemovedCheck))
	}
	if g.AckWait < 0 || g.AckWait > admin.MaxProcessedWait {
		errs = append(errs, fmt.Errorf("group.ack_wait: %v, want 0 (do not wait) to %v", g.AckWait, admin.MaxProcessedWait))
	}
	if !admin.ValidID(g.Name) {
		errs = append(errs, fmt.Errorf("group.name: %q, want 1 to 64 letters, digits, '.', '_' or '-'", g.Name))
	}
	if !admin.ValidID(g.ID) {
		errs = append(errs, fmt.Errorf("group.id: %q, want 1 to 64 letters, digits, '.', '_' or '-'", g.ID))
	}
	if _, err := raftfsm.ParseBackend(g.Store); err != nil {
		errs = append(errs, fmt.Errorf("group.store: %w", err))
	}
	errs = append(errs, checkListen("group.raft_bind", g.RaftBind, "group.raft_advertise", g.RaftAdvertise)...)
	if g.Bootstrap && len(g.Join) > 0 {
		errs = append(errs, errors.New("group.bootstrap and group.join: set one, not both"))
	}
	for i, j := range g.Join {
		if _, p, err := hostport.Split(j); err != nil || p == 0 {
			errs = append(errs, fmt.Errorf("group.join[%d]: %q, want HOST:PORT of a member's admin endpoint", i, j))
		}
	}
	if g.NonVoter && len(g.Join) == 0 {
		errs = append(errs, errors.New("group.non_voter: only meaningful with group.join"))
	}
	// hashicorp/raft's own limits (ValidateConfig), reported here at once.
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{
		{"group.heartbeat_timeout", g.HeartbeatTimeout, 5 * time.Millisecond},
		{"group.election_timeout", g.ElectionTimeout, 5 * time.Millisecond},
		{"group.leader_lease_timeout", g.LeaderLeaseTimeout, 5 * time.Millisecond},
		{"group.commit_timeout", g.CommitTimeout, time.Millisecond},
		{"group.apply_timeout", g.ApplyTimeout, time.Millisecond},
	} {
		if d.v < d.min {
			errs = append(errs, fmt.Errorf("%s: %v, want at least %v", d.name, d.v, d.min))
		}
	}
	if g.LeaderLeaseTimeout > g.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("group.leader_lease_timeout: %v, want at most heartbeat_timeout (%v)", g.LeaderLeaseTimeout, g.HeartbeatTimeout))
	}
	if g.ElectionTimeout < g.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("group.election_timeout: %v, want at least heartbeat_timeout (%v)", g.ElectionTimeout, g.HeartbeatTimeout))
	}
	return errs
}

func (a APIConfig) validate() []error {
	var errs []error
	if a.Listen != "" {
		if _, _, err := hostport.Split(a.Listen); err != nil {
			errs = append(errs, fmt.Errorf("api.listen: %w", err))
		}
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		errs = append(errs, errors.New("api.tls_cert and api.tls_key: set both or neither"))
	}
	if a.MaxLeases < 0 {
		errs = append(errs, fmt.Errorf("api.max_leases: %d, want 0 (default) or more", a.MaxLeases))
	}
	if a.MaxOpenApplications < 0 || a.ApplicationsPerIPPerDay < 0 {
		errs = append(errs, fmt.Errorf("api.max_open_applications and api.applications_per_ip_per_day: %d and %d, want 0 (default) or more", a.MaxOpenApplications, a.ApplicationsPerIPPerDay))
	}
	if a.MaxConns < 0 || a.MaxConnsPerIP < 0 {
		errs = append(errs, fmt.Errorf("api.max_conns and api.max_conns_per_ip: %d and %d, want 0 (default) or more", a.MaxConns, a.MaxConnsPerIP))
	}
	if a.IPPerMinute == 0 || a.IPBurst == 0 {
		errs = append(errs, fmt.Errorf("api.ip_per_minute and api.ip_burst: %d and %d, want both > 0", a.IPPerMinute, a.IPBurst))
	}
	return errs
}

func (r RegistryConfig) validate() []error {
	var errs []error
	if r.Member && r.LogKeyFile == "" {
		errs = append(errs, errors.New("registry.log_key_file: required when registry.member is true (the log's signer key, from `ddnrs log keygen`)"))
	}
	if r.LogVerifier != "" {
		if _, err := note.NewVerifier(r.LogVerifier); err != nil {
			errs = append(errs, fmt.Errorf("registry.log_verifier: %w (want the verifier key `ddnrs log keygen` prints)", err))
		}
		if !r.Member && len(r.URLs) == 0 {
			errs = append(errs, errors.New("registry.urls: required to follow the log (registry.log_verifier is set) on a node outside the registry group"))
		}
	}
	if r.LogOrigin == "" || strings.ContainsAny(r.LogOrigin, "\n") {
		errs = append(errs, fmt.Errorf("registry.log_origin: %q, want one non-empty line", r.LogOrigin))
	}
	for i, s := range r.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("registry.urls[%d]: %q, want an http:// or https:// base URL of a registry member's API", i, s))
		}
	}
	for i, a := range r.Admin {
		if _, p, err := hostport.Split(a); err != nil || p == 0 {
			errs = append(errs, fmt.Errorf("registry.admin[%d]: %q, want HOST:PORT of a registry member's admin endpoint", i, a))
		}
	}
	if r.FollowInterval <= 0 {
		errs = append(errs, fmt.Errorf("registry.follow_interval: %v, want > 0", r.FollowInterval))
	}
	if r.RotationGrace < 0 {
		errs = append(errs, fmt.Errorf("registry.rotation_grace: %v, want >= 0 (0: the previous key is dropped at once)", r.RotationGrace))
	}
	if r.LeaseCheck < 0 {
		errs = append(errs, fmt.Errorf("registry.lease_check: %v, want > 0 (or 0 for the default, 30s)", r.LeaseCheck))
	}
	if r.HeartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("registry.heartbeat_interval: %v, want > 0", r.HeartbeatInterval))
	}
	if r.HeartbeatLease < 0 || r.HeartbeatLease > 0 && r.HeartbeatLease < r.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("registry.heartbeat_lease: %v, want at least heartbeat_interval (%v), or 0 for 10 x heartbeat_interval", r.HeartbeatLease, r.HeartbeatInterval))
	}
	return errs
}

func (a AdminConfig) validate() []error {
	errs := checkListen("admin.listen", a.Listen, "admin.advertise", a.Advertise)
	if a.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("admin.request_timeout: %v, want > 0", a.RequestTimeout))
	}
	if a.LeaderWait < 0 || a.LeaderWait >= a.RequestTimeout {
		errs = append(errs, fmt.Errorf("admin.leader_wait: %v, want 0 or more and below request_timeout (%v)", a.LeaderWait, a.RequestTimeout))
	}
	if a.ForwardTimeout <= 0 || a.ForwardTimeout > a.RequestTimeout {
		errs = append(errs, fmt.Errorf("admin.forward_timeout: %v, want > 0 and at most request_timeout (%v)", a.ForwardTimeout, a.RequestTimeout))
	}
	return errs
}

func (c TLSConfig) validate() []error {
	if c.Auto() {
		return nil
	}
	var errs []error
	for _, f := range []struct{ name, v string }{{"tls.ca", c.CA}, {"tls.cert", c.Cert}, {"tls.key", c.Key}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required when any of tls.ca, tls.cert, tls.key is set", f.name))
		}
	}
	if u, err := url.Parse(c.RenewURL); c.RenewURL != "" && (err != nil || u.Scheme != "https" || u.Host == "") || c.RenewBefore < 0 {
		errs = append(errs, fmt.Errorf("tls.renew_url %q, renew_before %v: want the https:// URL of 'ddnrs ops ca serve' and a duration >= 0", c.RenewURL, c.RenewBefore))
	}
	return errs
}

// checkListen checks a listen address and the advertised address that
// goes with it: a wildcard listen address needs an explicit advertise,
// and an advertised address needs a concrete host and port.
func checkListen(name, listen, advName, adv string) []error {
	var errs []error
	host, _, err := hostport.Split(listen)
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if adv == "" {
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			errs = append(errs, fmt.Errorf("%s: %q listens on every address; set %s to the address peers dial", name, listen, advName))
		}
		return errs
	}
	ah, ap, err := hostport.Split(adv)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%s: %w", advName, err))
	case ah == "" || ap == 0:
		errs = append(errs, fmt.Errorf("%s: %q, want a host and a non-zero port", advName, adv))
	default:
		if ip, err := netip.ParseAddr(ah); err == nil && ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("%s: %q is a wildcard, want the address peers dial", advName, adv))
		}
	}
	return errs
}

// validateRRL checks the per-client, rate limiting and cookie keys.
func (c Config) validateRRL() []error {
	var errs []error
	if c.TCPMaxConnsPerClient <= 0 || c.TCPMaxInflightPerClient <= 0 || c.TCPMaxPendingPerConn <= 0 || c.PendingBudget <= 0 {
		errs = append(errs, fmt.Errorf("tcp_max_conns_per_client, tcp_max_inflight_per_client, tcp_max_pending_per_conn, pending_budget: %d, %d, %d, %d, want > 0",
			c.TCPMaxConnsPerClient, c.TCPMaxInflightPerClient, c.TCPMaxPendingPerConn, c.PendingBudget))
	}
	if c.RRLRate < 0 {
		errs = append(errs, fmt.Errorf("rrl_rate: %d, want >= 0 (0: off)", c.RRLRate))
	}
	if c.RRLSlip < 0 {
		errs = append(errs, fmt.Errorf("rrl_slip: %d, want >= 0 (0: never)", c.RRLSlip))
	}
	if c.RRLIPv4Prefix < 1 || c.RRLIPv4Prefix > 32 {
		errs = append(errs, fmt.Errorf("rrl_ipv4_prefix: %d, want 1 to 32", c.RRLIPv4Prefix))
	}
	if c.RRLIPv6Prefix < 1 || c.RRLIPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("rrl_ipv6_prefix: %d, want 1 to 128", c.RRLIPv6Prefix))
	}
	for _, p := range c.RRLExempt {
		if _, err := netip.ParsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("rrl_exempt: %q: want a prefix such as 192.0.2.0/24", p))
		}
	}
	if _, err := c.cookieSecret(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// cookieSecret decodes CookieSecret; nil when it is empty.
func (c Config) cookieSecret() ([]byte, error) {
	if c.CookieSecret == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(c.CookieSecret)
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("cookie_secret: want 32 hex digits (16 octets)")
	}
	return b, nil
}

// rrlOptions is the UDP rate limiting of c for dnsfront.
func (c Config) rrlOptions() dnsfront.RRLOptions {
	slip := c.RRLSlip
	if slip == 0 {
		slip = -1 // dnsfront: negative is never, 0 its default
	}
	var exempt []netip.Prefix
	for _, p := range c.RRLExempt {
		if pp, err := netip.ParsePrefix(p); err == nil {
			exempt = append(exempt, pp)
		}
	}
	return dnsfront.RRLOptions{Rate: c.RRLRate, Slip: slip, IPv4Prefix: c.RRLIPv4Prefix, IPv6Prefix: c.RRLIPv6Prefix, Exempt: exempt}
}

// tcpOptions is the DNS-over-TCP tuning of c, which DoT shares, with the
// node's pending-reply budget.
func (c Config) tcpOptions(budget *dnsfront.Budget) dnsfront.TCPOptions {
	return dnsfront.TCPOptions{
		IdleTimeout:          c.TCPIdleTimeout,
		MaxConns:             c.TCPMaxConns,
		MaxInflight:          c.TCPMaxInflight,
		MaxConnsPerClient:    c.TCPMaxConnsPerClient,
		MaxInflightPerClient: c.TCPMaxInflightPerClient,
		MaxPendingPerConn:    c.TCPMaxPendingPerConn,
		Budget:               budget,
	}
}

// OverlayConfig configures the node's overlay host ([overlay] in TOML).
type OverlayConfig struct {
	// Enabled turns the overlay on. Default false: the node answers only
	// its group's zones and REFUSES others.
	Enabled bool `toml:"enabled"`
	// Listen lists the libp2p multiaddrs to listen on, QUIC only.
	// Default (empty): overlay.DefaultListen, loopback port 0.
	Listen []string `toml:"listen"`
	// Bootstrap lists peers to join the DHT through, as multiaddrs ending
	// in /p2p/ID: several, of several groups, so that any one up is
	// enough. The node also remembers the peers it has seen
	// (data_dir/overlay-peers.json, written every minute and at stop)
	// and joins through those too after a restart. Default none (the
	// first node of an overlay).
	Bootstrap []string `toml:"bootstrap"`
	// TrustAnchors names a file of DNSKEY records, in zone-file form, of
	// the zones whose answers from other groups this node accepts; an
	// answer for a zone without one is refused (SERVFAIL, EDE DNSKEY
	// Missing). Default "" (none). Relative paths are from data_dir.
	TrustAnchors string `toml:"trust_anchors"`
	// CacheBytes caps the verified-answer cache. Default (0):
	// client.DefaultCacheBytes.
	CacheBytes int `toml:"cache_bytes"`
	// Admit says which libp2p peers the overlay accepts as connections,
	// providers and answerers: "directory", only the peers the registry's
	// node directory admitted (the log's node-admission entries, read by
	// this node's follower), or "any". Default "": "directory" when the
	// node follows the registry's log ([registry] log_verifier), else
	// "any" (a node without a registry has no directory to admit by).
	// See node/overlay_admit.go.
	Admit string `toml:"admit"`
	// RelayedTTL bounds how long a verified answer of another group is
	// cached here, whatever its records' TTL: how long this node may go
	// on serving a zone's old data after its owner published a newer
	// serial (read-your-writes across groups, issue 17 item 5). A hot
	// answer is refreshed in the background before it runs out, so the
	// bound costs one query to the zone's group per name and period, not
	// a slower answer. The records keep their own TTL in what is served.
	// Default: DefaultRelayedTTL, 5s (also when 0).
	RelayedTTL time.Duration `toml:"relayed_ttl"`
}

// DefaultRelayedTTL is [overlay] relayed_ttl's default.
const DefaultRelayedTTL = 5 * time.Second

func (o OverlayConfig) validate() []error {
	var errs []error
	if o.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("overlay.cache_bytes: %d, want >= 0", o.CacheBytes))
	}
	if o.RelayedTTL < 0 {
		errs = append(errs, fmt.Errorf("overlay.relayed_ttl: %v, want > 0 (or 0 for the default %v)", o.RelayedTTL, DefaultRelayedTTL))
	}
	if o.Enabled {
		for _, a := range o.Bootstrap {
			if !strings.Contains(a, "/p2p/") {
				errs = append(errs, fmt.Errorf("overlay.bootstrap: %q: want a multiaddr ending in /p2p/ID", a))
			}
		}
	}
	return errs
}
