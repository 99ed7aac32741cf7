package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
	"github.com/ddnrs/ddnrs/zone"
)

// TestLogStateAnchors: a Go program following the registry's log gets
// the zones' owner keys as trust anchors, and verifies an answer with
// them: registrations give anchors, an owner key change replaces the
// anchor and keeps the key before as previous (with a grace), a release
// drops it; a log that does not extend the checkpoint held (a fork under
// the same key) is a split view and changes nothing.
func TestLogStateAnchors(t *testing.T) {
	ctx := context.Background()
	z, key := exampleZone()
	_, old := exampleZone()
	s := translogtest.NewServer(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	s.Append(t,
		translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "example.", Group: "east", OwnerKey: old.DNSKEY.String()},
		translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "gone.test.", Group: "east", OwnerKey: old.DNSKEY.String()},
	)
	fork := s.Fork(t)
	s.Append(t,
		translog.Entry{Kind: translog.KindOwnerKeyChange, Time: now, Zone: "example.", OwnerKey: key.DNSKEY.String()},
		translog.Entry{Kind: translog.KindRelease, Time: now, Zone: "gone.test."},
	)
	fork.Append(t, // longer than s: not a lagging replica
		translog.Entry{Kind: translog.KindRelease, Time: now, Zone: "example."},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "gone.test.", Reason: "other view"},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "example.", Reason: "other view"},
	)

	st := client.NewLogState()
	follow := func(src translog.Source) error {
		leaves, err := st.Extend(ctx, src, s.Key.Verifier, "")
		for _, l := range leaves {
			e, err := translog.ParseEntry(l)
			if err != nil {
				t.Fatal(err)
			}
			st.Apply(e, now, time.Hour)
		}
		return err
	}
	if err := follow(s.Source()); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	anchors := st.TrustAnchors(func(z string, err error) { t.Errorf("anchor of %s: %v", z, err) })
	if len(anchors) != 1 || anchors["example."] == nil || !zone.SameKey(anchors["example."].DNSKEY, key.DNSKEY) {
		t.Fatalf("TrustAnchors = %v, want example. with the rotated key only", anchors)
	}
	prev := st.PreviousAnchors()
	if p, ok := prev["example."]; !ok || !zone.SameKey(p.Key.DNSKEY, old.DNSKEY) || !p.Until.Equal(now.Add(time.Hour)) {
		t.Errorf("PreviousAnchors = %v, want example.'s key before the change until %v", prev, now.Add(time.Hour))
	}
	a := groupAnswer(z, "www.example.", dns.TypeA)
	if _, err := client.NewVerifier(anchors, nil).VerifyAnswer("www.example.", dns.TypeA, a.Msg, a.Head, a.Proof); err != nil {
		t.Errorf("VerifyAnswer with the log's anchors: %v", err)
	}

	size := st.Size
	err := follow(fork.Source())
	var sv *translog.SplitViewError
	if !errors.As(err, &sv) || !errors.Is(err, translog.ErrSplitView) || st.SplitView == "" {
		t.Fatalf("Extend on a fork = %v (split view %q), want a split view", err, st.SplitView)
	}
	if st.Size != size || st.Anchors["example."] == "" || len(st.Suspended) != 0 {
		t.Errorf("after the split view: size %d anchors %v, want size %d, example. kept, nothing suspended", st.Size, st.Anchors, size)
	}
	if _, err := st.Extend(ctx, s.Source(), s.Key.Verifier, ""); !errors.Is(err, translog.ErrSplitView) {
		t.Errorf("Extend after a split view = %v, want it refused", err)
	}

	// A checkpoint signed by another key is refused.
	other := client.NewLogState()
	if _, err := other.Extend(ctx, s.Source(), translogtest.NewKey(t, "").Verifier, ""); err == nil {
		t.Error("Extend with another log's key = nil error, want the checkpoint refused")
	}
}

// TestLogStatePeers: node-admission entries admit their peer ids (a node
// admitted again keeps only its new one); a state saved as version 2,
// which kept no peers, rebuilds them from the log's entries it had
// applied, and a log whose first entries do not give the range it holds
// is a split view.
func TestLogStatePeers(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	s := translogtest.NewServer(t, "")
	s.Append(t,
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "east", NodeID: "e1", NodeAddrs: []string{"dns=127.0.0.1:53", "peer=PEER-E1"}},
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "east", NodeID: "e2"}, // no overlay
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "west", NodeID: "w1", NodeAddrs: []string{"peer=PEER-W1", "overlay=/ip4/192.0.2.7/udp/4001/quic-v1/p2p/PEER-W1"}},
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "west", NodeID: "e1", NodeAddrs: []string{"peer=PEER-E1-NEW"}},
	)
	follow := func(st *client.LogState) error {
		leaves, err := st.Extend(ctx, s.Source(), s.Key.Verifier, "")
		for _, l := range leaves {
			e, err := translog.ParseEntry(l)
			if err != nil {
				t.Fatal(err)
			}
			st.Apply(e, now, 0)
		}
		return err
	}
	st := client.NewLogState()
	if err := follow(&st); err != nil {
		t.Fatal(err)
	}
	want := map[string]client.LogPeer{"PEER-W1": {Node: "w1", Group: "west", Addrs: []string{"/ip4/192.0.2.7/udp/4001/quic-v1/p2p/PEER-W1"}}, "PEER-E1-NEW": {Node: "e1", Group: "west"}}
	if !reflect.DeepEqual(st.Peers, want) {
		t.Errorf("Peers = %v, want %v", st.Peers, want)
	}
	for id, ok := range map[string]bool{"PEER-W1": true, "PEER-E1": false, "": false, "PEER-X": false} {
		if st.Admits(id) != ok {
			t.Errorf("Admits(%q) = %v, want %v", id, !ok, ok)
		}
	}

	// The same state as a version 2 file: no peers.
	v2 := olderLogState(t, &st, 2, "peers")
	old, err := client.ParseLogState(v2)
	if err != nil {
		t.Fatalf("ParseLogState(version 2): %v", err)
	}
	if old.Peers != nil || old.Admits("PEER-W1") {
		t.Fatalf("a version 2 state: Peers = %v, want unknown (nil), admitting no one", old.Peers)
	}
	s.Append(t, translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "east", NodeID: "e3", NodeAddrs: []string{"peer=PEER-E3"}},
		translog.Entry{Kind: translog.KindNodeRemoval, Time: now, Group: "west", NodeID: "w1", Reason: "retired", NodeAddrs: []string{"peer=PEER-W1"}})
	if err := follow(&old); err != nil {
		t.Fatalf("Extend of a version 2 state: %v", err)
	}
	want["PEER-E3"] = client.LogPeer{Node: "e3", Group: "east"}
	delete(want, "PEER-W1") // removed from the directory for good
	if !reflect.DeepEqual(old.Peers, want) {
		t.Errorf("Peers rebuilt from the log = %v, want %v", old.Peers, want)
	}
	again, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if re, err := client.ParseLogState(again); err != nil || !reflect.DeepEqual(re.Peers, want) || re.Version != client.LogStateVersion {
		t.Errorf("saved and read again: version %d peers %v (%v), want version %d and %v", re.Version, re.Peers, err, client.LogStateVersion, want)
	}

	// A version 2 state whose range the log's first entries do not give.
	forged, _ := client.ParseLogState(v2)
	forged.Range[0][0] ^= 1
	if err := follow(&forged); !errors.Is(err, translog.ErrSplitView) || forged.SplitView == "" || forged.Peers != nil {
		t.Errorf("rebuilding peers from a log that does not give the range held = %v (split view %q, peers %v), want a split view", err, forged.SplitView, forged.Peers)
	}

	for _, bad := range []string{`{"version": 0}`, `{"version": 6}`, `{"version": "3"}`} {
		if _, err := client.ParseLogState([]byte(bad)); err == nil {
			t.Errorf("ParseLogState(%s) = nil error, want refused", bad)
		}
	}
}

// TestLogStateRevoked: cert-revocation entries revoke their serials; a
// state saved as version 3, which kept no revocations, rebuilds them from
// the log.
func TestLogStateRevoked(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	s := translogtest.NewServer(t, "")
	s.Append(t,
		translog.Entry{Kind: translog.KindCertRevocation, Time: now, Group: "eu", Reason: "stolen", Actor: "operator", NodeID: "eu-ops", NodeAddrs: []string{"serial=5f3a"}},
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "eu", NodeID: "e1", NodeAddrs: []string{"peer=P1"}},
	)
	follow := func(st *client.LogState) error {
		leaves, err := st.Extend(ctx, s.Source(), s.Key.Verifier, "")
		for _, l := range leaves {
			e, err := translog.ParseEntry(l)
			if err != nil {
				t.Fatal(err)
			}
			st.Apply(e, now, 0)
		}
		return err
	}
	st := client.NewLogState()
	if err := follow(&st); err != nil {
		t.Fatal(err)
	}
	want := map[string]client.LogRevoked{"5f3a": {Name: "eu-ops", Group: "eu", Reason: "stolen", Time: now}}
	if !reflect.DeepEqual(st.Revoked, want) || !st.IsRevoked("5f3a") || st.IsRevoked("5f3b") || st.IsRevoked("") {
		t.Errorf("Revoked = %v, want %v", st.Revoked, want)
	}
	old, err := client.ParseLogState(olderLogState(t, &st, 3, "revoked"))
	if err != nil {
		t.Fatalf("ParseLogState(version 3): %v", err)
	}
	if old.Revoked != nil || old.IsRevoked("5f3a") {
		t.Fatalf("a version 3 state: Revoked = %v, want unknown (nil)", old.Revoked)
	}
	s.Append(t, translog.Entry{Kind: translog.KindCertRevocation, Time: now, Actor: "operator", NodeAddrs: []string{"serial=77"}})
	if err := follow(&old); err != nil {
		t.Fatalf("Extend of a version 3 state: %v", err)
	}
	want["77"] = client.LogRevoked{Time: now}
	if !reflect.DeepEqual(old.Revoked, want) || len(old.Peers) != 1 {
		t.Errorf("rebuilt from the log: revoked %v peers %v, want %v and one peer", old.Revoked, old.Peers, want)
	}
}

// TestLogStateRemoved: node-removal entries keep the removed id with the
// entry's log index (ApplyAt, as Follow applies them), the first removal
// only; a state saved as version 4, which kept no removals, rebuilds them
// from the log with their indexes.
func TestLogStateRemoved(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	s := translogtest.NewServer(t, "")
	s.Append(t,
		translog.Entry{Kind: translog.KindNodeAdmission, Time: now, Group: "eu", NodeID: "e1", NodeAddrs: []string{"peer=P1"}},
		translog.Entry{Kind: translog.KindNodeRemoval, Time: now, Group: "eu", NodeID: "e3", Reason: "disk died", Actor: "operator"},
	)
	st := client.NewLogState()
	if _, err := st.Follow(ctx, s.Source(), s.Key.Verifier, "", now, 0); err != nil {
		t.Fatal(err)
	}
	want := map[string]client.LogRemoved{"e3": {Index: 1, Group: "eu", Reason: "disk died", Time: now}}
	if !reflect.DeepEqual(st.Removed, want) {
		t.Errorf("Removed = %v, want %v", st.Removed, want)
	}
	if _, ok := st.RemovedNode("e1"); ok {
		t.Error("RemovedNode(e1) = true for an admitted node")
	}
	old, err := client.ParseLogState(olderLogState(t, &st, 4, "removed"))
	if err != nil {
		t.Fatalf("ParseLogState(version 4): %v", err)
	}
	if old.Removed != nil {
		t.Fatalf("a version 4 state: Removed = %v, want unknown (nil)", old.Removed)
	}
	// A second removal of the same id (refused by the registry, but a
	// log is only trusted to be signed) keeps the first.
	s.Append(t, translog.Entry{Kind: translog.KindNodeRemoval, Time: now, Group: "eu", NodeID: "e1", Reason: "retired"},
		translog.Entry{Kind: translog.KindNodeRemoval, Time: now.Add(time.Hour), Group: "us", NodeID: "e3", Reason: "again"})
	if _, err := old.Follow(ctx, s.Source(), s.Key.Verifier, "", now, 0); err != nil {
		t.Fatalf("Follow of a version 4 state: %v", err)
	}
	want["e1"] = client.LogRemoved{Index: 2, Group: "eu", Reason: "retired", Time: now}
	if !reflect.DeepEqual(old.Removed, want) || len(old.Peers) != 0 {
		t.Errorf("rebuilt from the log: removed %v peers %v, want %v and no peer", old.Removed, old.Peers, want)
	}
	if r, ok := old.RemovedNode("e3"); !ok || r.Index != 1 {
		t.Errorf("RemovedNode(e3) = %v, %v; want the first removal, index 1", r, ok)
	}
}

// olderLogState is st written as an older version's file: the version
// number set to version and the field that version did not have left out.
func olderLogState(t *testing.T, st *client.LogState, version int, field string) []byte {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["version"] = version
	delete(raw, field)
	out, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
