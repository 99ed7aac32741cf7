package ops

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/spf13/cobra"
)

// newCACmd returns `ddnrs ops ca`, the cluster CA's commands.
func newCACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "The cluster certificate authority",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newCAInitCmd(), newCAServeCmd())
	return cmd
}

type caInitOptions struct {
	Dir  string // required
	Name string // the CA's common name; default "ddnrs cluster"
}

func newCAInitCmd() *cobra.Command {
	opts := &caInitOptions{}
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a cluster CA",
		Long: `Create a new cluster CA (ECDSA P-256, valid 10 years) and write it to DIR as
ca.crt and ca.key (mode 0600). Nodes trust exactly this CA: a node whose
certificate it did not issue can neither join the group nor send it Raft
traffic. Keep ca.key off the nodes; give them ca.crt.

Existing files are never overwritten.`,
		Example: `  ddnrs ops ca init --dir cluster-ca
  ddnrs ops cert issue --ca cluster-ca --id n1 --ip 10.0.0.1 --out n1-tls`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCAInit(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory to write ca.crt and ca.key to (created if missing; required)")
	cmd.Flags().StringVar(&opts.Name, "name", "ddnrs cluster", "the CA's name (certificate common name)")
	return cmd
}

func runCAInit(cmd *cobra.Command, opts *caInitOptions) error {
	if opts.Dir == "" {
		return usagef("--dir is required")
	}
	ca, err := pki.NewCA(opts.Name)
	if err != nil {
		return err
	}
	if err := ca.Save(opts.Dir); err != nil {
		if errors.Is(err, pki.ErrExists) {
			return withHint(err, "a CA is already in %s; pick another --dir, or remove it if you mean to replace the cluster's CA (every node certificate must then be reissued)", opts.Dir)
		}
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s (CA %q, valid until %s)\n",
		filepath.Join(opts.Dir, pki.CACertFile), filepath.Join(opts.Dir, pki.CAKeyFile), opts.Name, ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	return err
}

// newCertCmd returns `ddnrs ops cert`, node certificates.
func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Node certificates issued by the cluster CA",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newCertIssueCmd(), newCertRevokeCmd(), newCertRenewCmd())
	return cmd
}

type certIssueOptions struct {
	CA  string   // CA directory; required
	ID  string   // node ID, the certificate's common name; required
	IPs []string // IP subject alternative names
	DNS []string // DNS subject alternative names
	Out string   // output directory; required
	// Scope is ROLE:GROUP (member:eu, registry:reg, operator:eu,
	// operator:*); "" issues a cluster-wide (version 1) certificate.
	Scope string
	// Validity is how long the certificate is valid; 0: a year.
	Validity time.Duration
}

func newCertIssueCmd() *cobra.Command {
	opts := &certIssueOptions{}
	cmd := &cobra.Command{
		Use:   "issue --ca DIR --id ID [--ip IP]... [--dns NAME]... --out DIR",
		Short: "Issue a node certificate",
		Long: `Issue a certificate for node ID, signed by the CA in --ca, valid for a year,
for both server and client authentication: the node uses the same pair for
Raft, for its admin endpoint, and the ops CLI uses one to talk to it. Writes
node.crt and node.key (mode 0600) to --out, and a copy of the CA's
certificate, ca.crt, beside them if none is there.

Peers check the address they dial against the certificate, so list every
address the node is reached at with --ip and --dns (at least one).

--scope names the group and role the certificate is for, ROLE:GROUP:
  member:GROUP     a node of GROUP: its Raft and admin endpoint accept it,
                   no other group's do (a registry member also takes the
                   heartbeats and registry proposals of every group's nodes)
  registry:GROUP   a node of the registry group GROUP (as member)
  operator:GROUP   the ops CLI, for GROUP's admin endpoint only; never Raft
  operator:*       the ops CLI, for every group's admin endpoint
Without --scope the certificate is cluster-wide (version 1): every group
accepts it, unless a node sets [tls] require_scope. A node refuses to start
with a scoped certificate of another group.

--validity makes a short-lived certificate (e.g. 24h): renew it before it
ends with the same command into a new directory and move the files over the
old ones; a running node reads changed certificate files at its next
handshake (no restart). The serial number printed is what
'ddnrs ops cert revoke' takes.

Existing files are never overwritten.`,
		Example: `  ddnrs ops cert issue --ca cluster-ca --id n1 --ip 10.0.0.1 --out n1-tls
  ddnrs ops cert issue --ca cluster-ca --id n2 --ip 10.0.0.2 --dns n2.example.net --out n2-tls
  ddnrs ops cert issue --ca cluster-ca --id operator --ip 127.0.0.1 --out ops-tls   # for the ops CLI
  ddnrs ops cert issue --ca cluster-ca --id eu-1 --ip 10.0.1.1 --scope member:eu --out eu-1-tls
  ddnrs ops cert issue --ca cluster-ca --id eu-ops --ip 127.0.0.1 --scope operator:eu --validity 24h --out eu-ops-tls`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCertIssue(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.CA, "ca", "", "directory holding ca.crt and ca.key (required)")
	f.StringVar(&opts.ID, "id", "", "the node's ID, as in its config's [group] id (required)")
	f.StringArrayVar(&opts.IPs, "ip", nil, "an IP address the node is reached at (repeat for more)")
	f.StringArrayVar(&opts.DNS, "dns", nil, "a DNS name the node is reached at (repeat for more)")
	f.StringVar(&opts.Out, "out", "", "directory to write node.crt and node.key to (created if missing; required)")
	f.StringVar(&opts.Scope, "scope", "", "the group and role the certificate is for, `ROLE:GROUP`: member:eu, registry:reg, operator:eu, operator:* (default: cluster-wide)")
	f.DurationVar(&opts.Validity, "validity", 0, "how long the certificate is valid, e.g. 24h (default a year; never past the CA)")
	return cmd
}

func runCertIssue(cmd *cobra.Command, opts *certIssueOptions) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--ca", opts.CA}, {"--id", opts.ID}, {"--out", opts.Out}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	if len(opts.IPs) == 0 && len(opts.DNS) == 0 {
		return usagef("give at least one --ip or --dns: peers check the address they dial against the certificate")
	}
	var scope *pki.Scope
	if opts.Scope != "" {
		s, err := pki.ParseScope(opts.Scope)
		if err != nil {
			return usagef("--scope %q: %v", opts.Scope, err)
		}
		scope = &s
	}
	if opts.Validity < 0 || opts.Validity > 0 && opts.Validity < time.Minute {
		return usagef("--validity %v: want at least 1m (or 0 for a year)", opts.Validity)
	}
	var ips []net.IP
	for _, s := range opts.IPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return usagef("--ip %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	ca, err := pki.LoadCA(opts.CA)
	if err != nil {
		return withHint(err, "--ca must name a directory made by 'ddnrs ops ca init'")
	}
	// A CA certificate already in --out must be this CA's: the node
	// would not trust its peers otherwise. Checked before anything is
	// written.
	caCopy := filepath.Join(opts.Out, pki.CACertFile)
	haveCopy := false
	if cur, err := pki.LoadCert(caCopy); err == nil {
		if !cur.Equal(ca.Cert) {
			return fmt.Errorf("%s holds another CA's certificate; the node would not trust its peers", caCopy)
		}
		haveCopy = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var pair *pki.Pair
	if scope != nil {
		pair, err = pki.IssueScoped(ca, opts.ID, *scope, pki.IssueOptions{IPs: ips, DNSNames: opts.DNS, Validity: opts.Validity})
	} else {
		pair, err = pki.IssueNodeFor(ca, opts.ID, ips, opts.DNS, opts.Validity)
	}
	if err != nil {
		return err
	}
	if err := pair.Save(opts.Out); err != nil {
		if errors.Is(err, pki.ErrExists) {
			return withHint(err, "%s already holds a node certificate; pick another --out", opts.Out)
		}
		return err
	}
	if !haveCopy {
		if err := ca.SaveCert(opts.Out); err != nil {
			return err
		}
	}
	names := append(append([]string(nil), opts.IPs...), opts.DNS...)
	scopeText := "cluster-wide"
	if scope != nil {
		scopeText = "scope " + scope.String()
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s for %q (%s), %s, serial %x, valid until %s; CA certificate: %s\n",
		filepath.Join(opts.Out, pki.CertFile), filepath.Join(opts.Out, pki.KeyFile), opts.ID,
		strings.Join(names, ", "), scopeText, pair.Cert.SerialNumber, pair.Cert.NotAfter.UTC().Format(time.RFC3339), caCopy)
	return err
}
