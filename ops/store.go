package ops

// store.go: `ddnrs ops store`, the offline tools that open a stopped
// node's zone store (raftfsm.StoreFile in its data directory) directly,
// without Raft. Every write a running group sees goes through its leader
// ('ddnrs zone publish', the REST API); these are for what no running
// group can do: seeding a data directory before its first start, and
// putting a zone back into a stopped single-member node after a loss.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// raftDir is where a node keeps its Raft log and stable store in its data
// directory (node.Config.DataDir/raft): its presence says the directory
// belongs to a node that has been a Raft member.
const raftDir = "raft"

// restoreZoneOptions are the flags and argument of `ddnrs ops store
// restore-zone`.
type restoreZoneOptions struct {
	File  string // the owner's zone file (signed or not; it is signed again)
	Data  string // --data: the stopped node's data directory
	Key   string // --key: the owner key's .private
	Force bool   // --force: write although DIR holds Raft state
}

// newStoreCmd returns `ddnrs ops store`.
func newStoreCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Offline tools for a stopped node's zone store (no Raft)",
		Long: `The zone store is the bbolt file (` + raftfsm.StoreFile + `) in a node's data directory that
its Raft state machine owns. The commands here open it directly, which a
running node forbids (it holds the file locked), and they bypass Raft: the
other members of the node's group never see what they write.

To change a zone in a running group, use 'ddnrs zone publish' (or the REST
API): the group's leader checks the change and every member applies it.
'ddnrs zone export' reads a stored zone back out.`,
		Example: `  ddnrs ops store restore-zone --data ./seed --key Kexample.com.+015+12345.private example.com.zone
  ddnrs dev --data ./seed`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(newRestoreZoneCmd(e))
	return cmd
}

func newRestoreZoneCmd(e *env) *cobra.Command {
	opts := &restoreZoneOptions{}
	cmd := &cobra.Command{
		Use:   "restore-zone --data DIR --key KEYFILE ZONEFILE",
		Short: "Sign a zone file into a stopped node's zone store, bypassing Raft",
		Long: `Sign ZONEFILE with the owner key and write it straight into the zone store
in DIR, a data directory no node is using: an offline restore tool for a
stopped node, which bypasses Raft. It fails while a node runs on DIR (the
store is locked).

What it writes does not go through Raft, so no other member learns of it.
That is right for two cases only:

  - seeding a directory no node has run on yet, such as the owner's copy
    that 'ddnrs dev --data DIR' publishes through its group at start, or a
    single node's data_dir before its first start;
  - putting a zone back into a stopped single-member group.

A directory that holds Raft state (DIR/raft) belongs to a group member: the
write would leave that replica different from the others until the next
snapshot replaces it, so restore-zone refuses unless --force is given. For
a running group use 'ddnrs zone publish' instead.

A zone already stored is updated: only the changed RRsets are re-signed and
the serial goes above the stored one (the serial in ZONEFILE counts when it
is higher).`,
		Example: `  ddnrs ops store restore-zone --data ./seed --key Kexample.com.+015+12345.private example.com.zone
  ddnrs dev --data ./seed                      # publishes it through the dev group
  ddnrs zone publish --dev --key Kexample.com.+015+12345.private example.com.zone   # a running group`,
		Args: exactArgs("ZONEFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runRestoreZone(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Data, "data", "", "the stopped node's data directory (required)")
	cmd.Flags().StringVar(&opts.Key, "key", "", "owner key: the .private file from 'ddnrs zone keygen' (required)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "write although DIR holds Raft state (this replica then differs from its group)")
	return cmd
}

func runRestoreZone(_ context.Context, e *env, opts *restoreZoneOptions) error {
	if opts.Data == "" || opts.Key == "" {
		return usagef("--data DIR and --key KEYFILE are required")
	}
	if fi, err := os.Stat(filepath.Join(opts.Data, raftDir)); err == nil && fi.IsDir() && !opts.Force {
		return withHint(fmt.Errorf("%s holds Raft state (%s): it belongs to a group member, and a write here bypasses Raft", opts.Data, filepath.Join(opts.Data, raftDir)),
			"to change a zone in the group, start it and run 'ddnrs zone publish'; to write into this replica alone anyway, add --force")
	}
	k, err := loadKey(opts.Key, true)
	if err != nil {
		return err
	}
	u, err := readZone(opts.File, k.Zone, k)
	if err != nil {
		return err
	}
	s, err := openStore(opts.Data, true)
	if err != nil {
		return err
	}
	defer s.Close()
	stored, err := s.Get(k.Zone)
	if err != nil && !errors.Is(err, raftfsm.ErrNoZone) {
		return err
	}
	z, action, err := zone.Prepare(stored, u, k, e.now())
	if err != nil {
		return fmt.Errorf("sign %s: %w", opts.File, err)
	}
	if err := s.Put(z); err != nil {
		return withHint(err, "raise the SOA serial in %s above the stored one", opts.File)
	}
	fmt.Fprintf(e.stdout, "%s %s serial %d into %s (%d RRsets)\n", action, z.Origin, z.Serial(), s.Path(), len(z.RRsets()))
	return nil
}
