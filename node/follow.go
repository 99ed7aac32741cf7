package node

// follow.go: the glue between the registry's log follower (logfollow)
// and the rest of the node. Every node with [registry] log_verifier
// follows the log (registry members read their own replica, others ask
// [registry] urls); what the follower learns becomes the trust anchors of
// the overlay's client.Verifier, the zone-to-group map writes route by,
// and the suspended set dnsfront REFUSES (EDE 15); released zones lose
// their cached answers and route.

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/logfollow"
	"github.com/ddnrs/ddnrs/translog"
)

// FollowState is what a node knows from the log, as kept in
// follow.json.
type FollowState = logfollow.State

// FollowPrevious is a zone's previous owner key in follow.json.
type FollowPrevious = logfollow.Previous

// newFollower makes the node's follower; it publishes the saved anchors
// and suspensions at once (before DNS serves).
func (n *Node) newFollower() (*logfollow.Follower, error) {
	c := n.cfg.Registry
	o := logfollow.Options{
		LogVerifier: c.LogVerifier,
		LogOrigin:   c.LogOrigin,
		Dir:         n.cfg.DataDir,
		Grace:       c.RotationGrace,
		Sink:        followSink{n},
		Registerer:  n.metrics.Registry(),
		Now:         n.Now,
		Logger:      n.log.With("component", "follow"),
	}
	if c.Member {
		o.Sources = []translog.Source{logfollow.ReplicaLog{Registry: n.Registry, Signer: n.signer, Origin: c.LogOrigin}}
	} else {
		tr, err := n.registryTransport(false)
		if err != nil {
			return nil, err
		}
		o.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: tr}
		for _, u := range c.URLs {
			o.Sources = append(o.Sources, &translog.HTTPSource{BaseURL: strings.TrimRight(u, "/"), Client: o.HTTP})
		}
	}
	return logfollow.New(o)
}

// followSink passes what the follower learns to the node: anchors and
// groups for writes and rotations, anchors to the overlay's verifier,
// suspensions to DNS; zones newly suspended lose their cached answers,
// released ones their cached answers and route too, so their names get
// what names of no zone get (or their enclosing zone's answers).
type followSink struct{ n *Node }

func (s followSink) Learn(v logfollow.View) {
	n := s.n
	n.logAnchors.Store(&v.Anchors)
	n.logGroups.Store(&v.Groups)
	if o := n.ov.Load(); o != nil {
		o.Verifier().SetLogAnchors(v.Anchors)
		o.Verifier().SetPreviousAnchors(v.Previous, v.Dropped)
	}
	n.susp.Set(v.Suspended)
	n.admission.Learn(v.Peers) // intergroup/admit.go
	n.routes.Learn(v.Groups, v.Peers)
	n.trust.LearnRevoked(v.Revoked) // clustertls
	n.removedIDs.Learn(v.Removed)   // standing/removed_ids.go
	if o := n.ov.Load(); o != nil {
		for _, z := range v.NewlySuspended {
			o.Suspended(z)
		}
		for _, z := range v.Reclaimed {
			o.Reclaimed(z)
		}
		for _, z := range v.Released {
			o.ForgetZone(z)
		}
		for _, z := range v.Registered {
			// A name of a zone registered since may be cached as no
			// zone (asked before its group provided it): look it up
			// afresh.
			o.Router().Forget(z)
		}
	}
}

// FollowState returns a copy of what the node knows from the registry's
// log; zero when it does not follow it.
func (n *Node) FollowState() FollowState {
	f := n.fol
	if f == nil {
		return FollowState{}
	}
	st, _ := logfollow.LoadState(f.Path())
	return st
}

// SyncRegistryLog polls the registry's log now and returns when the
// new entries are applied (or why not); ErrNotRunning when the node does
// not follow the log.
func (n *Node) SyncRegistryLog(ctx context.Context) error {
	if _, _, _, err := n.runningParts(); err != nil || n.fol == nil {
		return ErrNotRunning
	}
	return n.fol.Sync(ctx)
}
