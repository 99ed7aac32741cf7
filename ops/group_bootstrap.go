package ops

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/translog"
)

// bootstrapOptions are the flags of `ddnrs ops group bootstrap`.
type bootstrapOptions struct {
	Out       string   // --out DIR
	Members   int      // --members N
	NonVoters int      // --nonvoters N: the last N members are read replicas
	IPs       []string // --ip, one for all members or one per member
	DNSPort   int
	RaftPort  int
	AdminPort int
	Output    string

	CA     string // --ca DIR: an existing cluster CA
	Name   string // --name GROUP: [group] name, member IDs GROUP-1..
	Region string // --region R: [registry] region

	Overlay        bool     // --overlay
	OverlayPort    int      // --overlay-port: base QUIC port
	BootstrapPeers []string // --bootstrap-peer MULTIADDR

	Registry      bool     // --registry: this group is the registry
	RegistryURLs  []string // --registry-urls
	RegistryAdmin []string // --registry-admin
	APITLS        bool     // --api-tls: [api] over https with each member's cluster certificate
	LogVerifier   string   // --log-verifier VKEY|FILE
	APIPort       int      // --api-port: base REST API port
	apiPortSet    bool     // --api-port was given

	DNSTLS     bootstrapDNSOptions // DoT, DoH and DoQ (group_bootstrap_dns.go)
	From       []string            // --from FILE|DIR: earlier bootstraps' records (group_bootstrap_from.go)
	InstallDir string              // --install-dir PATH: where members' directories are copied on their machines

	CertValidity time.Duration // --cert-validity: the members' certificates (0: a year)
	RenewURL     string        // --renew-url: [tls] renew_url, the issuing service
	community    bool          // [group] community (node request --scope community:G)
	Requests     []string      // --request FILE: members' own certificate requests (group_bootstrap_request.go)

	out, errOut io.Writer
}

// Files bootstrap writes besides the members' directories.
const (
	bootstrapRegistryDir = "registry"    // DIR/registry: the log's keys
	bootstrapLogKey      = "log.key"     // signer key (0600), also in each member's directory
	bootstrapLogPub      = "log.pub"     // verifier key
	bootstrapOverlayKey  = "overlay.key" // in data_dir: intergroup.KeyFile, the overlay host's identity key file
)

func newGroupBootstrapCmd() *cobra.Command {
	opts := &bootstrapOptions{}
	cmd := &cobra.Command{
		Use:   "bootstrap --out DIR",
		Short: "Write the CA, certificates and node configurations of a new group",
		Long: `Write everything a new replica group needs into DIR: a cluster CA
(DIR/ca), for each member a certificate and a node configuration
(DIR/ID/node.toml), and an operator certificate for the ops commands
(DIR/ops). Member 1 bootstraps the group; every other member joins it by
itself on first start (group.join), as a voter or, for the last
--nonvoters members, as a read replica.

The members' certificates name their group and role (member:NAME, or
registry:NAME with --registry): another group's Raft and admin endpoint
refuse them. The operator certificate is operator:* (every group
bootstrapped into DIR with this CA shares it); give other operators
narrower ones with 'ddnrs ops cert issue --scope operator:NAME'.

With one --ip, every member listens on it, member N on the base ports + N-1;
with one --ip per member, each member uses its own address and the base
ports. Then start each member with 'ddnrs node --config DIR/ID/node.toml'.
Nothing is overwritten: DIR/ca (unless --ca) and DIR/ID must not exist.

Members that make their own keys ('ddnrs node request --id NAME-N --scope
member:NAME --ip IP ...' on each machine) send their node.csr; give them in
member order with --request (one per member): each member's certificate is
issued for its own key, and bootstrap writes no key (DIR/ID/node.toml names
DIR/ID/node.key: the member's own key goes there).
Members on other machines: with --install-dir PATH (e.g. /var/lib/ddnrs)
each DIR/ID is self-contained and names its files under PATH/ID; copy it
there on the member's machine and run contrib/systemd/ddnrs-node@.service
(docs/operator-guide.md walks through it).

Bootstrap also writes DIR/bootstrap-NAME.json (what --output json prints);
a later group's --from DIR reads it, so the next bootstrap needs no values
copied by hand.

Every member serves DNS over TLS, HTTPS and QUIC too (--no-encrypted: not),
with a serving-only certificate for its IP, localhost and each --dns-name,
issued by the DNS-facing CA: --dns-ca DIR ('ddnrs ops ca init'), or a new
one in DIR/dns-ca. Clients verify against its ca.crt (kdig +tls-ca=, curl
--cacert). It is never the cluster CA: those keys sit on public listeners.
DoT listens on --dot-port (853), DoH on --doh-port (443), DoQ on --doq-port
(853, UDP), + N-1 like the other ports; members on a loopback address take
free ports unless a port is given ('ddnrs node' prints them). A
publicly trusted certificate (ACME) replaces dns/node.crt and node.key in
a member's directory: the node reads them again when they change.

A cluster of several groups with a registry: every group's certificates
must come from one cluster CA (heartbeats and DDNRS-RPC use mutual TLS), so
bootstrap the registry group first and give the later groups its CA with
--ca DIR/ca (or --from DIR, which also fills the registry's URLs, admin
endpoints, log verifier and overlay peers); name every group (--name; member IDs are NAME-1, NAME-2, ...,
unique across the cluster).

  --registry makes the group the registry: [registry] member = true, the
  transparency log's signer key made in DIR/registry/log.key (0600, copied
  to each member's directory), its verifier key in DIR/registry/log.pub,
  and the REST API on --api-port (default 8053) + N-1.
  Other groups follow it with --registry-urls (the members' API URLs),
  --registry-admin (their admin endpoints, for heartbeats) and
  --log-verifier (DIR/registry/log.pub, or the key itself); bootstrap
  prints these values for the registry group.

  --api-tls serves the members' REST API over https with their cluster
  certificates ([api] tls_cert, tls_key), so the URLs printed for
  --registry-urls are https: nodes of other groups then reach the
  registry over mutual TLS (they present their own cluster certificates,
  and the registry trusts the client addresses of the requests they
  proxy). Over http the registry can only recognise nodes by their
  addresses, which it logs as insecure. Browsers and API clients reaching
  a member directly need the cluster CA (DIR/ca/ca.crt), or a TLS proxy
  with a public certificate in front (trust_proxy).

  --overlay turns the overlay on, listening on QUIC at --overlay-port
  (default 4001) + N-1. Bootstrap makes each member's overlay identity in
  its data directory (data/overlay.key), so its multiaddr (/p2p/ID) is known
  before it starts: it is printed, and each member bootstraps through the
  other members of its group (up to 8) and every --bootstrap-peer given.
  Give other groups several of the printed multiaddrs, of several groups,
  with --bootstrap-peer (repeated): a node joins through any one that is
  up, and it remembers the peers it has seen (data/overlay-peers.json),
  so after a restart it also rejoins through those. A node that follows
  the registry's log (--registry, or --log-verifier) admits to its overlay
  only the peers the registry's node directory admitted ([overlay] admit =
  "directory", the default then): a new node is accepted by the others
  once its first heartbeat is logged and they have read it, within one
  heartbeat_interval plus one follow_interval.`,
		Example: `  # seven members on 127.0.0.1-127.0.0.7, ports 5300 (DNS), 7300 (Raft), 7400 (admin)
  ddnrs ops group bootstrap --out cluster --members 7 --ip 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7
  ddnrs node --config cluster/node1/node.toml

  # three voters and a read replica on one address, consecutive ports
  ddnrs ops group bootstrap --out cluster --members 4 --nonvoters 1

  # a cluster of three groups: the registry and two regions, 3 members each
  ddnrs ops group bootstrap --out reg --name reg --registry --api-tls --overlay \
      --members 3 --ip 10.0.0.1,10.0.0.2,10.0.0.3
  #   (prints reg-1's overlay multiaddr, /ip4/10.0.0.1/udp/4001/quic-v1/p2p/12D3KooW...)
  ddnrs ops group bootstrap --out eu --name eu --region eu --from reg --overlay \
      --members 3 --ip 10.1.0.1,10.1.0.2,10.1.0.3
  ddnrs ops group bootstrap --out us --name us --region us --from reg --from eu --overlay \
      --members 3 --ip 10.2.0.1,10.2.0.2,10.2.0.3

  # the same by hand (what --from fills in)
  ddnrs ops group bootstrap --out us --name us --region us --ca reg/ca \
      --members 3 --ip 10.2.0.1,10.2.0.2,10.2.0.3 \
      --registry-urls https://10.0.0.1:8053,https://10.0.0.2:8053,https://10.0.0.3:8053 \
      --registry-admin 10.0.0.1:7400,10.0.0.2:7400,10.0.0.3:7400 \
      --log-verifier reg/registry/log.pub \
      --overlay --bootstrap-peer /ip4/10.0.0.1/udp/4001/quic-v1/p2p/12D3KooW... \
      --bootstrap-peer /ip4/10.1.0.1/udp/4001/quic-v1/p2p/12D3KooW...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			opts.apiPortSet = cmd.Flags().Changed("api-port")
			opts.DNSTLS.portsSet = cmd.Flags().Changed("dot-port") || cmd.Flags().Changed("doh-port") || cmd.Flags().Changed("doq-port")
			if !cmd.Flags().Changed("members") && len(opts.IPs) > 1 {
				opts.Members = len(opts.IPs) // one member per --ip given
			}
			return runBootstrap(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "directory to write the CA, certificates and configurations to (required)")
	f.IntVar(&opts.Members, "members", 5, "number of members (default: one per --ip when several are given, else 5)")
	f.IntVar(&opts.NonVoters, "nonvoters", 0, "how many of the members (the last ones) are non-voting read replicas")
	f.StringSliceVar(&opts.IPs, "ip", []string{"127.0.0.1"}, "`IP` address for all members, or one per member (comma-separated or repeated)")
	f.IntVar(&opts.DNSPort, "dns-port", 5300, "base DNS port")
	f.IntVar(&opts.RaftPort, "raft-port", 7300, "base Raft port")
	f.IntVar(&opts.AdminPort, "admin-port", 7400, "base admin port")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	f.StringVar(&opts.CA, "ca", "", "reuse the cluster CA in `DIR` (an earlier bootstrap's DIR/ca, or 'ddnrs ops ca init') instead of making one, e.g. --ca reg/ca")
	f.StringVar(&opts.Name, "name", "", "the group's `NAME` ([group] name, unique in the cluster); member IDs become NAME-1, NAME-2, ... (default: group \"default\", IDs node1, node2, ...), e.g. --name eu")
	f.StringVar(&opts.Region, "region", "", "the members' `REGION` ([registry] region), reported in heartbeats for placement, e.g. --region eu")
	f.BoolVar(&opts.Overlay, "overlay", false, "turn the overlay on; each member's identity is made now, so its multiaddr is printed")
	f.IntVar(&opts.OverlayPort, "overlay-port", 4001, "base overlay (QUIC, UDP) port")
	f.StringArrayVar(&opts.BootstrapPeers, "bootstrap-peer", nil, "overlay `MULTIADDR` (ending in /p2p/ID) of another group's member to join through (repeatable), e.g. --bootstrap-peer /ip4/10.0.0.1/udp/4001/quic-v1/p2p/12D3KooW...")
	f.BoolVar(&opts.Registry, "registry", false, "make this group the registry: member = true, a new log key in DIR/registry, the REST API on --api-port")
	f.StringSliceVar(&opts.RegistryURLs, "registry-urls", nil, "the registry members' REST API `URLs` (not with --registry), as the registry's bootstrap printed them; https (the registry bootstrapped with --api-tls) for mutual TLS, e.g. --registry-urls https://10.0.0.1:8053,https://10.0.0.2:8053")
	f.StringSliceVar(&opts.RegistryAdmin, "registry-admin", nil, "the registry members' admin endpoints `HOST:PORT,...`, for heartbeats (not with --registry), e.g. --registry-admin 10.0.0.1:7400")
	f.StringVar(&opts.LogVerifier, "log-verifier", "", "the registry log's verifier key, or a `FILE` holding it (the registry's DIR/registry/log.pub), to follow the log (needs --registry-urls)")
	f.IntVar(&opts.APIPort, "api-port", 8053, "base REST API port: on with --registry, or when given")
	addBootstrapDNSFlags(cmd, &opts.DNSTLS)
	f.DurationVar(&opts.CertValidity, "cert-validity", 0, "how long the members' certificates are valid, e.g. 72h (default a year); short-lived ones need --renew-url")
	f.StringArrayVar(&opts.Requests, "request", nil, "a member's certificate request `FILE` (its node.csr from 'ddnrs node request --id NAME-N --scope member:NAME'), one per member in order: its certificate is issued for the member's own key and no key is written")
	f.StringVar(&opts.RenewURL, "renew-url", "", "the issuing service ('ddnrs ops ca serve') the members renew their certificates at, `https://HOST:PORT` ([tls] renew_url)")
	f.StringArrayVar(&opts.From, "from", nil, "an earlier bootstrap's --out `DIR` (or its bootstrap-GROUP.json), repeatable: fills --ca, --registry-urls, --registry-admin and --log-verifier from the registry's, and --bootstrap-peer with up to 3 overlay multiaddrs of each, e.g. --from reg --from eu")
	f.StringVar(&opts.InstallDir, "install-dir", "", "the absolute `PATH` each member's directory DIR/ID is copied to on its machine: the configurations name their files under PATH/ID, and each member's directory gets its own copy of the CA certificate (default: DIR itself, for members run where bootstrap ran), e.g. --install-dir /var/lib/ddnrs")
	f.BoolVar(&opts.APITLS, "api-tls", false, "serve the REST API over https with each member's cluster certificate (with --registry or --api-port): nodes of other groups reach the registry over mutual TLS")
	return cmd
}

// bootstrapMember is one member bootstrap wrote.
type bootstrapMember struct {
	ID       string `json:"id"`
	DNS      string `json:"dns"`
	Admin    string `json:"admin"`
	Raft     string `json:"raft"`
	API      string `json:"api,omitempty"`     // REST API base URL
	Overlay  string `json:"overlay,omitempty"` // overlay multiaddr with /p2p/ID
	NonVoter bool   `json:"non_voter,omitempty"`
	Config   string `json:"config"`

	listen    string   // overlay listen multiaddr
	encrypted string   // the [encrypted] section ("" without)
	boot      []string // overlay bootstrap peers
	join      []string // admin endpoints to ask to join the group through
	logKey    string   // the log's signer key file (registry members)
	dataDir   string
}

// bootstrapJSON is what --output json prints.
type bootstrapJSON struct {
	CA          string            `json:"ca"`
	DNSCA       string            `json:"dns_ca,omitempty"` // the CA of the DNS-facing certificates (DoT, DoH, DoQ)
	Cert        string            `json:"cert"`
	Key         string            `json:"key"`
	Group       string            `json:"group,omitempty"`
	Registry    bool              `json:"registry,omitempty"`
	LogKey      string            `json:"log_key,omitempty"`      // DIR/registry/log.key
	LogVerifier string            `json:"log_verifier,omitempty"` // the verifier key itself
	Members     []bootstrapMember `json:"members"`
	Warning     string            `json:"warning,omitempty"`
}

// bootstrapPlan is what runBootstrap checked and derived from the flags
// before writing anything.
type bootstrapPlan struct {
	ips  []net.IP
	span int    // port offset step: members on one IP take consecutive ports
	vkey string // --log-verifier, read from its file when one was named
}

// checkBootstrap validates the flags and returns the plan.
func checkBootstrap(opts *bootstrapOptions) (*bootstrapPlan, error) {
	if err := checkOutput(opts.Output); err != nil {
		return nil, err
	}
	if opts.Out == "" {
		return nil, usagef("--out DIR is required")
	}
	if opts.Members < 1 || opts.Members > 100 {
		return nil, usagef("--members %d: want 1 to 100", opts.Members)
	}
	if opts.NonVoters < 0 || opts.NonVoters >= opts.Members {
		return nil, usagef("--nonvoters %d: want 0 to %d (at least one voter)", opts.NonVoters, opts.Members-1)
	}
	if len(opts.IPs) != 1 && len(opts.IPs) != opts.Members {
		return nil, usagef("--ip: give one address for all members or one per member (%d), not %d", opts.Members, len(opts.IPs))
	}
	pl := &bootstrapPlan{ips: make([]net.IP, len(opts.IPs))}
	for i, s := range opts.IPs {
		if pl.ips[i] = net.ParseIP(s); pl.ips[i] == nil {
			return nil, usagef("--ip %q is not an IP address", s)
		}
	}
	span := opts.Members
	if len(pl.ips) > 1 {
		span = 1
	}
	pl.span = span
	ports := []struct {
		name string
		v    int
	}{{"--dns-port", opts.DNSPort}, {"--raft-port", opts.RaftPort}, {"--admin-port", opts.AdminPort}}
	if opts.Overlay {
		ports = append(ports, struct {
			name string
			v    int
		}{"--overlay-port", opts.OverlayPort})
	}
	if opts.Registry || opts.apiPortSet {
		ports = append(ports, struct {
			name string
			v    int
		}{"--api-port", opts.APIPort})
	}
	for _, p := range ports {
		if p.v < 1 || p.v+span-1 > 65535 {
			return nil, usagef("%s %d: want 1 to %d", p.name, p.v, 65536-span)
		}
	}
	if opts.Name != "" && !validGroupName(opts.Name) {
		return nil, usagef("--name %q: want 1 to 60 letters, digits, '.', '_' or '-'", opts.Name)
	}
	if !opts.Overlay && len(opts.BootstrapPeers) > 0 {
		return nil, usagef("--bootstrap-peer needs --overlay")
	}
	for _, a := range opts.BootstrapPeers {
		if !strings.HasPrefix(a, "/") || !strings.Contains(a, "/p2p/") {
			return nil, usagef("--bootstrap-peer %q: want a multiaddr ending in /p2p/ID, as bootstrap printed for the other group", a)
		}
	}
	if opts.APITLS && !opts.Registry && !opts.apiPortSet {
		return nil, usagef("--api-tls needs the REST API: --registry or --api-port")
	}
	if opts.Registry {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--registry-urls", len(opts.RegistryURLs) > 0}, {"--registry-admin", len(opts.RegistryAdmin) > 0}, {"--log-verifier", opts.LogVerifier != ""}} {
			if f.set {
				return nil, usagef("%s is for the groups outside the registry: --registry makes the log's keys and serves the API itself", f.name)
			}
		}
	}
	for _, s := range opts.RegistryURLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--registry-urls %q: want the http:// or https:// base URL of a registry member's API", s)
		}
	}
	for _, a := range opts.RegistryAdmin {
		if _, p, err := hostport.Split(a); err != nil || p == 0 {
			return nil, usagef("--registry-admin %q: want HOST:PORT of a registry member's admin endpoint", a)
		}
	}
	if opts.LogVerifier != "" {
		if len(opts.RegistryURLs) == 0 {
			return nil, usagef("--log-verifier needs --registry-urls: the log is followed through the registry's API")
		}
		v := opts.LogVerifier
		if b, err := os.ReadFile(v); err == nil { // else the key itself
			v = strings.TrimSpace(string(b))
		}
		if _, err := translog.NewVerifier(v); err != nil {
			return nil, usagef("--log-verifier %q: %v (want the key in the registry's DIR/registry/log.pub, or that file)", opts.LogVerifier, err)
		}
		pl.vkey = v
	}
	if opts.CertValidity < 0 || opts.CertValidity > 0 && opts.CertValidity < time.Minute {
		return nil, usagef("--cert-validity %v: want at least 1m (or 0 for a year)", opts.CertValidity)
	}
	if u, err := url.Parse(opts.RenewURL); opts.RenewURL != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
		return nil, usagef("--renew-url %q: want the https:// URL 'ddnrs ops ca serve' printed", opts.RenewURL)
	}
	if err := checkBootstrapDNS(&opts.DNSTLS, span); err != nil {
		return nil, err
	}
	if opts.Region != "" && !opts.Registry && len(opts.RegistryAdmin) == 0 {
		return nil, usagef("--region needs --registry or --registry-admin: the region is reported to the registry in heartbeats")
	}
	return pl, nil
}

// validGroupName reports whether name is a [group] name whose member
// IDs (name-1 .. name-100) are valid IDs too.
func validGroupName(name string) bool {
	if name == "" || len(name) > 60 {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0
}

// memberID is the ID of member i (from 0) of a group named name.
func memberID(name string, i int) string {
	if name == "" {
		return devMemberID(i)
	}
	return name + "-" + strconv.Itoa(i+1)
}

func runBootstrap(ctx context.Context, opts *bootstrapOptions) error {
	if err := checkInstallDir(opts.InstallDir); err != nil {
		return err
	}
	if err := applyFrom(opts); err != nil {
		return err
	}
	pl, err := checkBootstrap(opts)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return err
	}
	// Nothing is overwritten, and nothing is written when something is
	// in the way: members, the log key and the CA are checked first.
	for i := 0; i < opts.Members; i++ {
		if err := mustBeAbsent(filepath.Join(out, memberID(opts.Name, i))); err != nil {
			return withHint(err, "bootstrap never overwrites a member: choose another --out or --name")
		}
	}
	if err := mustBeAbsent(bootstrapRecord(out, opts.Name)); err != nil {
		return withHint(err, "this group was bootstrapped into DIR already: choose another --out or --name")
	}
	if opts.Registry {
		if err := mustBeAbsent(filepath.Join(out, bootstrapRegistryDir, bootstrapLogKey)); err != nil {
			return withHint(err, "bootstrap never overwrites a key: choose another --out")
		}
	}
	reqs, err := bootstrapRequests(opts, pl.ips)
	if err != nil {
		return err
	}
	dnsGiven, dnsGivenPath, err := givenDNSCA(&opts.DNSTLS)
	if err != nil {
		return err
	}
	res := bootstrapJSON{Group: opts.Name, Registry: opts.Registry}
	var ca *pki.CA
	if opts.CA != "" {
		caDir, err := filepath.Abs(opts.CA)
		if err != nil {
			return err
		}
		if ca, err = pki.LoadCA(caDir); err != nil {
			return withHint(fmt.Errorf("--ca %s: %w", opts.CA, err), "--ca must name a CA directory (ca.crt and ca.key): an earlier bootstrap's DIR/ca, or one made by 'ddnrs ops ca init'")
		}
		res.CA = filepath.Join(caDir, pki.CACertFile)
	} else {
		caDir := filepath.Join(out, "ca")
		if err := mustBeAbsent(caDir); err != nil {
			return withHint(err, "bootstrap never overwrites a CA: choose another --out, or reuse the CA with --ca %s", caDir)
		}
		if ca, err = pki.NewCA("ddnrs cluster CA"); err != nil {
			return err
		}
		if err := ca.Save(caDir); err != nil {
			return withHint(err, "bootstrap never overwrites a CA: choose another --out, or reuse the CA with --ca %s", caDir)
		}
		res.CA = filepath.Join(caDir, pki.CACertFile)
	}
	var dnsCA *pki.CA
	if !opts.DNSTLS.Off && opts.DNSTLS.ACME == "" {
		if dnsCA, res.DNSCA, err = bootstrapDNSCA(&opts.DNSTLS, dnsGiven, dnsGivenPath, out, ca); err != nil {
			return err
		}
	}
	// An operator certificate already in DIR/ops (another group
	// bootstrapped into DIR with --ca) is kept when this CA issued it.
	opsReused, err := reusableOps(filepath.Join(out, "ops"), ca)
	if err != nil {
		return err
	}
	var skey string
	if opts.Registry {
		var vkey string
		if skey, vkey, err = translog.GenerateKey(translog.DefaultOrigin); err != nil {
			return err
		}
		dir := filepath.Join(out, bootstrapRegistryDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		res.LogKey, res.LogVerifier = filepath.Join(dir, bootstrapLogKey), vkey
		if err := writeNewMode(res.LogKey, []byte(skey+"\n"), 0o600); err != nil {
			return withHint(err, "bootstrap never overwrites a key: choose another --out")
		}
		if err := writeNew(filepath.Join(dir, bootstrapLogPub), []byte(vkey+"\n")); err != nil {
			return err
		}
	} else {
		res.LogVerifier = pl.vkey
	}
	var join []string
	for i := 0; i < opts.Members; i++ {
		ip, off := pl.ips[0], i
		if len(pl.ips) > 1 {
			ip, off = pl.ips[i], 0
		}
		host := ip.String()
		m := bootstrapMember{
			ID:       memberID(opts.Name, i),
			DNS:      net.JoinHostPort(host, strconv.Itoa(opts.DNSPort+off)),
			Admin:    net.JoinHostPort(host, strconv.Itoa(opts.AdminPort+off)),
			Raft:     net.JoinHostPort(host, strconv.Itoa(opts.RaftPort+off)),
			NonVoter: i >= opts.Members-opts.NonVoters,
		}
		if opts.Registry || opts.apiPortSet {
			scheme := "http://"
			if opts.APITLS {
				scheme = "https://"
			}
			m.API = scheme + net.JoinHostPort(host, strconv.Itoa(opts.APIPort+off))
		}
		dir := filepath.Join(out, m.ID)
		m.dataDir = filepath.Join(dir, "data")
		if reqs != nil {
			// The member's own key (group_bootstrap_request.go).
			if err := saveRequested(ca, reqs[i], opts, dir); err != nil {
				return withHint(err, "bootstrap never overwrites a member: choose another --out or --name")
			}
		} else if p, err := pki.IssueScoped(ca, m.ID, memberScope(opts), pki.IssueOptions{IPs: []net.IP{ip}, DNSNames: []string{"localhost"}, Validity: opts.CertValidity}); err != nil {
			return err
		} else if err := p.Save(dir); err != nil {
			return withHint(err, "bootstrap never overwrites a member: choose another --out or --name")
		}
		if !opts.DNSTLS.Off {
			if m.encrypted, err = bootstrapDNSMember(ctx, &opts.DNSTLS, dnsCA, m.ID, dir, ip, off); err != nil {
				return err
			}
		}
		if opts.Registry {
			m.logKey = filepath.Join(dir, bootstrapLogKey)
			if err := writeNewMode(m.logKey, []byte(skey+"\n"), 0o600); err != nil {
				return err
			}
		}
		if opts.Overlay {
			if m.listen, m.Overlay, err = overlayIdentity(m.dataDir, ip, opts.OverlayPort+off); err != nil {
				return err
			}
		}
		m.Config = filepath.Join(dir, "node.toml")
		m.join = slices.Clone(join)
		if i == 0 || !m.NonVoter && len(join) < 3 {
			join = append(join, m.Admin)
		}
		res.Members = append(res.Members, m)
	}
	// The configurations, once every member's overlay address is known:
	// each joins the overlay through the other members of its group and
	// the other groups' peers given, so any one of them up is enough.
	for i := range res.Members {
		m := &res.Members[i]
		if opts.Overlay {
			m.boot = groupPeers(res.Members, i)
			m.boot = append(m.boot, opts.BootstrapPeers...)
		}
		// With --install-dir the member's directory is self-contained
		// (its own copy of the CA certificate) and its configuration
		// names the files where they will be installed.
		ca, inst := res.CA, *m
		if opts.InstallDir != "" {
			ca = filepath.Join(filepath.Dir(m.Config), pki.CACertFile)
			b, err := os.ReadFile(res.CA)
			if err != nil {
				return err
			}
			if err := writeNew(ca, b); err != nil {
				return err
			}
			ca = installPath(out, opts.InstallDir, ca)
			inst.dataDir = installPath(out, opts.InstallDir, m.dataDir)
			inst.logKey = installPath(out, opts.InstallDir, m.logKey)
			// The [encrypted] section names the member's DNS-facing
			// certificate in DIR/ID/dns: the same files, installed.
			memberDir := filepath.Dir(m.Config)
			inst.encrypted = strings.ReplaceAll(m.encrypted, `"`+memberDir+"/", `"`+installPath(out, opts.InstallDir, memberDir)+"/")
		}
		if err := writeNew(m.Config, nodeTOML(inst, installPath(out, opts.InstallDir, filepath.Dir(m.Config)), ca, m.join, opts, res.LogVerifier)); err != nil {
			return err
		}
	}
	opsDir := filepath.Join(out, "ops")
	res.Cert, res.Key = filepath.Join(opsDir, pki.CertFile), filepath.Join(opsDir, pki.KeyFile)
	if !opsReused {
		// The operator's certificate serves every group bootstrapped
		// into DIR with this CA: operator:*.
		p, err := pki.IssueScoped(ca, "ops", pki.Scope{Role: pki.RoleOperator, Group: pki.AllGroups}, pki.IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			return err
		}
		if err := p.Save(opsDir); err != nil {
			return err
		}
	}
	res.Warning = voterWarning(opts.Members - opts.NonVoters)
	if res.Warning != "" {
		fmt.Fprintf(opts.errOut, "warning: %s\n", res.Warning)
	}
	rec, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := writeNew(bootstrapRecord(out, opts.Name), append(rec, '\n')); err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, res)
	}
	return printBootstrap(opts, out, &res)
}

// printBootstrap prints the table of members and the next steps.
func printBootstrap(opts *bootstrapOptions, out string, res *bootstrapJSON) error {
	tw := tabwriter.NewWriter(opts.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tDNS\tADMIN\tRAFT\tAPI\tCONFIG")
	for _, m := range res.Members {
		r := "voter"
		if m.NonVoter {
			r = "non-voter"
		}
		if m.ID == res.Members[0].ID {
			r = "voter (bootstraps)"
		}
		api := m.API
		if api == "" {
			api = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, r, m.DNS, m.Admin, m.Raft, api, m.Config)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if opts.Overlay {
		fmt.Fprintf(opts.out, "\noverlay multiaddrs (give several, of several groups, to other groups with --bootstrap-peer):\n")
		for _, m := range res.Members {
			fmt.Fprintf(opts.out, "  %s  %s\n", m.ID, m.Overlay)
		}
	}
	if res.DNSCA != "" {
		fmt.Fprintf(opts.out, "\nDoT, DoH and DoQ on every member; clients verify against %s:\n  kdig @%s -p PORT +tls-ca=%s +tls-hostname=localhost NAME\n", res.DNSCA, dnsHost(res.Members[0].DNS), res.DNSCA)
	}
	fmt.Fprintf(opts.out, "\nstart each member (member 1 first):\n")
	for _, m := range res.Members {
		fmt.Fprintf(opts.out, "  ddnrs node --config %s\n", m.Config)
	}
	fmt.Fprintf(opts.out, "\nthen:\n  ddnrs ops group members --server %s --ca %s --cert %s --key %s\n", res.Members[0].Admin, res.CA, res.Cert, res.Key)
	if opts.Registry {
		urls, admins := make([]string, len(res.Members)), make([]string, len(res.Members))
		for i, m := range res.Members {
			urls[i], admins[i] = m.API, m.Admin
		}
		fmt.Fprintf(opts.out, "\nthis group is the registry (log signer key %s, verifier key %s).\n", res.LogKey, filepath.Join(out, bootstrapRegistryDir, bootstrapLogPub))
		ov := ""
		if opts.Overlay {
			ov = " --overlay"
		}
		fmt.Fprintf(opts.out, "bootstrap every other group where this CA's key is, with:\n  ddnrs ops group bootstrap --out DIR --name NAME --region REGION --from %s%s --ip ...\n", out, ov)
		fmt.Fprintf(opts.out, "(--from fills --ca %s, --registry-urls %s,\n --registry-admin %s, --log-verifier %s",
			filepath.Dir(res.CA), strings.Join(urls, ","), strings.Join(admins, ","), filepath.Join(out, bootstrapRegistryDir, bootstrapLogPub))
		if opts.Overlay {
			fmt.Fprintf(opts.out, "\n and --bootstrap-peer with %d of these members' multiaddrs; add --from with every other group's DIR too", min(maxPeersFrom, len(res.Members)))
		}
		fmt.Fprint(opts.out, ")")
		fmt.Fprintln(opts.out)
	}
	return nil
}

// mustBeAbsent returns an error wrapping fs.ErrExist when path exists.
func mustBeAbsent(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// reusableOps reports whether dir holds an operator certificate and key
// that ca issued; false when dir is absent. Anything else in the way is
// an error: bootstrap would otherwise overwrite it.
func reusableOps(dir string, ca *pki.CA) (bool, error) {
	if err := mustBeAbsent(dir); err == nil {
		return false, nil
	}
	p, err := pki.LoadPair(filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile))
	if err != nil {
		return false, withHint(fmt.Errorf("%s: %w", dir, err), "bootstrap never overwrites the operator certificate: choose another --out")
	}
	if err := p.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		return false, withHint(fmt.Errorf("%s holds an operator certificate of another CA: %w", dir, err), "choose another --out, or bootstrap with the CA that issued it (--ca)")
	}
	return true, nil
}

// maxGroupPeers bounds the members of its own group a member
// bootstraps through.
const maxGroupPeers = 8

// groupPeers returns the overlay addresses of the members of ms other
// than ms[i], the following ones first (so that the members do not all
// list member 1 first), at most maxGroupPeers.
func groupPeers(ms []bootstrapMember, i int) []string {
	var out []string
	for k := 1; k < len(ms) && len(out) < maxGroupPeers; k++ {
		out = append(out, ms[(i+k)%len(ms)].Overlay)
	}
	return out
}

// overlayIdentity makes a member's overlay identity key in its data
// directory (where the intergroup package's host reads it: data_dir/overlay.key,
// a libp2p protobuf-encoded Ed25519 key, mode 0600), so the member's peer
// id is known before it starts. It returns the listen multiaddr and the
// full multiaddr (with /p2p/ID) other nodes bootstrap through.
func overlayIdentity(dataDir string, ip net.IP, port int) (listen, addr string, err error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return "", "", err
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", err
	}
	if err := writeNewMode(filepath.Join(dataDir, bootstrapOverlayKey), b, 0o600); err != nil {
		return "", "", err
	}
	proto := "ip4"
	if ip.To4() == nil {
		proto = "ip6"
	}
	listen = fmt.Sprintf("/%s/%s/udp/%d/quic-v1", proto, ip, port)
	return listen, listen + "/p2p/" + id.String(), nil
}

// nodeTOML is a member's configuration file.
func nodeTOML(m bootstrapMember, dir, ca string, join []string, opts *bootstrapOptions, vkey string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# ddnrs node configuration for %s, written by 'ddnrs ops group bootstrap'.\n", m.ID)
	fmt.Fprintf(&b, "# Start it with: ddnrs node --config %s\n\n", filepath.Join(dir, "node.toml"))
	fmt.Fprintf(&b, "data_dir = %s\n", strconv.Quote(m.dataDir))
	fmt.Fprintf(&b, "dns = %s\n\n", strconv.Quote(m.DNS))
	b.WriteString("[group]\n")
	if opts.Name != "" {
		fmt.Fprintf(&b, "name = %s\n", strconv.Quote(opts.Name))
	}
	if opts.community {
		b.WriteString("# A community group: its nodes hold community:NAME certificates.\ncommunity = true\n")
	}
	fmt.Fprintf(&b, "id = %s\nraft_bind = %s\n", strconv.Quote(m.ID), strconv.Quote(m.Raft))
	if len(join) == 0 {
		b.WriteString("# This member starts the group: it is its first voter.\nbootstrap = true\n")
	} else {
		b.WriteString("# On first start this member asks these admin endpoints to add it.\nbootstrap = false\n")
		fmt.Fprintf(&b, "join = [%s]\n", quoteList(join))
		if m.NonVoter {
			b.WriteString("# A read replica: it serves DNS but does not vote.\nnon_voter = true\n")
		}
	}
	fmt.Fprintf(&b, "\n[admin]\nlisten = %s\n", strconv.Quote(m.Admin))
	b.WriteString(metricsTOML(m.Admin))
	fmt.Fprintf(&b, "\n[tls]\nca = %s\ncert = %s\nkey = %s\n", strconv.Quote(ca),
		strconv.Quote(filepath.Join(dir, pki.CertFile)), strconv.Quote(filepath.Join(dir, pki.KeyFile)))
	if opts.RenewURL != "" {
		fmt.Fprintf(&b, "# Renewed by the node itself at the issuing service, before it ends.\nrenew_url = %s\n", strconv.Quote(opts.RenewURL))
	}
	b.WriteString(m.encrypted)
	if opts.Overlay {
		b.WriteString("\n[overlay]\n# The identity (peer id) is data_dir/overlay.key, made by bootstrap.\nenabled = true\n")
		fmt.Fprintf(&b, "listen = [%s]\n", strconv.Quote(m.listen))
		if len(m.boot) > 0 {
			fmt.Fprintf(&b, "bootstrap = [%s]\n", quoteList(m.boot))
		} else {
			b.WriteString("# The first node of the overlay: the others bootstrap through it.\n")
		}
	}
	if m.API != "" {
		u, _ := url.Parse(m.API)
		fmt.Fprintf(&b, "\n[api]\nlisten = %s\n", strconv.Quote(u.Host))
		if u.Scheme == "https" {
			b.WriteString("# https with the member's cluster certificate: nodes of other groups present\n# theirs (mutual TLS); other clients need the cluster CA, or a TLS proxy.\n")
			fmt.Fprintf(&b, "tls_cert = %s\ntls_key = %s\n", strconv.Quote(filepath.Join(dir, pki.CertFile)), strconv.Quote(filepath.Join(dir, pki.KeyFile)))
		}
	}
	if opts.Registry || len(opts.RegistryURLs) > 0 || len(opts.RegistryAdmin) > 0 || vkey != "" || opts.Region != "" {
		b.WriteString("\n[registry]\n")
		if opts.Registry {
			b.WriteString("# This group is the registry; the log's signer key is shared by its members.\nmember = true\n")
			fmt.Fprintf(&b, "log_key_file = %s\n", strconv.Quote(m.logKey))
		}
		if vkey != "" {
			fmt.Fprintf(&b, "log_verifier = %s\n", strconv.Quote(vkey))
		}
		if len(opts.RegistryURLs) > 0 {
			fmt.Fprintf(&b, "urls = [%s]\n", quoteList(opts.RegistryURLs))
		}
		if len(opts.RegistryAdmin) > 0 {
			fmt.Fprintf(&b, "# Heartbeats go to these registry members' admin endpoints.\nadmin = [%s]\n", quoteList(opts.RegistryAdmin))
		}
		if opts.Region != "" {
			fmt.Fprintf(&b, "region = %s\n", strconv.Quote(opts.Region))
		}
	}
	return []byte(b.String())
}

// quoteList is ss as the items of a TOML array of strings.
func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// writeNew creates path with data and fails if it exists.
func writeNew(path string, data []byte) error {
	return writeNewMode(path, data, 0o644)
}

// writeNewMode creates path with data and mode, and fails if it exists.
func writeNewMode(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(mode) // the umask may have narrowed the mode
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
	}
	return werr
}

// metricsTOML is a member's [metrics] section. A member whose admin
// endpoint is on loopback shares the machine with the other members (a
// test, a trial), so its metrics listener takes a free port on that
// address; any other member keeps the loopback default, for a
// Prometheus on the same machine or a local scraping agent.
func metricsTOML(admin string) string {
	const head = "\n[metrics]\n# Plain-HTTP /metrics, /healthz and /readyz for Prometheus (no certificate);\n# \"off\" turns it off. A non-loopback address is reachable by anyone.\n"
	host, _, err := hostport.Split(admin)
	if ip, perr := netip.ParseAddr(host); err == nil && perr == nil && ip.IsLoopback() {
		return head + "# Members on one machine: a free port, printed by 'ddnrs node' at start.\nlisten = " + strconv.Quote(net.JoinHostPort(host, "0")) + "\n"
	}
	return head + "listen = " + strconv.Quote(node.DefaultMetricsListen) + "\n"
}

// memberScope is the scope of the members' certificates: registry:NAME
// for the registry group, member:NAME otherwise (NAME "default" when
// --name is not given, as the node's [group] name defaults to).
func memberScope(opts *bootstrapOptions) pki.Scope {
	group := opts.Name
	if group == "" {
		group = "default"
	}
	if opts.Registry {
		return pki.Scope{Role: pki.RoleRegistry, Group: group}
	}
	return pki.Scope{Role: pki.RoleMember, Group: group}
}
