package raftfsm

// placement.go: the group a new zone is placed on (issue 14 item 4),
// weighing region, health and load. The registry's API chooses with
// Place and proposes the claim with that group (ClaimZone.Group), so the
// state machine never runs this rule: its inputs (heartbeats seen, live
// health) are not the same on every replica. The state machine's own
// rule (RegistryState.place: fewest claims, by region) remains for a
// claim that names no group.

import (
	"slices"
	"strings"
)

// GroupLoad is what Place weighs about one group of the node directory.
type GroupLoad struct {
	Name string
	// Members is the number of its nodes in the directory; Healthy those
	// whose heartbeat is recent (the API's health: within three
	// heartbeat intervals).
	Members, Healthy int
	// Regions are the regions of its healthy nodes.
	Regions []string
	// Zones is the number of zones claimed on it.
	Zones int
	// Load is the RRsets it holds, as a band (NodeRecord.Load): the
	// highest its healthy nodes reported (its members hold the same
	// zones; one still catching up reports less). 0 when none reported.
	Load uint8
}

// writable reports whether g can commit a write: more than half of its
// members are healthy.
func (g GroupLoad) writable() bool { return g.Healthy*2 > g.Members }

// Place returns the group for a new zone asked for in region ("" = no
// preference), or "" when no group can take a write (the caller then
// leaves the choice to the state machine's rule). The rule, in order:
//
//  1. health: only groups with more than half their members healthy,
//     since a create must commit there;
//  2. region: among those, the groups with a healthy node in region, when
//     region is given and any has one;
//  3. load: the lowest RRset band (a group holding half the RRsets of
//     another is below it; within a power of two they tie), then the
//     fewest zones; then the first name, for a stable answer (with
//     every group healthy and no loads reported, the state machine's
//     own rule).
func Place(groups []GroupLoad, region string) string {
	var ok []GroupLoad
	for _, g := range groups {
		if g.writable() {
			ok = append(ok, g)
		}
	}
	if region != "" {
		var near []GroupLoad
		for _, g := range ok {
			if slices.Contains(g.Regions, region) {
				near = append(near, g)
			}
		}
		if len(near) > 0 {
			ok = near
		}
	}
	if len(ok) == 0 {
		return ""
	}
	best := slices.MinFunc(ok, func(a, b GroupLoad) int {
		if a.Load != b.Load {
			return int(a.Load) - int(b.Load)
		}
		if a.Zones != b.Zones {
			return a.Zones - b.Zones
		}
		return strings.Compare(a.Name, b.Name)
	})
	return best.Name
}

// GroupClaims returns the number of zones claimed on group g.
func (r *RegistryState) GroupClaims(g string) int { return r.groupClaims(g) }

// RRsets returns how many RRsets the zones of this replica hold (the
// counts their signed heads carry), for the node's heartbeat
// (NodeRecord.Load, LoadBand). Called from the heartbeat loop; a read
// lock for the walk over the zones.
func (f *FSM) RRsets() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var n uint64
	for _, s := range f.state.zones {
		if s.Zone != nil && s.Zone.Head != nil {
			n += s.Zone.Head.Size
		}
	}
	return n
}
