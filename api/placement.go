package api

// placement.go: the group the registry places a zone created through the
// REST API on (issue 14 item 4): raftfsm.Place weighs the directory's
// health (heartbeats), the region asked for and the RRsets (the load
// band its nodes' heartbeats carry) and zones each group holds. The claim is proposed with that group, so the state machine
// applies a choice made once, here, from live figures no replica could
// agree on by itself.

import (
	"context"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// placeGroup returns the group for a new zone asked for in region, or ""
// to leave the choice to the state machine's rule (no health known, or
// no group with a healthy majority).
func (s *Server) placeGroup(ctx context.Context, region string) string {
	h, err := s.b.Health(ctx)
	if err != nil || h.Partial {
		return ""
	}
	reg, err := s.registry()
	if err != nil {
		return ""
	}
	loads := make([]raftfsm.GroupLoad, 0, len(h.Groups))
	index := map[string]int{}
	for _, g := range h.Groups {
		index[g.Name] = len(loads)
		loads = append(loads, raftfsm.GroupLoad{Name: g.Name, Members: g.Members, Healthy: g.Healthy, Zones: reg.GroupClaims(g.Name), Load: g.Load})
	}
	for _, n := range h.Nodes {
		if i, ok := index[n.Group]; ok && n.Healthy && n.Region != "" {
			loads[i].Regions = append(loads[i].Regions, n.Region)
		}
	}
	return raftfsm.Place(loads, region)
}
