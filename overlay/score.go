package overlay

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ScoreOptions tune how Scores ranks peers. Zero fields take the defaults
// named on each.
type ScoreOptions struct {
	// Alpha is the weight of a new RTT sample in the moving average.
	// Default 0.3.
	Alpha float64
	// UnknownRTT is the RTT assumed for a peer never measured, so new
	// peers are tried before slow known ones but after fast ones.
	// Default 20 ms.
	UnknownRTT time.Duration
	// FailureCost is added to the score per (decayed) failure. Default
	// 250 ms.
	FailureCost time.Duration
	// PenaltyCost is added per (decayed) penalty, a verification failure
	// reported by Penalize. Default 2 s.
	PenaltyCost time.Duration
	// HalfLife is the time in which failures and penalties lose half
	// their weight. Default 1 minute.
	HalfLife time.Duration
	// SuspectAfter is the number of consecutive failures after which a
	// peer is ranked behind every peer that is not suspect, whatever its
	// score; a success clears it. Default 2.
	SuspectAfter int
	// SuspectFor is how long a suspect peer stays suspect after its last
	// failure without a success: then it is ranked by its score again
	// (its decayed failures still weigh), so a member that came back is
	// tried again while one still dead drops back at its next failure.
	// Default 30 s.
	SuspectFor time.Duration
	// MaxPeers bounds the peers remembered; the least recently used is
	// forgotten first. Default 4096.
	MaxPeers int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o ScoreOptions) withDefaults() ScoreOptions {
	if o.Alpha <= 0 || o.Alpha > 1 {
		o.Alpha = 0.3
	}
	if o.UnknownRTT <= 0 {
		o.UnknownRTT = 20 * time.Millisecond
	}
	if o.FailureCost <= 0 {
		o.FailureCost = 250 * time.Millisecond
	}
	if o.PenaltyCost <= 0 {
		o.PenaltyCost = 2 * time.Second
	}
	if o.HalfLife <= 0 {
		o.HalfLife = time.Minute
	}
	if o.SuspectAfter <= 0 {
		o.SuspectAfter = 2
	}
	if o.SuspectFor <= 0 {
		o.SuspectFor = 30 * time.Second
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// PeerStats is what Scores knows about one peer.
type PeerStats struct {
	RTT         time.Duration // moving average round-trip time; 0 if never measured
	Samples     int           // RTT samples taken
	Failures    float64       // decayed failure count
	Penalties   float64       // decayed penalty count
	Consecutive int           // failures since the last success
	Score       time.Duration // lower is better; see Scores.Score
}

type peerScore struct {
	rtt         float64 // nanoseconds
	samples     int
	failures    float64
	penalties   float64
	consecutive int
	slowStreak  int       // Slow misses among the consecutive failures
	failedAt    time.Time // the last failure, slow answer or penalty
	decayedAt   time.Time // failures and penalties are current as of this
	usedAt      time.Time
}

// Scores ranks peers by moving-average round-trip time, failures and
// penalties. It is safe for concurrent use.
type Scores struct {
	opts ScoreOptions

	mu    sync.Mutex
	peers map[peer.ID]*peerScore
}

// NewScores returns an empty score table.
func NewScores(opts ScoreOptions) *Scores {
	return &Scores{opts: opts.withDefaults(), peers: make(map[peer.ID]*peerScore)}
}

// get returns p's entry, created if missing, with its decay applied up to
// now. Callers hold s.mu.
func (s *Scores) get(p peer.ID, now time.Time) *peerScore {
	ps, ok := s.peers[p]
	if !ok {
		if len(s.peers) >= s.opts.MaxPeers {
			s.evictLocked()
		}
		ps = &peerScore{decayedAt: now}
		s.peers[p] = ps
	}
	if dt := now.Sub(ps.decayedAt); dt > 0 {
		f := math.Exp2(-float64(dt) / float64(s.opts.HalfLife))
		ps.failures *= f
		ps.penalties *= f
		ps.decayedAt = now
	}
	ps.usedAt = now
	return ps
}

func (s *Scores) evictLocked() {
	var (
		oldest peer.ID
		at     time.Time
		found  bool
	)
	for id, ps := range s.peers {
		if !found || ps.usedAt.Before(at) {
			oldest, at, found = id, ps.usedAt, true
		}
	}
	delete(s.peers, oldest)
}

// Success records a reply from p that took rtt. It ends p's streak of
// failures, and takes back the failure weight of the streak's Slow
// misses: a peer that was silent for a while and answers again is ranked
// by its latency again (the misses' waits stay in its RTT average), while
// hard failures and penalties keep their weight until they decay.
func (s *Scores) Success(p peer.ID, rtt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.get(p, s.opts.Now())
	s.sampleLocked(ps, rtt)
	ps.failures = max(0, ps.failures-float64(ps.slowStreak))
	ps.consecutive, ps.slowStreak = 0, 0
}

func (s *Scores) sampleLocked(ps *peerScore, rtt time.Duration) {
	if ps.samples == 0 {
		ps.rtt = float64(rtt)
	} else {
		ps.rtt += s.opts.Alpha * (float64(rtt) - ps.rtt)
	}
	ps.samples++
}

// Failure records that p could not be reached or failed a request.
func (s *Scores) Failure(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	ps := s.get(p, now)
	ps.failures++
	ps.consecutive++
	ps.failedAt = now
}

// Slow records that p had not answered after waited, when another peer's
// answer made its own unnecessary: waited is a lower bound of its RTT and
// enters the average, and the miss counts as a failure so that a peer that
// has stopped answering drops behind the others.
func (s *Scores) Slow(p peer.ID, waited time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	ps := s.get(p, now)
	s.sampleLocked(ps, waited)
	ps.failures++
	ps.consecutive++
	ps.slowStreak++
	ps.failedAt = now
}

// Penalize records that p sent an answer that failed verification.
func (s *Scores) Penalize(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	ps := s.get(p, now)
	ps.penalties++
	ps.consecutive++
	ps.failedAt = now
}

// suspectLocked reports whether ps has failed SuspectAfter times in a row,
// the last time within SuspectFor of now. Callers hold s.mu.
func (s *Scores) suspectLocked(ps *peerScore, now time.Time) bool {
	return ps.consecutive >= s.opts.SuspectAfter && now.Sub(ps.failedAt) < s.opts.SuspectFor
}

// Suspect reports whether p is suspect now (see ScoreOptions.SuspectAfter
// and SuspectFor): dead or silent as far as its last requests tell. The
// overlay's DHT searches skip suspect peers (HostOptions.Avoid).
func (s *Scores) Suspect(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.peers[p]
	return ok && s.suspectLocked(ps, s.opts.Now())
}

// Stats returns what is known about p (zero values with the score of an
// unknown peer when nothing is).
func (s *Scores) Stats(p peer.ID) PeerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.peers[p]
	if !ok {
		return PeerStats{Score: s.opts.UnknownRTT}
	}
	s.get(p, s.opts.Now())
	return PeerStats{
		RTT:         time.Duration(ps.rtt),
		Samples:     ps.samples,
		Failures:    ps.failures,
		Penalties:   ps.penalties,
		Consecutive: ps.consecutive,
		Score:       s.scoreLocked(ps),
	}
}

// scoreLocked is RTT (UnknownRTT if never measured) plus FailureCost per
// decayed failure plus PenaltyCost per decayed penalty.
func (s *Scores) scoreLocked(ps *peerScore) time.Duration {
	rtt := float64(s.opts.UnknownRTT)
	if ps.samples > 0 {
		rtt = ps.rtt
	}
	v := rtt + ps.failures*float64(s.opts.FailureCost) + ps.penalties*float64(s.opts.PenaltyCost)
	if v > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v)
}

// Score returns p's score: lower is better.
func (s *Scores) Score(p peer.ID) time.Duration { return s.Stats(p).Score }

// RTT returns p's moving-average RTT and whether it was ever measured.
func (s *Scores) RTT(p peer.ID) (time.Duration, bool) {
	st := s.Stats(p)
	return st.RTT, st.Samples > 0
}

// Rank returns ids best first, in three tiers, each by score: peers
// whose last request was answered (or never asked), then peers whose
// last request failed or went unanswered (Failure, Slow, Penalize: one
// is enough, whatever their RTT, so a silent peer is not asked first
// again after its first miss), then suspect ones (SuspectAfter
// consecutive failures). The last two hold for SuspectFor after the
// last failure; then the peer is ranked by its score alone (its decayed
// failures still weigh) so that one that came back is tried again. A
// success moves a peer back to the first tier. Ties keep the order of
// ids. ids is not modified.
func (s *Scores) Rank(ids []peer.ID) []peer.ID {
	type ranked struct {
		id    peer.ID
		tier  int // 0 answered last, 1 failed last, 2 suspect
		score time.Duration
	}
	s.mu.Lock()
	now := s.opts.Now()
	rs := make([]ranked, len(ids))
	for i, id := range ids {
		r := ranked{id: id, score: s.opts.UnknownRTT}
		if _, ok := s.peers[id]; ok {
			ps := s.get(id, now)
			switch {
			case s.suspectLocked(ps, now):
				r.tier = 2
			case ps.consecutive > 0 && now.Sub(ps.failedAt) < s.opts.SuspectFor:
				r.tier = 1
			}
			r.score = s.scoreLocked(ps)
		}
		rs[i] = r
	}
	s.mu.Unlock()
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if a.tier != b.tier {
			return a.tier - b.tier
		}
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	out := make([]peer.ID, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

// Snapshot returns the stats of every peer remembered, for a metrics
// collector or an operator command to read.
func (s *Scores) Snapshot() map[peer.ID]PeerStats {
	s.mu.Lock()
	ids := make([]peer.ID, 0, len(s.peers))
	for id := range s.peers {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	out := make(map[peer.ID]PeerStats, len(ids))
	for _, id := range ids {
		out[id] = s.Stats(id)
	}
	return out
}
