package logfollow

// anchor_miss.go: trust anchors fetched on demand (issue 17 item 4). A
// node of another group learns a zone's owner key from the registry's
// log, which it polls every registry.follow_interval. A zone created (or
// an owner key rotated) since the last poll would be unanswerable here
// until the next one: the answer of its group is refused for want of an
// anchor (SERVFAIL, EDE 9) or for a head signed by a key not known yet.
// Such a miss (node's anchorMiss) polls the log at once instead
// (Follower.RefreshAnchors), and the answer is verified again. The poll is the follower's own step: the new checkpoint's
// signature is checked, it must extend the checkpoint this node holds
// (the new leaves, appended to the compact range kept, give its root),
// and only then are the new entries applied. So an anchor fetched on
// demand has the same proof from the log as one read by the loop.
//
// A miss waits for a poll that started after it: one in progress when
// it came may have read the log before the registration. Misses share
// polls (whoever polls, every miss that came before the poll started is
// served by it), and polls on demand start at least minAnchorRefresh
// apart, so that answers for zones no anchor will ever cover (a peer's
// forgeries, a zone provided by a peer but not registered) cannot make
// this node poll the registry more often than that. Only misses poll:
// a name of no zone at all is answered by the DHT (no providers) and
// never reaches the verifier.

import (
	"context"
	"time"
)

// minAnchorRefresh is the least time between the starts of two polls
// on demand; a miss within it waits for the next (bounded by its
// query's deadline).
const minAnchorRefresh = 100 * time.Millisecond

// anchorRefreshTimeout bounds such a poll (the query waits on it).
const anchorRefreshTimeout = 2 * time.Second

// anchorRefresh serialises RefreshAnchors: the one token in token is held
// by the caller that polls, or waits to.
type anchorRefresh struct {
	token   chan struct{}
	started time.Time // start of the last poll (under the token)
	ok      bool      // whether it succeeded
}

// RefreshAnchors polls the log for a miss that came at the call and
// reports whether a poll that started after it succeeded (so the
// answer is worth verifying again). Safe for concurrent use.
func (f *Follower) RefreshAnchors(ctx context.Context) bool {
	asked := time.Now()
	r := &f.refresh
	select {
	case r.token <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-r.token }()
	if r.started.After(asked) {
		return r.ok // another miss's poll started after this one came
	}
	if wait := minAnchorRefresh - time.Since(r.started); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, anchorRefreshTimeout)
	defer cancel()
	r.started = time.Now()
	err := f.Sync(ctx)
	r.ok = err == nil
	if err != nil {
		f.log.Debug("registry log: poll on an anchor miss failed", "err", err)
	} else {
		f.misses.Inc()
	}
	return r.ok
}
