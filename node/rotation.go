package node

// rotation.go: owner key rotation keeps the registry claim and every
// node's trust anchor in step (issues 4 and 6).
//
// A rotation changes two things: the claim in the registry (whose log
// gives every node of another group the zone's trust anchor) and the
// zone in its group (whose answers are signed by the new key from then
// on). The REST API and the admin endpoint change the claim first, then
// the zone (api rotateKey, Node.rotateClaimFirst). A node that follows
// the log keeps the previous owner key as an extra anchor for the zone
// after the claim changed, for registry.rotation_grace after the log
// entry's time, so the answers the group still signs with the previous
// key verify until the rotation reaches the group; client.Verifier drops
// the previous key as soon as it verifies an answer signed by the new
// one (client/anchors.go says how).

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// keyOf is k's DNSKEY, nil for a nil key.
func keyOf(k *zone.Key) *dns.DNSKEY {
	if k == nil {
		return nil
	}
	return k.DNSKEY
}

// rotateClaimFirst moves the registry claim of origin to the new key of
// rot, an operator's RotateKey sent through the admin endpoint, before
// the RotateKey goes to the zone's group (api rotateKey does the same
// for the REST API): the rotation is checked at the group first (a dry
// run, giving the serial the rotation statement is signed for), then a
// ChangeOwnerKey with the RotateKey's own proof is proposed, unless the
// claim holds the new key already. Nothing is done on a node without
// [registry] or for a zone without a claim. Refusals are
// *raftfsm.RejectedError (bad-proof, ...).
func (n *Node) rotateClaimFirst(ctx context.Context, origin string, rot *raftfsm.RotateKey, cmd []byte) error {
	rc := n.cfg.Registry
	switch {
	case !rc.Enabled() && len(rc.URLs) > 0:
		return errNoRegistryAdmin
	case !rc.Enabled():
		return nil
	}
	group, owner, ok := n.claimOf(ctx, origin)
	if !ok {
		return nil
	}
	if rot.NewKey == nil {
		return fmt.Errorf("%w: a rotation of %s without a new key", admin.ErrBadRequest, origin)
	}
	if zone.SameKey(owner, rot.NewKey) {
		return nil // a retry: the claim moved already
	}
	serial, err := n.SubmitZone(ctx, group, origin, raftfsm.Encoded{Cmd: rot, Bytes: cmd}, true)
	if errors.Is(err, api.ErrNotRegistry) {
		// A node outside the registry group cannot find the members of
		// another group to ask (the directory is the registry's): the
		// serial is the change's own, and the group checks the rest
		// when the RotateKey comes; should it refuse it, the claim has
		// moved alone and the rotation can be sent again (nodes accept
		// the previous key meanwhile, rotation_grace).
		serial, err = rotationSerial(rot)
	}
	if err != nil {
		return err
	}
	dk, err := raftfsm.ParseOwnerKey(rot.NewKey.String(), origin)
	if err != nil {
		return &raftfsm.RejectedError{Reason: raftfsm.ReasonMalformed, Err: err}
	}
	c, err := raftfsm.EncodeCommand(&raftfsm.ChangeOwnerKey{Zone: origin, NewOwner: dk.String(),
		Actor: raftfsm.NodeOperatorActor(n.cfg.Group.ID), Time: n.Now(), Proof: rot.Proof, RotateSerial: serial})
	if err != nil {
		return err
	}
	if err := n.proposeOperator(ctx, c); err != nil {
		return err
	}
	if n.fol != nil {
		// This node at least reads the change before the zone rotates.
		if err := n.fol.Sync(ctx); err != nil {
			n.log.Debug("registry log: sync after a claim moved", "zone", origin, "err", err)
		}
	}
	n.log.Info("zone claim moved to the rotated owner key", "zone", origin, "serial", serial, "key_tag", dk.KeyTag())
	return nil
}

// claimOf returns the group and owner key of origin's claim as far as
// this node knows (its replica on a registry member, else the log it
// follows, synced first); ok is false when the zone is not claimed.
func (n *Node) claimOf(ctx context.Context, origin string) (group string, owner *dns.DNSKEY, ok bool) {
	if reg, err := n.Registry(); err == nil {
		cl, ok := reg.Claim(origin)
		if !ok {
			return "", nil, false
		}
		dk, err := raftfsm.ParseOwnerKey(cl.Owner, "")
		if err != nil {
			return cl.Group, nil, true
		}
		return cl.Group, dk, true
	}
	if n.fol == nil {
		return "", nil, false
	}
	if err := n.fol.Sync(ctx); err != nil {
		n.log.Debug("registry log: sync for a rotation", "zone", origin, "err", err)
	}
	g, a := n.logGroups.Load(), n.logAnchors.Load()
	if g == nil {
		return "", nil, false
	}
	group, ok = (*g)[origin]
	if !ok {
		return "", nil, false
	}
	if a != nil {
		if k := (*a)[origin]; k != nil {
			owner = k.DNSKEY
		}
	}
	return group, owner, true
}

// rotationSerial is the serial of the SOA a rotation's change puts.
func rotationSerial(rot *raftfsm.RotateKey) (uint32, error) {
	if serial, ok := rot.Change.Serial(); ok {
		return serial, nil
	}
	return 0, fmt.Errorf("%w: a rotation of %s without a new SOA", admin.ErrBadRequest, rot.Change.Zone)
}
