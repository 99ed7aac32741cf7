package raftfsm

// recover.go: a group that lost quorum for good, brought back on the
// members that survive (issue 14 item 4; `ddnrs ops group recover`).

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// ErrNoRaftState is returned by RecoverGroup when the directory holds no
// Raft state: there is nothing to recover (a member that never ran, or
// the wrong directory).
var ErrNoRaftState = errors.New("no raft state to recover")

// Voter is a member of the configuration RecoverGroup writes.
type Voter struct {
	ID   string // Raft server ID
	Addr string // Raft address, as the member advertises it
}

// RecoverOptions configure RecoverGroup.
type RecoverOptions struct {
	// ID is this member's Raft server ID, and Dir its Raft directory
	// (RaftLogFile, SnapshotDir), as OpenGroup was given. Required.
	ID, Dir string
	// Voters is the new configuration: every surviving member, this one
	// included, each once. Required.
	Voters []Voter
	// FSM is the member's state machine over its zone store (NewFSM): it
	// replays the log into it and snapshots it. Required.
	FSM raft.FSM
	// Logger receives Raft's logs. Default: discard.
	Logger *slog.Logger
}

// RecoverGroup forces the Raft configuration of a stopped member to
// Voters with hashicorp/raft's RecoverCluster: it restores the member's
// latest snapshot into FSM, applies every entry of its log after it, and
// writes a new snapshot whose configuration is Voters, so the member
// starts (OpenGroup) as one of Voters and elects a leader with them
// alone.
//
// It is an offline operation, for a group that lost a majority of its
// voters for good: run it on every surviving member, each stopped, with
// the same Voters. Entries a member holds but the group had not
// committed become committed; entries the lost members committed but no
// survivor holds are lost, though clients were told they committed. A
// member still running holds its Raft log locked: RecoverGroup then fails
// after a second. Returns ErrNoRaftState when Dir holds none.
func RecoverGroup(opts RecoverOptions) error {
	if opts.ID == "" || opts.Dir == "" || opts.FSM == nil || len(opts.Voters) == 0 {
		return errors.New("recover: ID, Dir, FSM and Voters are required")
	}
	conf := raft.Configuration{}
	self := false
	seen := map[string]bool{}
	for _, v := range opts.Voters {
		if v.ID == "" || v.Addr == "" || seen[v.ID] || seen["@"+v.Addr] {
			return fmt.Errorf("recover: voter %q at %q: each needs a distinct ID and address", v.ID, v.Addr)
		}
		seen[v.ID], seen["@"+v.Addr] = true, true
		self = self || v.ID == opts.ID
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v.ID), Address: raft.ServerAddress(v.Addr)})
	}
	if !self {
		return fmt.Errorf("recover: this member %s is not among the voters", opts.ID)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(opts.Dir, RaftLogFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist", ErrNoRaftState, path)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bolt.Options{Timeout: lockTimeout}})
	if err != nil {
		return fmt.Errorf("raft log %s (is the node still running?): %w", path, err)
	}
	defer store.Close()
	hlog := newHclog(opts.Logger.With("component", "raft", "member", opts.ID))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(opts.Dir, 2, hlog.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("raft snapshots: %w", err)
	}
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("raft state: %w", err)
	}
	if !has {
		return fmt.Errorf("%w in %s", ErrNoRaftState, opts.Dir)
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(opts.ID)
	cfg.Logger = hlog
	_, trans := raft.NewInmemTransport(raft.ServerAddress(opts.ID)) // only names the snapshot's transport
	defer trans.Close()
	if err := raft.RecoverCluster(cfg, opts.FSM, store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("raft recovery: %w", err)
	}
	return nil
}
