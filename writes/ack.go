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
// member, the highest index the member reported processed, learned from
// one stream per member (admin GET /v1/group/processed/stream: the
// member writes a line each time its state machine moves on), open while
// writes come and up to 30 s after the last; a write that the member's
// last line covers waits for nothing. A member that predates the stream
// is asked with one request in flight at a time (GET
// /v1/group/processed), for the highest index any write waits for. One
// request per member and write had cost a third of a write's CPU across
// the group (issue 11 item 5, bench/README.md).

import (
	"context"
	"errors"
	"net/http"
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
	// base is the context of the streams and requests, made with the
	// first; cancelled, and stopped set, when RunAcks' ctx ends.
	base    context.Context
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup // the asking goroutines
}

// ackStreamFor is how long one processed stream to a member lasts
// (admin GET /v1/group/processed/stream): a leader whose writes stop
// keeps it at most this long; one whose writes go on opens the next.
var ackStreamFor = 30 * time.Second

// memberAck is one member's entry in memberAcks, guarded by its mu.
type memberAck struct {
	processed uint64        // the highest index the member reported processed
	learned   time.Time     // when: an answer older than ack_wait is asked again (the member may have lost its state since)
	streaming bool          // a stream from the member is open: processed is current whatever learned says
	noStream  bool          // the member refused the stream (it predates it): asked a request per index
	want      uint64        // the highest index a waiting write needs
	waiters   int           // writes waiting for this member now
	waited    time.Time     // when a write last waited for it
	asking    bool          // a request or stream to the member is in flight
	fails     uint64        // requests that failed (the member unreachable)
	changed   chan struct{} // closed, and replaced, when processed or fails change
}

// RunAcks ties the processed streams of read-your-writes (ack.go) to
// ctx: when it ends, the streams and requests in flight end, no new one
// starts (writes answer with the members pending), and RunAcks returns
// once they have. The node runs it while it runs; without it a stream
// ends by its own bound (30 s).
func (w *Path) RunAcks(ctx context.Context) {
	a := &w.acks
	<-ctx.Done()
	a.mu.Lock()
	a.stopped = true
	if a.cancel != nil {
		a.cancel()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// wait reports whether member id (admin endpoint addr) has processed
// index before ctx ends, learning it from the one stream (or request)
// in flight for that member (started here when none is). A failed
// stream or request (the member unreachable) ends the waits of the
// writes that saw it with false at once: a dead member costs a write
// nothing.
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
	m.waited = time.Now()
	defer func() {
		a.mu.Lock()
		m.waiters--
		a.mu.Unlock()
	}()
	fails := m.fails
	for {
		if m.processed >= index && (m.streaming || time.Since(m.learned) < wait) {
			a.mu.Unlock()
			return true
		}
		if m.fails != fails {
			a.mu.Unlock()
			return false
		}
		m.want = max(m.want, index)
		if !m.asking && !a.stopped {
			if a.base == nil {
				a.base, a.cancel = context.WithCancel(context.Background())
			}
			m.asking = true
			a.wg.Add(1)
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

// ask learns m's processed index from a stream from the member at addr,
// opening the next when one ends while writes wait or waited within
// ackStreamFor; from a member that refuses the stream (404: it predates
// it), by asking it to answer once it has processed m.want, again while
// writes wait for more than it reported. It stops when a stream or
// request fails, when nothing waits any more, or when RunAcks' ctx ends.
func (a *memberAcks) ask(w *Path, m *memberAck, addr string, wait time.Duration) {
	defer a.wg.Done()
	a.mu.Lock()
	base := a.base
	a.mu.Unlock()
	for {
		a.mu.Lock()
		target, stream := m.want, !m.noStream
		a.mu.Unlock()
		var err error
		if stream {
			err = a.stream(base, w, m, addr)
			var ae *admin.APIError
			if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
				a.mu.Lock()
				m.noStream = true
				a.mu.Unlock()
				continue
			}
		} else {
			ctx, cancel := context.WithTimeout(base, wait)
			// The member waits a little less than the writes do, so its
			// "not yet" arrives before theirs end.
			var p *admin.Processed
			p, err = w.r.Client().WaitProcessed(ctx, addr, target, wait*9/10)
			cancel()
			if err == nil {
				a.mu.Lock()
				m.processed, m.learned = p.Index, time.Now()
				a.mu.Unlock()
			}
		}
		a.mu.Lock()
		m.streaming = false
		if err != nil {
			m.fails++
			m.noStream = false // it may be another build when it answers again
		}
		close(m.changed)
		m.changed = make(chan struct{})
		done := err != nil || base.Err() != nil
		if stream {
			done = done || m.waiters == 0 && time.Since(m.waited) > ackStreamFor
		} else {
			done = done || m.waiters == 0 || m.want <= m.processed
		}
		if done {
			m.asking = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
	}
}

// stream follows the member's processed stream for ackStreamFor,
// publishing each index it reports to the writes waiting. A stream that
// ends without a line is a failure (the member answers nothing).
func (a *memberAcks) stream(ctx context.Context, w *Path, m *memberAck, addr string) error {
	lines := 0
	err := w.r.Client().FollowProcessed(ctx, addr, ackStreamFor, func(p admin.ProcessedLine) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		lines++
		m.processed, m.learned, m.streaming = p.Index, time.Now(), true
		close(m.changed)
		m.changed = make(chan struct{})
		return true
	})
	if err == nil && lines == 0 {
		err = errAckStreamEmpty
	}
	return err
}

// errAckStreamEmpty is returned when a member's processed stream ended
// before its first line.
var errAckStreamEmpty = errors.New("read-your-writes: the member's processed stream ended without a line")
