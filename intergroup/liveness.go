package intergroup

import (
	"sync"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Liveness holds the last heartbeat record a registry member saw of each
// node (its own, nodes of other groups posting to it, and those other
// members passed on): the live figures its health view reads between
// the commits the heartbeat rule makes (raftfsm.HeartbeatNeedsCommit;
// node/liveness.go). The zero value is ready. Safe for concurrent use.
type Liveness struct {
	mu   sync.Mutex
	seen map[string]raftfsm.NodeRecord
}

// Note records rec as the last heartbeat of its node, unless one seen
// later is held already.
func (l *Liveness) Note(rec raftfsm.NodeRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]raftfsm.NodeRecord{}
	}
	if old, ok := l.seen[rec.ID]; ok && old.Seen.After(rec.Seen) {
		return
	}
	l.seen[rec.ID] = rec
}

// Get returns the last heartbeat record of node id.
func (l *Liveness) Get(id string) (raftfsm.NodeRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.seen[id]
	return r, ok
}
