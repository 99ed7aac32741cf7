package writes

// claims.go: the registry claims the write path makes for an operator.
// An operator's create through the admin endpoint claims the name first,
// a delete releases it, and a key rotation moves the claim to the new
// key before the zone rotates (issues 4 and 6): owner key rotation keeps
// the registry claim and every node's trust anchor in step.
//
// A rotation changes two things: the claim in the registry (whose log
// gives every node of another group the zone's trust anchor) and the
// zone in its group (whose answers are signed by the new key from then
// on). The REST API and the admin endpoint change the claim first, then
// the zone (api rotateKey, Path.rotateClaimFirst). A node that follows
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

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// placedHere reports whether the registry placed origin on this node's
// group with cmd's owner key, cmd being a CreateZone or the StageBegin of
// a staged create: then a node of another group (the registry's API) may
// create the zone here over DDNRS-RPC. The chunks and commit of a staged
// create are taken while this replica holds the open upload. A registry
// member reads its replica's claim; another node reads what it followed
// of the log, polling the log once more when the zone is not there yet
// (a claim made moments ago).
func (w *Path) placedHere(ctx context.Context, origin string, cmd raftfsm.Encoded) bool {
	var owner *dns.DNSKEY
	switch c := cmd.Cmd.(type) {
	case *raftfsm.CreateZone:
		owner = c.Owner
	case *raftfsm.StageBegin: // a staged create (upload.go)
		owner = c.Owner
	case *raftfsm.StageChunk, *raftfsm.StageCommit:
		return w.uploadOpen(origin)
	}
	if owner == nil {
		return false
	}
	if reg, err := w.r.Registry(); err == nil {
		cl, ok := reg.Claim(origin)
		return ok && cl.Group == w.o.Group && raftfsm.OwnerKeyIs(cl.Owner, owner)
	}
	l := w.r.Log()
	if l == nil {
		return false
	}
	look := func() bool {
		group, key, ok := l.Claim(origin)
		return ok && group == w.o.Group && zone.SameKey(key, owner)
	}
	if look() {
		return true
	}
	if err := l.Sync(ctx); err != nil {
		w.log.Debug("registry log: sync for a create from another group", "zone", origin, "err", err)
	}
	return look()
}

// errNoRegistryAdmin marks an operator's create on a node that follows
// the registry (registry.urls) but knows no registry admin endpoint to
// claim the name through (mapped to bad_request).
var errNoRegistryAdmin = fmt.Errorf("%w: this node follows the registry but has no registry.admin: an operator's create must claim the name through a registry member's admin endpoint", admin.ErrBadRequest)

// claimForOperator claims origin for owner on this node's group, actor
// NodeOperatorActor(node id): the admin endpoint calls it before an
// operator's CreateZone, so names stay unique and every zone is in the
// transparency log. A registry member proposes the claim itself; another
// node posts it to the registry members' admin endpoints ([registry]
// admin), each in turn until one answers. made is false when nothing was
// claimed: the node has no [registry], or the name is claimed already
// for the same key on this group (a create retried after its claim).
// A claim refused because the directory does not list this node's group
// yet is retried once after a heartbeat. Refusals are
// *raftfsm.RejectedError (name-claimed, delegation-required, ...).
func (w *Path) claimForOperator(ctx context.Context, origin string, owner *dns.DNSKEY) (made bool, err error) {
	switch {
	case !w.o.RegistryEnabled && w.o.FollowsRegistry:
		return false, errNoRegistryAdmin
	case !w.o.RegistryEnabled:
		return false, nil
	case owner == nil:
		return false, fmt.Errorf("%w: create of %s without an owner key", admin.ErrBadRequest, origin)
	}
	cmd, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: origin, Owner: owner.String(), Group: w.o.Group,
		Actor: raftfsm.NodeOperatorActor(w.o.NodeID), Time: w.now()})
	if err != nil {
		return false, err
	}
	err = w.proposeOperator(ctx, cmd)
	var rej *raftfsm.RejectedError
	if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonUnknownGroup {
		if herr := w.r.Heartbeat(ctx); herr != nil {
			return false, fmt.Errorf("%w (and this node's heartbeat failed: %w)", err, herr)
		}
		err = w.proposeOperator(ctx, cmd)
	}
	if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNameClaimed {
		// Claimed already: by this key on this group (a retried create)
		// is fine; by this key elsewhere, say where.
		switch group, same := w.claimedFor(ctx, origin, owner); {
		case same && group == w.o.Group:
			return false, nil
		case same:
			return false, &raftfsm.RejectedError{Reason: raftfsm.ReasonNameClaimed,
				Err: fmt.Errorf("%s is claimed for this owner key on group %s, not this node's group %s: create it through a node of %s", origin, group, w.o.Group, group)}
		}
	}
	if err != nil {
		return false, err
	}
	w.log.Info("zone claimed for the operator", "zone", origin, "group", w.o.Group, "key_tag", owner.KeyTag())
	return true, nil
}

// claimedFor reports the group of origin's claim and whether it is
// owner's, as far as this node knows: a registry member from its replica,
// another node from the log it follows, synced first (same is false when
// it follows none).
func (w *Path) claimedFor(ctx context.Context, origin string, owner *dns.DNSKEY) (group string, same bool) {
	if reg, err := w.r.Registry(); err == nil {
		cl, ok := reg.Claim(origin)
		return cl.Group, ok && raftfsm.OwnerKeyIs(cl.Owner, owner)
	}
	l := w.r.Log()
	if l == nil {
		return "", false
	}
	if err := l.Sync(ctx); err != nil {
		w.log.Debug("registry log: sync for a claimed name", "zone", origin, "err", err)
	}
	group, k, _ := l.Claim(origin)
	return group, zone.SameKey(k, owner)
}

// releaseForOperator releases the claim of origin after an operator
// deleted the zone through the admin endpoint. No claim to release, or
// no [registry], is not an error.
func (w *Path) releaseForOperator(ctx context.Context, origin string) error {
	if !w.o.RegistryEnabled {
		return nil
	}
	cmd, err := raftfsm.EncodeCommand(&raftfsm.ReleaseZone{Zone: origin, Actor: raftfsm.NodeOperatorActor(w.o.NodeID), Time: w.now()})
	if err != nil {
		return err
	}
	err = w.proposeOperator(ctx, cmd)
	var rej *raftfsm.RejectedError
	if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNoClaim {
		return nil
	}
	if err == nil {
		w.log.Info("zone released for the operator", "zone", origin)
	}
	return err
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
func (w *Path) rotateClaimFirst(ctx context.Context, origin string, rot *raftfsm.RotateKey, cmd []byte) error {
	switch {
	case !w.o.RegistryEnabled && w.o.FollowsRegistry:
		return errNoRegistryAdmin
	case !w.o.RegistryEnabled:
		return nil
	}
	group, owner, ok := w.claimOf(ctx, origin)
	if !ok {
		return nil
	}
	if rot.NewKey == nil {
		return fmt.Errorf("%w: a rotation of %s without a new key", admin.ErrBadRequest, origin)
	}
	if zone.SameKey(owner, rot.NewKey) {
		return nil // a retry: the claim moved already
	}
	serial, err := w.SubmitZone(ctx, group, origin, raftfsm.Encoded{Cmd: rot, Bytes: cmd}, true)
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
		Actor: raftfsm.NodeOperatorActor(w.o.NodeID), Time: w.now(), Proof: rot.Proof, RotateSerial: serial})
	if err != nil {
		return err
	}
	if err := w.proposeOperator(ctx, c); err != nil {
		return err
	}
	if l := w.r.Log(); l != nil {
		// This node at least reads the change before the zone rotates.
		if err := l.Sync(ctx); err != nil {
			w.log.Debug("registry log: sync after a claim moved", "zone", origin, "err", err)
		}
	}
	w.log.Info("zone claim moved to the rotated owner key", "zone", origin, "serial", serial, "key_tag", dk.KeyTag())
	return nil
}

// claimOf returns the group and owner key of origin's claim as far as
// this node knows (its replica on a registry member, else the log it
// follows, synced first); ok is false when the zone is not claimed.
func (w *Path) claimOf(ctx context.Context, origin string) (group string, owner *dns.DNSKEY, ok bool) {
	if reg, err := w.r.Registry(); err == nil {
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
	l := w.r.Log()
	if l == nil {
		return "", nil, false
	}
	if err := l.Sync(ctx); err != nil {
		w.log.Debug("registry log: sync for a rotation", "zone", origin, "err", err)
	}
	return l.Claim(origin)
}

// rotationSerial is the serial of the SOA a rotation's change puts.
func rotationSerial(rot *raftfsm.RotateKey) (uint32, error) {
	if serial, ok := rot.Change.Serial(); ok {
		return serial, nil
	}
	return 0, fmt.Errorf("%w: a rotation of %s without a new SOA", admin.ErrBadRequest, rot.Change.Zone)
}
