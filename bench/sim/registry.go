package sim

// registry.go: the registry group's write load at full size, by the
// registry's own commit rule (raftfsm.HeartbeatNeedsCommit) applied to
// every heartbeat of every node over a simulated span, and the claims
// that zone churn costs. Raft itself is not run: the figures are
// commits a second, what the rule decides.

import (
	"errors"
	"fmt"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// RegistryConfig is the population and its churn. Zero fields take the
// defaults named.
type RegistryConfig struct {
	Nodes     int           // default 3,600
	GroupSize int           // default 7 (500 groups ... 514 at 3,600)
	Interval  time.Duration // heartbeat interval (default 10 s, [registry] heartbeat_interval)
	Lease     time.Duration // heartbeat lease (default 10 x Interval, [registry] heartbeat_lease)
	Span      time.Duration // simulated (default 1 h)
	// Moves is the share of nodes whose address changes once in the
	// span (default 0.01); Elections the leader elections per group in
	// the span (default 1/24: one a day), each seen by every member.
	Moves, Elections float64
	// Zones and Churn: zones registered, and the share of them
	// created, and as many deleted, a day (defaults 10,000,000 and 0.01).
	Zones int
	Churn float64
}

// RegistryResult is the registry's write load.
type RegistryResult struct {
	Config           RegistryConfig
	HeartbeatsPerSec float64 // heartbeat requests members receive (every one, before the rule)
	CommitsBefore    float64 // a commit per heartbeat (the rule before issue 15)
	CommitsPerSec    float64 // by HeartbeatNeedsCommit
	ClaimsPerSec     float64 // claim-zone and release-zone commits from churn
	PassOnPerSec     float64 // heartbeats a follower passes on to the leader (not committed)
}

// ErrRegistryConfig is returned by RegistryLoad for a configuration it
// cannot simulate.
var ErrRegistryConfig = errors.New("sim: bad registry configuration")

// RegistryLoad applies the commit rule to every heartbeat of the span.
func RegistryLoad(c RegistryConfig) (*RegistryResult, error) {
	if c.Nodes <= 0 {
		c.Nodes = 3600
	}
	if c.GroupSize <= 0 {
		c.GroupSize = 7
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 10 * c.Interval
	}
	if c.Span <= 0 {
		c.Span = time.Hour
	}
	if c.Moves == 0 {
		c.Moves = 0.01
	}
	if c.Elections == 0 {
		c.Elections = 1.0 / 24
	}
	if c.Zones <= 0 {
		c.Zones = 10_000_000
	}
	if c.Churn == 0 {
		c.Churn = 0.01
	}
	if c.Moves < 0 || c.Moves > 1 || c.Elections < 0 || c.Churn < 0 {
		return nil, fmt.Errorf("%w: moves %v (0..1), elections %v and churn %v (>= 0)", ErrRegistryConfig, c.Moves, c.Elections, c.Churn)
	}
	if beats := float64(c.Nodes) * c.Span.Seconds() / c.Interval.Seconds(); beats > 200_000_000 {
		return nil, fmt.Errorf("%w: %.0f heartbeats to simulate", ErrRegistryConfig, beats)
	}
	groups := max(1, c.Nodes/c.GroupSize)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	committed := make([]raftfsm.NodeRecord, c.Nodes)
	known := make([]bool, c.Nodes)
	moveEvery := 0
	if c.Moves > 0 {
		moveEvery = int(1 / c.Moves)
	}
	// Group g's elections happen at these offsets into the span.
	elections := make([]int, groups)
	var beats, commits int
	slots := int(c.Interval / time.Second)
	for tick := time.Duration(0); tick < c.Span; tick += time.Second {
		// The groups electing in this second.
		if c.Elections > 0 {
			per := c.Span / time.Duration(max(1, int(c.Elections*float64(groups))))
			if per > 0 && tick%per == 0 {
				elections[int(tick/per)%groups]++
			}
		}
		for i := int(tick/time.Second) % slots; i < c.Nodes; i += slots {
			g := min(i/c.GroupSize, groups-1)
			rec := raftfsm.NodeRecord{
				ID: fmt.Sprintf("n%d", i), Group: fmt.Sprintf("g%d", g), DNS: "10.0.0.1:53",
				Leader: fmt.Sprintf("g%d-term%d", g, elections[g]), Seen: t0.Add(tick),
			}
			if moveEvery > 0 && i%moveEvery == 0 && tick >= c.Span/2 {
				rec.DNS = "10.0.0.2:53"
			}
			beats++
			if raftfsm.HeartbeatNeedsCommit(committed[i], known[i], rec, c.Lease) {
				committed[i], known[i] = rec, true
				commits++
			}
		}
	}
	// The first heartbeat of each node commits (none known), as its
	// lease renewal would in a steady state.
	span := c.Span.Seconds()
	res := &RegistryResult{Config: c, HeartbeatsPerSec: float64(beats) / span, CommitsBefore: float64(beats) / span}
	res.CommitsPerSec = float64(commits) / span
	res.ClaimsPerSec = 2 * float64(c.Zones) * c.Churn / 86400
	res.PassOnPerSec = res.HeartbeatsPerSec - res.CommitsPerSec
	return res, nil
}
