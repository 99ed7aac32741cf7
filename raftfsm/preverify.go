package raftfsm

import (
	"crypto/sha256"
	"runtime"
	"sync"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
)

// preverifier checks the RRSIGs of an entry before it is applied: on the
// leader before the entry is proposed (Group.Apply), on a follower as soon
// as the entry is stored in its log (preverifyLogs). It does so for the
// entries that carry signed RRsets: StageChunk (with the open upload's
// key), PublishChange (the zone's owner key), CreateZone and RotateKey
// (the key they bind); for the last three it also checks the change's
// signed head (zone.ParseHead). Apply then finds the verdict by the
// entry's SHA-256 and skips the cryptography it already did, so the state
// machine's goroutine, which Raft waits on, spends little time on
// signatures. Every member still checks every signature it serves
// itself: a verdict is only ever this member's own, and only a success
// for the very bytes applied and the key the zone is bound to at apply
// time is used; anything else is verified again at apply.
type preverifier struct {
	owner     func(origin string) *zone.Key // the open upload's key, or nil
	zoneOwner func(origin string) *zone.Key // the zone's owner key, or nil

	mu    sync.Mutex
	jobs  map[[32]byte]*verdict
	order [][32]byte    // oldest first, for eviction
	sem   chan struct{} // chunks: one at a time, each on all cores
	small chan struct{} // changes: one a core
	wg    sync.WaitGroup
}

// maxVerdicts bounds the verdicts kept (each a few dozen bytes).
const maxVerdicts = 256

type verdict struct {
	done chan struct{}
	key  string // the owner public key checked with
	ok   bool   // every RRSIG verified
	// head is the change's signed head, parsed and its signature
	// verified with key; nil when the entry carries none or it did not
	// verify (apply checks it again and says why).
	head *zone.Head
}

func newPreverifier(owner, zoneOwner func(string) *zone.Key) *preverifier {
	return &preverifier{owner: owner, zoneOwner: zoneOwner, jobs: map[[32]byte]*verdict{},
		sem: make(chan struct{}, 1), small: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// preverifiable reports whether data may be a command whose signatures
// the preverifier checks, from its type byte, without decoding it.
func preverifiable(data []byte) bool {
	if len(data) < 2 || data[1] != commandVersion1 {
		return false
	}
	switch CommandType(data[0]) {
	case TypeStageChunk, TypePublishChange, TypeCreateZone, TypeRotateKey:
		return true
	}
	return false
}

// start begins checking data when it is a command that carries signed
// RRsets and returns its verdict (nil when nothing was started).
func (p *preverifier) start(data []byte) *verdict {
	if p == nil || !preverifiable(data) {
		return nil
	}
	c, err := DecodeCommand(data)
	if err != nil {
		return nil
	}
	var (
		origin string
		sets   []*zone.RRset
		head   []byte
		owner  *zone.Key
		sem    = p.small
	)
	switch c := c.(type) {
	case *StageChunk:
		origin, sets, sem = zone.CanonicalName(c.Zone), c.Sets, p.sem
		owner = p.owner(origin)
	case *PublishChange:
		origin, sets, head = zone.CanonicalName(c.Change.Zone), c.Change.Put, c.Change.Head
		owner = p.zoneOwner(origin)
	case *CreateZone:
		origin, sets, head = zone.CanonicalName(c.Change.Zone), c.Change.Put, c.Change.Head
		owner, _ = ownerKey(origin, c.Owner)
	case *RotateKey:
		origin, sets, head = zone.CanonicalName(c.Change.Zone), c.Change.Put, c.Change.Head
		owner, _ = ownerKey(origin, c.NewKey)
	}
	if owner == nil || len(sets) == 0 && len(head) == 0 {
		return nil
	}
	sum := sha256.Sum256(data)
	p.mu.Lock()
	if v, ok := p.jobs[sum]; ok {
		p.mu.Unlock()
		return v
	}
	v := &verdict{done: make(chan struct{}), key: owner.DNSKEY.PublicKey}
	p.jobs[sum] = v
	p.order = append(p.order, sum)
	for len(p.order) > maxVerdicts {
		delete(p.jobs, p.order[0])
		p.order = p.order[1:]
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer close(v.done)
		sem <- struct{}{}
		defer func() { <-sem }()
		checked := make([]*zone.RRset, 0, len(sets))
		for _, s := range sets {
			cs, err := zone.CheckSignedRRset(origin, s)
			if err != nil {
				return
			}
			checked = append(checked, cs)
		}
		v.ok = zone.VerifySigned(checked, owner) == nil
		if v.ok && len(head) > 0 {
			if h, err := zone.ParseHead(head, owner); err == nil {
				v.head = h
			}
		}
	}()
	return v
}

// verified reports whether data was checked here, successfully, with
// owner's key; it waits for a check in progress. The verdict is used
// once.
func (p *preverifier) verified(data []byte, owner *zone.Key) bool {
	ok, _ := p.verifiedChange(data, owner)
	return ok
}

// verifiedChange is verified for the entry of a change (a create, a
// publish, a rotation), which also returns the change's signed head when
// this member checked it with owner's key (nil: apply checks it).
func (p *preverifier) verifiedChange(data []byte, owner *zone.Key) (bool, *zone.Head) {
	if p == nil || owner == nil {
		return false, nil
	}
	sum := sha256.Sum256(data)
	p.mu.Lock()
	v, ok := p.jobs[sum]
	if ok {
		delete(p.jobs, sum)
	}
	p.mu.Unlock()
	if !ok {
		return false, nil
	}
	<-v.done
	if !v.ok || v.key != owner.DNSKEY.PublicKey {
		return false, nil
	}
	return true, v.head
}

// wait waits for the checks in progress (FSM shutdown, tests).
func (p *preverifier) wait() {
	if p != nil {
		p.wg.Wait()
	}
}

// Preverify starts checking the signatures of cmd, when it carries signed
// RRsets (a chunk of an open staged upload, a change, a create, a key
// rotation), so that its apply finds them checked. Group calls it before
// proposing a command and for every entry a follower stores; it returns
// at once.
func (f *FSM) Preverify(cmd []byte) { f.pre.start(cmd) }

// zoneOwner returns the owner key of origin, or nil.
func (f *FSM) zoneOwner(origin string) *zone.Key {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if s, ok := f.state.zones[origin]; ok {
		return s.Owner
	}
	return nil
}

// stagingOwner returns the key of origin's open upload, or nil.
func (f *FSM) stagingOwner(origin string) *zone.Key {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if s, ok := f.state.staging[origin]; ok {
		return s.Owner
	}
	return nil
}

// preverifyingLogs is the Raft log store of a Group whose FSM pre-checks
// entries: StoreLogs hands each stored command to the FSM's Preverify.
type preverifyingLogs struct {
	raft.LogStore
	pre interface{ Preverify([]byte) }
}

func (s *preverifyingLogs) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s *preverifyingLogs) StoreLogs(logs []*raft.Log) error {
	for _, l := range logs {
		if l.Type == raft.LogCommand {
			s.pre.Preverify(l.Data)
		}
	}
	return s.LogStore.StoreLogs(logs)
}
