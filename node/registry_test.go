package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// registryFixture is a registry group of one node ("reg") and a second
// group of one node ("east"), both in the overlay and following the log.
type registryFixture struct {
	pki     *testPKI
	reg     *Node
	east    *Node
	eastCfg Config
	vkey    string
}

// startRegistryPair starts the fixture: reg with a fresh log key.
func startRegistryPair(t *testing.T) registryFixture {
	t.Helper()
	p := newTestPKI(t)
	skey, vkey, err := translog.GenerateKey("test.registry/log")
	if err != nil {
		t.Fatal(err)
	}
	rc := groupConfig(t, p, "r1")
	rc.Group.Name = "reg"
	rc.Overlay.Enabled = true
	rc.API.Listen = "127.0.0.1:0"
	rc.Registry = RegistryConfig{
		Member: true, LogKeyFile: "log.key", LogVerifier: vkey, LogOrigin: "test.registry/log",
		FollowInterval: 50 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond,
	}
	if err := os.WriteFile(filepath.Join(rc.DataDir, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := runNode(t, rc)
	_, addrs := reg.OverlayID()
	ec := groupConfig(t, p, "e1")
	ec.Group.Name = "east"
	ec.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs}
	ec.Registry = RegistryConfig{
		LogVerifier: vkey, LogOrigin: "test.registry/log", Region: "eu",
		URLs: []string{"http://" + reg.APIAddr()}, Admin: []string{reg.AdminAddr()},
		FollowInterval: 50 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond,
	}
	east := runNode(t, ec)
	return registryFixture{reg: reg, east: east, eastCfg: ec}
}

func propose(t *testing.T, n *Node, c raftfsm.Command) {
	t.Helper()
	cmd, err := raftfsm.EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.ProposeRegistry(ctx, cmd); err != nil {
		t.Fatalf("ProposeRegistry(%T): %v", c, err)
	}
}

func syncLog(t *testing.T, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.SyncRegistryLog(ctx)
		cancel()
		if err != nil {
			t.Fatalf("SyncRegistryLog(%s): %v", n.ID(), err)
		}
	}
}

// blocked returns nil when www.<origin> A is REFUSED by n with EDE 15
// naming the zone and reason.
func blocked(t *testing.T, n *Node, origin, reason string) error {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www."+origin, dns.TypeA)
	m.SetEdns0(1232, true)
	r := queryNode(t, n, m)
	if r.Rcode != dns.RcodeRefused {
		return fmt.Errorf("%s: rcode %s, want REFUSED", n.ID(), dns.RcodeToString[r.Rcode])
	}
	want := "zone " + origin + " suspended: " + reason
	if o := r.IsEdns0(); o != nil {
		for _, op := range o.Option {
			if e, ok := op.(*dns.EDNS0_EDE); ok && e.InfoCode == dns.ExtendedErrorCodeBlocked && e.ExtraText == want {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: no EDE 15 %q in %v", n.ID(), want, r)
}

// answered returns nil when n answers www.<origin> A with data.
func answered(t *testing.T, n *Node, origin string) error {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www."+origin, dns.TypeA)
	m.SetEdns0(1232, true)
	r := queryNode(t, n, m)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return fmt.Errorf("%s: %s with %d answers", n.ID(), dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return nil
}

// TestRegistryTwoGroups: heartbeats fill the directory; a zone claimed
// in the registry is placed on the other group and created there through
// SubmitZone; the log gives both groups the owner key as a trust anchor
// and the suspension (REFUSED + EDE 15 from both, answers back after
// unsuspension); the follower's state survives a restart of the other
// group's node while the registry is down.
func TestRegistryTwoGroups(t *testing.T) {
	f := startRegistryPair(t)
	reg, east := f.reg, f.east
	waitFor(t, "both nodes in the directory", func() error {
		rs, err := reg.Registry()
		if err != nil {
			return err
		}
		var got []string
		for _, r := range rs.Nodes() {
			if r.PeerID != "" && len(r.Overlay) > 0 {
				got = append(got, r.Group+"/"+r.ID)
			}
		}
		if !slices.Equal(got, []string{"east/e1", "reg/r1"}) {
			return fmt.Errorf("directory %v", got)
		}
		return nil
	})
	h, err := reg.Health(context.Background())
	if err != nil || len(h.Groups) != 2 || !h.Groups[1].Registry || h.Groups[0].Healthy != 1 {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if _, err := east.Registry(); err == nil {
		t.Error("east.Registry() = nil error, want ErrNotRegistry")
	}

	// Claim the demo zone: placed on east (fewest claims, then by name).
	k, err := zone.GenerateKey(DemoOrigin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := DemoZone()
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := reg.Now()
	propose(t, reg, &raftfsm.ClaimZone{Zone: DemoOrigin, Owner: k.DNSKEY.String(), Actor: "test", Time: now})
	rs, _ := reg.Registry()
	cl, ok := rs.Claim(DemoOrigin)
	if !ok || cl.Group != "east" {
		t.Fatalf("claim = %+v, %v; want placed on east", cl, ok)
	}
	create, err := publishCommand(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = reg.SubmitZone(ctx, "east", DemoOrigin, create, true)
	var rej *raftfsm.RejectedError
	if !errors.As(err, &rej) || rej.Reason != ReasonDryRunRemote {
		t.Errorf("dry run on east from reg = %v, want rejected %s", err, ReasonDryRunRemote)
	}
	serial, err := reg.SubmitZone(ctx, "east", DemoOrigin, create, false)
	if err != nil || serial != z.Serial() {
		t.Fatalf("SubmitZone(east) = %d, %v; want %d", serial, err, z.Serial())
	}
	if _, err := east.Stored(DemoOrigin); err != nil {
		t.Fatalf("east does not hold the zone: %v", err)
	}
	if _, err := reg.Stored(DemoOrigin); err == nil {
		t.Fatal("reg holds the zone placed on east")
	}
	// reg learns the owner key from its own log and answers through the
	// overlay; east answers from its replica.
	syncLog(t, reg, east)
	if a := reg.FollowState().Anchors[DemoOrigin]; a != k.DNSKEY.String() {
		t.Errorf("reg's anchor = %q, want the owner key", a)
	}
	waitFor(t, "answers from both groups", func() error { return errors.Join(answered(t, reg, DemoOrigin), answered(t, east, DemoOrigin)) })
	if zz, err := reg.Zone(ctx, DemoOrigin); err != nil || zz.Serial() != z.Serial() {
		t.Errorf("reg.Zone (fetched from east) = %v, %v", zz, err)
	}

	propose(t, reg, &raftfsm.RegistrySuspend{Zone: DemoOrigin, Suspend: true, Reason: "abuse report 7", Actor: "test", Time: now})
	syncLog(t, reg, east)
	for _, n := range []*Node{reg, east} {
		if err := blocked(t, n, DemoOrigin, "abuse report 7"); err != nil {
			t.Error(err)
		}
	}
	propose(t, reg, &raftfsm.RegistrySuspend{Zone: DemoOrigin, Suspend: false, Reason: "resolved", Actor: "test", Time: now})
	syncLog(t, reg, east)
	waitFor(t, "answers after unsuspension", func() error { return errors.Join(answered(t, reg, DemoOrigin), answered(t, east, DemoOrigin)) })

	// Suspend again, then restart east with the registry down: the
	// suspension and the anchor come back from follow.json.
	propose(t, reg, &raftfsm.RegistrySuspend{Zone: DemoOrigin, Suspend: true, Reason: "again", Actor: "test", Time: now})
	syncLog(t, east)
	closeNode(t, reg)
	closeNode(t, east)
	ec := f.eastCfg
	ec.Overlay.Bootstrap = nil // the registry node was the overlay's bootstrap peer
	east2 := runNode(t, ec)
	if err := blocked(t, east2, DemoOrigin, "again"); err != nil {
		t.Errorf("after restart without the registry: %v", err)
	}
	st := east2.FollowState()
	if st.Anchors[DemoOrigin] != k.DNSKEY.String() || st.Groups[DemoOrigin] != "east" || st.Size == 0 {
		t.Errorf("follow state after restart = %+v", st)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if err := east2.SyncRegistryLog(ctx2); err == nil {
		t.Error("SyncRegistryLog with the registry down = nil, want an error")
	}
}
