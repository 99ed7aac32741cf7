package ops

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
)

// certRevokeOptions are the flags of `ddnrs ops cert revoke`.
type certRevokeOptions struct {
	admin    adminOptions
	Serial   string // --serial HEX
	CertFile string // --cert-file FILE: take the serial (and name) from it
	Name     string // --name: the certificate's common name, for the log
	Group    string // --group: informational
	Reason   string // --reason
}

func newCertRevokeCmd() *cobra.Command {
	opts := &certRevokeOptions{}
	cmd := &cobra.Command{
		Use:   "revoke (--serial HEX | --cert-file FILE) --reason TEXT --server REGISTRY_ADMIN --ca FILE --cert FILE --key FILE",
		Short: "Revoke a cluster certificate: every node refuses it within one follow interval",
		Long: `Revoke a cluster certificate by its serial number. The registry group logs
the revocation in its transparency log (a cert-revocation entry, public like
every other entry), and every node that follows the log refuses the
certificate from its next poll on: at Raft and admin handshakes, on every
admin request, and by closing the Raft connections it had open with it. The
bound is one [registry] follow_interval (default 5s) after the registry
committed it. A revocation cannot be undone: issue a new certificate.

--server is a registry member's admin endpoint; the certificate you call it
with must be an operator's (operator:REGISTRY_GROUP or operator:*) or a
cluster-wide one: a node of another group may not revoke.

The serial is printed by 'ddnrs ops cert issue'; or give the certificate file
with --cert-file.`,
		Example: `  ddnrs ops cert revoke --serial 5f3a9c01d2 --reason "laptop stolen" \
      --server 10.0.0.1:7400 --ca ca/ca.crt --cert ops/node.crt --key ops/node.key
  ddnrs ops cert revoke --cert-file eu-1-tls/node.crt --reason "node decommissioned" \
      --server 10.0.0.1:7400 --ca ca/ca.crt --cert ops/node.crt --key ops/node.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCertRevoke(cmd, opts)
		},
	}
	addAdminFlags(cmd, &opts.admin, "key")
	f := cmd.Flags()
	f.StringVar(&opts.Serial, "serial", "", "serial number of the certificate, in hexadecimal, as 'ddnrs ops cert issue' printed it")
	f.StringVar(&opts.CertFile, "cert-file", "", "the certificate `FILE` to revoke (PEM), instead of --serial")
	f.StringVar(&opts.Name, "name", "", "the certificate's name, for the log (default: from --cert-file)")
	f.StringVar(&opts.Group, "group", "", "the certificate's group, for the log (default: from --cert-file's scope)")
	f.StringVar(&opts.Reason, "reason", "", "why, for the log (required)")
	return cmd
}

// parseSerial reads a serial number in hexadecimal (with or without
// colons, any case, leading zeros) into the canonical form revocations
// use: lower case, no leading zeros.
func parseSerial(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "0x"), ":", ""))
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("%q is not a positive hexadecimal serial number", s)
	}
	out := fmt.Sprintf("%x", n)
	if !translog.CanonicalSerial(out) {
		return "", fmt.Errorf("%q is longer than 20 octets (RFC 5280's limit)", s)
	}
	return out, nil
}

func runCertRevoke(cmd *cobra.Command, opts *certRevokeOptions) error {
	if (opts.Serial == "") == (opts.CertFile == "") {
		return usagef("give exactly one of --serial and --cert-file")
	}
	if strings.TrimSpace(opts.Reason) == "" {
		return usagef("--reason is required: it goes into the public log")
	}
	serial := ""
	if opts.CertFile != "" {
		c, err := pki.LoadCert(opts.CertFile)
		if err != nil {
			return withHint(fmt.Errorf("--cert-file: %w", err), "give the certificate's PEM file (node.crt)")
		}
		serial = fmt.Sprintf("%x", c.SerialNumber)
		if opts.Name == "" {
			opts.Name = c.Subject.CommonName
		}
		if s, err := pki.ScopeOf(c); err == nil && opts.Group == "" {
			opts.Group = s.Group
		}
	} else {
		s, err := parseSerial(opts.Serial)
		if err != nil {
			return usagef("--serial: %v", err)
		}
		serial = s
	}
	if err := opts.admin.resolve("key"); err != nil {
		return err
	}
	cmdBytes, err := raftfsm.EncodeCommand(&raftfsm.RevokeCert{
		Serial: serial, Name: opts.Name, Group: opts.Group, Reason: opts.Reason,
		Actor: raftfsm.OperatorActor, Time: time.Now().UTC().Truncate(time.Second),
	})
	if err != nil {
		return usagef("%v", err)
	}
	c, ctx, release, err := opts.admin.dial(cmd.Context())
	if err != nil {
		return err
	}
	defer release()
	idx, err := c.ProposeRegistryAt(ctx, opts.admin.Server, cmdBytes)
	if err != nil {
		return adminErr(err, opts.admin.Server)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked serial %s (%s) at registry index %d; nodes refuse it from their next poll of the log\n", serial, orDefault(opts.Name, "no name given"), idx)
	return err
}
