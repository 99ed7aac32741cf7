package ops

// ops_node.go: `ddnrs ops node`, the commands about one node of the
// registry's node directory (issue 14 item 4). Each subcommand adds its
// constructor here with one AddCommand line.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
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
	cmd.AddCommand(newNodeRemoveCmd())
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
