package sim

// report.go: the tables `make sim` prints, and the extrapolation to the
// design's size (3,600 nodes, 500 groups, 10,000,000 zones) with the
// assumptions it rests on, printed beside the figures.

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/ddnrs/ddnrs/overlay"
)

// Full is the design's size the figures are extrapolated to.
var Full = struct {
	Nodes, Groups, Zones, Replicas int
	Reprovide                      time.Duration
}{Nodes: 3600, Groups: 500, Zones: 10_000_000, Replicas: 20, Reprovide: overlay.DefaultReprovideInterval}

// Report has what one `make sim` run measured.
type Report struct {
	DHT      *Result
	Caches   []*CacheResult
	Registry *RegistryResult
	Load     string // the machine's load average when the run ended
	Took     time.Duration
}

func row(w io.Writer, cells ...any) {
	fmt.Fprint(w, "|")
	for _, c := range cells {
		fmt.Fprintf(w, " %v |", c)
	}
	fmt.Fprintln(w)
}

func f0(x float64) string { return fmt.Sprintf("%.0f", x) }
func f1(x float64) string { return fmt.Sprintf("%.1f", x) }

// Print writes every table.
func (r *Report) Print(w io.Writer) {
	d := r.DHT
	c := d.Config
	fmt.Fprintf(w, "# DDNRS at scale (bench/sim): load average %s at the end, %v\n\n", r.Load, r.Took.Round(time.Second))

	fmt.Fprintf(w, "## The simulated overlay (mocknet, real overlay.Host and kad-dht /ddnrs)\n\n")
	row(w, "nodes", "groups", "regions", "one-way delay between regions", "zones provided", "routing table p50 (max)", "Go heap a host", "links made")
	row(w, "---", "---", "---", "---", "---", "---", "---", "---")
	row(w, c.Nodes, d.Groups, c.Regions, fmt.Sprintf("%v-%v (%v inside)", c.MinDelay, c.MaxDelay, c.LocalDelay), d.Zones,
		fmt.Sprintf("%.0f (%.0f)", d.RoutingTable.P50, d.RoutingTable.Max), fmt.Sprintf("%.0f KiB", d.HeapPerNode/1024), d.Links)
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## A cold query for a zone of another group (%d samples a row)\n\n", c.Lookups)
	fmt.Fprintf(w, "\"by the links\" is the time the links alone cost, whatever the CPU: a round trip to every peer of the DHT search's chain to the first provider, then one to the member. \"measured\" is wall-clock on this machine (route: overlay.Router.FindRoute; resolve: route plus a DDNRS-RPC ping to the route's first member), inflated by the load.\n\n")
	row(w, "route", "by the links p50 / p99 (ms)", "measured route p50 / p99 (ms)", "measured resolve p50 / p99 (ms)", "failed", "DHT search depth p50 / max", "peers asked p50 / max")
	row(w, "---", "---", "---", "---", "---", "---", "---")
	row(w, "DHT search (before)", fmt.Sprintf("%s / %s", f0(d.PathDHT.P50), f0(d.PathDHT.P99)), fmt.Sprintf("%s / %s", f0(d.DHT.Route.P50), f0(d.DHT.Route.P99)),
		fmt.Sprintf("%s / %s", f0(d.DHT.Resolve.P50), f0(d.DHT.Resolve.P99)), d.DHT.Failed,
		fmt.Sprintf("%.0f / %.0f", d.Hops.P50, d.Hops.Max), fmt.Sprintf("%.0f / %.0f", d.Queried.P50, d.Queried.Max))
	row(w, "registry log's directory (after)", fmt.Sprintf("%s / %s", f0(d.PathLog.P50), f0(d.PathLog.P99)), fmt.Sprintf("%s / %s", f1(d.Log.Route.P50), f1(d.Log.Route.P99)),
		fmt.Sprintf("%s / %s", f0(d.Log.Resolve.P50), f0(d.Log.Resolve.P99)), d.Log.Failed, "no search", fmt.Sprintf("%d DHT lookups in all", d.LogSearches))
	row(w, "warm (route cached)", fmt.Sprintf("%s / %s", f0(d.PathLog.P50), f0(d.PathLog.P99)), fmt.Sprintf("%s / %s", f1(d.Warm.Route.P50), f1(d.Warm.Route.P99)),
		fmt.Sprintf("%s / %s", f0(d.Warm.Resolve.P50), f0(d.Warm.Resolve.P99)), d.Warm.Failed, "no search", "")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The goal (issue 15 item 2): cold cross-region p99 under 300 ms with 100 ms links, warm under one round trip. Through the directory a cold query costs one round trip to a member, as a warm one does; a DHT search costs %s more at p50 here, and grows by a round of the search (one round trip at most) each time the overlay doubles%s.\n\n",
		fmt.Sprintf("%.0f ms", d.PathDHT.P50-d.PathLog.P50), depthNote(c.Nodes))

	fmt.Fprintf(w, "## Route cache under a Zipf query mix (one node's real overlay.Router, %d zones, virtual clock)\n\n", r.Caches[0].Config.Zones)
	row(w, "zone popularity (Zipf alpha)", "queries/s to other groups", "cache (routes, TTL)", "hit rate", "misses/s (DHT searches/s without the directory)")
	row(w, "---", "---", "---", "---", "---")
	for _, cr := range r.Caches {
		cc := cr.Config
		row(w, cc.Alpha, cc.QPS, fmt.Sprintf("%d, %v", cc.Entries, cc.TTL), fmt.Sprintf("%.1f%%", 100*cr.HitRate), f1(cr.MissesPerSec))
	}
	fmt.Fprintln(w)

	g := r.Registry
	gc := g.Config
	fmt.Fprintf(w, "## Registry write load at %d nodes (raftfsm.HeartbeatNeedsCommit on every heartbeat of %v)\n\n", gc.Nodes, gc.Span)
	row(w, "heartbeats/s received", "commits/s, a commit per heartbeat (before)", "commits/s, the rule (after)", "passed on to the leader /s (at most)", "claim + release commits/s")
	row(w, "---", "---", "---", "---", "---")
	row(w, f0(g.HeartbeatsPerSec), f0(g.CommitsBefore), f1(g.CommitsPerSec), f0(g.PassOnPerSec), f1(g.ClaimsPerSec))
	fmt.Fprintf(w, "\nAssumed: heartbeat every %v, lease %v, %.0f%% of nodes change address once an hour, %.2f elections a group an hour, %d zones with %.0f%% created and as many deleted a day.\n\n",
		gc.Interval, gc.Lease, 100*gc.Moves, gc.Elections, gc.Zones, 100*gc.Churn)

	r.printFull(w)

	ng := d.NewGroup
	fmt.Fprintf(w, "## A new group joins (%d members, %d zones, a region of its own)\n\n", c.GroupSize, ng.Zones)
	row(w, "members joined", "every zone provided by every member", "findable afterwards", "lookups that found none", "provides failed")
	row(w, "---", "---", "---", "---", "---")
	row(w, ng.Join.Round(time.Millisecond), ng.Provide.Round(time.Millisecond), fmt.Sprintf("%d of %d zones from %d of %d nodes", ng.Findable, ng.Zones, ng.Checkers, ng.Checkers), ng.Unfound, ng.ProvideFailed)
	fmt.Fprintf(w, "\nThrough the registry's log a new group's zones are routed as soon as a node reads their registrations and the members' admissions: within one [registry] follow_interval (5 s) of the registration, one heartbeat_interval (10 s) plus one follow_interval of a member's first heartbeat (docs/architecture.md, \"Overlay admission\"), whatever the DHT.\n")
}

// depthNote says how the search depth grows to the full size.
func depthNote(nodes int) string {
	if nodes >= Full.Nodes {
		return ""
	}
	return fmt.Sprintf(" (from %d to %d nodes: log2(%d/%d) = %.1f doublings, so at most %.0f more rounds)", nodes, Full.Nodes, Full.Nodes, nodes,
		math.Log2(float64(Full.Nodes)/float64(nodes)), math.Ceil(math.Log2(float64(Full.Nodes)/float64(nodes))))
}

// printFull extrapolates a node's memory and bandwidth to the full size.
func (r *Report) printFull(w io.Writer) {
	d := r.DHT
	zonesPerNode := float64(Full.Zones) / float64(Full.Groups) // every member provides its group's zones
	records := float64(Full.Zones) * float64(Full.Nodes) / float64(Full.Groups) * float64(Full.Replicas) / float64(Full.Nodes)
	provRate := zonesPerNode / Full.Reprovide.Seconds()
	// Each wire byte leaves one node and enters another: a node's in+out
	// is twice the wire bytes of the operations it starts.
	reprovide := 2 * provRate * d.ProvideBytes
	fmt.Fprintf(w, "## One node at %d nodes, %d groups, %d zones (extrapolated)\n\n", Full.Nodes, Full.Groups, Full.Zones)
	row(w, "what", "figure", "from")
	row(w, "---", "---", "---")
	row(w, "zones it provides", f0(zonesPerNode), "zones / groups: every member provides its group's")
	row(w, "provider records it stores", f0(records), fmt.Sprintf("zones x %d members x %d replicas / nodes", Full.Nodes/Full.Groups, Full.Replicas))
	row(w, "their memory", fmt.Sprintf("%.0f MiB", records*d.HeapPerRecord/(1<<20)), fmt.Sprintf("%.0f bytes of heap a record, measured over the simulation's provides", d.HeapPerRecord))
	row(w, "the libp2p host and DHT", fmt.Sprintf("%.1f MiB", d.HeapPerNode/(1<<20)), fmt.Sprintf("measured at %d nodes; the routing table grows by one bucket (20 peers) a doubling", d.Config.Nodes))
	row(w, "re-provide traffic, in + out", fmt.Sprintf("%.1f KiB/s", reprovide/1024), fmt.Sprintf("%.2f provides/s (every %v) x %.0f wire bytes a provide, measured", provRate, Full.Reprovide, d.ProvideBytes))
	for _, cr := range r.Caches {
		row(w, fmt.Sprintf("route lookups at %.0f queries/s (alpha %.1f), in + out", cr.Config.QPS, cr.Config.Alpha),
			fmt.Sprintf("DHT: %.1f KiB/s; directory: 0", 2*cr.MissesPerSec*d.LookupBytes/1024),
			fmt.Sprintf("%.1f misses/s x %.0f wire bytes a cold DHT lookup, measured", cr.MissesPerSec, d.LookupBytes))
	}
	row(w, "registry heartbeat", "0.1 requests/s", "one every heartbeat_interval; a registry member receives nodes / members of them")
	fmt.Fprintln(w)
}
