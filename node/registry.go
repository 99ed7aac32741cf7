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
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/internal/wallclock"
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
)

// apiBackend is the node as its REST API sees it (api.Backend).
type apiBackend struct{ n *Node }

var _ api.Backend = apiBackend{}

// Registry implements api.Backend (Node.Registry).
func (b apiBackend) Registry() (*raftfsm.RegistryState, error) { return b.n.Registry() }

// ProposeRegistry implements api.Backend (writes.Path.ProposeRegistry).
func (b apiBackend) ProposeRegistry(ctx context.Context, cmd []byte) error {
	return b.n.writes.ProposeRegistry(ctx, cmd)
}

// SubmitUpload implements api.Uploader (writes.Path.SubmitUpload).
func (b apiBackend) SubmitUpload(ctx context.Context, group, origin string, cmd raftfsm.Encoded) (api.UploadResult, error) {
	return b.n.writes.SubmitUpload(ctx, group, origin, cmd)
}

var _ api.Uploader = apiBackend{}

// SubmitZone implements api.Backend (writes.Path.SubmitZone).
func (b apiBackend) SubmitZone(ctx context.Context, group, origin string, cmd raftfsm.Encoded, dryRun bool) (uint32, error) {
	return b.n.writes.SubmitZone(ctx, group, origin, cmd, dryRun)
}

// LogSigner implements api.Backend: the log's signer on a registry
// member, else nil.
func (b apiBackend) LogSigner() note.Signer { return b.n.signer }

// LogOrigin implements api.Backend.
func (b apiBackend) LogOrigin() string { return b.n.cfg.Registry.LogOrigin }

// Now implements api.Backend (Node.Now).
func (b apiBackend) Now() time.Time { return b.n.Now() }

// runningParts returns the FSM and group while the node runs.
func (n *Node) runningParts() (*raftfsm.FSM, *raftfsm.Group, *admin.Server, error) {
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

// Registry returns the local replica's registry state on a registry
// member, else api.ErrNotRegistry.
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

// Zone implements api.Backend: the local replica's zone, else the
// zone as another group of the overlay holds it (fetchZone, verified).
func (b apiBackend) Zone(ctx context.Context, origin string) (*zone.Zone, error) {
	n := b.n
	z, err := n.Stored(origin)
	if err == nil {
		return z, nil
	}
	if !errors.Is(err, raftfsm.ErrNoZone) {
		return nil, err
	}
	z, err = n.fetchZone(ctx, origin)
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
// own figures taken live from Raft and every other node's from the last
// heartbeat this member saw (node/liveness.go), else from its committed
// record, which may be up to a heartbeat lease old.
func (b apiBackend) Health(ctx context.Context) (api.Health, error) {
	n := b.n
	self := n.selfRecord(n.Now())
	var recs []raftfsm.NodeRecord
	if reg, err := n.Registry(); err == nil {
		recs = reg.Nodes()
	}
	live := n.liveRecords(recs)
	if i := slices.IndexFunc(recs, func(r raftfsm.NodeRecord) bool { return r.ID == self.ID && r.Group == self.Group }); i >= 0 {
		recs[i], live[i] = self, true
	} else {
		recs, live = append(recs, self), append(live, true)
	}
	// Seen is in whole seconds: allow one more.
	stale := healthyAfter*n.cfg.Registry.HeartbeatInterval + time.Second
	committed := stale + n.cfg.Registry.heartbeatLease()
	return healthOfStale(recs, n.Now(), func(i int) time.Duration {
		if live[i] {
			return stale
		}
		return committed
	}, n.registryGroup()), nil
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
	return healthOfStale(recs, now, func(int) time.Duration { return stale }, registry)
}

// healthOfStale is healthOf with a staleness bound per record.
func healthOfStale(recs []raftfsm.NodeRecord, now time.Time, stale func(i int) time.Duration, registry string) api.Health {
	top := map[string]uint64{}
	for _, r := range recs {
		top[r.Group] = max(top[r.Group], r.LastIndex, r.Applied)
	}
	groups := map[string]*api.GroupHealth{}
	var h api.Health
	for i, r := range recs {
		lag := top[r.Group] - min(r.Applied, top[r.Group])
		ok := now.Sub(r.Seen) <= stale(i)
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
			g.MaxLag, g.Load = max(g.MaxLag, lag), max(g.Load, r.Load)
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

// Now is the wall clock (internal/wallclock) in whole seconds, UTC.
func (n *Node) Now() time.Time { return wallclock.Now().UTC().Truncate(time.Second) }

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
		r.PeerID = o.ID().String()
		r.Overlay = o.Addrs()
	}
	if st, ok := n.raftStats(); ok {
		r.Applied, r.LastIndex, r.Term = st.AppliedIndex, st.LastIndex, st.Term
	}
	if fsm, _, _, err := n.runningParts(); err == nil {
		r.Load = raftfsm.LoadBand(fsm.RRsets())
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
		var rej *raftfsm.RejectedError
		if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNodeRemoved {
			log.Warn("the registry removed this node from its directory for good (ddnrs ops node remove): no node admits it; wipe its data directory and give it a new node id", "err", err)
		}
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
		cctx, cancel := context.WithTimeout(ctx, n.cfg.Group.ApplyTimeout+n.cfg.Admin.ForwardTimeout)
		defer cancel()
		return n.noteHeartbeat(cctx, rec, false)
	}
	if _, _, _, err := n.runningParts(); err != nil {
		return err
	}
	var errs []error
	for _, addr := range n.cfg.Registry.Admin {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.Admin.ForwardTimeout)
		err := n.client.Heartbeat(cctx, addr, rec)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return errors.Join(errs...)
}
