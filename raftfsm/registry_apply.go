package raftfsm

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
	"github.com/miekg/dns"
)

// regWork is a batch's registry: the base registry, each map copied on
// the batch's first write to it (but the applications, which are
// persistent and never copied), and the log leaves the batch appends.
type regWork struct {
	st     *RegistryState // tree, leaves and size those of the base
	owned  [5]bool        // drops, keys, removed, nodes, node requests copied (the claims are persistent)
	leaves [][]byte       // new leaves, after the base's size
}

// registry returns the batch's registry.
func (w *work) registry() *regWork {
	if w.reg == nil {
		b := *w.base.reg
		w.reg = &regWork{st: &b}
	}
	return w.reg
}

// own copies the map i of owned before the batch's first write to it.
func own[M ~map[string]V, V any](r *regWork, i int, m *M) M {
	if !r.owned[i] {
		*m = maps.Clone(*m)
		r.owned[i] = true
	}
	return *m
}

func (r *regWork) keys() map[string]APIKey      { return own(r, 1, &r.st.keys) }
func (r *regWork) nodes() map[string]NodeRecord { return own(r, 3, &r.st.nodes) }

// appendLeaf adds e to the batch's log and returns its store write.
func (r *regWork) appendLeaf(e translog.Entry) (func(kvTx) error, error) {
	leaf, err := e.MarshalBinary()
	if err != nil {
		return nil, reject(ReasonMalformed, "log entry: %v", err)
	}
	index := r.st.size + uint64(len(r.leaves))
	r.leaves = append(r.leaves, leaf)
	return func(tx kvTx) error { return putLeafTx(tx, index, leaf) }, nil
}

// commit returns the registry state after the batch, appending its leaves
// to the shared tree. Call it once, after the store committed the batch.
func (r *regWork) commit() *RegistryState {
	st := r.st
	for _, l := range r.leaves {
		st.tree.Append(l)
	}
	// Appending in place is safe: earlier states read only their first
	// size leaves, and states follow one another (Check never commits).
	st.leaves = append(st.leaves[:st.size], r.leaves...)
	st.size += uint64(len(r.leaves))
	return st
}

// applyRegistry checks a registry command against w and records it.
func (w *work) applyRegistry(c Command) ([]func(kvTx) error, error) {
	r := w.registry()
	st := r.st
	var ops []func(kvTx) error
	logEntry := func(e translog.Entry) error {
		e.Time = e.Time.Truncate(time.Second).UTC()
		op, err := r.appendLeaf(e)
		if err == nil {
			ops = append(ops, op)
		}
		return err
	}
	if lops, ok, err := w.applyLease(c, logEntry); ok {
		return append(ops, lops...), err
	}
	if mops, ok, err := w.applyMembership(c, logEntry); ok {
		return append(ops, mops...), err
	}
	if sops, ok, err := w.sealApply(c); ok {
		return sops, err
	}
	if c, ok := c.(*ZoneDropped); ok {
		return w.applyDropped(c)
	}
	switch c := c.(type) {
	case *SubmitApplication:
		a := c.App
		if a.ID == "" || a.Status != StatusPending {
			return nil, reject(ReasonMalformed, "application %q with status %q: want an id and status %q", a.ID, a.Status, StatusPending)
		}
		if _, ok := st.apps.Get(a.ID); ok {
			return nil, reject(ReasonDuplicateID, "application %s exists", a.ID)
		}
		if c.MaxOpen != 0 {
			if n := applicationBytes(a); n > MaxApplicationBytes {
				return nil, reject(ReasonMalformed, "application %s holds %d bytes of text, the limit %d", a.ID, n, MaxApplicationBytes)
			}
			if st.open >= int(c.MaxOpen) {
				return nil, reject(ReasonApplicationsFull, "%d applications wait for review, the limit %d", st.open, c.MaxOpen)
			}
		}
		st.setApp(a)
		ops = append(ops, func(tx kvTx) error { return putApplicationTx(tx, a) })
	case *ReviewApplication:
		a, ok := st.apps.Get(c.ID)
		if !ok {
			return nil, reject(ReasonUnknownApplication, "no application %q", c.ID)
		}
		if a.Status != StatusPending && a.Status != StatusMoreInfo {
			return nil, reject(ReasonApplicationClosed, "application %s is %s", a.ID, a.Status)
		}
		switch c.Decision {
		case DecisionApprove:
			if c.Key == nil {
				return nil, reject(ReasonMalformed, "approval of %s without a key", a.ID)
			}
			k := c.Key.clone()
			k.Application = a.ID
			if k.Created.IsZero() {
				k.Created = c.Time
			}
			if err := st.checkNewKey(k); err != nil {
				return nil, err
			}
			a.Status, a.KeyID = StatusApproved, k.ID
			a.SealedKey = slices.Clone(c.Sealed) // sealApply checked it
			r.keys()[k.ID] = k
			ops = append(ops, func(tx kvTx) error { return putKeyTx(tx, k) })
		case DecisionMoreInfo:
			a.Status = StatusMoreInfo
		case DecisionReject:
			a.Status = StatusRejected
		default:
			return nil, reject(ReasonMalformed, "decision %q", c.Decision)
		}
		a.Message, a.Reviewer, a.Reviewed = c.Message, c.Reviewer, c.Time
		st.setApp(a)
		ops = append(ops, func(tx kvTx) error { return putApplicationTx(tx, a) })
	case *IssueKey:
		k := c.Key.clone()
		if err := st.checkNewKey(k); err != nil {
			return nil, err
		}
		if k.Parent != "" {
			if err := st.checkSubKey(k, c.MaxChildren); err != nil {
				return nil, err
			}
		}
		r.keys()[k.ID] = k
		ops = append(ops, func(tx kvTx) error { return putKeyTx(tx, k) })
	case *RevokeKey:
		k, ok := st.keys[c.ID]
		if !ok {
			return nil, reject(ReasonUnknownKey, "no key %q", c.ID)
		}
		if !k.Revoked { // revoking again keeps the first revocation
			k.Revoked, k.RevokedAt, k.RevokedBy = true, c.Time, c.Actor
		}
		// Every key below goes with it (subkey.go), in the same apply:
		// no sub-key outlives a key above it.
		below := st.Descendants(k.ID)
		keys := r.keys()
		keys[k.ID] = k
		ops = append(ops, func(tx kvTx) error { return putKeyTx(tx, k) })
		for _, d := range below {
			if d.Revoked {
				continue
			}
			d.Revoked, d.RevokedAt, d.RevokedBy = true, c.Time, CascadeActor(k.ID)
			keys[d.ID] = d
			ops = append(ops, func(tx kvTx) error { return putKeyTx(tx, d) })
		}
	case *ClaimZone:
		origin, err := claimName(c.Zone)
		if err != nil {
			return nil, err
		}
		dk, err := ParseOwnerKey(c.Owner, origin)
		if err != nil {
			return nil, reject(ReasonMalformed, "claim of %s: %v", origin, err)
		}
		if _, ok := st.claim(origin); ok {
			return nil, reject(ReasonNameClaimed, "%s is claimed", origin)
		}
		if d, ok := st.owedDropOf(origin, dk); ok {
			return nil, reject(ReasonDropPending, "%s was released under this owner key when its lease ran out, and group %s has not dropped that zone yet: claimed again now, its drop would delete the new zone; create it again once the group dropped it, or under another owner key", origin, d.Group)
		}
		if parent, ok := st.enclosingAbove(origin); ok && !OwnerKeyIs(parent.Owner, dk) {
			if len(c.Delegation) == 0 {
				return nil, reject(ReasonDelegationRequired, "%s is inside %s, claimed by another key: a delegation signed by it is needed", origin, parent.Zone)
			}
			pk, err := ParseOwnerKey(parent.Owner, "")
			if err != nil || !ed25519.Verify(publicKey(pk), DelegationStatement(origin, c.Owner), c.Delegation) {
				return nil, reject(ReasonDelegationInvalid, "the delegation of %s is not signed by the owner key of %s", origin, parent.Zone)
			}
		}
		if err := st.checkChildren(origin, c, dk); err != nil {
			return nil, err
		}
		group, err := st.placeClaim(c)
		if err != nil {
			return nil, err
		}
		cl := Claim{Zone: origin, Owner: dk.String(), Group: group, Region: c.Region, Created: c.Time, Actor: c.Actor}
		why := ""
		if !c.Lease.IsZero() {
			if cl.Lease, err = st.checkNewLease(c); err != nil {
				return nil, err
			}
			why = leaseText(cl.Lease)
		}
		if err := logEntry(translog.Entry{Kind: translog.KindRegistration, Time: c.Time, Zone: origin, OwnerKey: cl.Owner,
			Group: group, Region: c.Region, Actor: c.Actor, Reason: why}); err != nil {
			return nil, err
		}
		st.setClaim(cl)
		ops = append(ops, func(tx kvTx) error { return putClaimTx(tx, cl) })
	case *ReleaseZone:
		origin := zone.CanonicalName(c.Zone)
		cl, ok := st.claim(origin)
		if !ok {
			return nil, reject(ReasonNoClaim, "%s is not claimed", origin)
		}
		if err := logEntry(translog.Entry{Kind: translog.KindRelease, Time: c.Time, Zone: origin, Group: cl.Group, Region: cl.Region, Actor: c.Actor}); err != nil {
			return nil, err
		}
		st.deleteClaim(origin)
		ops = append(ops, func(tx kvTx) error { return deleteClaimTx(tx, origin) })
	case *ChangeOwnerKey:
		origin := zone.CanonicalName(c.Zone)
		cl, ok := st.claim(origin)
		if !ok {
			return nil, reject(ReasonNoClaim, "%s is not claimed", origin)
		}
		dk, err := ParseOwnerKey(c.NewOwner, origin)
		if err != nil {
			return nil, reject(ReasonMalformed, "new owner of %s: %v", origin, err)
		}
		old, err := ParseOwnerKey(cl.Owner, origin)
		statement, what := OwnerKeyStatement(origin, c.NewOwner, cl.Generation), fmt.Sprintf("generation %d", cl.Generation)
		if c.RotateSerial != 0 {
			statement, what = RotateStatement(origin, dk, c.RotateSerial), fmt.Sprintf("rotation to serial %d", c.RotateSerial)
		}
		if err != nil || !ed25519.Verify(publicKey(old), statement, c.Proof) {
			return nil, reject(ReasonBadProof, "the owner key change of %s is not signed by its owner key (%s)", origin, what)
		}
		cl.Owner, cl.Generation = dk.String(), cl.Generation+1
		if err := logEntry(translog.Entry{Kind: translog.KindOwnerKeyChange, Time: c.Time, Zone: origin, OwnerKey: cl.Owner,
			Group: cl.Group, Region: cl.Region, Actor: c.Actor}); err != nil {
			return nil, err
		}
		st.setClaim(cl)
		ops = append(ops, func(tx kvTx) error { return putClaimTx(tx, cl) })
	case *RegistrySuspend:
		origin := zone.CanonicalName(c.Zone)
		cl, ok := st.claim(origin)
		if !ok {
			return nil, reject(ReasonNoClaim, "%s is not claimed", origin)
		}
		cl.Suspended, cl.Reason = c.Suspend, c.Reason
		kind := translog.KindUnsuspension
		if c.Suspend {
			kind = translog.KindSuspension
		}
		if err := logEntry(translog.Entry{Kind: kind, Time: c.Time, Zone: origin, Reason: c.Reason, Actor: c.Actor}); err != nil {
			return nil, err
		}
		st.setClaim(cl)
		ops = append(ops, func(tx kvTx) error { return putClaimTx(tx, cl) })
	case *RevokeCert:
		if !translog.CanonicalSerial(c.Serial) {
			return nil, reject(ReasonMalformed, "certificate serial %q: want lower-case hexadecimal without leading zeros, 1 to 40 digits", c.Serial)
		}
		if err := logEntry(translog.Entry{Kind: translog.KindCertRevocation, Time: c.Time, Group: c.Group, Reason: c.Reason,
			Actor: c.Actor, NodeID: c.Name, NodeAddrs: []string{"serial=" + c.Serial}}); err != nil {
			return nil, err
		}
	case *ApproveNode:
		if err := c.check(); err != nil {
			return nil, err
		}
		if err := logEntry(c.entry()); err != nil {
			return nil, err
		}
	case *NodeHeartbeat:
		n := c.Node.clone()
		if n.ID == "" || n.Group == "" {
			return nil, reject(ReasonMalformed, "heartbeat of node %q in group %q: both are needed", n.ID, n.Group)
		}
		if old, known := st.nodes[n.ID]; !known || old.Group != n.Group {
			if err := logEntry(translog.Entry{Kind: translog.KindNodeAdmission, Time: n.Seen, Group: n.Group, Region: n.Region,
				Actor: OperatorActor, NodeID: n.ID, NodeAddrs: nodeAddrs(n)}); err != nil {
				return nil, err
			}
		}
		r.nodes()[n.ID] = n
		ops = append(ops, func(tx kvTx) error { return putNodeTx(tx, n) })
	default:
		return nil, reject(ReasonMalformed, "command %s", c.Type())
	}
	return ops, nil
}

// nodeAddrs lists a node's addresses for its admission entry.
func nodeAddrs(n NodeRecord) []string {
	var out []string
	for _, a := range []struct{ k, v string }{{"dns", n.DNS}, {"admin", n.Admin}, {"api", n.API}, {"peer", n.PeerID}} {
		if a.v != "" {
			out = append(out, a.k+"="+a.v)
		}
	}
	for _, o := range n.Overlay {
		out = append(out, "overlay="+o)
	}
	return out
}

// claimName checks and canonicalises the zone of a claim.
func claimName(name string) (string, error) {
	origin := zone.CanonicalName(name)
	if _, ok := dns.IsDomainName(origin); !ok || origin == "." || name == "" {
		return "", reject(ReasonMalformed, "zone name %q", name)
	}
	return origin, nil
}

func publicKey(dk *dns.DNSKEY) ed25519.PublicKey {
	pk, err := base64.StdEncoding.DecodeString(dk.PublicKey)
	if err != nil || len(pk) != ed25519.PublicKeySize {
		return make(ed25519.PublicKey, ed25519.PublicKeySize) // verifies nothing
	}
	return pk
}

// OwnerKeyIs reports whether owner, a claim's owner key in presentation
// form (Claim.Owner, a log entry's OwnerKey), is the key dk by the one
// key-equality rule, zone.SameKey. Text that does not parse is no key.
func OwnerKeyIs(owner string, dk *dns.DNSKEY) bool {
	o, err := ParseOwnerKey(owner, "")
	return err == nil && zone.SameKey(o, dk)
}

// maxNamedChildren caps how many children a ReasonChildrenClaimed
// rejection names.
const maxNamedChildren = 10

// checkChildren rejects a claim of origin by owner key dk while zones
// strictly below origin are claimed by other owner keys, unless c
// carries each one's valid consent (ClaimZone's doc). It reads only the
// claims below origin (the below index), not every claim.
func (r *RegistryState) checkChildren(origin string, c *ClaimZone, dk *dns.DNSKEY) error {
	consents := make(map[string][]byte, len(c.Consents))
	for _, cs := range c.Consents {
		consents[zone.CanonicalName(cs.Zone)] = cs.Signature
	}
	var missing []string // the first maxNamedChildren in canonical order
	nMissing := 0
	pk := publicKey(dk)
	for name := range r.claimsBelow(origin).All() {
		child, _ := r.claim(name)
		if !otherPublicKey(child.Owner, pk) && OwnerKeyIs(child.Owner, dk) {
			continue
		}
		sig, ok := consents[name]
		if !ok {
			nMissing++
			missing = keepFirst(missing, name, maxNamedChildren)
			continue
		}
		ck, err := ParseOwnerKey(child.Owner, "")
		if err != nil || !ed25519.Verify(publicKey(ck), ParentConsentStatement(origin, c.Owner, name), sig) {
			return reject(ReasonConsentInvalid, "the consent for %s is not signed by the owner key of %s", name, name)
		}
	}
	if nMissing == 0 {
		return nil
	}
	more := ""
	if nMissing > len(missing) {
		more = fmt.Sprintf(" and %d more", nMissing-len(missing))
	}
	return reject(ReasonChildrenClaimed, "%s is above %s%s, claimed by other keys: each one's owner must consent ('ddnrs zone consent')", origin, strings.Join(missing, ", "), more)
}

// enclosingAbove returns the closest claim strictly above origin.
func (r *RegistryState) enclosingAbove(origin string) (Claim, bool) {
	if origin == "." {
		return Claim{}, false
	}
	next, end := dns.NextLabel(origin, 0)
	parent := "."
	if !end {
		parent = origin[next:]
	}
	return r.EnclosingClaim(parent)
}

// checkNewKey checks a key to issue: well-formed, id and hash unused.
func (r *RegistryState) checkNewKey(k APIKey) error {
	if err := validKey(k); err != nil {
		return reject(ReasonMalformed, "key %q: %v", k.ID, err)
	}
	if _, ok := r.keys[k.ID]; ok {
		return reject(ReasonDuplicateID, "key %s exists", k.ID)
	}
	for _, o := range r.keys {
		if o.Hash == k.Hash {
			return reject(ReasonKeyExists, "key %s has the same hash", o.ID)
		}
	}
	return nil
}

func validKey(k APIKey) error {
	if len(k.ID) != 16 || !isLowerHex(k.ID) {
		return errors.New("id is not 16 lower-case hex digits")
	}
	if k.Hash == [32]byte{} {
		return errors.New("no hash")
	}
	for _, s := range k.Scope.Suffixes {
		if s == "" || zone.CanonicalName(s) != s {
			return fmt.Errorf("suffix %q is not canonical", s)
		}
	}
	for _, a := range k.Scope.Actions {
		if !slices.Contains(KeyActions, a) {
			return fmt.Errorf("action %q", a)
		}
	}
	for _, t := range k.Scope.Types {
		if _, ok := dns.StringToType[t]; !ok {
			return fmt.Errorf("type %q", t)
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// placeClaim returns the group of claim c: its requested Group when the
// directory lists that group, else place's choice.
func (r *RegistryState) placeClaim(c *ClaimZone) (string, error) {
	if c.Group == "" {
		return r.place(c.Region)
	}
	for _, n := range r.nodes {
		if n.Group == c.Group {
			return c.Group, nil
		}
	}
	return "", reject(ReasonUnknownGroup, "claim of %s on group %q: no node of the directory is in it", c.Zone, c.Group)
}

// place chooses the group of a new claim: among the groups of the node
// directory (only those with a node in region, when region is given and
// some node is in it), the one with the fewest claims; ties go to the
// first name.
func (r *RegistryState) place(region string) (string, error) {
	all, regional := map[string]bool{}, map[string]bool{}
	for _, n := range r.nodes {
		all[n.Group] = true
		if region != "" && n.Region == region {
			regional[n.Group] = true
		}
	}
	groups := all
	if len(regional) > 0 {
		groups = regional
	}
	if len(groups) == 0 {
		return "", reject(ReasonNoGroups, "the node directory is empty")
	}
	names := slices.Collect(maps.Keys(groups))
	sort.Strings(names)
	best := names[0]
	for _, g := range names[1:] {
		if r.groupClaims(g) < r.groupClaims(best) {
			best = g
		}
	}
	return best, nil
}

// Check validates an encoded zone or registry command against the current
// state without applying it (the REST API's dry run): nil when Apply
// would accept it now, else the *RejectedError (or decoding error) Apply
// would give. Any goroutine may call it; it changes nothing. The outcome
// may differ once other commands are applied before this one.
func (f *FSM) Check(cmd []byte) error {
	f.mu.RLock()
	base, halted := f.state, f.halted
	f.mu.RUnlock()
	if halted != nil {
		return halted
	}
	w := &work{store: f.store, base: base, zones: map[string]*ZoneState{}, members: map[string]*MemberInfo{}}
	_, _, err := w.apply(&raft.Log{Index: base.applied + 1, Type: raft.LogCommand, Data: cmd}, f.log)
	return err
}

// Registry returns the current registry state; never nil. It stays as it
// is while later commands are applied.
func (f *FSM) Registry() *RegistryState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.reg
}
