package logfollow

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/testlog"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/prometheus/client_golang/prometheus"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sink records the last view a follower handed it, and keeps the
// suspended set as dnsfront would.
type sink struct {
	mu   sync.Mutex
	last View
	susp dnsfront.SuspendSet
}

func (s *sink) Learn(v View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = v
	s.susp.Set(v.Suspended)
}

func (s *sink) anchors() client.Anchors {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Anchors
}

// followerFor returns a follower of the log at s with data directory
// dir, the sink it publishes to and its metrics' registry.
func followerFor(t *testing.T, dir string, s *translogtest.Server) (*sink, *Follower, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	k := &sink{}
	f, err := New(Options{
		LogVerifier: s.Key.VKey,
		LogOrigin:   translog.DefaultOrigin,
		Dir:         dir,
		Sources:     []translog.Source{s.Source()},
		Sink:        k,
		Registerer:  reg,
		Logger:      testlog.New(t, slog.LevelDebug),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k, f, reg
}

func ownerKey(t *testing.T, origin string) string {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.DNSKEY.String()
}

// TestFollowerAppliesLog: registrations give anchors, suspensions the
// suspended set, a release drops both; the state survives a restart with
// the log unreachable.
func TestFollowerAppliesLog(t *testing.T) {
	ctx := context.Background()
	s := translogtest.NewServer(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	ka, kb, kb2 := ownerKey(t, "a.test."), ownerKey(t, "b.test."), ownerKey(t, "b.test.")
	s.Append(t,
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, NodeID: "n1", Group: "east"},
		translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "a.test.", OwnerKey: ka, Group: "east", Actor: "k1"},
		translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "b.test.", OwnerKey: kb, Group: "west", Actor: "k1"},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "a.test.", Reason: "abuse", Actor: "rev"},
	)
	dir := t.TempDir()
	n, f, reg := followerFor(t, dir, s)
	if err := f.step(ctx); err != nil {
		t.Fatalf("step: %v", err)
	}
	if o, r, ok := n.susp.Suspended("www.a.test."); !ok || o != "a.test." || r != "abuse" {
		t.Errorf("Suspended(www.a.test.) = %q, %q, %v", o, r, ok)
	}
	if a := n.anchors(); a["a.test."] == nil || a["b.test."] == nil {
		t.Errorf("anchors = %v, want a.test. and b.test.", a)
	}
	s.Append(t,
		translog.Entry{Kind: translog.KindUnsuspension, Time: now, Zone: "a.test.", Reason: "fixed", Actor: "rev"},
		translog.Entry{Kind: translog.KindOwnerKeyChange, Time: now, Zone: "b.test.", OwnerKey: kb2, Actor: "k1"},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "b.test.", Reason: "spam", Actor: "rev"},
		translog.Entry{Kind: translog.KindRelease, Time: now, Zone: "a.test.", Actor: "k1"},
	)
	if err := f.step(ctx); err != nil {
		t.Fatalf("step: %v", err)
	}
	if _, _, ok := n.susp.Suspended("www.a.test."); ok {
		t.Error("a.test. still suspended after unsuspension and release")
	}
	a := n.anchors()
	if a["a.test."] != nil || a["b.test."] == nil || a["b.test."].DNSKEY.String() != kb2 {
		t.Errorf("anchors after release and key change = %v", a)
	}
	if got := counterValue(t, reg, "ddnrs_registry_log_entries_followed_total"); got != 8 {
		t.Errorf("entries applied = %v, want 8", got)
	}

	// Restart with the log down: anchors and suspensions from follow.json.
	s.SetStatus(503)
	n2, f2, _ := followerFor(t, dir, s)
	if err := f2.step(ctx); err == nil {
		t.Error("step with the log down = nil, want an error")
	}
	if o, r, ok := n2.susp.Suspended("b.test."); !ok || o != "b.test." || r != "spam" {
		t.Errorf("after restart: Suspended(b.test.) = %q, %q, %v", o, r, ok)
	}
	if a := n2.anchors(); a["b.test."] == nil || a["b.test."].DNSKEY.String() != kb2 || len(a) != 1 {
		t.Errorf("after restart: anchors %v", a)
	}
	if st := cfgState(t, dir); st.Size != 8 || st.Groups["b.test."] != "west" {
		t.Errorf("after restart: state size %d groups %v", st.Size, st.Groups)
	}
}

func cfgState(t *testing.T, dir string) State {
	t.Helper()
	st, err := LoadState(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFollowerSplitView: a checkpoint that does not extend the one held
// (a forked log under the same key) stops following, is counted, and is
// remembered across restarts; what was learnt before stays in force.
func TestFollowerSplitView(t *testing.T) {
	ctx := context.Background()
	s := translogtest.NewServer(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	s.Append(t, translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "a.test.", Reason: "abuse", Actor: "rev"})
	fork := s.Fork(t)
	s.Append(t, translog.Entry{Kind: translog.KindUnsuspension, Time: now, Zone: "a.test.", Reason: "ok", Actor: "rev"})
	fork.Append(t,
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "b.test.", Reason: "other view", Actor: "rev"},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "c.test.", Reason: "other view", Actor: "rev"},
	)
	dir := t.TempDir()
	n, f, reg := followerFor(t, dir, s)
	if err := f.step(ctx); err != nil {
		t.Fatalf("step: %v", err)
	}
	f.sources = []translog.Source{fork.Source()}
	err := f.step(ctx)
	var sv *translog.SplitViewError
	if !errors.As(err, &sv) || !errors.Is(err, translog.ErrSplitView) {
		t.Fatalf("step on the fork = %v, want a split view", err)
	}
	if got := counterValue(t, reg, "ddnrs_registry_log_split_views_total"); got != 1 {
		t.Errorf("split views counted = %v, want 1", got)
	}
	if _, _, ok := n.susp.Suspended("b.test."); ok {
		t.Error("the forked view's suspension was applied")
	}
	// Same size, other root: also a split view.
	f.sources = []translog.Source{s.Source()}
	if err := f.step(ctx); !errors.Is(err, translog.ErrSplitView) {
		t.Errorf("step after a split view = %v, want it refused", err)
	}
	_, f2, _ := followerFor(t, dir, s)
	if err := f2.step(ctx); !errors.Is(err, translog.ErrSplitView) {
		t.Errorf("step after restart = %v, want the split view remembered", err)
	}
}

// TestFollowerSameSizeOtherRoot: a checkpoint of the size held with
// another root is a split view.
func TestFollowerSameSizeOtherRoot(t *testing.T) {
	ctx := context.Background()
	s := translogtest.NewServer(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	fork := s.Fork(t)
	s.Append(t, translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "a.test.", Reason: "x", Actor: "rev"})
	fork.Append(t, translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "a.test.", Reason: "y", Actor: "rev"})
	_, f, _ := followerFor(t, t.TempDir(), s)
	if err := f.step(ctx); err != nil {
		t.Fatal(err)
	}
	f.sources = []translog.Source{fork.Source()}
	if err := f.step(ctx); !errors.Is(err, translog.ErrSplitView) {
		t.Errorf("step = %v, want a split view", err)
	}
}

// counterValue returns the value of the counter name in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// TestStateGolden: follow.json outlives the process; its format
// (version 5) is pinned by testdata/follow.v5.json, written and read;
// versions 1 to 4 (follow.v1.json ... follow.v4.json) are still read,
// what they lack unknown until the log is read again.
func TestStateGolden(t *testing.T) {
	st := State{
		Version:    client.LogStateVersion,
		Checkpoint: "ddnrs.registry/log\n2\nAAAA\n\n— ddnrs.registry/log sig\n",
		Size:       2,
		Range:      [][]byte{{1, 2, 3}},
		Anchors:    map[string]string{"a.test.": "a.test.\t3600\tIN\tDNSKEY\t257 3 15 AAAA"},
		Groups:     map[string]string{"a.test.": "east"},
		Suspended:  map[string]string{"a.test.": "abuse"},
		Previous: map[string]Previous{"a.test.": {Key: "a.test.\t3600\tIN\tDNSKEY\t257 3 15 BBBB",
			Until: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}},
		Peers: map[string]client.LogPeer{"12D3KooWExample": {Node: "east-1", Group: "east",
			Addrs: []string{"/ip4/192.0.2.1/udp/4001/quic-v1/p2p/12D3KooWExample"}}},
		Revoked: map[string]client.LogRevoked{"5f3a9c01d2": {Name: "eu-ops", Group: "eu", Reason: "laptop stolen",
			Time: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)}},
		Removed: map[string]client.LogRemoved{"east-3": {Index: 41, Group: "east", Reason: "disk died",
			Time: time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)}},
	}
	golden := filepath.Join("testdata", "follow.v5.json")
	dir := t.TempDir()
	f := &Follower{path: filepath.Join(dir, File), st: st}
	if err := f.save(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("follow.json changed:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	// Version 2 (no peers) is still read, as version 3 with the peers
	// unknown; version 1 (no previous keys either) too.
	v4 := st
	v4.Removed = nil
	v3 := v4
	v3.Revoked = nil
	v2 := v3
	v2.Peers = nil
	v1 := v2
	v1.Previous = map[string]Previous{}
	for _, tt := range []struct {
		file string
		want State
	}{{golden, st}, {filepath.Join("testdata", "follow.v4.json"), v4}, {filepath.Join("testdata", "follow.v3.json"), v3}, {filepath.Join("testdata", "follow.v2.json"), v2},
		{filepath.Join("testdata", "follow.v1.json"), v1}} {
		back, err := LoadState(tt.file)
		if err != nil || !reflect.DeepEqual(back, tt.want) {
			t.Errorf("LoadState(%s) = %+v, %v; want %+v", tt.file, back, err, tt.want)
		}
	}
	if err := os.WriteFile(f.path, []byte(`{"version":6}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(f.path); err == nil {
		t.Error("LoadState(version 6) = nil error, want refused")
	}
}

// TestFollowerPreviousKey: an owner-key-change entry keeps the key before
// as previous until the entry's time plus the grace; not for an entry
// older than the grace, nor with no grace; a registration or release
// forgets it; a drop the client.Verifier reports and the end of the grace
// remove it from the state.
func TestFollowerPreviousKey(t *testing.T) {
	const z = "example."
	k1 := "example.\t3600\tIN\tDNSKEY\t257 3 15 " + strings.Repeat("A", 43) + "="
	k2 := "example.\t3600\tIN\tDNSKEY\t257 3 15 " + strings.Repeat("B", 43) + "="
	now := time.Now().UTC().Truncate(time.Second)
	change := translog.Entry{Kind: translog.KindOwnerKeyChange, Zone: z, OwnerKey: k2, Time: now}
	tests := []struct {
		desc    string
		grace   time.Duration
		entries []translog.Entry
		want    bool // previous key k1 kept
	}{
		{"change", 10 * time.Minute, []translog.Entry{change}, true},
		{"change older than the grace", 10 * time.Minute, []translog.Entry{{Kind: translog.KindOwnerKeyChange, Zone: z, OwnerKey: k2, Time: now.Add(-11 * time.Minute)}}, false},
		{"no grace", 0, []translog.Entry{change}, false},
		{"change to the same key", 10 * time.Minute, []translog.Entry{{Kind: translog.KindOwnerKeyChange, Zone: z, OwnerKey: k1, Time: now}}, false},
		{"change then release", 10 * time.Minute, []translog.Entry{change, {Kind: translog.KindRelease, Zone: z, Time: now}}, false},
		{"change, release, registration", 10 * time.Minute, []translog.Entry{change, {Kind: translog.KindRelease, Zone: z, Time: now},
			{Kind: translog.KindRegistration, Zone: z, OwnerKey: k2, Group: "g", Time: now}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			st, err := LoadState(filepath.Join(t.TempDir(), File))
			if err != nil {
				t.Fatal(err)
			}
			f := &Follower{now: testNow, log: testlog.New(t, slog.LevelDebug), st: st, grace: tt.grace}
			f.st.Apply(translog.Entry{Kind: translog.KindRegistration, Zone: z, OwnerKey: k1, Group: "g", Time: now}, f.now(), f.grace)
			for _, e := range tt.entries {
				f.st.Apply(e, f.now(), f.grace)
			}
			p, ok := f.st.Previous[z]
			if ok != tt.want || ok && (p.Key != k1 || !p.Until.Equal(now.Add(tt.grace))) {
				t.Errorf("previous = %+v, %v; want %v (key 1 until %v)", p, ok, tt.want, now.Add(tt.grace))
			}
		})
	}

	st, err := LoadState(filepath.Join(t.TempDir(), File))
	if err != nil {
		t.Fatal(err)
	}
	f := &Follower{now: testNow, log: testlog.New(t, slog.LevelDebug), st: st, grace: time.Hour, poke: make(chan struct{}, 1)}
	f.st.Apply(translog.Entry{Kind: translog.KindRegistration, Zone: z, OwnerKey: k1, Group: "g", Time: now}, f.now(), f.grace)
	f.st.Apply(change, f.now(), f.grace)
	if f.forgetPrevious() {
		t.Fatal("forgetPrevious removed a key neither dropped nor expired")
	}
	dk := client.ParseOwnerKey(k2) // a drop of another key than the previous one
	f.droppedPrevious(z, &zone.Key{Zone: z, DNSKEY: dk})
	if f.forgetPrevious() {
		t.Fatal("forgetPrevious removed the previous key on the drop of another key")
	}
	f.droppedPrevious(z, &zone.Key{Zone: z, DNSKEY: client.ParseOwnerKey(k1)})
	if !f.forgetPrevious() || len(f.st.Previous) != 0 {
		t.Errorf("after the Verifier dropped it: previous %+v", f.st.Previous)
	}
	f.st.Previous[z] = Previous{Key: k1, Until: now.Add(-time.Second)}
	if !f.forgetPrevious() || len(f.st.Previous) != 0 {
		t.Errorf("past its time: previous %+v", f.st.Previous)
	}
}

// testNow is the follower's clock in tests: now, to the second.
func testNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

// The registry log's size and last successful poll are exported, so an
// alert sees a follower that stopped or trails the others.
func TestFollowerLogGauges(t *testing.T) {
	s := translogtest.NewServer(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	s.Append(t,
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, NodeID: "n1", Group: "east"},
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, NodeID: "n2", Group: "west"},
	)
	_, f, reg := followerFor(t, t.TempDir(), s)
	gauge := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) == 1 {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no gauge %s", name)
		return 0
	}
	if got := gauge("ddnrs_registry_log_last_success_timestamp_seconds"); got != 0 {
		t.Errorf("last success before any poll = %v, want 0", got)
	}
	before := float64(time.Now().Unix())
	if err := f.step(context.Background()); err != nil {
		t.Fatalf("step: %v", err)
	}
	if got := gauge("ddnrs_registry_log_size"); got != 2 {
		t.Errorf("ddnrs_registry_log_size = %v, want 2", got)
	}
	if got := gauge("ddnrs_registry_log_last_success_timestamp_seconds"); got < before {
		t.Errorf("last success = %v, want at least %v", got, before)
	}
	s.SetStatus(503)
	last := gauge("ddnrs_registry_log_last_success_timestamp_seconds")
	if err := f.step(context.Background()); err == nil {
		t.Fatal("step with the log down succeeded")
	}
	if got := gauge("ddnrs_registry_log_last_success_timestamp_seconds"); got != last {
		t.Errorf("last success after a failed poll = %v, want unchanged %v", got, last)
	}
}
