package raftfsm

// membership.go: the registry commands of the membership lifecycle
// (issue 14 item 4, docs/architecture.md "The membership lifecycle"):
// a node removed from the directory for good (RemoveNode, type 28,
// logged as a node-removal entry, kind 8) and a zone's claim moved to
// another group (MoveZone, type 29).

import (
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// The membership command types. Both are registry commands.
const (
	TypeRemoveNode CommandType = 28 // a node removed from the directory for good
	TypeMoveZone   CommandType = 29 // a claim moved to another group
)

// The reasons of membership rejections.
const (
	ReasonUnknownNode = Reason("unknown-node") // RemoveNode of a node the directory does not list
	ReasonNodeRemoved = Reason("node-removed") // a heartbeat or RemoveNode of a node removed before
	ReasonSameGroup   = Reason("same-group")   // MoveZone to the group that holds the claim
)

// RemoveNode removes node ID from the node directory for good and logs
// a node-removal entry (its group, region and addresses as the
// directory last held them, Reason and Actor). Every node that follows
// the log stops admitting the node's overlay peer; the directory no
// longer offers it to clients; and the registry refuses its later
// heartbeats (ReasonNodeRemoved), so a removed node that comes back is
// not admitted again under the same ID. The set of removed IDs is not
// stored apart: it is read back from the log's node-removal entries
// whenever the registry is loaded (store or snapshot), so no store or
// snapshot format changed.
//
// Body version 1: id, reason, actor, time.
type RemoveNode struct {
	ID, Reason, Actor string
	Time              time.Time
}

// MoveZone moves the claim of Zone to Group, a group some node of the
// directory is in, other than the one holding the claim, and logs a
// zone-move entry (the owner key, the new group, Reason, Actor and
// "from=OLD"): nodes that follow the log route the zone to Group from
// then on (intergroup.Directory). The zone's data is not in the registry:
// the operator's tool copies the owner-signed zone to Group first and
// drops it from the old group after (ddnrs ops zone move). The claim's
// owner key, generation, suspension and lease are kept.
//
// Body version 1: zone, group, reason, actor, time.
type MoveZone struct {
	Zone, Group, Reason, Actor string
	Time                       time.Time
}

func (*RemoveNode) Type() CommandType { return TypeRemoveNode }
func (*MoveZone) Type() CommandType   { return TypeMoveZone }

func newMembershipCommand(t CommandType) Command {
	switch t {
	case TypeRemoveNode:
		return &RemoveNode{}
	case TypeMoveZone:
		return &MoveZone{}
	case TypeNodeRequest:
		return &NodeRequest{}
	}
	return nil
}

func encodeMembershipCommand(e *encoder, c Command) bool {
	switch c := c.(type) {
	case *NodeRequest:
		c.encode(e)
	case *RemoveNode:
		e.str(c.ID)
		e.str(c.Reason)
		e.str(c.Actor)
		e.time(c.Time)
	case *MoveZone:
		e.str(c.Zone)
		e.str(c.Group)
		e.str(c.Reason)
		e.str(c.Actor)
		e.time(c.Time)
	default:
		return false
	}
	return true
}

func decodeMembershipCommand(d *decoder, c Command) bool {
	switch c := c.(type) {
	case *NodeRequest:
		c.decode(d)
	case *RemoveNode:
		c.ID = d.Str16()
		c.Reason = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
	case *MoveZone:
		c.Zone = d.Str16()
		c.Group = d.Str16()
		c.Reason = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
	default:
		return false
	}
	return true
}

// Removed reports whether node id was removed from the directory
// (RemoveNode): the registry refuses its heartbeats.
func (r *RegistryState) Removed(id string) bool { return r.removed[id] }

// noteLoaded keeps the removed set of a leaf loaded from the store or a
// snapshot.
func (r *RegistryState) noteLoaded(e translog.Entry) {
	if e.Kind == translog.KindNodeRemoval {
		r.removed[e.NodeID] = true
	}
	noteNodeRequest(r.nodeReqs, e) // noderequest.go
}

func (r *regWork) removedSet() map[string]bool { return own(r, 2, &r.st.removed) }

// applyMembership applies RemoveNode and MoveZone, and refuses the
// heartbeat of a removed node; false when c is none of these.
func (w *work) applyMembership(c Command, logEntry func(translog.Entry) error) ([]func(kvTx) error, bool, error) {
	r := w.registry()
	st := r.st
	switch c := c.(type) {
	case *NodeRequest:
		return nil, true, w.applyNodeRequest(c, logEntry) // noderequest.go
	case *NodeHeartbeat:
		if st.removed[c.Node.ID] {
			return nil, true, reject(ReasonNodeRemoved, "node %s was removed from the directory; give the machine a new node id", c.Node.ID)
		}
		return nil, false, nil
	case *RemoveNode:
		if c.ID == "" {
			return nil, true, reject(ReasonMalformed, "remove-node without a node id")
		}
		if st.removed[c.ID] {
			return nil, true, reject(ReasonNodeRemoved, "node %s was removed already", c.ID)
		}
		n, ok := st.nodes[c.ID]
		if !ok {
			return nil, true, reject(ReasonUnknownNode, "the node directory does not list %s", c.ID)
		}
		if err := logEntry(translog.Entry{Kind: translog.KindNodeRemoval, Time: c.Time, Group: n.Group, Region: n.Region,
			Reason: c.Reason, Actor: c.Actor, NodeID: n.ID, NodeAddrs: nodeAddrs(n)}); err != nil {
			return nil, true, err
		}
		delete(r.nodes(), c.ID)
		r.removedSet()[c.ID] = true
		return []func(kvTx) error{func(tx kvTx) error { return deleteNodeTx(tx, c.ID) }}, true, nil
	case *MoveZone:
		origin := zone.CanonicalName(c.Zone)
		cl, ok := st.claim(origin)
		if !ok {
			return nil, true, reject(ReasonNoClaim, "%s is not claimed", origin)
		}
		if c.Group == "" {
			return nil, true, reject(ReasonMalformed, "move of %s without a group", origin)
		}
		if cl.Group == c.Group {
			return nil, true, reject(ReasonSameGroup, "%s is on group %s already", origin, c.Group)
		}
		if !st.hasGroup(c.Group) {
			return nil, true, reject(ReasonUnknownGroup, "move of %s to group %q: no node of the directory is in it", origin, c.Group)
		}
		if err := logEntry(translog.Entry{Kind: translog.KindZoneMove, Time: c.Time, Zone: origin, OwnerKey: cl.Owner,
			Group: c.Group, Reason: c.Reason, Actor: c.Actor, NodeAddrs: []string{"from=" + cl.Group}}); err != nil {
			return nil, true, err
		}
		cl.Group = c.Group
		st.setClaim(cl)
		return []func(kvTx) error{func(tx kvTx) error { return putClaimTx(tx, cl) }}, true, nil
	}
	return nil, false, nil
}

// hasGroup reports whether some node of the directory is in group g.
func (r *RegistryState) hasGroup(g string) bool {
	for _, n := range r.nodes {
		if n.Group == g {
			return true
		}
	}
	return false
}

func deleteNodeTx(tx kvTx, id string) error {
	b, err := fsmSub(tx, regNodesBucket)
	if err != nil {
		return err
	}
	return b.Delete([]byte(id))
}
