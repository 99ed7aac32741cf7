package ops

// ops_node.go: `ddnrs ops node`, the commands about one node of the
// registry's node directory (issue 14 item 4; approve: item 2, joining by
// request, whose node side is node_request.go). Each subcommand adds its
// constructor here with one AddCommand line.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

func newOpsNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage the nodes of the registry's node directory",
		Long: `The registry group keeps the node directory: every node's group, region and
addresses, as its heartbeats report them. Other nodes admit to the overlay
only the peers the directory admitted (its node-admission entries in the
transparency log), and clients and stubs choose entry nodes from it.`,
		Example: `  ddnrs ops node remove eu-3 --reason "disk died" --server 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key`,
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRunE,
	}
	cmd.AddCommand(newNodeRemoveCmd(), newNodeApproveCmd())
	return cmd
}

// nodeRemoveOptions are the flags of `ddnrs ops node remove`.
type nodeRemoveOptions struct {
	adminOptions
	ID            string
	Reason        string
	DirectoryOnly bool
	Output        string

	out, errOut io.Writer
}

func newNodeRemoveCmd() *cobra.Command {
	opts := &nodeRemoveOptions{}
	cmd := &cobra.Command{
		Use:   "remove NODE --reason TEXT --server REGISTRY_ADMIN --ca FILE --cert FILE --key FILE",
		Short: "Remove a node from the node directory for good (logged), and from its group's Raft configuration",
		Long: `Remove NODE (its node id, as 'ddnrs ops group members' or the registry's
/v1/health lists it) from the registry's node directory, for good:

  1. when NODE is a voter or non-voter of its group, it is first removed from
     the group's Raft configuration, through another member of that group
     (found in the directory; your certificate must be an operator's of that
     group or of every group);
  2. the registry appends a node-removal entry to its public transparency
     log (with --reason) and drops NODE from the directory.

From their next poll of the log (one [registry] follow_interval, default
5s), every node stops admitting NODE's overlay peer: it can no longer
announce zones or answer for them; the REST API and stubs stop offering it
as an entry node; and the registry refuses NODE's heartbeats from then on,
so a removed node that comes back is not admitted again under the same id.
A removed id is removed for ever: give a replacement machine a new node id.

To keep a node that still runs out of the cluster entirely, also revoke its
certificate ('ddnrs ops cert revoke'). To replace a dead member of a group
in one step, use 'ddnrs ops group replace'.

--server is a registry member's admin endpoint. With --directory-only the
group's Raft configuration is left alone (its group lost quorum, say:
recover it with 'ddnrs ops group recover' and leave NODE out).`,
		Example: `  ddnrs ops node remove eu-3 --reason "disk died" \
      --server 10.0.0.1:7400 --ca ca/ca.crt --cert ops/node.crt --key ops/node.key
  ddnrs ops node remove eu-3 --reason "group recovered without it" --directory-only --server 10.0.0.1:7400 ...`,
		Args: exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runNodeRemove(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	f := cmd.Flags()
	f.StringVar(&opts.Reason, "reason", "", "why, for the public log (required)")
	f.BoolVar(&opts.DirectoryOnly, "directory-only", false, "leave the group's Raft configuration alone")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

// nodeRemoveJSON is what node remove prints with --output json.
type nodeRemoveJSON struct {
	ID            string `json:"id"`
	Group         string `json:"group"`
	RaftRemoved   bool   `json:"raft_removed"`
	RegistryIndex uint64 `json:"registry_index"`
}

func runNodeRemove(ctx context.Context, opts *nodeRemoveOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if !admin.ValidID(opts.ID) {
		return usagef("NODE %q is not a node id", opts.ID)
	}
	if strings.TrimSpace(opts.Reason) == "" {
		return usagef("--reason is required: it goes into the public log")
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	rec, dir, err := directoryNode(ctx, c, opts.Server, opts.ID)
	res := nodeRemoveJSON{ID: opts.ID, Group: rec.Group}
	listed := true
	switch {
	case errors.Is(err, errNotListed):
		// Let the registry say why: never listed, or removed before.
		// Listed since the directory was read, it is removed now, and
		// its group's configuration is left alone.
		listed = false
		if res.RegistryIndex, err = proposeRemoveNode(ctx, c, opts.Server, opts.ID, opts.Reason); err != nil {
			return err
		}
		opts.DirectoryOnly = true
	case err != nil:
		return err
	}
	if listed && !opts.DirectoryOnly {
		res.RaftRemoved, err = removeFromGroup(ctx, c, dir, rec)
		if err != nil {
			return err
		}
	}
	if listed {
		if res.RegistryIndex, err = proposeRemoveNode(ctx, c, opts.Server, opts.ID, opts.Reason); err != nil {
			return err
		}
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, res)
	}
	raft := "it was not in the group's Raft configuration"
	switch {
	case opts.DirectoryOnly:
		raft = "the group's Raft configuration was left alone"
	case res.RaftRemoved:
		raft = "removed from group " + rec.Group + "'s Raft configuration"
	}
	_, err = fmt.Fprintf(opts.out, "removed %s (group %s) from the node directory at registry index %d; %s; nodes stop admitting it from their next poll of the log\n",
		opts.ID, rec.Group, res.RegistryIndex, raft)
	return err
}

// directoryNode reads the node directory from the registry member at
// server and returns node id's record and the whole directory.
func directoryNode(ctx context.Context, c *admin.Client, server, id string) (raftfsm.NodeRecord, []raftfsm.NodeRecord, error) {
	dir, err := c.Directory(ctx, server)
	if err != nil {
		return raftfsm.NodeRecord{}, nil, withHint(adminErr(err, server), "--server must be a member of the registry group")
	}
	for _, n := range dir {
		if n.ID == id {
			return n, dir, nil
		}
	}
	return raftfsm.NodeRecord{ID: id}, dir, fmt.Errorf("%w: the node directory at %s does not list %s", errNotListed, server, id)
}

// errNotListed is returned by directoryNode when the directory does not
// list the node.
var errNotListed = errors.New("node not listed")

// groupAdmins returns the admin endpoints of the nodes of group g in the
// directory, but for the node except.
func groupAdmins(dir []raftfsm.NodeRecord, g, except string) []string {
	var out []string
	for _, n := range dir {
		if n.Group == g && n.ID != except && n.Admin != "" {
			out = append(out, n.Admin)
		}
	}
	return out
}

// errNoMemberAnswered is returned when no member of a group the
// directory lists answered the admin endpoint.
var errNoMemberAnswered = errors.New("no member of the group answered")

// onGroup runs op against the members of group g (but except) in turn
// until one succeeds; the last error otherwise.
func onGroup(ctx context.Context, dir []raftfsm.NodeRecord, g, except string, op func(ctx context.Context, addr string) error) error {
	addrs := groupAdmins(dir, g, except)
	if len(addrs) == 0 {
		return withHint(fmt.Errorf("%w: the directory lists no other node of group %s", errNoMemberAnswered, g), "pass --directory-only to leave the group's Raft configuration alone")
	}
	var errs []error
	for _, a := range addrs {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := op(cctx, a)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, adminErr(err, a))
		var apiErr *admin.APIError
		if errors.As(err, &apiErr) && apiErr.Code == admin.CodeForbidden {
			break // the certificate is refused: every member will refuse it
		}
	}
	return fmt.Errorf("%w %s: %w", errNoMemberAnswered, g, errors.Join(errs...))
}

// removeFromGroup removes rec from its group's Raft configuration when
// it is in it, through another member; it reports whether it was.
func removeFromGroup(ctx context.Context, c *admin.Client, dir []raftfsm.NodeRecord, rec raftfsm.NodeRecord) (bool, error) {
	removed := false
	err := onGroup(ctx, dir, rec.Group, rec.ID, func(ctx context.Context, addr string) error {
		ms, err := c.Members(ctx, addr)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == rec.ID {
				removed = true
				return c.Remove(ctx, addr, admin.RemoveRequest{ID: rec.ID})
			}
		}
		return nil
	})
	return removed, err
}

// proposeRemoveNode logs the removal of node id at the registry.
func proposeRemoveNode(ctx context.Context, c *admin.Client, server, id, reason string) (uint64, error) {
	cmd, err := raftfsm.EncodeCommand(&raftfsm.RemoveNode{ID: id, Reason: reason, Actor: raftfsm.OperatorActor,
		Time: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return 0, usagef("%v", err)
	}
	idx, err := c.ProposeRegistryAt(ctx, server, cmd)
	if err != nil {
		return 0, adminErr(err, server)
	}
	return idx, nil
}

// nodeApproveOptions are the flags of `ddnrs ops node approve`.
type nodeApproveOptions struct {
	admin            adminOptions // the registry member the approval is logged through
	CADir            string       // --ca-dir: the CA that signs
	Scope            string       // --scope: what is granted
	Agreement        string       // --agreement FILE: the agreement's text
	AgreementVersion string       // --agreement-version: "" takes the request's
	MinUptime        float64      // --min-uptime
	MinBandwidth     int          // --min-bandwidth
	Validity         time.Duration
	Out              string // --out DIR
	NoLog            bool   // --no-log: a cluster without a registry
}

func newNodeApproveCmd() *cobra.Command {
	opts := &nodeApproveOptions{}
	cmd := &cobra.Command{
		Use:   "approve REQUEST --ca-dir DIR --scope member:GROUP --agreement FILE --out DIR --server REGISTRY_ADMIN --ca FILE --cert FILE --key FILE",
		Short: "Approve a node's certificate request: issue its certificate and log the admission",
		Long: `Approve the certificate request a node made with 'ddnrs node request' (REQUEST,
its node.csr): check it, issue the node's certificate with the CA in --ca-dir
(which holds ca.key; the node's key stays on the node), log the approval in
the registry's transparency log, and write node.crt and ca.crt to --out for
the node.

It refuses, writing and logging nothing:
  - a request whose signature does not verify (changed after the node
    signed it), or that states no agreement, uptime or bandwidth;
  - a request for another scope than --scope (the group and role you grant);
  - a request whose agreement is not the text in --agreement (its SHA-256
    differs: the node accepted another text, or none), or another
    --agreement-version than the one given;
  - an uptime below --min-uptime or a bandwidth below --min-bandwidth.

The approval is logged through --server, a registry member's admin endpoint,
with your operator certificate (--ca, --cert, --key): a node-approval entry
with the node, its group and scope, the certificate's serial, the agreement's
version and SHA-256, the uptime and bandwidth, and the request's SHA-256.
--no-log skips it, for a cluster without a registry.`,
		Example: `  ddnrs ops node approve eu-4.csr --ca-dir ca --scope member:eu \
      --agreement operator-agreement.txt --agreement-version 2026-1 --min-uptime 99 --min-bandwidth 50 \
      --out eu-4-approved --server 10.0.0.1:7400 --ca ca/ca.crt --cert ops/node.crt --key ops/node.key
  # a private cluster without a registry
  ddnrs ops node approve eu-4.csr --ca-dir ca --scope member:eu --agreement agreement.txt --out eu-4 --no-log`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNodeApprove(cmd, opts, args[0])
		},
	}
	addAdminFlags(cmd, &opts.admin, "key")
	f := cmd.Flags()
	f.StringVar(&opts.CADir, "ca-dir", "", "the cluster CA `DIR` (ca.crt and ca.key) that signs the node's certificate (required)")
	f.StringVar(&opts.Scope, "scope", "", "the scope you grant, `member:GROUP` or registry:GROUP: the request must ask for exactly it (required)")
	f.StringVar(&opts.Agreement, "agreement", "", "the operator agreement's text `FILE`: the request must carry its SHA-256 (required)")
	f.StringVar(&opts.AgreementVersion, "agreement-version", "", "the agreement's version label the request must name (default: any)")
	f.Float64Var(&opts.MinUptime, "min-uptime", 0, "refuse a request committing to less uptime, in percent")
	f.IntVar(&opts.MinBandwidth, "min-bandwidth", 0, "refuse a request committing to less bandwidth, in Mbit/s")
	f.DurationVar(&opts.Validity, "validity", 0, "how long the certificate is valid, e.g. 720h (default a year; never past the CA)")
	f.StringVar(&opts.Out, "out", "", "directory to write node.crt and ca.crt to (created if missing; required)")
	f.BoolVar(&opts.NoLog, "no-log", false, "do not log the approval (a cluster without a registry); --server and its files are then not needed")
	return cmd
}

// Errors of approvals.
var (
	// errWrongScope is returned by approve when the request asks for
	// another scope than the one granted.
	errWrongScope = errors.New("the request asks for another scope")
	// errWrongAgreement is returned by approve when the request's
	// agreement is not the operator's text or version.
	errWrongAgreement = errors.New("the request did not accept this agreement")
	// errBelowMinimum is returned by approve when the stated uptime or
	// bandwidth is below the minimum.
	errBelowMinimum = errors.New("the request commits to less than required")
)

func runNodeApprove(cmd *cobra.Command, opts *nodeApproveOptions, reqPath string) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--ca-dir", opts.CADir}, {"--scope", opts.Scope}, {"--agreement", opts.Agreement}, {"--out", opts.Out}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	grant, err := pki.ParseScope(opts.Scope)
	if err != nil {
		return usagef("--scope %q: %v", opts.Scope, err)
	}
	if grant.Role == pki.RoleOperator {
		return usagef("--scope %s: a node gets member:GROUP or registry:GROUP", grant)
	}
	if opts.Validity < 0 || opts.Validity > 0 && opts.Validity < time.Minute {
		return usagef("--validity %v: want at least 1m (or 0 for a year)", opts.Validity)
	}
	if opts.NoLog {
		if opts.admin.Server != "" || opts.admin.Dev {
			return usagef("--no-log with --server: choose one (the approval is logged through --server)")
		}
	} else if err := opts.admin.resolve("key"); err != nil {
		return withHint(err, "the approval is logged through a registry member (--server, --ca, --cert, --key); --no-log for a cluster without a registry")
	}
	reqBytes, err := os.ReadFile(reqPath)
	if err != nil {
		return withHint(err, "REQUEST is the node.csr the node's 'ddnrs node request' wrote")
	}
	req, err := pki.ParseRequest(reqBytes)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", reqPath, err), "ask the node's operator for a new request made with 'ddnrs node request'")
	}
	text, err := os.ReadFile(opts.Agreement)
	if err != nil {
		return withHint(fmt.Errorf("--agreement: %w", err), "give the file of the operator agreement's text")
	}
	if err := checkApproval(req, grant, pki.AgreementHash(text), opts); err != nil {
		return err
	}
	ca, err := pki.LoadCA(opts.CADir)
	if err != nil {
		return withHint(fmt.Errorf("--ca-dir: %w", err), "--ca-dir must name a directory made by 'ddnrs ops ca init' (or a bootstrap's DIR/ca)")
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return err
	}
	certPath, caPath := filepath.Join(out, pki.CertFile), filepath.Join(out, pki.CACertFile)
	if err := mustBeAbsent(certPath); err != nil {
		return withHint(err, "approve never overwrites a certificate: choose another --out")
	}
	haveCA := false
	if cur, err := pki.LoadCert(caPath); err == nil {
		if !cur.Equal(ca.Cert) {
			return fmt.Errorf("%s holds another CA's certificate; the node would not trust its peers", caPath)
		}
		haveCA = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cert, err := pki.IssueForRequest(ca, req, grant, opts.Validity)
	if err != nil {
		return err
	}
	serial := fmt.Sprintf("%x", cert.SerialNumber)
	w := cmd.OutOrStdout()
	// Logged first: a certificate is handed out only once its approval is
	// on the record.
	if !opts.NoLog {
		reqSum := sha256.Sum256(req.CSR.Raw)
		b, err := raftfsm.EncodeCommand(&raftfsm.ApproveNode{
			NodeID: req.ID, Group: grant.Group, Scope: grant.String(), Serial: serial,
			AgreementVersion: req.Statement.AgreementVersion, AgreementSHA256: req.Statement.AgreementSHA256,
			Uptime: req.Statement.UptimeText(), BandwidthMbps: uint32(req.Statement.BandwidthMbps),
			RequestSHA256: hex.EncodeToString(reqSum[:]), Actor: raftfsm.OperatorActor, Time: time.Now().UTC().Truncate(time.Second),
		})
		if err != nil {
			return err
		}
		c, ctx, release, err := opts.admin.dial(cmd.Context())
		if err != nil {
			return err
		}
		defer release()
		idx, err := c.ProposeRegistryAt(ctx, opts.admin.Server, b)
		if err != nil {
			return adminErr(err, opts.admin.Server)
		}
		fmt.Fprintf(w, "logged the approval of %s at registry index %d\n", req.ID, idx)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	if err := writeNew(certPath, pki.CertPEM(cert)); err != nil {
		return err
	}
	if !haveCA {
		if err := writeNew(caPath, pki.CertPEM(ca.Cert)); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "approved %s as %s: wrote %s (serial %s, valid until %s) and %s; give both to the node (its DIR beside node.key)\n",
		req.ID, grant, certPath, serial, cert.NotAfter.UTC().Format(time.RFC3339), caPath)
	return err
}

// checkApproval checks a parsed request against what the operator grants
// and requires.
func checkApproval(req *pki.Request, grant pki.Scope, agreementSHA256 string, opts *nodeApproveOptions) error {
	st := req.Statement
	switch {
	case req.Scope != grant:
		return withHint(fmt.Errorf("%w: %s asks for %s, you grant %s", errWrongScope, req.ID, req.Scope, grant),
			"approve only the scope you operate; the node must make a new request ('ddnrs node request --scope %s')", grant)
	case st.AgreementSHA256 != agreementSHA256:
		return withHint(fmt.Errorf("%w: %s signed an agreement with SHA-256 %s, --agreement has %s", errWrongAgreement, req.ID, st.AgreementSHA256, agreementSHA256),
			"the node's operator must accept this text: 'ddnrs node request --agreement FILE' with the file you publish")
	case opts.AgreementVersion != "" && st.AgreementVersion != opts.AgreementVersion:
		return withHint(fmt.Errorf("%w: %s names version %q, you require %q", errWrongAgreement, req.ID, st.AgreementVersion, opts.AgreementVersion),
			"the node's operator must name the version: 'ddnrs node request --agreement-version %s'", opts.AgreementVersion)
	case st.UptimePercent < opts.MinUptime:
		return fmt.Errorf("%w: %s commits to %s%% uptime, at least %v%% is required", errBelowMinimum, req.ID, st.UptimeText(), opts.MinUptime)
	case st.BandwidthMbps < opts.MinBandwidth:
		return fmt.Errorf("%w: %s commits to %d Mbit/s, at least %d is required", errBelowMinimum, req.ID, st.BandwidthMbps, opts.MinBandwidth)
	}
	return nil
}
