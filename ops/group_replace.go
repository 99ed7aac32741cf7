package ops

// group_replace.go: `ddnrs ops group replace`, a dead member replaced by
// a new voter in one step (issue 14 item 4).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// groupReplaceOptions are the flags of `ddnrs ops group replace`.
type groupReplaceOptions struct {
	adminOptions
	Dead     string // --dead NODE
	New      string // --new ID
	Raft     string // --raft RAFTADDR of the new member
	Registry string // --registry HOST:PORT: a registry member's admin endpoint
	Reason   string // --reason, for the log
	Force    bool   // --force: replace a member that still answers
	Output   string

	out, errOut io.Writer
}

func newGroupReplaceCmd() *cobra.Command {
	opts := &groupReplaceOptions{}
	cmd := &cobra.Command{
		Use:   "replace --dead NODE --new ID --raft RAFTADDR [--registry REGISTRY_ADMIN] --server MEMBER_ADMIN ...",
		Short: "Replace a dead member by a new voter in one step",
		Long: `Replace the dead member NODE of the group --server belongs to by a new
voter, in one step:

  1. NODE is removed from the group's Raft configuration (the group keeps
     its majority: with 7 voters and one dead, 6 remain);
  2. with --registry (a registry member's admin endpoint), NODE is removed
     from the node directory for good, logged in the transparency log (as
     'ddnrs ops node remove' does): nodes stop admitting its overlay peer
     and the registry refuses its heartbeats;
  3. the new member ID, a running 'ddnrs node' with an empty data directory
     and group.bootstrap = false, listening for Raft at RAFTADDR, is added as
     a voter; it receives a snapshot and the log from the leader;
  4. the command waits (up to --timeout) until the new voter has applied
     what the leader had.

If the dead machine comes back with its old data directory, it is no
member: the others ignore its votes (it is not in their configuration), no
leader sends it writes, the registry refuses its heartbeats (with
--registry), and it never asks to join again (its own log still lists it).
Wipe its data directory before reusing the machine, under a NEW node id:
a removed id is never admitted to the directory again.

A member that still answers its admin endpoint is not dead: replace
refuses it unless --force (use 'ddnrs ops group remove' to retire a live
member). The new node id must differ from the dead one.`,
		Example: `  ddnrs ops group replace --dead n3 --new n8 --raft 10.0.0.8:7300 --reason "disk died" \
      --registry 10.0.0.100:7400 --server 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key
  ddnrs ops group replace --dead node3 --new node4 --raft 127.0.0.4:7300 --dev`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runGroupReplace(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	f := cmd.Flags()
	f.StringVar(&opts.Dead, "dead", "", "Raft server `ID` (node id) of the dead member (required)")
	f.StringVar(&opts.New, "new", "", "node `ID` of the new member (required; not the dead one's)")
	f.StringVar(&opts.Raft, "raft", "", "Raft address `HOST:PORT` of the new member (required)")
	f.StringVar(&opts.Registry, "registry", "", "a registry member's admin endpoint `HOST:PORT`: also remove the dead node from the node directory, logged")
	f.StringVar(&opts.Reason, "reason", "replaced by 'ddnrs ops group replace'", "why, for the public log (with --registry)")
	f.BoolVar(&opts.Force, "force", false, "replace the member even though it still answers")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

// replaceJSON is what replace prints with --output json.
type replaceJSON struct {
	Dead          string `json:"dead"`
	New           string `json:"new"`
	RegistryIndex uint64 `json:"registry_index,omitempty"`
	Voters        int    `json:"voters"`
	CaughtUp      bool   `json:"caught_up"`
	Warning       string `json:"warning,omitempty"`
}

func runGroupReplace(ctx context.Context, opts *groupReplaceOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	switch {
	case !admin.ValidID(opts.Dead):
		return usagef("--dead %q: give the dead member's node id", opts.Dead)
	case !admin.ValidID(opts.New):
		return usagef("--new %q: give the new member's node id", opts.New)
	case opts.New == opts.Dead:
		return usagef("--new %s is the dead member's id: a replacement needs a new node id (a removed id is never admitted again)", opts.New)
	}
	if _, _, err := hostport.Split(opts.Raft); err != nil {
		return usagef("--raft %q: %v", opts.Raft, err)
	}
	if opts.Registry != "" {
		if _, _, err := hostport.Split(opts.Registry); err != nil {
			return usagef("--registry %q: %v", opts.Registry, err)
		}
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	ms, err := c.Members(ctx, opts.Server)
	if err != nil {
		return adminErr(err, opts.Server)
	}
	var dead *admin.MemberStatus
	for i, m := range ms {
		switch m.ID {
		case opts.Dead:
			dead = &ms[i]
		case opts.New:
			return withHint(fmt.Errorf("%s is a member of the group already", opts.New), "give the new node another id, or remove it first")
		}
	}
	if dead == nil {
		return withHint(fmt.Errorf("%s is not a member of the group at %s", opts.Dead, opts.Server), "'ddnrs ops group members' lists the members; to add a voter alone use 'ddnrs ops group join'")
	}
	if dead.Error == "" && !opts.Force {
		return withHint(fmt.Errorf("%s answers (%s): it is not dead", opts.Dead, dead.Raft), "retire a live member with 'ddnrs ops group remove', or pass --force")
	}
	if err := c.Remove(ctx, opts.Server, admin.RemoveRequest{ID: opts.Dead}); err != nil {
		return fmt.Errorf("removing %s from the group: %w", opts.Dead, adminErr(err, opts.Server))
	}
	res := replaceJSON{Dead: opts.Dead, New: opts.New}
	if opts.Registry != "" {
		idx, err := proposeRemoveNode(ctx, c, opts.Registry, opts.Dead, opts.Reason)
		var ae *admin.APIError
		switch {
		case errors.As(err, &ae) && ae.Code == admin.CodeRejected && (ae.Reason == string(raftfsm.ReasonUnknownNode) || ae.Reason == string(raftfsm.ReasonNodeRemoved)):
			fmt.Fprintf(opts.errOut, "note: the node directory does not list %s (%s)\n", opts.Dead, ae.Reason)
		case err != nil:
			return fmt.Errorf("%s left the group, but the registry did not remove it from the directory (run 'ddnrs ops node remove %s --directory-only'): %w", opts.Dead, opts.Dead, err)
		}
		res.RegistryIndex = idx
	}
	if err := c.Join(ctx, opts.Server, admin.JoinRequest{ID: opts.New, RaftAddr: opts.Raft}); err != nil {
		return fmt.Errorf("%s left the group, but adding %s failed (run 'ddnrs ops group join %s %s' once it runs): %w", opts.Dead, opts.New, opts.New, opts.Raft, adminErr(err, opts.Server))
	}
	res.CaughtUp = waitCaughtUp(ctx, c, opts.Server, opts.New)
	res.Voters, res.Warning = countVoters(ctx, c, opts.Server)
	if res.Warning != "" {
		fmt.Fprintf(opts.errOut, "warning: %s\n", res.Warning)
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, res)
	}
	state := "and has caught up with the leader"
	if !res.CaughtUp {
		state = "but has not caught up yet ('ddnrs ops group members' shows its lag)"
	}
	_, err = fmt.Fprintf(opts.out, "replaced %s by %s (%s): %s is a voter %s; the group has %d voter%s\n",
		opts.Dead, opts.New, opts.Raft, opts.New, state, res.Voters, plural(res.Voters))
	return err
}

// waitCaughtUp polls the members until id trails the leader by nothing,
// or until 2 s before ctx ends (leaving time to report); it reports
// whether it did.
func waitCaughtUp(ctx context.Context, c *admin.Client, server, id string) bool {
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-2*time.Second))
		defer cancel()
	}
	for {
		if ms, err := c.Members(ctx, server); err == nil {
			for _, m := range ms {
				if m.ID == id && m.Error == "" && m.Trails == 0 {
					return true
				}
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}
