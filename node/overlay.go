package node

// overlay.go: the glue between the node and its overlay (intergroup),
// on with [overlay] enabled.

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// ErrNotHosted is returned when no zone enclosing a name is held here
// (intergroup.ErrNotHosted), or by FetchZone and SubmitRemote when no
// other group holds it or the overlay is off.
var ErrNotHosted = intergroup.ErrNotHosted

// startOverlay starts the node's overlay with its trust anchors; the
// follower, when there is one, is asked for fresh anchors on an answer
// signed by an unknown key.
func (n *Node) startOverlay(ctx context.Context, fsm *raftfsm.FSM) (*intergroup.Overlay, error) {
	c := n.cfg.Overlay
	var anchors client.Anchors
	if c.TrustAnchors != "" {
		p := c.TrustAnchors
		if !filepath.IsAbs(p) {
			p = filepath.Join(n.cfg.DataDir, p)
		}
		a, err := client.LoadAnchors(p)
		if err != nil {
			return nil, err
		}
		anchors = a
	}
	o := intergroup.Options{
		DataDir:    n.cfg.DataDir,
		Listen:     c.Listen,
		Bootstrap:  c.Bootstrap,
		Anchors:    anchors,
		CacheBytes: c.CacheBytes,
		RelayedTTL: cmp.Or(c.RelayedTTL, DefaultRelayedTTL),
		Zones:      &n.served,
		Writes:     n.writes.RPC(),
		Rollback:   fsm.Rollback, // rolled-back zones: the owner's statement with the answers
		Logger:     n.log.With("component", "overlay"),
		AllowPeer:  n.admission.AllowPeer(), // intergroup/admit.go
	}
	if n.fol != nil {
		o.RefreshAnchors = n.fol.RefreshAnchors
		o.Directory = &n.routes // routes from the log, no DHT search
	}
	return intergroup.Start(ctx, o)
}

// fetchZone returns the zone origin as another group of the overlay
// holds it, verified (intergroup.Overlay.FetchZone); ErrNotHosted
// (wrapped) when the overlay is off.
func (n *Node) fetchZone(ctx context.Context, origin string) (*zone.Zone, error) {
	o := n.ov.Load()
	if o == nil {
		return nil, fmt.Errorf("%w: %s (overlay off)", ErrNotHosted, origin)
	}
	return o.FetchZone(ctx, origin)
}

// OverlayID returns the node's overlay peer id and addresses, or "" and
// nil when the overlay is off.
func (n *Node) OverlayID() (string, []string) {
	ov := n.ov.Load()
	if ov == nil {
		return "", nil
	}
	return ov.ID().String(), ov.Addrs()
}

// OverlayFailures returns how many answers from other groups this node refused
// because they did not verify.
func (n *Node) OverlayFailures() uint64 {
	ov := n.ov.Load()
	if ov == nil {
		return 0
	}
	return ov.Failures()
}
