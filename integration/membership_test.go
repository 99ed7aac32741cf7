package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestGroupRecover (issue 14 item 4): in a registry cluster, a group ga
// of 7 loses 4 members for good (SIGKILL, never started again) and takes
// no write; its 3 survivors are recovered one at a time, as the help and
// the guide say (stop, `ddnrs ops group recover` naming the three, start
// again), elect a leader among themselves, take a write and serve it.
// The command refuses to run without the risk acknowledged, or on a
// member not in the voter list. A DNS probe asks for ga's zone through
// every phase (the kill, each survivor's recovery, the restart, the
// write): through the registry's node (another group, over the overlay)
// and directly at the survivors, trying the next survivor when one does
// not answer as a stub resolver does; no query goes unanswered, since
// two survivors answer while the third is down (a member cut off from
// its leader answers from its replica).
func TestGroupRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 node processes")
	}
	c := startRegistryClusterWith(t, true, 1, regGroupSpec{name: "ga", size: 7, region: "ra"})
	reg, ga := c.groups["reg"][0], c.groups["ga"]
	z := regSignZone(t, "recover.example.", 31)
	c.createZone(t, c.reviewer, z, "ra")
	if z.group != "ga" {
		t.Fatalf("placed %s on %q, want ga", z.origin, z.group)
	}
	for _, n := range append([]*regNode{reg}, ga...) {
		regWaitAnswer(t, n, z)
	}
	survivors, lost := ga[:3], ga[3:]
	stop := make(chan struct{})
	probe := startRecoverProbe(reg, survivors, z, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-probe.done
		}
	}()
	probe.phase("4 of 7 killed")
	for _, n := range lost {
		n.p.cmd.Process.Kill()
		n.p.stop()
	}
	dir := t.TempDir()
	edited := filepath.Join(dir, "zone")
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A %s\n*.wild TXT \"wild 31\"\nrecovered 300 IN TXT \"after the recovery\"\n", z.origin, z.www)
	if err := os.WriteFile(edited, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	publish := func(n *regNode) (string, error) {
		out, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--server", n.Admin, "--ca", c.ca, "--cert", c.opsCert, "--tls-key", c.opsKey,
			"--key", z.key, "--timeout", "20s", edited)
		return out + errOut, err
	}
	// Three of seven are no majority: the write cannot commit.
	if out, err := publish(survivors[0]); err == nil {
		t.Fatalf("a write committed with 3 of 7 voters alive:\n%s", out)
	} else {
		t.Logf("write with 4 of 7 dead, as expected refused: %s", strings.TrimSpace(out))
	}

	var voters []string
	for _, n := range survivors {
		voters = append(voters, "--voter", n.id+"="+n.Raft)
	}
	const ack = "--i-understand-acknowledged-writes-may-be-lost"
	recoverArgs := func(n *regNode, extra ...string) []string {
		return append(append([]string{"ops", "group", "recover", "--config", n.config}, voters...), extra...)
	}
	// Refusals need no member stopped: they fail before opening anything.
	if _, errOut, err := tryCmd(c.dir, ddnrsBin, recoverArgs(survivors[0])...); err == nil || !strings.Contains(errOut, ack) {
		t.Errorf("recover without %s: err %v, stderr %q; want refused, naming the flag", ack, err, errOut)
	}
	if _, errOut, err := tryCmd(c.dir, ddnrsBin, append([]string{"ops", "group", "recover", "--config", lost[0].config, ack}, voters...)...); err == nil || !strings.Contains(errOut, "not among") {
		t.Errorf("recover of %s, not a listed voter: err %v, stderr %q; want refused", lost[0].id, err, errOut)
	}
	if _, errOut, err := tryCmd(c.dir, ddnrsBin, recoverArgs(survivors[0], ack)...); err == nil || !strings.Contains(errOut, "stop the node first") {
		t.Errorf("recover of a running member: err %v, stderr %q; want refused", err, errOut)
	}
	for _, n := range survivors {
		probe.phase(n.id + " stopped and recovered")
		if err := n.p.stop(); err != nil && !n.p.killed {
			t.Logf("%s stopped: %v", n.name, err)
		}
		out := runCmd(t, c.dir, ddnrsBin, recoverArgs(n, ack)...)
		t.Logf("%s: %s", n.id, strings.TrimSpace(out))
		probe.phase(n.id + " restarting")
		dnsAddr := n.DNS
		n.start(t, c.dir)
		if n.DNS != dnsAddr {
			t.Fatalf("%s restarted on DNS %s, not %s: the probe asks the address it read at the start", n.name, n.DNS, dnsAddr)
		}
		regWaitAnswer(t, n, z)
	}
	probe.phase("recovered, electing")
	if got, want := c.groupVoters(t, survivors[0].Admin), []string{"ga-1", "ga-2", "ga-3"}; !slices.Equal(got, want) {
		t.Errorf("voters after the recovery: %v, want %v", got, want)
	}
	// The write tried with 4 of 7 dead may have reached a survivor's log
	// uncommitted, and the recovery commits it (the risk the help
	// states): whichever, this one is new.
	probe.phase("a write after the recovery")
	if err := os.WriteFile(edited, []byte(strings.Replace(text, "after the recovery", "written after the recovery", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out string
	waitUntil(t, "a write after the recovery", func() error {
		var err error
		out, err = publish(survivors[1])
		return err
	})
	t.Logf("publish after the recovery: %s", strings.TrimSpace(out))
	if strings.Contains(out, "nothing to publish") {
		t.Errorf("publish after the recovery found nothing to publish: %s", out)
	}
	for _, n := range append([]*regNode{reg}, survivors...) {
		waitUntil(t, n.name+" serving the write made after the recovery", func() error {
			r, err := askErr(n.DNS, "recovered."+z.origin, dns.TypeTXT, true)
			if err != nil {
				return err
			}
			if len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "written after the recovery") {
				return fmt.Errorf("rcode %s, answer %v", dns.RcodeToString[r.Rcode], rrStrings(r.Answer))
			}
			return nil
		})
	}
	close(stop)
	<-probe.done
	for _, l := range probe.summary() {
		t.Log(l)
	}
	for _, f := range probe.failures {
		t.Errorf("probe: %s", f)
	}
}

// recoverProbe asks for a zone over and over, until stop is closed: in
// turn through via (a node of another group: a query and its retry) and
// at the group's members (the next member when one does not answer, as a
// stub resolver with several servers does), www.ORIGIN (cached answers
// on via) or a new name below ORIGIN each time (never cached: each asks
// the zone's group). A question counts as failed when no answer came
// (every member, or via twice) or a wrong one did. Queries are counted
// per phase (phase).
type recoverProbe struct {
	mu       sync.Mutex
	cur      string
	phases   []string
	asked    map[string]int
	failures []string
	done     chan struct{}
}

func startRecoverProbe(via *regNode, members []*regNode, z *regZone, stop <-chan struct{}) *recoverProbe {
	p := &recoverProbe{done: make(chan struct{}), asked: map[string]int{}, cur: "start", phases: []string{"start"}}
	check := func(r *dns.Msg, err error, want int) string {
		switch {
		case err != nil:
			return err.Error()
		case r.Rcode != want:
			return fmt.Sprintf("rcode %s (EDE %v)", dns.RcodeToString[r.Rcode], regEDE(r))
		case want == dns.RcodeSuccess:
			if err := regCheckA(r, z.www); err != nil {
				return err.Error()
			}
		}
		return ""
	}
	// The addresses are read once, here: restarting a member (regNode.start)
	// rewrites its fields from the ready file while this goroutine runs,
	// and a restarted member keeps the DNS address its config names.
	viaName, viaDNS := via.name, via.DNS
	type member struct{ name, dns string }
	ms := make([]member, len(members))
	for k, n := range members {
		ms[k] = member{n.name, n.DNS}
	}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name, want := "www."+z.origin, dns.RcodeSuccess
			if i%2 == 1 {
				name, want = fmt.Sprintf("probe%d.%s", i, z.origin), dns.RcodeNameError
			}
			var bad []string
			if i%3 == 0 {
				for try := 0; try < 2; try++ {
					r, err := askErr(viaDNS, name, dns.TypeA, true)
					if b := check(r, err, want); b != "" {
						bad = append(bad, viaName+": "+b)
						continue
					}
					bad = nil
					break
				}
			} else {
				for k := range members {
					n := ms[(i+k)%len(ms)]
					r, err := askErr(n.dns, name, dns.TypeA, true)
					if b := check(r, err, want); b != "" {
						bad = append(bad, n.name+": "+b)
						continue
					}
					bad = nil
					break
				}
			}
			p.mu.Lock()
			p.asked[p.cur]++
			if len(bad) > 0 {
				p.failures = append(p.failures, fmt.Sprintf("%s during %q at %s: %s", name, p.cur, time.Now().Format("15:04:05.000"), strings.Join(bad, "; ")))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// phase names what happens from now on, for the probe's counts.
func (p *recoverProbe) phase(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = name
	p.phases = append(p.phases, name)
}

// summary is how many questions the probe asked in each phase.
func (p *recoverProbe) summary() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, ph := range p.phases {
		out = append(out, fmt.Sprintf("probe during %q: %d questions", ph, p.asked[ph]))
	}
	return out
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
// its heartbeats (it logs why) and the group does not list it; wiped and
// joined again under its old id, the group's join refuses it, naming the
// log's node-removal entry. Then
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

	// The machine wiped and joined again under its old id: its group
	// refuses it too, from the log's node-removal entry its members
	// follow, before it enters the Raft configuration (the join is the
	// one a node's [group] join sends; the check precedes the add, so the
	// refusal does not depend on the machine running).
	dead.p.stop()
	if err := os.RemoveAll(dead.data); err != nil {
		t.Fatal(err)
	}
	refused("a wiped machine joining under its removed id", "node-removal entry", "group", "join", dead.id, dead.Raft, "--server", ga[0].Admin)
	refused("a wiped machine joining under its removed id, as a read replica", "removed id never joins again", "group", "join", dead.id, dead.Raft, "--nonvoter", "--server", ga[1].Admin)
	if got, want := c.groupVoters(t, ga[0].Admin), []string{"ga-1", "ga-2", "ga-4"}; !slices.Equal(got, want) {
		t.Errorf("voters after %s tried to join again: %v, want %v", dead.id, got, want)
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

// moveProbe asks nodes, in turn, for www.ORIGIN (cached answers) and a
// new name below ORIGIN each time (never cached, so each asks the group
// that holds the zone, locally or over the overlay), counting every
// query that gets no answer or a wrong one, until stop is closed.
type moveProbe struct {
	asked, failed atomic.Int64
	mu            sync.Mutex
	failures      []string
	done          chan struct{}
}

func startMoveProbe(nodes []*regNode, z *regZone, stop <-chan struct{}) *moveProbe {
	p := &moveProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			// A short pause: the probe asks without end while the
			// machine is busy with the move; its own load is not what is
			// under test (a query still counts whatever it costs).
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			n := nodes[i%len(nodes)]
			name, want := "www."+z.origin, dns.RcodeSuccess
			if i%2 == 1 {
				name, want = fmt.Sprintf("probe%d.%s", i, z.origin), dns.RcodeNameError
			}
			r, err := askErr(n.DNS, name, dns.TypeA, true)
			p.asked.Add(1)
			var bad string
			switch {
			case err != nil:
				bad = err.Error()
			case r.Rcode != want:
				bad = fmt.Sprintf("rcode %s (EDE %v)", dns.RcodeToString[r.Rcode], regEDE(r))
			case want == dns.RcodeSuccess:
				if err := regCheckA(r, z.www); err != nil {
					bad = err.Error()
				}
			}
			if bad != "" {
				p.failed.Add(1)
				p.mu.Lock()
				p.failures = append(p.failures, fmt.Sprintf("%s %s at %s: %s", n.name, name, time.Now().Format("15:04:05.000"), bad))
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// TestZoneMove (issue 14 item 4): a zone of group ga moves to group gb
// with `ddnrs ops zone move` while a DNS probe asks for it through a node
// of a third group (the registry's) and directly at ga's and gb's
// members: no query goes unanswered or fails. After the move gb holds
// the zone and ga does not, the log says so, and a change published
// through ga's admin endpoint reaches gb. Last, with ga down, the
// registry places a new zone asked for in ga's region elsewhere
// (placement weighs health).
func TestZoneMove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 node processes")
	}
	c := startRegistryClusterWith(t, true, 1, regGroupSpec{name: "ga", size: 1, region: "ra"}, regGroupSpec{name: "gb", size: 1, region: "rb"})
	reg, ga, gb := c.groups["reg"][0], c.groups["ga"][0], c.groups["gb"][0]
	z := regSignZone(t, "moving.example.", 11)
	c.createZone(t, c.reviewer, z, "ra")
	if z.group != "ga" {
		t.Fatalf("placed %s on %q, want ga", z.origin, z.group)
	}
	nodes := []*regNode{reg, ga, gb}
	for _, n := range nodes {
		regWaitAnswer(t, n, z)
	}
	ops := func(args ...string) (string, string, error) {
		return tryCmd(c.dir, ddnrsBin, append(append([]string{"ops"}, args...), c.opsArgs()...)...)
	}
	zones := func(n *regNode) int {
		t.Helper()
		out, errOut, err := ops("group", "status", "--server", n.Admin, "--output", "json")
		if err != nil {
			t.Fatalf("group status %s: %v\n%s", n.name, err, errOut)
		}
		var s struct {
			Zones int `json:"zones"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
		return s.Zones
	}
	if out, errOut, err := ops("zone", "move", z.origin, "--to", "ga", "--server", reg.Admin); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("move to the group that holds it: err %v, stdout %q, stderr %q; want nothing to do", err, out, errOut)
	}
	if _, errOut, err := ops("zone", "move", z.origin, "--to", "nowhere", "--server", reg.Admin); err == nil || !strings.Contains(errOut, "no node of group") {
		t.Errorf("move to an unknown group: err %v, stderr %q; want refused", err, errOut)
	}
	if _, errOut, err := ops("zone", "move", "unclaimed.example.", "--to", "gb", "--server", reg.Admin); err == nil || !strings.Contains(errOut, "not claimed") {
		t.Errorf("move of an unclaimed zone: err %v, stderr %q; want refused", err, errOut)
	}

	stop := make(chan struct{})
	probe := startMoveProbe(nodes, z, stop)
	out, errOut, err := ops("zone", "move", z.origin, "--to", "gb", "--reason", "test", "--drain", "6s", "--server", reg.Admin)
	if err != nil {
		close(stop)
		<-probe.done
		t.Fatalf("ddnrs ops zone move: %v\n%s%s", err, out, errOut)
	}
	t.Logf("zone move: %s%s", errOut, out)
	// Probe on after the drop: the old group's member now answers from gb.
	after := probe.asked.Load()
	waitUntil(t, "60 probe queries after the move", func() error {
		if n := probe.asked.Load() - after; n < 60 {
			return fmt.Errorf("%d so far", n)
		}
		return nil
	})
	close(stop)
	<-probe.done
	t.Logf("probe: %d queries during and after the move, %d failed", probe.asked.Load(), probe.failed.Load())
	for _, f := range probe.failures {
		t.Errorf("probe: %s", f)
	}
	if a, b := zones(ga), zones(gb); a != 0 || b != 1 {
		t.Errorf("after the move ga holds %d zones and gb %d; want 0 and 1", a, b)
	}
	waitUntil(t, "the registry log's move read by ga", func() error {
		b, err := os.ReadFile(filepath.Join(ga.data, "follow.json"))
		if err != nil {
			return err
		}
		var st struct {
			Groups map[string]string `json:"groups"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		if g := st.Groups[z.origin]; g != "gb" {
			return fmt.Errorf("group %q", g)
		}
		return nil
	})

	// A change published through the old group's member reaches gb.
	dir := t.TempDir()
	unsigned := filepath.Join(dir, "zone")
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.99\n", z.origin)
	if err := os.WriteFile(unsigned, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--server", ga.Admin, "--ca", c.ca, "--cert", c.opsCert, "--tls-key", c.opsKey,
		"--key", z.key, unsigned); err != nil {
		t.Fatalf("publish through ga after the move: %v\n%s%s", err, out, errOut)
	}
	r, err := askErr(gb.DNS, "www."+z.origin, dns.TypeA, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := regCheckA(r, "192.0.2.99"); err != nil {
		t.Errorf("gb after a change published through ga: %v", err)
	}
	if a := zones(ga); a != 0 {
		t.Errorf("ga holds %d zones after the change, want 0 (the change went to gb)", a)
	}

	// Placement weighs health: with ga's only node down, a zone asked
	// for in ga's region goes to the healthy group with the fewest zones,
	// reg (gb holds the moved one); the state machine's own rule, region
	// then fewest claims, would have put it on ga.
	ga.p.stop()
	waitUntil(t, "the registry's health says ga-1 is down", func() error {
		var h struct {
			Nodes []struct {
				ID      string `json:"id"`
				Healthy bool   `json:"healthy"`
			} `json:"nodes"`
		}
		if _, err := c.call(http.MethodGet, "/v1/health", "", nil, &h); err != nil {
			return err
		}
		for _, n := range h.Nodes {
			if n.ID == ga.id && n.Healthy {
				return fmt.Errorf("still healthy")
			}
		}
		return nil
	})
	z2 := regSignZone(t, "placed.example.", 12)
	c.createZone(t, c.reviewer, z2, "ra")
	if z2.group != "reg" {
		t.Errorf("with ga down, a zone asked for in region ra was placed on %q, want reg (healthy, fewest zones)", z2.group)
	}
}
