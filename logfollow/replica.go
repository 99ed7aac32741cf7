package logfollow

import (
	"context"
	"errors"

	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
)

// ReplicaLog is a translog.Source over a registry member's own replica
// of the registry, its checkpoints signed with the member's log key: the
// source of a follower on a registry member.
type ReplicaLog struct {
	// Registry returns the replica's current registry state (an error
	// while the node is not running).
	Registry func() (*raftfsm.RegistryState, error)
	// Signer signs the checkpoints; nil: Checkpoint fails.
	Signer note.Signer
	// Origin is the checkpoints' origin line.
	Origin string
}

var _ translog.Source = ReplicaLog{}

// replicaState is one consistent view of the replica's log.
type replicaState struct {
	size  uint64
	tree  *translog.Tree
	entry func(uint64) ([]byte, error)
}

func (l ReplicaLog) state() (*replicaState, error) {
	reg, err := l.Registry()
	if err != nil {
		return nil, err
	}
	return &replicaState{size: reg.LogSize(), tree: reg.Log(), entry: reg.LogEntry}, nil
}

// Checkpoint implements translog.Source: a checkpoint of the replica's
// log at its current size, signed now.
func (l ReplicaLog) Checkpoint(ctx context.Context) ([]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	if l.Signer == nil {
		return nil, errors.New("no log signer")
	}
	root, err := s.tree.Root(s.size)
	if err != nil {
		return nil, err
	}
	return translog.SignCheckpoint(translog.Checkpoint{Origin: l.Origin, Size: s.size, Root: root}, l.Signer)
}

// Entries implements translog.Source.
func (l ReplicaLog) Entries(ctx context.Context, start, end uint64) ([][]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i := start; i < end && i < s.size; i++ {
		b, err := s.entry(i)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Consistency implements translog.Source.
func (l ReplicaLog) Consistency(ctx context.Context, first, second uint64) ([][32]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	return s.tree.ConsistencyProof(first, second)
}

// Inclusion implements translog.Source.
func (l ReplicaLog) Inclusion(ctx context.Context, index, size uint64) ([][32]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	return s.tree.InclusionProof(index, size)
}
