package ops

// group_recover.go: `ddnrs ops group recover`, a group that lost quorum
// for good brought back on its surviving members (issue 14 item 4).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// recoverAckFlag is the flag that says the operator read the risk.
const recoverAckFlag = "i-understand-acknowledged-writes-may-be-lost"

// groupRecoverOptions are the flags of `ddnrs ops group recover`.
type groupRecoverOptions struct {
	Config string   // --config: the stopped member's node.toml
	Voters []string // --voter ID=RAFTADDR, repeated
	Ack    bool     // --i-understand-acknowledged-writes-may-be-lost

	out io.Writer
}

func newGroupRecoverCmd() *cobra.Command {
	opts := &groupRecoverOptions{}
	cmd := &cobra.Command{
		Use:   "recover --config NODE.toml --voter ID=RAFTADDR... --" + recoverAckFlag,
		Short: "Bring back a group that lost a majority of its voters for good (offline, on each survivor)",
		Long: `A group whose voters are mostly gone for good (4 of 7 machines destroyed,
say) cannot elect a leader and takes no write: Raft needs a majority of the
configuration it knows, and the lost voters are still in it. 'recover'
rewrites the Raft configuration of one STOPPED member to the voters you
name (the survivors), with hashicorp/raft's RecoverCluster: it replays the
member's snapshot and log into its zone store and writes a new snapshot
carrying the new configuration. Started again, the survivors elect a
leader among themselves and take writes.

THE RISK: a write the group acknowledged (committed on a majority) may be
held only by lost members: it is then gone, though the client was told it
committed. And a write a survivor holds that never committed is now
committed. Run it only when the lost members will not come back; a member
that is merely down will return by itself. Owners can publish again what
was lost (their signed zones are theirs); the serial floors of other
groups refuse a zone that went back to an older serial until the owner
publishes a higher one.

Steps, one survivor at a time, so that the others keep answering DNS
queries for the group's zones from their replicas all along:

  1. stop the member (ddnrs node);
  2. run this command on it, with the same --voter list on every
     survivor: every survivor, this one included, with the Raft address
     it advertises ('ddnrs ops group members' showed them; [group]
     raft_advertise, else raft_bind);
  3. start it again, check it answers, and go on with the next survivor.
     Once two of three (a majority of the list) are recovered they elect
     a leader among themselves and take writes;
  4. remove the lost members from the registry's node directory
     ('ddnrs ops node remove ID --directory-only'), and add new members
     ('ddnrs ops group join') to get back to five or seven voters.

One at a time is as safe as stopping all of them first: a survivor not
yet recovered still lists the lost voters and can never win an election
(that is why you recover), and the recovered ones all list the same
voters. Stopping every survivor at once leaves the group's zones
answered only from other groups' caches ([overlay] relayed_ttl, 5 s by
default), then not at all until they are back.

Never start a lost member again with its old data directory: wipe it, and
give it a new node id.`,
		Example: `  # on each of n1, n2, n3 (stopped), the same voters:
  ddnrs ops group recover --config /etc/ddnrs/node.toml \
      --voter n1=10.0.0.1:7300 --voter n2=10.0.0.2:7300 --voter n3=10.0.0.3:7300 \
      --` + recoverAckFlag,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			return runGroupRecover(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Config, "config", "", "the stopped member's configuration `FILE` (node.toml), for its data_dir, group id and store")
	f.StringArrayVar(&opts.Voters, "voter", nil, "a surviving voter as `ID=RAFTADDR`; give every survivor, this member included")
	f.BoolVar(&opts.Ack, recoverAckFlag, false, "say that you read the risk above: acknowledged writes held only by the lost members are lost")
	return cmd
}

// parseVoters reads ID=RAFTADDR flags.
func parseVoters(flags []string) ([]raftfsm.Voter, error) {
	var out []raftfsm.Voter
	seen := map[string]bool{}
	for _, f := range flags {
		id, addr, ok := strings.Cut(f, "=")
		if !ok || !admin.ValidID(id) {
			return nil, fmt.Errorf("--voter %q: want ID=RAFTADDR, e.g. n1=10.0.0.1:7300", f)
		}
		if _, _, err := hostport.Split(addr); err != nil {
			return nil, fmt.Errorf("--voter %q: %v", f, err)
		}
		if seen[id] || seen["@"+addr] {
			return nil, fmt.Errorf("--voter %q: ID or address given twice", f)
		}
		seen[id], seen["@"+addr] = true, true
		out = append(out, raftfsm.Voter{ID: id, Addr: addr})
	}
	return out, nil
}

func runGroupRecover(_ context.Context, opts *groupRecoverOptions) error {
	if opts.Config == "" {
		return usagef("--config is required: the stopped member's node.toml")
	}
	if len(opts.Voters) == 0 {
		return usagef("give the surviving voters with --voter ID=RAFTADDR, this member included")
	}
	voters, err := parseVoters(opts.Voters)
	if err != nil {
		return usagef("%v", err)
	}
	if !opts.Ack {
		return usagef("recovery may lose writes the group acknowledged (read 'ddnrs ops group recover --help'); pass --%s to go on", recoverAckFlag)
	}
	cfg, err := node.LoadConfig(opts.Config)
	if err != nil {
		return err
	}
	id := cfg.Group.ID
	self := false
	for _, v := range voters {
		self = self || v.ID == id
	}
	if !self {
		return usagef("this member (%s, [group] id of %s) is not among the --voter list: run recover on the survivors only, each listing itself", id, opts.Config)
	}
	if len(voters)%2 == 0 {
		fmt.Fprintf(opts.out, "warning: %d voters survive no more failures than %d would; add a member after the recovery\n", len(voters), len(voters)-1)
	}
	backend, err := raftfsm.ParseBackend(cfg.Group.Store)
	if err != nil {
		return err
	}
	store, err := raftfsm.OpenStoreBackend(raftfsm.BackendStorePath(cfg.DataDir, backend), backend)
	if err != nil {
		if errors.Is(err, raftfsm.ErrLocked) {
			return withHint(err, "stop the node first: recovery runs on a stopped member only")
		}
		return err
	}
	defer store.Close()
	fsm, err := raftfsm.NewFSM(store, raftfsm.FSMOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	err = raftfsm.RecoverGroup(raftfsm.RecoverOptions{ID: id, Dir: filepath.Join(cfg.DataDir, raftDir), Voters: voters, FSM: fsm})
	if errors.Is(err, raftfsm.ErrNoRaftState) {
		return withHint(err, "%s has never been a member of a group (data_dir %s): nothing to recover", id, cfg.DataDir)
	}
	if err != nil {
		return err
	}
	names := make([]string, len(voters))
	for i, v := range voters {
		names[i] = v.ID
	}
	_, err = fmt.Fprintf(opts.out, "recovered %s: its Raft configuration is now %s (%d voters; applied index %d). Start it again, then recover the other survivors the same way with the same --voter list, one at a time.\n",
		id, strings.Join(names, ", "), len(voters), fsm.AppliedIndex())
	return err
}
