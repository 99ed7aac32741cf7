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
//
// Concurrent writes share the asking (memberAcks): the leader keeps, per
// member, the highest index the member reported processed and has at
// most one request to it in flight, for the highest index any write
// waits for; a write that the member's last answer covers does not ask
// at all. One request per member and write had cost a third of a
// write's CPU across the group (issue 11 item 5, bench/README.md).

import (
	"context"
	"slices"
	"sync"
	"time"

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
			record(m.ID, w.acks.wait(ctx, w, m.ID, addrs.Admin, index, wait))
		})
	}
	wg.Wait()
	slices.Sort(res.Members)
	slices.Sort(res.Pending)
	if len(res.Pending) > 0 {
		w.log.Info("write acknowledged before every member applied it", "index", index, "pending", res.Pending, "waited", wait)
	}
}

// memberAcks is what the leader knows of its members' processed
// indexes, shared by the writes waiting for them (see the file comment).
type memberAcks struct {
	mu sync.Mutex
	m  map[string]*memberAck
}

// memberAck is one member's entry in memberAcks, guarded by its mu.
type memberAck struct {
	processed uint64        // the highest index the member reported processed
	learned   time.Time     // when: an answer older than ack_wait is asked again (the member may have lost its state since)
	want      uint64        // the highest index a waiting write needs
	waiters   int           // writes waiting for this member now
	asking    bool          // a request to the member is in flight
	fails     uint64        // requests that failed (the member unreachable)
	changed   chan struct{} // closed, and replaced, when processed or fails change
}

// wait reports whether member id (admin endpoint addr) has processed
// index before ctx ends, asking it through the one request in flight
// for that member (started here when none is). A failed request (the
// member unreachable) ends the waits of the writes that saw it with
// false at once: a dead member costs a write nothing.
func (a *memberAcks) wait(ctx context.Context, w *Path, id, addr string, index uint64, wait time.Duration) bool {
	a.mu.Lock()
	if a.m == nil {
		a.m = make(map[string]*memberAck)
	}
	m := a.m[id]
	if m == nil {
		m = &memberAck{changed: make(chan struct{})}
		a.m[id] = m
	}
	m.waiters++
	defer func() {
		a.mu.Lock()
		m.waiters--
		a.mu.Unlock()
	}()
	fails := m.fails
	for {
		if m.processed >= index && time.Since(m.learned) < wait {
			a.mu.Unlock()
			return true
		}
		if m.fails != fails {
			a.mu.Unlock()
			return false
		}
		m.want = max(m.want, index)
		if !m.asking {
			m.asking = true
			go a.ask(w, m, addr, wait)
		}
		ch := m.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
		a.mu.Lock()
	}
}

// ask asks the member at addr to answer once it has processed m.want,
// again while writes wait for more than it reported, and stops when
// none waits or a request fails.
func (a *memberAcks) ask(w *Path, m *memberAck, addr string, wait time.Duration) {
	for {
		a.mu.Lock()
		target := m.want
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		// The member waits a little less than the writes do, so its
		// "not yet" arrives before theirs end.
		p, err := w.r.Client().WaitProcessed(ctx, addr, target, wait*9/10)
		cancel()
		a.mu.Lock()
		if err != nil {
			m.fails++
		} else {
			m.processed, m.learned = p.Index, time.Now()
		}
		close(m.changed)
		m.changed = make(chan struct{})
		if err != nil || m.waiters == 0 || m.want <= m.processed {
			m.asking = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
	}
}
