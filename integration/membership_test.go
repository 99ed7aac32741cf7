package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
)

// publishJSON is what `ddnrs zone publish --output json` prints.
type publishJSON struct {
	Serial uint32 `json:"serial"`
	Index  uint64 `json:"index"`
}

// publishVia publishes file (signed with the owner key) through the admin
// endpoint addr of c's group and returns what publish reported; err is
// the command's failure.
func publishVia(t *testing.T, c *raftbench.Cluster, addr, key, file string) (publishJSON, string, error) {
	t.Helper()
	out, errOut, err := tryCmd("", ddnrsBin, "zone", "publish", "--server", addr, "--ca", c.CACert, "--cert", c.OpsCert,
		"--tls-key", c.OpsKey, "--key", key, "--output", "json", "--timeout", "20s", file)
	var p publishJSON
	if err == nil {
		if jerr := json.Unmarshal([]byte(out), &p); jerr != nil {
			t.Fatalf("ddnrs zone publish --output json printed %q: %v", out, jerr)
		}
	}
	return p, errOut, err
}

// TestGroupRecover (issue 14 item 4): a 7-member group loses 4 members
// for good (SIGKILL, never started again) and takes no write; the 3
// survivors, stopped, are each recovered with `ddnrs ops group recover`
// naming the three of them, started again, elect a leader among
// themselves, take a write, and serve it. The command refuses to run
// without the risk acknowledged, or on a member not in the voter list.
func TestGroupRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 7 node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := startGroupOf(t, ctx, 7)
	sz := signFixture(t)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, errOut, err := publishVia(t, c, leader.Admin, sz.Key, sz.Unsigned)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, errOut)
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	survivors, lost := c.Members[:3], c.Members[3:]
	for _, m := range lost {
		m.Kill()
	}
	edited := filepath.Join(t.TempDir(), "example.zone")
	src, err := os.ReadFile(sz.Unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(edited, append(src, []byte("\nrecovered 300 IN TXT \"after the recovery\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	// Three of seven are no majority: the write cannot commit.
	if _, errOut, err := publishVia(t, c, survivors[0].Admin, sz.Key, edited); err == nil {
		t.Fatalf("a write committed with 3 of 7 voters alive")
	} else {
		t.Logf("write with 4 of 7 dead, as expected refused: %s", strings.TrimSpace(errOut))
	}
	for _, m := range survivors {
		m.Kill()
	}
	var voters []string
	for _, m := range survivors {
		voters = append(voters, "--voter", m.ID+"="+m.Raft)
	}
	recoverArgs := func(m *raftbench.Member, extra ...string) []string {
		return append(append([]string{"ops", "group", "recover", "--config", m.Config()}, voters...), extra...)
	}
	const ack = "--i-understand-acknowledged-writes-may-be-lost"
	if _, errOut, err := tryCmd("", ddnrsBin, recoverArgs(survivors[0])...); err == nil || !strings.Contains(errOut, ack) {
		t.Errorf("recover without %s: err %v, stderr %q; want refused, naming the flag", ack, err, errOut)
	}
	if _, errOut, err := tryCmd("", ddnrsBin, append([]string{"ops", "group", "recover", "--config", lost[0].Config(), ack}, voters...)...); err == nil || !strings.Contains(errOut, "not among") {
		t.Errorf("recover of %s, not a listed voter: err %v, stderr %q; want refused", lost[0].ID, err, errOut)
	}
	for _, m := range survivors {
		out := runCmd(t, "", ddnrsBin, recoverArgs(m, ack)...)
		t.Logf("%s: %s", m.ID, strings.TrimSpace(out))
	}
	for _, m := range survivors {
		if err := c.StartMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	leader, err = c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	members, err := c.Ops(ctx, "group", "members", "--server", leader.Admin, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ml struct {
		Members []struct {
			ID    string `json:"id"`
			Voter bool   `json:"voter"`
		} `json:"members"`
		Voters int `json:"voters"`
	}
	if err := json.Unmarshal([]byte(members), &ml); err != nil {
		t.Fatal(err)
	}
	if ml.Voters != 3 || len(ml.Members) != 3 {
		t.Errorf("after the recovery the group lists %+v, want the 3 survivors as voters", ml.Members)
	}
	second, errOut, err := publishVia(t, c, survivors[1].Admin, sz.Key, edited)
	if err != nil {
		t.Fatalf("publish after the recovery: %v\n%s", err, errOut)
	}
	if !serialBefore(first.Serial, second.Serial) {
		t.Errorf("serial after the recovery %d, before %d", second.Serial, first.Serial)
	}
	for _, m := range survivors {
		if err := raftbench.WaitSerial(ctx, m.DNS, sz.Origin, second.Serial); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
		r, err := raftbench.Query(ctx, m.DNS, "recovered.example.", 16)
		if err != nil || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "after the recovery") {
			t.Errorf("%s: recovered.example. TXT = %v, %v; want the write made after the recovery", m.ID, r, err)
		}
	}
}

// addIdleNode starts one more node of group s in c, with its own scoped
// certificate, on ip, that neither bootstraps a group nor asks to join
// one: an operator adds it (ddnrs ops group replace / join).
func (c *regCluster) addIdleNode(t *testing.T, s regGroupSpec, id, ip string) *regNode {
	t.Helper()
	n := &regNode{name: s.name + "/" + id, id: id, group: s.name, ip: ip}
	nd := filepath.Join(c.dir, n.id)
	n.config, n.ready, n.data = filepath.Join(nd, "node.toml"), filepath.Join(nd, "ready.json"), filepath.Join(nd, "data")
	runCmd(t, c.dir, ddnrsBin, "ops", "cert", "issue", "--ca", filepath.Join(c.dir, "ca"), "--id", n.id, "--ip", ip, "--out", nd, "--scope", "member:"+s.name)
	var regURLs, regAdmins, boot []string
	for _, r := range c.groups["reg"] {
		regURLs, regAdmins = append(regURLs, r.api), append(regAdmins, r.Admin)
	}
	for _, o := range c.nodes() {
		boot = append(boot, o.Overlay...)
	}
	zero := ip + ":0"
	c.writeNodeConfig(t, n, s, "", regURLs, regAdmins, boot, zero, zero, zero, zero, "/ip4/"+ip+"/udp/0/quic-v1")
	b, err := os.ReadFile(n.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.config, []byte(strings.Replace(string(b), "bootstrap = true\n", "bootstrap = false\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start(t, c.dir)
	c.groups[s.name] = append(c.groups[s.name], n)
	return n
}

// opsArgs are the operator's TLS flags for c.
func (c *regCluster) opsArgs() []string {
	return []string{"--ca", c.ca, "--cert", c.opsCert, "--key", c.opsKey}
}

// groupVoters lists the voters of the group through the admin endpoint
// addr (ddnrs ops group members).
func (c *regCluster) groupVoters(t *testing.T, addr string) []string {
	t.Helper()
	out := runCmd(t, c.dir, ddnrsBin, append([]string{"ops", "group", "members", "--server", addr, "--output", "json"}, c.opsArgs()...)...)
	var ml struct {
		Members []struct {
			ID    string `json:"id"`
			Voter bool   `json:"voter"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &ml); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ml.Members {
		if m.Voter {
			ids = append(ids, m.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// directoryIDs lists the node ids of the registry's directory (REST
// /v1/health).
func (c *regCluster) directoryIDs(t *testing.T) map[string]bool {
	t.Helper()
	var h struct {
		Nodes []struct {
			ID string `json:"id"`
		} `json:"nodes"`
	}
	if _, err := c.call(http.MethodGet, "/v1/health", "", nil, &h); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, n := range h.Nodes {
		ids[n.ID] = true
	}
	return ids
}

// waitFollowDrops waits until the node whose data directory is dataDir
// no longer admits the overlay peer id (its follow.json read the
// node-removal entry).
func waitFollowDrops(t *testing.T, name, dataDir, id string) {
	t.Helper()
	waitUntil(t, name+" no longer admits "+id, func() error {
		b, err := os.ReadFile(filepath.Join(dataDir, "follow.json"))
		if err != nil {
			return err
		}
		var st struct {
			Peers map[string]any `json:"peers"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		if _, ok := st.Peers[id]; ok {
			return fmt.Errorf("still admitted")
		}
		return nil
	})
}

// TestReplaceAndRemoveNodes (issue 14 item 4): in a registry cluster with
// a group ga of three, member ga-3 dies (SIGKILL) and `ddnrs ops group
// replace` puts a new node ga-4 in its place: ga-4 is a voter and serves
// the group's zone, ga-3 is out of the Raft configuration and of the node
// directory, and every node stops admitting its overlay peer. Started
// again with its old data, ga-3 does not come back: the registry refuses
// its heartbeats (it logs why) and the group does not list it. Then
// `ddnrs ops node remove` retires the live member ga-2 the same way. The
// careless operator's mistakes are refused with a reason: an unknown
// node, a second removal, no --reason, a live member given as dead, the
// dead id reused as the new one.
func TestReplaceAndRemoveNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 5 node processes")
	}
	spec := regGroupSpec{name: "ga", size: 3, region: "ra"}
	c := startRegistryClusterWith(t, true, 1, spec)
	reg, ga := c.groups["reg"][0], c.groups["ga"]
	z := regSignZone(t, "members.example.", 9)
	c.createZone(t, c.reviewer, z, "ra")
	if z.group != "ga" {
		t.Fatalf("placed %s on %q, want ga", z.origin, z.group)
	}
	ops := func(args ...string) (string, string, error) {
		return tryCmd(c.dir, ddnrsBin, append(append([]string{"ops"}, args...), c.opsArgs()...)...)
	}
	refused := func(what, want string, args ...string) {
		t.Helper()
		if out, errOut, err := ops(args...); err == nil || !strings.Contains(errOut, want) {
			t.Errorf("%s: err %v, stdout %q, stderr %q; want refused, saying %q", what, err, out, errOut, want)
		}
	}
	refused("remove of an unknown node", "does not list this node id", "node", "remove", "nobody", "--reason", "x", "--server", reg.Admin)
	refused("remove without a reason", "--reason", "node", "remove", "ga-2", "--server", reg.Admin)
	refused("replace of a live member", "not dead", "group", "replace", "--dead", "ga-2", "--new", "ga-9", "--raft", "127.0.61.9:7300", "--server", ga[0].Admin)
	refused("replace reusing the dead id", "new node id", "group", "replace", "--dead", "ga-3", "--new", "ga-3", "--raft", "127.0.61.9:7300", "--server", ga[0].Admin)

	dead := ga[2]
	deadPeer := overlayPeerID(t, dead.Overlay)
	dead.p.cmd.Process.Kill()
	dead.p.stop()
	fresh := c.addIdleNode(t, spec, "ga-4", "127.0.61.4")
	out, errOut, err := ops("group", "replace", "--dead", dead.id, "--new", fresh.id, "--raft", fresh.Raft, "--reason", "disk died",
		"--registry", reg.Admin, "--server", ga[0].Admin, "--timeout", "90s")
	if err != nil {
		t.Fatalf("ddnrs ops group replace: %v\n%s%s", err, out, errOut)
	}
	t.Logf("replace: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "caught up") {
		t.Errorf("replace says %q, want the new voter caught up", out)
	}
	if got, want := c.groupVoters(t, ga[0].Admin), []string{"ga-1", "ga-2", "ga-4"}; !slices.Equal(got, want) {
		t.Errorf("voters after the replace: %v, want %v", got, want)
	}
	regWaitAnswer(t, fresh, z)
	for _, n := range []*regNode{reg, ga[0], ga[1], fresh} {
		waitFollowDrops(t, n.name, n.data, deadPeer)
	}
	if c.directoryIDs(t)[dead.id] {
		t.Errorf("the directory still lists %s", dead.id)
	}

	// The dead member comes back with its old data.
	dead.start(t, c.dir)
	waitUntil(t, dead.name+" told it was removed", func() error {
		if !strings.Contains(dead.p.out.String(), "removed this node from its directory") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if c.directoryIDs(t)[dead.id] {
		t.Errorf("the directory lists %s again after it came back", dead.id)
	}
	if got, want := c.groupVoters(t, ga[0].Admin), []string{"ga-1", "ga-2", "ga-4"}; !slices.Equal(got, want) {
		t.Errorf("voters after %s came back: %v, want %v", dead.id, got, want)
	}

	// A live member retired with node remove.
	live := ga[1]
	livePeer := overlayPeerID(t, live.Overlay)
	out, errOut, err = ops("node", "remove", live.id, "--reason", "retired", "--server", reg.Admin)
	if err != nil {
		t.Fatalf("ddnrs ops node remove: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "removed from group ga's Raft configuration") {
		t.Errorf("node remove says %q, want it out of ga's Raft configuration", out)
	}
	if got, want := c.groupVoters(t, ga[0].Admin), []string{"ga-1", "ga-4"}; !slices.Equal(got, want) {
		t.Errorf("voters after removing %s: %v, want %v", live.id, got, want)
	}
	for _, n := range []*regNode{reg, ga[0], fresh} {
		waitFollowDrops(t, n.name, n.data, livePeer)
	}
	waitUntil(t, live.name+" told it was removed", func() error {
		if !strings.Contains(live.p.out.String(), "removed this node from its directory") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if c.directoryIDs(t)[live.id] {
		t.Errorf("the directory lists %s after its removal and a refused heartbeat", live.id)
	}
	refused("a second removal", "removed from the directory for good", "node", "remove", live.id, "--reason", "again", "--server", reg.Admin)
}
