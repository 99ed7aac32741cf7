package overlay

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// scoreClock is a settable clock for ScoreOptions.Now.
type scoreClock struct{ t time.Time }

func (c *scoreClock) Now() time.Time { return c.t }

func newTestScores(t *testing.T) (*Scores, *scoreClock) {
	t.Helper()
	clk := &scoreClock{t: time.Unix(1_800_000_000, 0)}
	return NewScores(ScoreOptions{Now: clk.Now}), clk
}

func TestScoresEWMA(t *testing.T) {
	s, _ := newTestScores(t)
	p := peer.ID("a")
	if _, ok := s.RTT(p); ok {
		t.Fatalf("RTT(unknown) reported measured")
	}
	if got := s.Score(p); got != 20*time.Millisecond {
		t.Errorf("Score(unknown) = %v, want the UnknownRTT default 20ms", got)
	}
	s.Success(p, 10*time.Millisecond)
	if rtt, _ := s.RTT(p); rtt != 10*time.Millisecond {
		t.Errorf("RTT after first sample = %v, want 10ms", rtt)
	}
	s.Success(p, 20*time.Millisecond) // 10 + 0.3*(20-10) = 13
	if rtt, _ := s.RTT(p); rtt != 13*time.Millisecond {
		t.Errorf("RTT after 10ms,20ms = %v, want 13ms", rtt)
	}
}

func TestScoresFailuresDecay(t *testing.T) {
	s, clk := newTestScores(t)
	p := peer.ID("a")
	s.Success(p, 10*time.Millisecond)
	s.Failure(p)
	if got, want := s.Score(p), 10*time.Millisecond+250*time.Millisecond; got != want {
		t.Errorf("Score after a failure = %v, want %v", got, want)
	}
	clk.t = clk.t.Add(time.Minute) // one half-life
	if got, want := s.Score(p), 10*time.Millisecond+125*time.Millisecond; got != want {
		t.Errorf("Score a half-life later = %v, want %v", got, want)
	}
	s.Penalize(p)
	st := s.Stats(p)
	if st.Penalties != 1 || st.Score != 10*time.Millisecond+125*time.Millisecond+2*time.Second {
		t.Errorf("Stats after Penalize = %+v, want 1 penalty, score 2.135s", st)
	}
}

func TestScoresRank(t *testing.T) {
	a, b, c, d := peer.ID("a"), peer.ID("b"), peer.ID("c"), peer.ID("d")
	tests := []struct {
		name  string
		setup func(s *Scores)
		ids   []peer.ID
		want  []peer.ID
	}{
		{"unknown keep order", func(*Scores) {}, []peer.ID{c, a, b}, []peer.ID{c, a, b}},
		{"by rtt", func(s *Scores) {
			s.Success(a, 30*time.Millisecond)
			s.Success(b, 5*time.Millisecond)
		}, []peer.ID{a, b, c}, []peer.ID{b, c, a}},
		{"failure costs more than rtt", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Failure(a)
			s.Success(b, 100*time.Millisecond)
		}, []peer.ID{a, b}, []peer.ID{b, a}},
		{"suspect after two consecutive failures goes last", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Failure(a)
			s.Failure(a)
			s.Success(b, 100*time.Millisecond)
			s.Failure(b)
			s.Failure(b)
			s.Failure(b)
			s.Failure(b)
			s.Success(b, 100*time.Millisecond) // clears b's streak
		}, []peer.ID{a, b}, []peer.ID{b, a}},
		{"slow counts as failure", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Slow(a, 60*time.Millisecond)
			s.Success(b, 5*time.Millisecond)
		}, []peer.ID{a, b}, []peer.ID{b, a}},
		{"one unanswered request ranks behind answering peers, whatever the rtt", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Slow(a, 60*time.Millisecond)
			s.Success(b, 400*time.Millisecond)
		}, []peer.ID{a, b}, []peer.ID{b, a}},
		{"one failed request likewise", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Failure(a)
			s.Success(b, 400*time.Millisecond)
		}, []peer.ID{a, b}, []peer.ID{b, a}},
		{"answers again: ranked by latency again", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Slow(a, 60*time.Millisecond)
			s.Slow(a, 60*time.Millisecond)
			s.Success(a, time.Millisecond)
			s.Success(b, 50*time.Millisecond)
		}, []peer.ID{b, a}, []peer.ID{a, b}},
		{"penalized", func(s *Scores) {
			s.Success(a, time.Millisecond)
			s.Penalize(a)
			s.Success(b, 500*time.Millisecond)
		}, []peer.ID{a, b, d}, []peer.ID{d, b, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestScores(t)
			tt.setup(s)
			in := slices.Clone(tt.ids)
			if got := s.Rank(tt.ids); !slices.Equal(got, tt.want) {
				t.Errorf("Rank(%v) = %v, want %v", tt.ids, got, tt.want)
			}
			if !slices.Equal(in, tt.ids) {
				t.Errorf("Rank modified its argument")
			}
		})
	}
}

func TestScoresMaxPeers(t *testing.T) {
	clk := &scoreClock{t: time.Unix(1_800_000_000, 0)}
	s := NewScores(ScoreOptions{Now: clk.Now, MaxPeers: 2})
	for _, id := range []peer.ID{"a", "b", "c"} {
		clk.t = clk.t.Add(time.Second)
		s.Success(id, time.Millisecond)
	}
	if _, ok := s.RTT("a"); ok {
		t.Errorf("least recently used peer a still remembered past MaxPeers=2")
	}
	for _, id := range []peer.ID{"b", "c"} {
		if _, ok := s.RTT(id); !ok {
			t.Errorf("peer %s forgotten, want remembered", id)
		}
	}
}

func TestScoresSnapshot(t *testing.T) {
	s, _ := newTestScores(t)
	s.Success("a", 4*time.Millisecond)
	s.Failure("b")
	snap := s.Snapshot()
	if len(snap) != 2 || snap["a"].RTT != 4*time.Millisecond || snap["b"].Failures != 1 {
		t.Errorf("Snapshot() = %+v, want a with RTT 4ms and b with 1 failure", snap)
	}
}

// A peer that failed SuspectAfter times in a row is suspect (ranked last,
// skipped by DHT searches) for SuspectFor after its last failure, then
// ranked by its decayed score again; a success clears it at once.
func TestScoresSuspectDecays(t *testing.T) {
	s, clk := newTestScores(t)
	dead, live := peer.ID("dead"), peer.ID("live")
	s.Success(dead, time.Millisecond)
	s.Success(live, 5*time.Millisecond)
	steps := []struct {
		what    string
		do      func()
		suspect bool
		first   peer.ID
	}{
		{"healthy", func() {}, false, dead},
		{"one failure", func() { s.Failure(dead) }, false, live},
		{"two in a row", func() { s.Slow(dead, 150*time.Millisecond) }, true, live},
		{"29 s later", func() { clk.t = clk.t.Add(29 * time.Second) }, true, live},
		{"31 s later", func() { clk.t = clk.t.Add(2 * time.Second) }, false, live},
		{"fails again", func() { s.Failure(dead) }, true, live},
		{"answers", func() { s.Success(dead, time.Millisecond) }, false, live},
	}
	for _, st := range steps {
		st.do()
		if got := s.Suspect(dead); got != st.suspect {
			t.Errorf("%s: Suspect = %v, want %v", st.what, got, st.suspect)
		}
		if got := s.Rank([]peer.ID{dead, live}); got[0] != st.first {
			t.Errorf("%s: Rank = %v, want %s first", st.what, got, st.first)
		}
	}
	if s.Suspect(peer.ID("unknown")) {
		t.Errorf("Suspect(unknown peer) = true, want false")
	}
}
