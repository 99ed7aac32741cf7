package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// registryFixture is a registry group of one node ("reg") and a second
// group of one node ("east"), both in the overlay and following the log.
type registryFixture struct {
	ca      *testPKI
	reg     *Node
	east    *Node
	eastCfg Config
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
	waitAdmitted(t, reg, east)
	return registryFixture{ca: p, reg: reg, east: east, eastCfg: ec}
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

// proposeResending is n.ProposeRegistry, sent again while its outcome
// is unknown (no_quorum: leadership was lost while committing, which a
// loaded machine causes), as a client does. It reports whether it resent:
// a resent command whose first try had committed may then be refused as
// a duplicate, which the caller must judge.
func proposeResending(t *testing.T, ctx context.Context, n *Node, cmd []byte) (resent bool, err error) {
	t.Helper()
	for {
		err = n.ProposeRegistry(ctx, cmd)
		if err == nil || admin.ErrorOf(err).Code != admin.CodeNoQuorum || ctx.Err() != nil {
			return resent, err
		}
		t.Logf("ProposeRegistry through %s: %v; sending it again", n.ID(), err)
		resent = true
	}
}

// isRejected reports whether err is the state machine's refusal for
// reason.
func isRejected(err error, reason raftfsm.Reason) bool {
	var rej *raftfsm.RejectedError
	return errors.As(err, &rej) && rej.Reason == reason
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
	waitFor(t, "both groups healthy", func() error {
		h, err := apiBackend{reg}.Health(context.Background())
		if err != nil || len(h.Groups) != 2 || !h.Groups[1].Registry || h.Groups[0].Healthy != 1 || h.Groups[1].Healthy != 1 {
			return fmt.Errorf("Health = %+v, %v", h, err)
		}
		return nil
	})
	if _, err := east.Registry(); err == nil {
		t.Error("east.Registry() = nil error, want ErrNotRegistry")
	}

	// Claim the demo zone: placed on east (fewest claims, then by name).
	k, err := zone.GenerateKey(demo.Origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := demo.Zone()
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := reg.Now()
	propose(t, reg, &raftfsm.ClaimZone{Zone: demo.Origin, Owner: k.DNSKEY.String(), Actor: "test", Time: now})
	rs, _ := reg.Registry()
	cl, ok := rs.Claim(demo.Origin)
	if !ok || cl.Group != "east" {
		t.Fatalf("claim = %+v, %v; want placed on east", cl, ok)
	}
	create, err := writes.PublishCommand(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A dry run of the create on east, from reg: checked by east's
	// replica (the zone is placed there), not applied.
	if serial, err := (apiBackend{reg}).SubmitZone(ctx, "east", demo.Origin, mustDecode(t, create), true); err != nil || serial != z.Serial() {
		t.Errorf("dry run on east from reg = %d, %v, want %d", serial, err, z.Serial())
	}
	if _, err := east.Stored(demo.Origin); err == nil {
		t.Fatal("east holds the zone after a dry run of its create")
	}
	serial, err := apiBackend{reg}.SubmitZone(ctx, "east", demo.Origin, mustDecode(t, create), false)
	if err != nil || serial != z.Serial() {
		t.Fatalf("SubmitZone(east) = %d, %v; want %d", serial, err, z.Serial())
	}
	if _, err := east.Stored(demo.Origin); err != nil {
		t.Fatalf("east does not hold the zone: %v", err)
	}
	if _, err := reg.Stored(demo.Origin); err == nil {
		t.Fatal("reg holds the zone placed on east")
	}
	// reg learns the owner key from its own log and answers through the
	// overlay; east answers from its replica.
	syncLog(t, reg, east)
	if a := reg.FollowState().Anchors[demo.Origin]; a != k.DNSKEY.String() {
		t.Errorf("reg's anchor = %q, want the owner key", a)
	}
	waitFor(t, "answers from both groups", func() error { return errors.Join(answered(t, reg, demo.Origin), answered(t, east, demo.Origin)) })
	if zz, err := (apiBackend{reg}).Zone(ctx, demo.Origin); err != nil || zz.Serial() != z.Serial() {
		t.Errorf("reg.Zone (fetched from east) = %v, %v", zz, err)
	}

	// Through the REST API with a key of create scope, once east's
	// heartbeat reported the RRsets of the demo zone (its load band): the
	// first zone is placed on reg (no claim, no RRsets), the second on reg
	// too: one claim each, but reg's 6 RRsets are in a lower band than
	// the demo zone's on east (by zones and name alone it went to east).
	eastFSM, _, _, err := east.runningParts()
	if err != nil {
		t.Fatal(err)
	}
	eastBand := raftfsm.LoadBand(eastFSM.RRsets())
	waitFor(t, "east's load band in reg's health", func() error {
		h, err := apiBackend{reg}.Health(ctx)
		if err != nil {
			return err
		}
		for _, g := range h.Groups {
			if g.Name == "east" && g.Load != eastBand {
				return fmt.Errorf("east's band %d, want %d", g.Load, eastBand)
			}
		}
		return nil
	})
	if eastBand <= raftfsm.LoadBand(6) {
		t.Fatalf("east's band %d: the demo zone should hold more RRsets than a 6-RRset zone", eastBand)
	}
	res, err := f.ca.client(t, "ops").IssueKey(ctx, reg.AdminAddr(), admin.IssueKeyRequest{Name: "creator", Actions: []string{"create", "read"}})
	if err != nil {
		t.Fatalf("IssueKey: %v", err)
	}
	createThroughAPI(t, reg, res.Key, "one.test.", "reg")
	createThroughAPI(t, reg, res.Key, "two.test.", "reg")
	for _, origin := range []string{"one.test.", "two.test."} {
		if _, err := reg.Stored(origin); err != nil {
			t.Errorf("reg does not hold %s: %v", origin, err)
		}
	}

	propose(t, reg, &raftfsm.RegistrySuspend{Zone: demo.Origin, Suspend: true, Reason: "abuse report 7", Actor: "test", Time: now})
	syncLog(t, reg, east)
	for _, n := range []*Node{reg, east} {
		if err := blocked(t, n, demo.Origin, "abuse report 7"); err != nil {
			t.Error(err)
		}
	}
	propose(t, reg, &raftfsm.RegistrySuspend{Zone: demo.Origin, Suspend: false, Reason: "resolved", Actor: "test", Time: now})
	syncLog(t, reg, east)
	waitFor(t, "answers after unsuspension", func() error { return errors.Join(answered(t, reg, demo.Origin), answered(t, east, demo.Origin)) })

	// Suspend again, then restart east with the registry down: the
	// suspension and the anchor come back from follow.json.
	propose(t, reg, &raftfsm.RegistrySuspend{Zone: demo.Origin, Suspend: true, Reason: "again", Actor: "test", Time: now})
	syncLog(t, east)
	closeNode(t, reg)
	closeNode(t, east)
	ec := f.eastCfg
	ec.Overlay.Bootstrap = nil // the registry node was the overlay's bootstrap peer
	east2 := runNode(t, ec)
	if err := blocked(t, east2, demo.Origin, "again"); err != nil {
		t.Errorf("after restart without the registry: %v", err)
	}
	st := east2.FollowState()
	if st.Anchors[demo.Origin] != k.DNSKEY.String() || st.Groups[demo.Origin] != "east" || st.Size == 0 {
		t.Errorf("follow state after restart = %+v", st)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if err := east2.SyncRegistryLog(ctx2); err == nil {
		t.Error("SyncRegistryLog with the registry down = nil, want an error")
	}
}

// TestRegistryProposeThroughFollower: a registry group of three; a
// registry write made on a follower is forwarded to the leader and read
// back on the follower at once; a rejection comes back typed; the
// operator issues a key through the admin endpoint; a heartbeat without
// an ID is refused.
func TestRegistryProposeThroughFollower(t *testing.T) {
	p := newTestPKI(t)
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		cfg := groupConfig(t, p, fmt.Sprintf("r%d", i))
		cfg.Group.Name = "registry"
		cfg.Registry = RegistryConfig{Member: true, LogKeyFile: keyFile, LogVerifier: vkey, LogOrigin: translog.DefaultOrigin,
			FollowInterval: time.Hour, HeartbeatInterval: time.Hour}
		if i > 1 {
			cfg.Group.Bootstrap = false
			cfg.Group.Join = []string{nodes[0].AdminAddr()}
		}
		nodes = append(nodes, runNode(t, cfg))
	}
	waitFor(t, "three members in the directory", func() error {
		rs, err := nodes[0].Registry()
		if err != nil {
			return err
		}
		if len(rs.Nodes()) != 3 {
			return fmt.Errorf("%d nodes", len(rs.Nodes()))
		}
		return nil
	})
	_, followers := leaderOf(t, nodes)
	fo := followers[0]
	owner := ownerKey(t, "example.org.")
	first, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: "example.org.", Owner: owner, Actor: "test", Time: fo.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The claim read below decides whether a resent first claim, refused
	// as claimed, had committed the first time.
	if resent, err := proposeResending(t, ctx, fo, first); err != nil && !(resent && isRejected(err, raftfsm.ReasonNameClaimed)) {
		t.Fatalf("claim through the follower: %v", err)
	}
	rs, _ := fo.Registry()
	if cl, ok := rs.Claim("example.org."); !ok || cl.Group != "registry" {
		t.Errorf("follower's own read after its write: claim %+v, %v", cl, ok)
	}
	cmd, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: "example.org.", Owner: owner, Actor: "test", Time: fo.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var rej *raftfsm.RejectedError
	if _, err := proposeResending(t, ctx, fo, cmd); !isRejected(err, raftfsm.ReasonNameClaimed) {
		t.Errorf("second claim through the follower = %v, want rejected %s", err, raftfsm.ReasonNameClaimed)
	}
	zoneCmd, err := raftfsm.EncodeCommand(&raftfsm.DeleteZone{Zone: "example.org."})
	if err == nil {
		if err := fo.ProposeRegistry(ctx, zoneCmd); err == nil || errors.As(err, &rej) {
			t.Errorf("ProposeRegistry(DeleteZone) = %v, want refused as not a registry command", err)
		}
	}

	ac := p.client(t, "ops")
	res, err := ac.IssueKey(ctx, fo.AdminAddr(), admin.IssueKeyRequest{Name: "reviewer"})
	if err != nil {
		t.Fatalf("IssueKey: %v", err)
	}
	rs, _ = fo.Registry()
	k, ok := rs.Key(res.KeyID)
	if !ok || k.Hash != sha256.Sum256([]byte(res.Key)) || !slices.Equal(k.Scope.Actions, []string{"admin"}) || !slices.Equal(k.Scope.Suffixes, []string{"."}) {
		t.Errorf("issued key %+v (%v) does not match %q", k, ok, res.Key)
	}
	if _, err := ac.IssueKey(ctx, fo.AdminAddr(), admin.IssueKeyRequest{Actions: []string{"fly"}}); admin.ErrorOf(err).Code != admin.CodeBadRequest {
		t.Errorf("IssueKey with an unknown action = %v, want bad_request", err)
	}
	if err := ac.Heartbeat(ctx, fo.AdminAddr(), raftfsm.NodeRecord{Group: "x"}); admin.ErrorOf(err).Code != admin.CodeBadRequest {
		t.Errorf("heartbeat without an ID = %v, want bad_request", err)
	}
}

func TestHealthOf(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	recs := []raftfsm.NodeRecord{
		{ID: "r1", Group: "reg", Seen: now, Leader: "r1", Applied: 10, LastIndex: 10},
		{ID: "r2", Group: "reg", Seen: now.Add(-time.Second), Leader: "r1", Applied: 7, LastIndex: 9},
		{ID: "e1", Group: "east", Seen: now.Add(-time.Minute), Leader: "e1", Applied: 3, LastIndex: 5},
	}
	h := healthOf(recs, now, 30*time.Second, "reg")
	want := map[string]struct {
		healthy bool
		lag     uint64
	}{"r1": {true, 0}, "r2": {true, 3}, "e1": {false, 2}}
	for _, nh := range h.Nodes {
		if w := want[nh.ID]; nh.Healthy != w.healthy || nh.Lag != w.lag {
			t.Errorf("node %s: healthy %v lag %d, want %v %d", nh.ID, nh.Healthy, nh.Lag, w.healthy, w.lag)
		}
	}
	if len(h.Groups) != 2 || h.Groups[0].Name != "east" || h.Groups[0].Healthy != 0 || h.Groups[0].Registry ||
		h.Groups[1].Name != "reg" || !h.Groups[1].Registry || h.Groups[1].Members != 2 || h.Groups[1].MaxLag != 3 || h.Groups[1].Leader != "r1" {
		t.Errorf("groups = %+v", h.Groups)
	}
}

// createThroughAPI creates a signed zone origin with POST /v1/zones on
// n's REST API, as the holder of key, and checks the group it went to.
func createThroughAPI(t *testing.T, n *Node, key, origin, wantGroup string) {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := zone.ParseFile(strings.NewReader("@ 3600 IN SOA ns hm 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\n"), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := zone.Write(&text, z); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]string{"zone_file": text.String(), "head": string(z.Head.Note)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.APIAddr()+"/v1/zones", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Zone, Group string
		Serial      uint32
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Group != wantGroup || out.Serial != z.Serial() {
		t.Fatalf("POST /v1/zones %s = %d %s, want 201 on group %s", origin, resp.StatusCode, b, wantGroup)
	}
}

// BenchmarkProposeRegistry: one heartbeat proposed and read back on a
// single-member registry group (commit, apply, wait for the local
// replica): the cost of every registry write the API makes.
func BenchmarkProposeRegistry(b *testing.B) {
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		b.Fatal(err)
	}
	cfg := groupConfig(b, nil, "r1")
	cfg.Registry = RegistryConfig{Member: true, LogKeyFile: "log.key", LogVerifier: vkey, LogOrigin: translog.DefaultOrigin,
		FollowInterval: time.Hour, HeartbeatInterval: time.Hour}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	n := runNode(b, cfg)
	waitFor(b, "a leader", n.Ready)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := n.selfRecord(n.Now())
		cmd, err := raftfsm.EncodeCommand(&raftfsm.NodeHeartbeat{Node: rec})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.ProposeRegistry(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// signedTestZone returns a small zone of origin signed by a fresh owner
// key, and the key.
func signedTestZone(t *testing.T, origin string) (*zone.Zone, *zone.Key) {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := zone.ParseFile(strings.NewReader("@ 3600 IN SOA ns hm 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\n"), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return z, k
}

// logEntries returns the registry log's entries about origin.
func logEntries(t *testing.T, reg *Node, origin string) []translog.Entry {
	t.Helper()
	rs, err := reg.Registry()
	if err != nil {
		t.Fatal(err)
	}
	var out []translog.Entry
	for i := range rs.LogSize() {
		leaf, err := rs.LogEntry(i)
		if err != nil {
			t.Fatal(err)
		}
		e, err := translog.ParseEntry(leaf)
		if err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if e.Zone == origin {
			out = append(out, e)
		}
	}
	return out
}

// TestOperatorCreateClaims: an operator's create through a node's admin
// endpoint claims the name for the owner key on the node's own group
// first (through the registry's admin endpoint from east, in the
// registry group itself on reg), with a registration entry in the log;
// a create of the claimed name with another key through the other group
// is refused name-claimed and creates nothing; a create the group
// refuses after the claim releases the claim again; an operator's delete
// releases the name, which another key can then claim.
func TestOperatorCreateClaims(t *testing.T) {
	f := startRegistryPair(t)
	reg, east := f.reg, f.east
	ac := f.ca.client(t, "ops")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	claimOf := func(origin string) (raftfsm.Claim, bool) {
		t.Helper()
		rs, err := reg.Registry()
		if err != nil {
			t.Fatal(err)
		}
		return rs.Claim(origin)
	}
	create := func(n *Node, z *zone.Zone) error {
		t.Helper()
		cmd, err := writes.PublishCommand(nil, z)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ac.SubmitChange(ctx, n.AdminAddr(), z.Origin, cmd)
		return err
	}

	// east publishes op.test.: claimed on east, by operator:e1.
	z1, k1 := signedTestZone(t, "op.test.")
	if err := create(east, z1); err != nil {
		t.Fatalf("operator create of op.test. through east: %v", err)
	}
	if _, err := east.Stored("op.test."); err != nil {
		t.Fatalf("east does not hold op.test.: %v", err)
	}
	cl, ok := claimOf("op.test.")
	if !ok || cl.Group != "east" || cl.Actor != "operator:e1" || !raftfsm.OwnerKeyIs(cl.Owner, k1.DNSKEY) {
		t.Fatalf("claim of op.test. = %+v, %v; want on east by operator:e1 for the owner key", cl, ok)
	}
	if es := logEntries(t, reg, "op.test."); len(es) != 1 || es[0].Kind != translog.KindRegistration || es[0].Group != "east" ||
		es[0].Actor != "operator:e1" || es[0].OwnerKey != cl.Owner {
		t.Fatalf("log entries of op.test. = %+v, want one registration on east", es)
	}

	// The same name with another key through reg (another group): refused.
	z2, k2 := signedTestZone(t, "op.test.")
	err := create(reg, z2)
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Code != admin.CodeRejected || ae.Reason != string(raftfsm.ReasonNameClaimed) {
		t.Fatalf("create of claimed op.test. with another key through reg = %v, want rejected %s", err, raftfsm.ReasonNameClaimed)
	}
	if _, err := reg.Stored("op.test."); !errors.Is(err, raftfsm.ErrNoZone) {
		t.Errorf("reg.Stored(op.test.) after the refused create = %v, want ErrNoZone", err)
	}
	// The same key through reg: claimed for another group.
	cmd, err := writes.PublishCommand(nil, z1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.SubmitChange(ctx, reg.AdminAddr(), "op.test.", cmd); !errors.As(err, &ae) || ae.Reason != string(raftfsm.ReasonNameClaimed) {
		t.Errorf("create of op.test. with its key through reg = %v, want rejected %s (claimed on east)", err, raftfsm.ReasonNameClaimed)
	}

	// reg (a registry member) claims in its own group.
	z3, _ := signedTestZone(t, "reg.test.")
	if err := create(reg, z3); err != nil {
		t.Fatalf("operator create of reg.test. through reg: %v", err)
	}
	if cl, ok := claimOf("reg.test."); !ok || cl.Group != "reg" || cl.Actor != "operator:r1" {
		t.Errorf("claim of reg.test. = %+v, %v; want on reg by operator:r1", cl, ok)
	}

	// A zone created without the admin path (no claim), then created
	// again through it under another key: the group refuses (it exists),
	// the claim made for it is released.
	z4, _ := signedTestZone(t, "legacy.test.")
	cmd4, err := writes.PublishCommand(nil, z4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.Submit(ctx, "legacy.test.", cmd4); err != nil {
		t.Fatal(err)
	}
	z4b, _ := signedTestZone(t, "legacy.test.")
	if err := create(east, z4b); err == nil {
		t.Fatal("second create of legacy.test. accepted")
	}
	if cl, ok := claimOf("legacy.test."); ok {
		t.Errorf("claim of legacy.test. after a refused create = %+v, want released", cl)
	}
	if es := logEntries(t, reg, "legacy.test."); len(es) != 2 || es[0].Kind != translog.KindRegistration || es[1].Kind != translog.KindRelease {
		t.Errorf("log entries of legacy.test. = %+v, want registration then release", es)
	}

	// The operator deletes op.test. through east: the name is released
	// and another key may claim it.
	del, err := raftfsm.DeleteCommand(z1, k1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.SubmitChange(ctx, east.AdminAddr(), "op.test.", del); err != nil {
		t.Fatalf("operator delete of op.test.: %v", err)
	}
	if cl, ok := claimOf("op.test."); ok {
		t.Fatalf("claim of op.test. after the delete = %+v, want released", cl)
	}
	if es := logEntries(t, reg, "op.test."); len(es) != 2 || es[1].Kind != translog.KindRelease || es[1].Actor != "operator:e1" {
		t.Errorf("log entries of op.test. = %+v, want registration then release by operator:e1", es)
	}
	// (Through east: reg's overlay may still find east's deleted copy
	// for a while and refuse the create as existing elsewhere.)
	if err := create(east, z2); err != nil {
		t.Fatalf("create of the released op.test. with another key through east: %v", err)
	}
	if cl, ok := claimOf("op.test."); !ok || cl.Group != "east" || !raftfsm.OwnerKeyIs(cl.Owner, k2.DNSKEY) {
		t.Errorf("claim of op.test. = %+v, %v; want on east for the second key", cl, ok)
	}
}

// ownerKey returns a fresh owner key of origin, as DNSKEY text.
func ownerKey(t *testing.T, origin string) string {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.DNSKEY.String()
}
