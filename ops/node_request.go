package ops

// node_request.go: `ddnrs node request`, a node's side of joining by
// request (issue 14 item 2): its own key, a certificate request carrying
// the operator agreement it accepts and the uptime and bandwidth it
// commits to, and (with --join) its configuration. The group's operator
// approves the request with `ddnrs ops node approve` (ops_node.go).

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/translog"
)

// nodeRequestOptions are the flags of `ddnrs node request`.
type nodeRequestOptions struct {
	Out              string   // --out DIR
	ID               string   // --id
	IPs              []string // --ip
	DNSNames         []string // --dns
	Scope            string   // --scope
	Agreement        string   // --agreement FILE
	AgreementVersion string   // --agreement-version
	Uptime           float64  // --uptime percent
	Bandwidth        int      // --bandwidth Mbit/s

	// With --join, the node's configuration is written too.
	Join      []string // --join HOST:PORT of members' admin endpoints
	DNSPort   int
	RaftPort  int
	AdminPort int
	NonVoter  bool

	RegistryURLs  []string // --registry-urls
	RegistryAdmin []string // --registry-admin
	LogVerifier   string   // --log-verifier
	Region        string   // --region

	Submit string // --submit URL: the registry's REST API, for its review (community nodes)
}

func newNodeRequestCmd() *cobra.Command {
	opts := &nodeRequestOptions{}
	cmd := &cobra.Command{
		Use:   "request --out DIR --id ID --ip IP --scope member:GROUP --agreement FILE --uptime PCT --bandwidth MBITS",
		Short: "Make this node's key and a certificate request to join a group",
		Long: `Make this node's private key (ECDSA P-256, DIR/node.key, mode 0600: it never
leaves the node) and a certificate request (DIR/node.csr) to send to the
operator of the group it joins, who approves it with
'ddnrs ops node approve' and sends back node.crt and ca.crt for DIR.

The request is signed with the node's key, and carries what its operator
states: the operator agreement accepted (--agreement FILE: its SHA-256 and
--agreement-version go into the request, so the approver sees that exactly
that text was accepted), the uptime (--uptime, percent) and bandwidth
(--bandwidth, Mbit/s) committed to, and the scope asked for (--scope
member:GROUP, or registry:GROUP). The approval records them in the
registry's public transparency log (a node-approval entry).

With --join (the admin endpoints of members of the group), the node's
configuration is written too, DIR/node.toml, its listeners on the first
--ip at --dns-port, --raft-port and --admin-port: once node.crt and ca.crt
are in DIR, 'ddnrs node --config DIR/node.toml' joins the group. Add
--registry-urls, --registry-admin and --log-verifier as the group's
bootstrap printed them to follow the registry.

A community node (--scope community:GROUP, a community group's) sends
its request to the registry's review instead: --submit URL posts it to the
registry's REST API and keeps the request id and status token in
DIR/request.json; once a reviewer approved it, 'ddnrs node collect DIR'
writes node.crt. The registry refuses at once a request for another scope,
or one that did not accept its agreement.

Nothing is overwritten.`,
		Example: `  # on the new node
  ddnrs node request --out /etc/ddnrs/eu-4 --id eu-4 --ip 10.1.0.4 --scope member:eu \
      --agreement operator-agreement.txt --agreement-version 2026-1 --uptime 99.5 --bandwidth 100 \
      --join 10.1.0.1:7400,10.1.0.2:7400
  # send /etc/ddnrs/eu-4/node.csr to eu's operator, who runs:
  ddnrs ops node approve eu-4.csr --ca-dir ca --scope member:eu --agreement operator-agreement.txt \
      --out eu-4-approved --server 10.0.0.1:7400 --ca ca/ca.crt --cert ops/node.crt --key ops/node.key
  # copy eu-4-approved/node.crt and ca.crt into /etc/ddnrs/eu-4, then
  ddnrs node --config /etc/ddnrs/eu-4/node.toml
  # a community node: the registry's review
  ddnrs node request --out /etc/ddnrs/cg-1 --id cg-1 --ip 203.0.113.7 --scope community:cg \
      --agreement community-agreement.txt --agreement-version 2026-1 --uptime 99.5 --bandwidth 100 \
      --submit https://registry.example.net:8443
  ddnrs node collect /etc/ddnrs/cg-1 --wait 24h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNodeRequest(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "directory to write node.key, node.csr (and node.toml with --join) to (required)")
	f.StringVar(&opts.ID, "id", "", "the node's ID, unique in the cluster (its [group] id; required)")
	f.StringArrayVar(&opts.IPs, "ip", nil, "an IP address the node is reached at (repeatable; at least one --ip or --dns)")
	f.StringArrayVar(&opts.DNSNames, "dns", nil, "a DNS name the node is reached at (repeatable)")
	f.StringVar(&opts.Scope, "scope", "", "the group and role asked for, `member:GROUP` or registry:GROUP (required)")
	f.StringVar(&opts.Agreement, "agreement", "", "the operator agreement's text `FILE` this node's operator accepts (required)")
	f.StringVar(&opts.AgreementVersion, "agreement-version", "1", "the agreement's version label, as its publisher names it")
	f.Float64Var(&opts.Uptime, "uptime", 0, "the uptime committed to, in `PERCENT` (above 0, at most 100; required)")
	f.IntVar(&opts.Bandwidth, "bandwidth", 0, "the bandwidth committed to, in `MBITS` per second (required)")
	f.StringSliceVar(&opts.Join, "join", nil, "admin endpoints `HOST:PORT,...` of the group's members: write DIR/node.toml that joins through them")
	f.IntVar(&opts.DNSPort, "dns-port", 53, "with --join: DNS port")
	f.IntVar(&opts.RaftPort, "raft-port", 7300, "with --join: Raft port")
	f.IntVar(&opts.AdminPort, "admin-port", 7400, "with --join: admin endpoint port")
	f.BoolVar(&opts.NonVoter, "nonvoter", false, "with --join: join as a read replica (non-voter)")
	f.StringSliceVar(&opts.RegistryURLs, "registry-urls", nil, "with --join: the registry members' REST API `URLs`")
	f.StringSliceVar(&opts.RegistryAdmin, "registry-admin", nil, "with --join: the registry members' admin endpoints `HOST:PORT,...`, for heartbeats")
	f.StringVar(&opts.LogVerifier, "log-verifier", "", "with --join: the registry log's verifier key, or a `FILE` holding it")
	f.StringVar(&opts.Region, "region", "", "with --join: the node's `REGION`, reported in heartbeats")
	f.StringVar(&opts.Submit, "submit", "", "a community node (--scope community:GROUP): submit the request to the registry's review at this REST API `URL`; DIR/request.json keeps its status token for 'ddnrs node collect DIR'")
	return cmd
}

// requestConfigFile is the configuration `node request --join` writes.
const requestConfigFile = "node.toml"

func runNodeRequest(cmd *cobra.Command, opts *nodeRequestOptions) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--out", opts.Out}, {"--id", opts.ID}, {"--scope", opts.Scope}, {"--agreement", opts.Agreement}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if opts.Uptime == 0 {
		missing = append(missing, "--uptime")
	}
	if opts.Bandwidth == 0 {
		missing = append(missing, "--bandwidth")
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	if !validNodeID(opts.ID) {
		return usagef("--id %q: want 1 to 64 letters, digits, '.', '_' or '-'", opts.ID)
	}
	scope, err := pki.ParseScope(opts.Scope)
	if err != nil {
		return usagef("--scope %q: %v", opts.Scope, err)
	}
	if scope.Role == pki.RoleOperator {
		return usagef("--scope %s: a node asks for member:GROUP or registry:GROUP; operators get their certificates with 'ddnrs ops cert issue'", scope)
	}
	if opts.Submit != "" && scope.Role != pki.RoleCommunity {
		return usagef("--submit with --scope %s: the registry's review admits community nodes only (--scope community:GROUP); a member's request goes to its group's operator ('ddnrs ops node approve')", scope)
	}
	if len(opts.IPs) == 0 && len(opts.DNSNames) == 0 {
		return usagef("give at least one --ip or --dns: peers check the address they dial against the certificate")
	}
	var ips []net.IP
	for _, s := range opts.IPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return usagef("--ip %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	if !(opts.Uptime > 0 && opts.Uptime <= 100) {
		return usagef("--uptime %v: want a percentage above 0, at most 100", opts.Uptime)
	}
	if opts.Bandwidth < 1 {
		return usagef("--bandwidth %d: want at least 1 (Mbit/s)", opts.Bandwidth)
	}
	var tomlOpts *bootstrapOptions
	if len(opts.Join) > 0 {
		if tomlOpts, err = requestTOMLOptions(opts, scope, len(ips) > 0); err != nil {
			return err
		}
	} else if len(opts.RegistryURLs) > 0 || len(opts.RegistryAdmin) > 0 || opts.LogVerifier != "" || opts.Region != "" || opts.NonVoter {
		return usagef("--registry-urls, --registry-admin, --log-verifier, --region and --nonvoter go into the configuration: give --join too")
	}
	text, err := os.ReadFile(opts.Agreement)
	if err != nil {
		return withHint(fmt.Errorf("--agreement: %w", err), "give the file of the operator agreement's text, as its publisher gave it")
	}
	if len(strings.TrimSpace(string(text))) == 0 {
		return usagef("--agreement %s is empty", opts.Agreement)
	}
	st := pki.Statement{AgreementVersion: opts.AgreementVersion, AgreementSHA256: pki.AgreementHash(text), UptimePercent: opts.Uptime, BandwidthMbps: opts.Bandwidth}
	key, csr, err := pki.NewRequest(pki.RequestOptions{ID: opts.ID, Scope: scope, IPs: ips, DNSNames: opts.DNSNames, Statement: st})
	if err != nil {
		if errors.Is(err, pki.ErrBadRequest) {
			return usagef("%v", err)
		}
		return err
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return err
	}
	paths := []string{filepath.Join(out, pki.KeyFile), filepath.Join(out, pki.RequestFile), filepath.Join(out, pki.CertFile)}
	if tomlOpts != nil {
		paths = append(paths, filepath.Join(out, requestConfigFile))
	}
	for _, p := range paths {
		if err := mustBeAbsent(p); err != nil {
			return withHint(err, "a request never overwrites a node's files: choose another --out")
		}
	}
	keyPEM, err := pki.KeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	if err := writeNewMode(paths[0], keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(paths[1], csr); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "wrote %s (keep it here) and %s: %s asks for %s, agreement %s (sha256 %s), uptime %s%%, %d Mbit/s\n",
		paths[0], paths[1], opts.ID, scope, st.AgreementVersion, st.AgreementSHA256, st.UptimeText(), st.BandwidthMbps)
	if tomlOpts != nil {
		m := requestMember(opts, out, ips[0])
		conf := strings.Replace(string(nodeTOML(m, out, filepath.Join(out, pki.CACertFile), opts.Join, tomlOpts, tomlOpts.LogVerifier)),
			"'ddnrs ops group bootstrap'", "'ddnrs node request'", 1)
		if err := writeNew(m.Config, []byte(conf)); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s; once node.crt and ca.crt are in %s: ddnrs node --config %s\n", m.Config, out, m.Config)
	}
	if opts.Submit != "" {
		return submitNodeRequest(cmd.Context(), w, opts.Submit, out, csr)
	}
	fmt.Fprintf(w, "send %s to the group's operator: ddnrs ops node approve %s --ca-dir CA --scope %s --agreement %s ...\n",
		paths[1], filepath.Base(paths[1]), scope, filepath.Base(opts.Agreement))
	return nil
}

// validNodeID reports whether id is a usable [group] id.
func validNodeID(id string) bool {
	return id != "" && len(id) <= 64 && strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0
}

// requestTOMLOptions checks the configuration flags of a request with
// --join and returns them as bootstrap's options, for nodeTOML.
func requestTOMLOptions(opts *nodeRequestOptions, scope pki.Scope, haveIP bool) (*bootstrapOptions, error) {
	if !haveIP {
		return nil, usagef("--join writes the configuration, whose listeners need an --ip")
	}
	for _, a := range opts.Join {
		if _, p, err := hostport.Split(a); err != nil || p == 0 {
			return nil, usagef("--join %q: want HOST:PORT of a member's admin endpoint", a)
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--dns-port", opts.DNSPort}, {"--raft-port", opts.RaftPort}, {"--admin-port", opts.AdminPort}} {
		if p.v < 0 || p.v > 65535 {
			return nil, usagef("%s %d: want 0 to 65535", p.name, p.v)
		}
	}
	b := &bootstrapOptions{Name: scope.Group, Registry: scope.Role == pki.RoleRegistry, RegistryURLs: opts.RegistryURLs,
		RegistryAdmin: opts.RegistryAdmin, Region: opts.Region, community: scope.Role == pki.RoleCommunity}
	if b.Registry {
		return nil, usagef("--join with --scope %s: a registry member also needs the log's signer key; write its configuration by hand (see docs/operator-guide.md, \"Joining a node\")", scope)
	}
	if opts.LogVerifier != "" {
		if len(opts.RegistryURLs) == 0 {
			return nil, usagef("--log-verifier needs --registry-urls: the log is followed through the registry's API")
		}
		v := opts.LogVerifier
		if bs, err := os.ReadFile(v); err == nil {
			v = strings.TrimSpace(string(bs))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if _, err := translog.NewVerifier(v); err != nil {
			return nil, usagef("--log-verifier %q: %v (want the key in the registry's DIR/registry/log.pub, or that file)", opts.LogVerifier, err)
		}
		b.LogVerifier = v
	}
	if opts.Region != "" && len(opts.RegistryAdmin) == 0 {
		return nil, usagef("--region needs --registry-admin: the region is reported to the registry in heartbeats")
	}
	return b, nil
}

// requestMember is the node as bootstrap's configuration writer sees it.
func requestMember(opts *nodeRequestOptions, out string, ip net.IP) bootstrapMember {
	host := ip.String()
	return bootstrapMember{
		ID:       opts.ID,
		DNS:      net.JoinHostPort(host, strconv.Itoa(opts.DNSPort)),
		Admin:    net.JoinHostPort(host, strconv.Itoa(opts.AdminPort)),
		Raft:     net.JoinHostPort(host, strconv.Itoa(opts.RaftPort)),
		NonVoter: opts.NonVoter,
		Config:   filepath.Join(out, requestConfigFile),
		dataDir:  filepath.Join(out, "data"),
	}
}
