package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
	"github.com/ddnrs/ddnrs/zone"
)

var update = flag.Bool("update", false, "rewrite golden files")

// followerFor returns a follower of the log at s for a node (not
// started) with data directory dir.
func followerFor(t *testing.T, dir string, s *translogtest.Server) (*Node, *follower) {
	t.Helper()
	cfg := Default()
	cfg.DataDir = dir
	cfg.Registry.LogVerifier = s.Key.VKey
	cfg.Registry.URLs = []string{s.URL}
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := n.newFollower()
	if err != nil {
		t.Fatalf("newFollower: %v", err)
	}
	f.sources = []translog.Source{s.Source()}
	return n, f
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
	n, f := followerFor(t, dir, s)
	if err := f.step(ctx); err != nil {
		t.Fatalf("step: %v", err)
	}
	if o, r, ok := n.susp.Suspended("www.a.test."); !ok || o != "a.test." || r != "abuse" {
		t.Errorf("Suspended(www.a.test.) = %q, %q, %v", o, r, ok)
	}
	if a := *n.logAnchors.Load(); a["a.test."] == nil || a["b.test."] == nil {
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
	a := *n.logAnchors.Load()
	if a["a.test."] != nil || a["b.test."] == nil || a["b.test."].DNSKEY.String() != kb2 {
		t.Errorf("anchors after release and key change = %v", a)
	}
	if got := counterValue(t, n, "ddnrs_registry_log_entries_followed_total"); got != 8 {
		t.Errorf("entries applied = %v, want 8", got)
	}

	// Restart with the log down: anchors and suspensions from follow.json.
	s.SetStatus(503)
	n2, f2 := followerFor(t, dir, s)
	if err := f2.step(ctx); err == nil {
		t.Error("step with the log down = nil, want an error")
	}
	if o, r, ok := n2.susp.Suspended("b.test."); !ok || o != "b.test." || r != "spam" {
		t.Errorf("after restart: Suspended(b.test.) = %q, %q, %v", o, r, ok)
	}
	if a := *n2.logAnchors.Load(); a["b.test."] == nil || a["b.test."].DNSKEY.String() != kb2 || len(a) != 1 {
		t.Errorf("after restart: anchors %v", a)
	}
	if st := n2.cfgFollowState(t); st.Size != 8 || st.Groups["b.test."] != "west" {
		t.Errorf("after restart: state size %d groups %v", st.Size, st.Groups)
	}
}

func (n *Node) cfgFollowState(t *testing.T) FollowState {
	t.Helper()
	st, err := loadFollowState(n.path(followFile))
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
	n, f := followerFor(t, dir, s)
	if err := f.step(ctx); err != nil {
		t.Fatalf("step: %v", err)
	}
	f.sources = []translog.Source{fork.Source()}
	err := f.step(ctx)
	var sv *translog.SplitViewError
	if !errors.As(err, &sv) || !errors.Is(err, translog.ErrSplitView) {
		t.Fatalf("step on the fork = %v, want a split view", err)
	}
	if got := counterValue(t, n, "ddnrs_registry_log_split_views_total"); got != 1 {
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
	_, f2 := followerFor(t, dir, s)
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
	_, f := followerFor(t, t.TempDir(), s)
	if err := f.step(ctx); err != nil {
		t.Fatal(err)
	}
	f.sources = []translog.Source{fork.Source()}
	if err := f.step(ctx); !errors.Is(err, translog.ErrSplitView) {
		t.Errorf("step = %v, want a split view", err)
	}
}

// counterValue returns the value of the counter name in n's metrics.
func counterValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	mfs, err := n.Metrics().Registry().Gather()
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

// TestFollowStateGolden: follow.json outlives the process; its format
// (version 1) is pinned by testdata/follow.v1.json, written and read.
func TestFollowStateGolden(t *testing.T) {
	st := FollowState{
		Version:    client.LogStateVersion,
		Checkpoint: "ddnrs.registry/log\n2\nAAAA\n\n— ddnrs.registry/log sig\n",
		Size:       2,
		Range:      [][]byte{{1, 2, 3}},
		Anchors:    map[string]string{"a.test.": "a.test.\t3600\tIN\tDNSKEY\t257 3 15 AAAA"},
		Groups:     map[string]string{"a.test.": "east"},
		Suspended:  map[string]string{"a.test.": "abuse"},
		Previous: map[string]FollowPrevious{"a.test.": {Key: "a.test.\t3600\tIN\tDNSKEY\t257 3 15 BBBB",
			Until: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}},
	}
	golden := filepath.Join("testdata", "follow.v2.json")
	dir := t.TempDir()
	f := &follower{path: filepath.Join(dir, followFile), st: st}
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
	// Version 1 (no previous keys) is still read, as version 2.
	v1 := st
	v1.Previous = map[string]FollowPrevious{}
	for _, tt := range []struct {
		file string
		want FollowState
	}{{golden, st}, {filepath.Join("testdata", "follow.v1.json"), v1}} {
		back, err := loadFollowState(tt.file)
		if err != nil || !reflect.DeepEqual(back, tt.want) {
			t.Errorf("loadFollowState(%s) = %+v, %v; want %+v", tt.file, back, err, tt.want)
		}
	}
	if err := os.WriteFile(f.path, []byte(`{"version":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFollowState(f.path); err == nil {
		t.Error("loadFollowState(version 3) = nil error, want refused")
	}
}
