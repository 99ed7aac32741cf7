package ops

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/pki"
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

	out, errOut io.Writer
}

func newGroupBootstrapCmd() *cobra.Command {
	opts := &bootstrapOptions{}
	cmd := &cobra.Command{
		Use:   "bootstrap --out DIR",
		Short: "Write the CA, certificates and node configurations of a new group",
		Long: `Write everything a new replica group needs into DIR: a cluster CA
(DIR/ca), for each member a certificate and a node configuration
(DIR/nodeN/node.toml), and an operator certificate for the ops commands
(DIR/ops). Member 1 bootstraps the group; every other member joins it by
itself on first start (group.join), as a voter or, for the last
--nonvoters members, as a read replica.

With one --ip, every member listens on it, member N on the base ports + N-1;
with one --ip per member, each member uses its own address and the base
ports. Then start each member with 'ddnrs node --config DIR/nodeN/node.toml'.
Nothing is overwritten: DIR/ca must not exist.`,
		Example: `  # seven members on 127.0.0.1-127.0.0.7, ports 5300 (DNS), 7300 (Raft), 7400 (admin)
  ddnrs ops group bootstrap --out cluster --members 7 --ip 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7
  ddnrs node --config cluster/node1/node.toml

  # three voters and a read replica on one address, consecutive ports
  ddnrs ops group bootstrap --out cluster --members 4 --nonvoters 1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runBootstrap(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "directory to write the CA, certificates and configurations to (required)")
	f.IntVar(&opts.Members, "members", 5, "number of members")
	f.IntVar(&opts.NonVoters, "nonvoters", 0, "how many of the members (the last ones) are non-voting read replicas")
	f.StringSliceVar(&opts.IPs, "ip", []string{"127.0.0.1"}, "`IP` address for all members, or one per member (comma-separated or repeated)")
	f.IntVar(&opts.DNSPort, "dns-port", 5300, "base DNS port")
	f.IntVar(&opts.RaftPort, "raft-port", 7300, "base Raft port")
	f.IntVar(&opts.AdminPort, "admin-port", 7400, "base admin port")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

// bootstrapMember is one member bootstrap wrote.
type bootstrapMember struct {
	ID       string `json:"id"`
	DNS      string `json:"dns"`
	Admin    string `json:"admin"`
	Raft     string `json:"raft"`
	NonVoter bool   `json:"non_voter,omitempty"`
	Config   string `json:"config"`
}

// bootstrapJSON is what --output json prints.
type bootstrapJSON struct {
	CA      string            `json:"ca"`
	Cert    string            `json:"cert"`
	Key     string            `json:"key"`
	Members []bootstrapMember `json:"members"`
	Warning string            `json:"warning,omitempty"`
}

func runBootstrap(_ context.Context, opts *bootstrapOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if opts.Out == "" {
		return usagef("--out DIR is required")
	}
	if opts.Members < 1 || opts.Members > 100 {
		return usagef("--members %d: want 1 to 100", opts.Members)
	}
	if opts.NonVoters < 0 || opts.NonVoters >= opts.Members {
		return usagef("--nonvoters %d: want 0 to %d (at least one voter)", opts.NonVoters, opts.Members-1)
	}
	if len(opts.IPs) != 1 && len(opts.IPs) != opts.Members {
		return usagef("--ip: give one address for all members or one per member (%d), not %d", opts.Members, len(opts.IPs))
	}
	ips := make([]net.IP, len(opts.IPs))
	for i, s := range opts.IPs {
		if ips[i] = net.ParseIP(s); ips[i] == nil {
			return usagef("--ip %q is not an IP address", s)
		}
	}
	span := opts.Members
	if len(ips) > 1 {
		span = 1
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--dns-port", opts.DNSPort}, {"--raft-port", opts.RaftPort}, {"--admin-port", opts.AdminPort}} {
		if p.v < 1 || p.v+span-1 > 65535 {
			return usagef("%s %d: want 1 to %d", p.name, p.v, 65536-span)
		}
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return err
	}
	ca, err := pki.NewCA("ddnrs cluster CA")
	if err != nil {
		return err
	}
	caDir := filepath.Join(out, "ca")
	if err := ca.Save(caDir); err != nil {
		return withHint(err, "bootstrap never overwrites a CA: choose another --out")
	}
	res := bootstrapJSON{CA: filepath.Join(caDir, pki.CACertFile)}
	var join []string
	for i := 0; i < opts.Members; i++ {
		ip, off := ips[0], i
		if len(ips) > 1 {
			ip, off = ips[i], 0
		}
		host := ip.String()
		m := bootstrapMember{
			ID:       devMemberID(i),
			DNS:      net.JoinHostPort(host, strconv.Itoa(opts.DNSPort+off)),
			Admin:    net.JoinHostPort(host, strconv.Itoa(opts.AdminPort+off)),
			Raft:     net.JoinHostPort(host, strconv.Itoa(opts.RaftPort+off)),
			NonVoter: i >= opts.Members-opts.NonVoters,
		}
		dir := filepath.Join(out, m.ID)
		p, err := pki.IssueNode(ca, m.ID, []net.IP{ip}, []string{"localhost"})
		if err != nil {
			return err
		}
		if err := p.Save(dir); err != nil {
			return err
		}
		m.Config = filepath.Join(dir, "node.toml")
		if err := writeNew(m.Config, nodeTOML(m, dir, res.CA, join)); err != nil {
			return err
		}
		if i == 0 || !m.NonVoter && len(join) < 3 {
			join = append(join, m.Admin)
		}
		res.Members = append(res.Members, m)
	}
	p, err := pki.IssueNode(ca, "ops", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		return err
	}
	opsDir := filepath.Join(out, "ops")
	if err := p.Save(opsDir); err != nil {
		return err
	}
	res.Cert, res.Key = filepath.Join(opsDir, pki.CertFile), filepath.Join(opsDir, pki.KeyFile)
	res.Warning = voterWarning(opts.Members - opts.NonVoters)
	if res.Warning != "" {
		fmt.Fprintf(opts.errOut, "warning: %s\n", res.Warning)
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, res)
	}
	tw := tabwriter.NewWriter(opts.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tDNS\tADMIN\tRAFT\tCONFIG")
	for _, m := range res.Members {
		r := "voter"
		if m.NonVoter {
			r = "non-voter"
		}
		if m.ID == res.Members[0].ID {
			r = "voter (bootstraps)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, r, m.DNS, m.Admin, m.Raft, m.Config)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(opts.out, "\nstart each member (member 1 first):\n")
	for _, m := range res.Members {
		fmt.Fprintf(opts.out, "  ddnrs node --config %s\n", m.Config)
	}
	fmt.Fprintf(opts.out, "\nthen:\n  ddnrs ops group members --server %s --ca %s --cert %s --key %s\n", res.Members[0].Admin, res.CA, res.Cert, res.Key)
	return nil
}

// nodeTOML is a member's configuration file.
func nodeTOML(m bootstrapMember, dir, ca string, join []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# ddnrs node configuration for %s, written by 'ddnrs ops group bootstrap'.\n", m.ID)
	fmt.Fprintf(&b, "# Start it with: ddnrs node --config %s\n\n", filepath.Join(dir, "node.toml"))
	fmt.Fprintf(&b, "data_dir = %s\n", strconv.Quote(filepath.Join(dir, "data")))
	fmt.Fprintf(&b, "dns = %s\n\n", strconv.Quote(m.DNS))
	fmt.Fprintf(&b, "[group]\nid = %s\nraft_bind = %s\n", strconv.Quote(m.ID), strconv.Quote(m.Raft))
	if len(join) == 0 {
		b.WriteString("# This member starts the group: it is its first voter.\nbootstrap = true\n")
	} else {
		q := make([]string, len(join))
		for i, j := range join {
			q[i] = strconv.Quote(j)
		}
		b.WriteString("# On first start this member asks these admin endpoints to add it.\nbootstrap = false\n")
		fmt.Fprintf(&b, "join = [%s]\n", strings.Join(q, ", "))
		if m.NonVoter {
			b.WriteString("# A read replica: it serves DNS but does not vote.\nnon_voter = true\n")
		}
	}
	fmt.Fprintf(&b, "\n[admin]\nlisten = %s\n", strconv.Quote(m.Admin))
	fmt.Fprintf(&b, "\n[tls]\nca = %s\ncert = %s\nkey = %s\n", strconv.Quote(ca),
		strconv.Quote(filepath.Join(dir, pki.CertFile)), strconv.Quote(filepath.Join(dir, pki.KeyFile)))
	return []byte(b.String())
}

// writeNew creates path with data and fails if it exists.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
