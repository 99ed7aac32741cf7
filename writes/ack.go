package writes

// ack.go: read-your-writes (issue 17 item 5). Raft answers a write once a
// quorum holds it and the leader applied it; the other members apply it
// when they next hear from the leader, usually within milliseconds but
// under load up to about 100 ms later, so an owner who reads right after
// an acknowledged publish could be answered from the old copy. The
// leader therefore asks every other member, once the write committed,
// to answer when its state machine has processed the write's index
// (admin GET /v1/group/processed), waiting up to group.ack_wait, and
// the answer to the owner lists the members that serve the change
// (admin.ChangeResult.Members) and those that did not within the wait
// (Pending: down, slow, or unreachable; they serve it once they catch
// up). A member that cannot be reached is pending at once, so a dead
// member costs a write nothing; a silent one (stopped, partitioned)
// costs it ack_wait.

import (
	"context"
	"slices"
	"sync"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// awaitMembers fills res.Members and res.Pending for cmd, which this
// node committed at index as leader (see the file comment). It does
// nothing with ack_wait 0, before the node runs, or for the begin and
// chunks of a staged upload (nothing served changes until its commit).
func (w *Path) awaitMembers(ctx context.Context, cmd raftfsm.Encoded, index uint64, res *admin.ChangeResult) {
	wait := w.o.AckWait
	fsm, grp, err := w.running()
	if wait <= 0 || err != nil || res == nil {
		return
	}
	switch cmd.Cmd.(type) {
	case *raftfsm.StageBegin, *raftfsm.StageChunk:
		return
	}
	if index == 0 {
		// A repeat: committed at an index this send does not know, at
		// or below what the leader has processed.
		index = fsm.Processed()
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// The followers learn that index is committed now, not after
	// commit_timeout (50 ms), when they would apply it otherwise.
	grp.Nudge()
	members, err := grp.Members(ctx)
	if err != nil {
		w.log.Debug("read-your-writes: no configuration to ask", "err", err)
		return
	}
	self := w.o.NodeID
	var mu sync.Mutex // guards res.Members and res.Pending until wg is done
	record := func(id string, has bool) {
		mu.Lock()
		defer mu.Unlock()
		if has {
			res.Members = append(res.Members, id)
		} else {
			res.Pending = append(res.Pending, id)
		}
	}
	var wg sync.WaitGroup
	for _, m := range members {
		if m.ID == self {
			at, err := fsm.WaitProcessed(ctx, index)
			record(m.ID, err == nil && at >= index)
			continue
		}
		addrs, ok := w.r.Member(m.ID)
		if !ok || addrs.Admin == "" {
			record(m.ID, false)
			continue
		}
		wg.Go(func() {
			// The member waits a little less than this node does, so
			// its "not yet" arrives before ctx ends.
			p, err := w.r.Client().WaitProcessed(ctx, addrs.Admin, index, wait*9/10)
			record(m.ID, err == nil && p.Reached)
		})
	}
	wg.Wait()
	slices.Sort(res.Members)
	slices.Sort(res.Pending)
	if len(res.Pending) > 0 {
		w.log.Info("write acknowledged before every member applied it", "index", index, "pending", res.Pending, "waited", wait)
	}
}
