package node

// registry.go: the node's side of the registry (issue 6). The node is
// the api.Backend of its REST API: the registry state of the local
// replica (registry group members only), registry commands proposed
// through the group's leader, zone commands sent to the group a zone is
// placed on, and health from the node directory. Every node that takes
// part in the registry reports itself to the directory with a
// heartbeat every [registry] heartbeat_interval.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// Errors of the registry side of a node.
var (
	// ErrNoGroupMember is returned by SubmitZone when the registry's node
	// directory names no member of the target group with an overlay
	// address, or none of them could be reached. It is api.ErrNoGroupMember,
	// so the API answers 503 no_group_member.
	ErrNoGroupMember = api.ErrNoGroupMember
	// errNotRegistryCommand marks a command given to ProposeRegistry that
	// is not a registry command (mapped to bad_request).
	errNotRegistryCommand = fmt.Errorf("%w: not a registry command", errBadRequest)
)

// appliedPoll is how often ProposeRegistry looks whether the local
// replica has applied a command committed through another member.
const appliedPoll = 5 * time.Millisecond

var _ api.Backend = (*Node)(nil)

// runningParts returns the FSM and group while the node runs.
func (n *Node) runningParts() (*raftfsm.FSM, *raftfsm.Group, *admin, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running || n.closing || n.fsm == nil {
		return nil, nil, nil, ErrNotRunning
	}
	return n.fsm, n.group, n.admin, nil
}

// path resolves p against the data directory unless absolute.
func (n *Node) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(n.cfg.DataDir, p)
}

// Registry implements api.Backend: the local replica's registry state
// on a registry member, else api.ErrNotRegistry.
func (n *Node) Registry() (*raftfsm.RegistryState, error) {
	if !n.cfg.Registry.Member {
		return nil, api.ErrNotRegistry
	}
	fsm, _, _, err := n.runningParts()
	if err != nil {
		return nil, err
	}
	return fsm.Registry(), nil
}

// isRegistryCommand reports whether c is one of the registry commands.
func isRegistryCommand(c raftfsm.Command) bool {
	switch c.(type) {
	case *raftfsm.SubmitApplication, *raftfsm.ReviewApplication, *raftfsm.IssueKey, *raftfsm.RevokeKey,
		*raftfsm.ClaimZone, *raftfsm.ReleaseZone, *raftfsm.ChangeOwnerKey, *raftfsm.RegistrySuspend, *raftfsm.NodeHeartbeat:
		return true
	}
	return false
}

// ProposeRegistry implements api.Backend: cmd is applied by this node
// when it leads the registry group, else forwarded once to the leader's
// admin endpoint (POST /v1/registry/propose); it returns once the local
// replica has applied the command's index too. Rejections are
// *raftfsm.RejectedError, also when the leader rejected a forwarded
// command.
func (n *Node) ProposeRegistry(ctx context.Context, cmd []byte) error {
	if !n.cfg.Registry.Member {
		return api.ErrNotRegistry
	}
	fsm, _, a, err := n.runningParts()
	if err != nil {
		return err
	}
	idx, err := a.proposeRegistry(ctx, cmd, true)
	if err != nil {
		return err
	}
	if err := waitApplied(ctx, fsm, idx); err != nil {
		return err
	}
	if n.fol != nil {
		n.fol.nudge() // a suspension takes effect here at once
	}
	return nil
}

// waitApplied returns once fsm has applied index idx. Raft's own applied
// index runs ahead of the state machine (it counts entries handed to it),
// so the state machine's is the one read.
func waitApplied(ctx context.Context, fsm *raftfsm.FSM, idx uint64) error {
	if fsm.AppliedIndex() >= idx {
		return nil
	}
	t := time.NewTicker(appliedPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for index %d to be applied here: %w", idx, ctx.Err())
		case <-t.C:
		}
		if fsm.AppliedIndex() >= idx {
			return nil
		}
	}
}

// proposeRegistry applies a registry command, forwarding it to the
// leader once when this node does not lead and mayForward; it returns
// the command's Raft index.
func (a *admin) proposeRegistry(ctx context.Context, cmd []byte, mayForward bool) (uint64, error) {
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		return 0, &raftfsm.RejectedError{Reason: raftfsm.ReasonMalformed, Err: err}
	}
	if !isRegistryCommand(c) {
		return 0, fmt.Errorf("%w (%v)", errNotRegistryCommand, c.Type())
	}
	wait := time.NewTimer(a.cfg.LeaderWait)
	defer wait.Stop()
	for {
		idx, err := a.proposeOnce(ctx, cmd, mayForward)
		if err == nil || !leaderUnknown(err) {
			return idx, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-wait.C:
			return 0, err
		case <-time.After(leaderPoll):
		}
	}
}

func (a *admin) proposeOnce(ctx context.Context, cmd []byte, mayForward bool) (uint64, error) {
	res, err := a.apply(ctx, cmd)
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) && mayForward {
		var idx uint64
		err = a.forward(ctx, nl, func(ctx context.Context, addr string) error {
			var ferr error
			idx, ferr = a.client.proposeRegistry(ctx, addr, cmd)
			return ferr
		})
		// The leader's rejection comes back as an APIError; the API
		// wants the state machine's typed error.
		if ae, ok := errorsAsAPI(err); ok && ae.Code == CodeRejected {
			err = rejection(ae.Reason, ae.Message)
		}
		return idx, err
	}
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// SubmitZone implements api.Backend. The command goes to this node's
// group when group is its name, or group is "" and the local replica
// holds origin; to the group that holds origin in the overlay when group
// is "" and the local replica does not; otherwise to a member of group,
// found in the registry's node directory, over DDNRS-RPC SubmitChange.
// A dry run is checked against the state of a replica of the same
// group ((*raftfsm.FSM).Check), never proposed: the local one, or, for
// another group, a member's over DDNRS-RPC SubmitChange with DryRun set
// (elsewhere.go); a replica may lag its leader by a few entries.
func (n *Node) SubmitZone(ctx context.Context, group, origin string, cmd []byte, dryRun bool) (uint32, error) {
	fsm, _, a, err := n.runningParts()
	if err != nil {
		return 0, err
	}
	origin = zone.CanonicalName(origin)
	_, held := fsm.Zone(origin)
	local := group == n.cfg.Group.Name || (group == "" && held)
	if dryRun {
		if !local {
			serial, asked, err := n.checkElsewhere(ctx, group, origin, cmd)
			if asked {
				if err != nil {
					return 0, backendErr(err)
				}
				return serial, nil
			}
		}
		serial, err := checkLocal(fsm, origin, cmd)
		if err != nil {
			return 0, backendErr(err)
		}
		return serial, nil
	}
	var res *ChangeResult
	switch {
	case local:
		res, err = a.submit(ctx, origin, cmd, true)
	case group == "":
		res, err = a.submitAnywhere(ctx, origin, cmd, true)
	default:
		if err := checkCommand(origin, cmd); err != nil {
			return 0, backendErr(err)
		}
		res, err = n.submitToGroup(ctx, group, origin, cmd)
	}
	if err != nil {
		return 0, backendErr(err)
	}
	return res.Serial, nil
}

// backendErr turns the admin path's errors into the ones the API maps:
// a rejection by the leader (forwarded) or by another group becomes a
// *raftfsm.RejectedError again, a zone no group holds api.ErrNoZone, a
// create of a zone another group holds a rejection naming it, and a
// command the node refuses as malformed an invalid "command" field.
func backendErr(err error) error {
	var (
		ae *APIError
		re *overlay.RemoteError
		ee *ElsewhereError
	)
	switch {
	case errors.As(err, &ee):
		return &raftfsm.RejectedError{Reason: raftfsm.Reason(CodeExistsElsewhere), Err: err}
	case errors.As(err, &ae) && ae.Code == CodeRejected:
		return rejection(ae.Reason, ae.Message)
	case errors.As(err, &ae) && ae.Code == CodeNotFound:
		return fmt.Errorf("%w: %w", api.ErrNoZone, err)
	case errors.As(err, &re) && re.Code == overlay.CodeRejected:
		return remoteRejection(re)
	case errors.As(err, &re) && re.Code == overlay.CodeNotFound, errors.Is(err, ErrNotHosted), errors.Is(err, raftfsm.ErrNoZone):
		return fmt.Errorf("%w: %w", api.ErrNoZone, err)
	case errors.Is(err, errBadRequest), errors.As(err, &ae) && ae.Code == CodeBadRequest,
		errors.As(err, &re) && re.Code == overlay.CodeBadRequest:
		return &api.FieldError{Field: "command", Err: err}
	}
	return err
}

// dryRunSerial is the serial a checked command would leave: the
// serial of its change set's SOA, else the stored one.
func dryRunSerial(fsm *raftfsm.FSM, origin string, cmd []byte) uint32 {
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		return 0
	}
	var cs *zone.ChangeSet
	switch c := c.(type) {
	case *raftfsm.CreateZone:
		cs = &c.Change
	case *raftfsm.PublishChange:
		cs = &c.Change
	case *raftfsm.RotateKey:
		cs = &c.Change
	}
	if cs != nil {
		if serial, ok := cs.Serial(); ok {
			return serial
		}
	}
	if st, ok := fsm.Zone(origin); ok && st.Zone != nil {
		return st.Zone.Serial()
	}
	return 0
}

// groupPeers returns the overlay addresses of group's members as the
// registry's node directory lists them (registry members only; others
// have no directory).
func (n *Node) groupPeers(group string) ([]peer.AddrInfo, error) {
	reg, err := n.Registry()
	if err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for _, r := range reg.Nodes() {
		if r.Group != group || r.PeerID == "" {
			continue
		}
		id, err := peer.Decode(r.PeerID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range r.Overlay {
			if a, err := ma.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		out = append(out, ai)
	}
	return out, nil
}

// submitToGroup sends cmd to a member of group over DDNRS-RPC, trying
// each member the directory lists until one accepts it or the group
// refuses it for good.
func (n *Node) submitToGroup(ctx context.Context, group, origin string, cmd []byte) (*ChangeResult, error) {
	o := n.ov.Load()
	if o == nil {
		return nil, fmt.Errorf("%w: group %s: the overlay is off on this node", ErrNoGroupMember, group)
	}
	peers, err := n.groupPeers(group)
	if err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: the node directory lists no member of group %q", ErrNoGroupMember, group)
	}
	var errs []error
	for _, p := range peers {
		if p.ID == o.host.ID() {
			continue
		}
		res, err := o.client.SubmitChange(ctx, p, &overlay.SubmitChangeRequest{Zone: origin, Cmd: cmd})
		if err == nil {
			return &ChangeResult{Serial: res.Serial, Index: res.Index}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.ID, err))
		var re *overlay.RemoteError
		if errors.As(err, &re) && (re.Code == overlay.CodeRejected || re.Code == overlay.CodeBadRequest) {
			return nil, re // the group refused it; another member would too
		}
	}
	return nil, fmt.Errorf("%w: group %s: %w", ErrNoGroupMember, group, errors.Join(errs...))
}

// remoteRejection turns a remote group's refusal into the state
// machine's typed error where it names a reason ("reason: message").
func remoteRejection(re *overlay.RemoteError) error {
	if re.Code != overlay.CodeRejected {
		return re
	}
	reason, msg, ok := cutReason(re.Message)
	if !ok {
		return &raftfsm.RejectedError{Reason: "remote", Err: re}
	}
	return rejection(reason, msg)
}

// rejection rebuilds the state machine's typed error from a reason and
// the message another node sent with it. That message is often the
// remote *raftfsm.RejectedError's own text, "rejected (<reason>): …";
// its prefix is cut (at every hop it was added) so the error does not
// say it twice.
func rejection(reason, msg string) *raftfsm.RejectedError {
	prefix := (&raftfsm.RejectedError{Reason: raftfsm.Reason(reason), Err: errors.New("")}).Error()
	for strings.HasPrefix(msg, prefix) && len(msg) > len(prefix) {
		msg = msg[len(prefix):]
	}
	return &raftfsm.RejectedError{Reason: raftfsm.Reason(reason), Err: errors.New(msg)}
}

func cutReason(s string) (reason, msg string, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' && i > 0 {
			return s[:i], s[min(i+2, len(s)):], true
		}
		if !(c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	return "", "", false
}

// Zone implements api.Backend: the local replica's zone, else the
// zone as another group of the overlay holds it (FetchZone, verified).
func (n *Node) Zone(ctx context.Context, origin string) (*zone.Zone, error) {
	z, err := n.Stored(origin)
	if err == nil {
		return z, nil
	}
	if !errors.Is(err, raftfsm.ErrNoZone) {
		return nil, err
	}
	z, err = n.FetchZone(ctx, origin)
	if errors.Is(err, ErrNotHosted) {
		return nil, fmt.Errorf("%w: %w", api.ErrNoZone, err)
	}
	return z, err
}

// healthyAfter is how many heartbeat intervals a node may stay silent
// and still count as healthy.
const healthyAfter = 3

// Health implements api.Backend: every node of the registry's directory
// (on a registry member; elsewhere only this node), with this node's
// own figures taken live from Raft.
func (n *Node) Health(ctx context.Context) (api.Health, error) {
	self := n.selfRecord(n.Now())
	var recs []raftfsm.NodeRecord
	if reg, err := n.Registry(); err == nil {
		recs = reg.Nodes()
	}
	if i := slices.IndexFunc(recs, func(r raftfsm.NodeRecord) bool { return r.ID == self.ID && r.Group == self.Group }); i >= 0 {
		recs[i] = self
	} else {
		recs = append(recs, self)
	}
	// Seen is in whole seconds: allow one more.
	stale := healthyAfter*n.cfg.Registry.HeartbeatInterval + time.Second
	return healthOf(recs, n.Now(), stale, n.registryGroup()), nil
}

// registryGroup is the registry group's name when this node is a
// member, else "".
func (n *Node) registryGroup() string {
	if n.cfg.Registry.Member {
		return n.cfg.Group.Name
	}
	return ""
}

// healthOf summarises directory records: a node is healthy when seen
// within stale; its lag is its group's highest last index minus what it
// applied.
func healthOf(recs []raftfsm.NodeRecord, now time.Time, stale time.Duration, registry string) api.Health {
	top := map[string]uint64{}
	for _, r := range recs {
		top[r.Group] = max(top[r.Group], r.LastIndex, r.Applied)
	}
	groups := map[string]*api.GroupHealth{}
	var h api.Health
	for _, r := range recs {
		lag := top[r.Group] - min(r.Applied, top[r.Group])
		ok := now.Sub(r.Seen) <= stale
		h.Nodes = append(h.Nodes, api.NodeHealth{
			ID: r.ID, Group: r.Group, Region: r.Region, DNS: r.DNS, Admin: r.Admin, API: r.API,
			PeerID: r.PeerID, Transports: r.Transports, Seen: r.Seen, Healthy: ok, Applied: r.Applied, Lag: lag,
		})
		g := groups[r.Group]
		if g == nil {
			g = &api.GroupHealth{Name: r.Group, Registry: r.Group == registry && registry != ""}
			groups[r.Group] = g
		}
		g.Members++
		if ok {
			g.Healthy++
			g.MaxLag = max(g.MaxLag, lag)
			if r.Leader != "" {
				g.Leader = r.Leader
			}
		}
	}
	sort.Slice(h.Nodes, func(i, j int) bool {
		a, b := h.Nodes[i], h.Nodes[j]
		return a.Group < b.Group || a.Group == b.Group && a.ID < b.ID
	})
	for _, g := range groups {
		h.Groups = append(h.Groups, *g)
	}
	sort.Slice(h.Groups, func(i, j int) bool { return h.Groups[i].Name < h.Groups[j].Name })
	return h
}

// LogSigner implements api.Backend: the log's signer on a registry
// member, else nil.
func (n *Node) LogSigner() note.Signer { return n.signer }

// LogOrigin implements api.Backend.
func (n *Node) LogOrigin() string { return n.cfg.Registry.LogOrigin }

// Now implements api.Backend: the wall clock in whole seconds, UTC.
func (n *Node) Now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// selfRecord is this node's directory record as of now.
func (n *Node) selfRecord(now time.Time) raftfsm.NodeRecord {
	r := raftfsm.NodeRecord{
		ID:     n.cfg.Group.ID,
		Group:  n.cfg.Group.Name,
		Region: n.cfg.Registry.Region,
		DNS:    n.Addr().String(),
		Admin:  n.AdminAddr(),
		API:    n.APIAddr(),
		Seen:   now,
	}
	r.Transports = []string{"udp", "tcp"}
	if e := n.EncryptedAddrs(); true {
		if e.DoT.IsValid() {
			r.Transports = append(r.Transports, "dot")
		}
		if e.DoH.IsValid() {
			r.Transports = append(r.Transports, "doh")
		}
		if e.DoQ.IsValid() {
			r.Transports = append(r.Transports, "doq")
		}
	}
	if o := n.ov.Load(); o != nil {
		r.PeerID = o.host.ID().String()
		r.Overlay = o.host.Addrs()
	}
	if st, ok := n.raftStats(); ok {
		r.Applied, r.LastIndex, r.Term = st.AppliedIndex, st.LastIndex, st.Term
	}
	n.mu.Lock()
	grp := n.group
	n.mu.Unlock()
	if grp != nil {
		r.Leader, _ = grp.Leader()
	}
	return r
}

// heartbeats reports this node to the registry's node directory every
// heartbeat interval until ctx ends: a registry member proposes its own
// NodeHeartbeat; any other node posts its record to a registry member's
// admin endpoint ([registry] admin). It runs on a goroutine Start owns.
func (n *Node) heartbeats(ctx context.Context) {
	log := n.log.With("component", "heartbeat")
	every := n.cfg.Registry.HeartbeatInterval
	delay := retryMin
	for {
		err := n.heartbeat(ctx)
		wait := every
		if err != nil {
			log.Debug("heartbeat failed; will retry", "err", err, "in", min(delay, every))
			wait = min(delay, every)
			delay = min(2*delay, every)
		} else {
			delay = retryMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// heartbeat sends one heartbeat.
func (n *Node) heartbeat(ctx context.Context) error {
	rec := n.selfRecord(n.Now())
	if n.cfg.Registry.Member {
		cmd, err := raftfsm.EncodeCommand(&raftfsm.NodeHeartbeat{Node: rec})
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.Group.ApplyTimeout+n.cfg.Admin.ForwardTimeout)
		defer cancel()
		return n.ProposeRegistry(cctx, cmd)
	}
	_, _, a, err := n.runningParts()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range n.cfg.Registry.Admin {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.Admin.ForwardTimeout)
		err := a.client.postJSON(cctx, addr, "/v1/registry/heartbeat", rec)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return errors.Join(errs...)
}

// placedHere reports whether the registry placed origin on this node's
// group with cmd's owner key, cmd being a CreateZone: then a node of
// another group (the registry's API) may create the zone here over
// DDNRS-RPC. A registry member reads its replica's claim; another node
// reads what it followed of the log, polling the log once more when the
// zone is not there yet (a claim made moments ago).
func (n *Node) placedHere(ctx context.Context, origin string, cmd []byte) bool {
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		return false
	}
	cz, ok := c.(*raftfsm.CreateZone)
	if !ok || cz.Owner == nil {
		return false
	}
	if reg, err := n.Registry(); err == nil {
		cl, ok := reg.Claim(origin)
		return ok && cl.Group == n.cfg.Group.Name && raftfsm.OwnerKeyIs(cl.Owner, cz.Owner)
	}
	if n.fol == nil {
		return false
	}
	look := func() bool {
		g, a := n.logGroups.Load(), n.logAnchors.Load()
		if g == nil || a == nil || (*g)[origin] != n.cfg.Group.Name {
			return false
		}
		k := (*a)[origin]
		return zone.SameKey(keyOf(k), cz.Owner)
	}
	if look() {
		return true
	}
	if err := n.fol.sync(ctx); err != nil {
		n.log.Debug("registry log: sync for a create from another group", "zone", origin, "err", err)
	}
	return look()
}

// errNoRegistryAdmin marks an operator's create on a node that follows
// the registry (registry.urls) but knows no registry admin endpoint to
// claim the name through (mapped to bad_request).
var errNoRegistryAdmin = fmt.Errorf("%w: this node follows the registry but has no registry.admin: an operator's create must claim the name through a registry member's admin endpoint", errBadRequest)

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
func (n *Node) claimForOperator(ctx context.Context, origin string, owner *dns.DNSKEY) (made bool, err error) {
	rc := n.cfg.Registry
	switch {
	case !rc.Enabled() && len(rc.URLs) > 0:
		return false, errNoRegistryAdmin
	case !rc.Enabled():
		return false, nil
	case owner == nil:
		return false, fmt.Errorf("%w: create of %s without an owner key", errBadRequest, origin)
	}
	cmd, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: origin, Owner: owner.String(), Group: n.cfg.Group.Name,
		Actor: raftfsm.NodeOperatorActor(n.cfg.Group.ID), Time: n.Now()})
	if err != nil {
		return false, err
	}
	err = n.proposeOperator(ctx, cmd)
	var rej *raftfsm.RejectedError
	if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonUnknownGroup {
		if herr := n.heartbeat(ctx); herr != nil {
			return false, fmt.Errorf("%w (and this node's heartbeat failed: %w)", err, herr)
		}
		err = n.proposeOperator(ctx, cmd)
	}
	if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNameClaimed {
		// Claimed already: by this key on this group (a retried create)
		// is fine; by this key elsewhere, say where.
		switch group, same := n.claimedFor(ctx, origin, owner); {
		case same && group == n.cfg.Group.Name:
			return false, nil
		case same:
			return false, &raftfsm.RejectedError{Reason: raftfsm.ReasonNameClaimed,
				Err: fmt.Errorf("%s is claimed for this owner key on group %s, not this node's group %s: create it through a node of %s", origin, group, n.cfg.Group.Name, group)}
		}
	}
	if err != nil {
		return false, err
	}
	n.log.Info("zone claimed for the operator", "zone", origin, "group", n.cfg.Group.Name, "key_tag", owner.KeyTag())
	return true, nil
}

// claimedFor reports the group of origin's claim and whether it is
// owner's, as far as this node knows: a registry member from its replica,
// another node from the log it follows, synced first (same is false when
// it follows none).
func (n *Node) claimedFor(ctx context.Context, origin string, owner *dns.DNSKEY) (group string, same bool) {
	if reg, err := n.Registry(); err == nil {
		cl, ok := reg.Claim(origin)
		return cl.Group, ok && raftfsm.OwnerKeyIs(cl.Owner, owner)
	}
	if n.fol == nil {
		return "", false
	}
	if err := n.fol.sync(ctx); err != nil {
		n.log.Debug("registry log: sync for a claimed name", "zone", origin, "err", err)
	}
	g, a := n.logGroups.Load(), n.logAnchors.Load()
	if g == nil || a == nil {
		return "", false
	}
	k := (*a)[origin]
	return (*g)[origin], zone.SameKey(keyOf(k), owner)
}

// releaseForOperator releases the claim of origin after an operator
// deleted the zone through the admin endpoint. No claim to release, or
// no [registry], is not an error.
func (n *Node) releaseForOperator(ctx context.Context, origin string) error {
	if !n.cfg.Registry.Enabled() {
		return nil
	}
	cmd, err := raftfsm.EncodeCommand(&raftfsm.ReleaseZone{Zone: origin, Actor: raftfsm.NodeOperatorActor(n.cfg.Group.ID), Time: n.Now()})
	if err != nil {
		return err
	}
	err = n.proposeOperator(ctx, cmd)
	var rej *raftfsm.RejectedError
	if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNoClaim {
		return nil
	}
	if err == nil {
		n.log.Info("zone released for the operator", "zone", origin)
	}
	return err
}

// proposeOperator proposes a registry command a node makes for an
// operator: through the registry group on a member, else through the
// first registry admin endpoint that answers (it forwards the command
// to its leader). A refusal is a *raftfsm.RejectedError and ends the
// tries: another member would refuse it too.
func (n *Node) proposeOperator(ctx context.Context, cmd []byte) error {
	if n.cfg.Registry.Member {
		return n.ProposeRegistry(ctx, cmd)
	}
	_, _, a, err := n.runningParts()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range n.cfg.Registry.Admin {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.Admin.ForwardTimeout)
		_, err := a.client.proposeRegistryAt(cctx, addr, cmd, nil)
		cancel()
		if err == nil {
			return nil
		}
		if ae, ok := errorsAsAPI(err); ok && (ae.Code == CodeRejected || ae.Code == CodeBadRequest) {
			if ae.Code == CodeRejected {
				return rejection(ae.Reason, ae.Message)
			}
			return err
		}
		errs = append(errs, fmt.Errorf("registry admin %s: %w", addr, err))
	}
	return fmt.Errorf("%w: %w", errUnreachable, errors.Join(errs...))
}
