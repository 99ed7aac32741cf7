package integration

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
)

// TestRegistry is issue 6's system properties with real `ddnrs node`
// processes: a registry group of three and two other groups (two nodes
// in region "ra", one in "rb"), all in the overlay, the others learning
// owner keys only from the registry's transparency log. Zones are created
// through the REST API and placed on the other groups by region. The
// subtests share the cluster and run in order; the last one stops the
// registry.
func TestRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 6 node processes")
	}
	c := startRegistryCluster(t, 3, regGroupSpec{name: "ga", size: 2, region: "ra"}, regGroupSpec{name: "gb", size: 1, region: "rb"})

	// The reviewer issues the owner a key for example. zones.
	var issued struct {
		Key   string `json:"key"`
		KeyID string `json:"key_id"`
	}
	if _, err := c.call(http.MethodPost, "/v1/keys", c.reviewer, map[string]any{
		"name":   "owner",
		"scope":  map[string]any{"suffixes": []string{"example."}, "actions": []string{"read", "create", "update"}},
		"limits": map[string]any{"per_minute": 6000, "burst": 1000},
	}, &issued); err != nil {
		t.Fatal(err)
	}
	owner := issued.Key
	za := regSignZone(t, "alpha.example.", 10)
	zb := regSignZone(t, "beta.example.", 20)
	c.createZone(t, owner, za, "ra")
	c.createZone(t, owner, zb, "rb")
	if za.group != "ga" || zb.group != "gb" {
		t.Fatalf("placed alpha on %q and beta on %q, want ga and gb (by region)", za.group, zb.group)
	}
	zones := []*regZone{za, zb}
	for _, n := range c.nodes() {
		for _, z := range zones {
			regWaitAnswer(t, n, z)
		}
	}

	t.Run("suspension", func(t *testing.T) { testRegistrySuspension(t, c, owner, za, zb) })
	t.Run("monitor", func(t *testing.T) { testRegistryMonitor(t, c, owner) })
	t.Run("registry down", func(t *testing.T) { testRegistryDown(t, c, zones) })
}

// regWaitAnswer polls n (bounded) until it answers www.ZONE A with the
// owner's address and its RRSIG.
func regWaitAnswer(t *testing.T, n *regNode, z *regZone) {
	t.Helper()
	want := z.www
	waitUntil(t, n.name+" answers www."+z.origin, func() error {
		r, err := askErr(n.DNS, "www."+z.origin, dns.TypeA, true)
		if err != nil {
			return err
		}
		return regCheckA(r, want)
	})
}

// regCheckA checks r is NOERROR with the A record addr and an RRSIG.
func regCheckA(r *dns.Msg, addr string) error {
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("rcode %s (EDE %v)", dns.RcodeToString[r.Rcode], regEDE(r))
	}
	var a, sig bool
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			a = a || rr.A.String() == addr
		case *dns.RRSIG:
			sig = sig || rr.TypeCovered == dns.TypeA
		}
	}
	if !a || !sig {
		return fmt.Errorf("answer %v, want A %s with its RRSIG", rrStrings(r.Answer), addr)
	}
	return nil
}

// testRegistrySuspension: a reviewer suspends a zone; every node of every
// group answers REFUSED with EDE 15 and the reason, the other zone goes on
// resolving, the log holds the registration and the suspension, the
// records are untouched and come back on unsuspension; the reviewer
// cannot change them with a key of their own.
func testRegistrySuspension(t *testing.T, c *regCluster, owner string, za, zb *regZone) {
	exportPath := "/v1/zones/" + za.origin + "/export"
	var before string
	if _, err := c.call(http.MethodGet, exportPath, owner, nil, &before); err != nil {
		t.Fatal(err)
	}
	const reason = "AUP violation: phishing pages"
	if _, err := c.call(http.MethodPost, "/v1/zones/"+za.origin+"/suspend", c.reviewer, map[string]string{"reason": reason}, nil); err != nil {
		t.Fatal(err)
	}
	unsuspended := false
	defer func() {
		// Leave the zone served for the next subtest, whatever failed.
		if !unsuspended {
			if _, err := c.call(http.MethodPost, "/v1/zones/"+za.origin+"/unsuspend", c.reviewer, map[string]string{"reason": "test ended"}, nil); err != nil {
				t.Errorf("unsuspending %s after a failure: %v", za.origin, err)
			}
		}
	}()
	wantText := "zone " + za.origin + " suspended: " + reason
	for _, n := range c.nodes() {
		waitUntil(t, n.name+" refuses the suspended "+za.origin, func() error {
			r, err := askErr(n.DNS, "www."+za.origin, dns.TypeA, true)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeRefused {
				return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
			}
			if e := regEDE(r); e == nil || e.InfoCode != dns.ExtendedErrorCodeBlocked || e.ExtraText != wantText {
				t.Errorf("%s: suspended www.%s: REFUSED with EDE %+v, want code 15 (Blocked) and %q", n.name, za.origin, e, wantText)
			}
			if len(r.Answer) != 0 {
				t.Errorf("%s: suspended zone answered %v", n.name, rrStrings(r.Answer))
			}
			return nil
		})
		// The other zone is not affected.
		if r, err := askErr(n.DNS, "www."+zb.origin, dns.TypeA, true); err != nil {
			t.Errorf("%s: www.%s: %v", n.name, zb.origin, err)
		} else if err := regCheckA(r, zb.www); err != nil {
			t.Errorf("%s: www.%s while %s is suspended: %v", n.name, zb.origin, za.origin, err)
		}
	}
	// What a real DNS tool shows, through a node of the other group.
	for _, tool := range []struct{ bin, pkg, once string }{{"kdig", "knot-dnsutils", "+retry=0"}, {"dig", "bind9-dnsutils", "+tries=1"}} {
		bin := needTool(t, tool.bin, tool.pkg)
		n := c.groups["gb"][0]
		host, port, _ := net.SplitHostPort(n.DNS)
		// kdig exits 1 on REFUSED: the output is what counts.
		out, errOut, err := tryCmd("", bin, "@"+host, "-p", port, "+dnssec", "+time=5", tool.once, "www."+za.origin, "A")
		if !strings.Contains(out, "REFUSED") || !strings.Contains(out, "EDE: 15 (Blocked)") || !strings.Contains(out, wantText) {
			t.Errorf("%s through %s (%v): output lacks REFUSED, EDE 15 and the reason:\n%s%s", tool.bin, n.name, err, out, errOut)
		}
	}
	// The log holds the registration and the suspension.
	entries := regLogEntries(t, c)
	var registered, suspended bool
	for _, e := range entries {
		if e.Zone != za.origin {
			continue
		}
		switch e.Kind {
		case translog.KindRegistration:
			registered = e.Group == "ga" && e.Region == "ra" && e.OwnerKey != ""
		case translog.KindSuspension:
			suspended = e.Reason == reason && e.Actor != "" && e.Actor != "operator"
		}
	}
	if !registered || !suspended {
		t.Errorf("log entries for %s: registration on ga %v, suspension with the reason by the reviewer %v; entries:\n%+v", za.origin, registered, suspended, entries)
	}
	var during string
	if _, err := c.call(http.MethodGet, exportPath, owner, nil, &during); err != nil {
		t.Fatal(err)
	}
	if during != before {
		t.Errorf("export of the suspended zone differs from before:\n%s\nwant\n%s", during, before)
	}

	if _, err := c.call(http.MethodPost, "/v1/zones/"+za.origin+"/unsuspend", c.reviewer, map[string]string{"reason": "cleaned up"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes() {
		regWaitAnswer(t, n, za)
	}
	unsuspended = true
	logged := false
	for _, e := range regLogEntries(t, c) {
		logged = logged || (e.Zone == za.origin && e.Kind == translog.KindUnsuspension)
	}
	if !logged {
		t.Errorf("no unsuspension entry for %s in the log", za.origin)
	}

	// The reviewer signs a change of their own: refused, the records stay.
	forged := regSignZone(t, za.origin, 66)
	var res struct {
		Error struct {
			Code   string `json:"code"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	st, err := c.call(http.MethodPost, "/v1/zones/"+za.origin+"/import", c.reviewer, map[string]string{"zone_file": forged.signed, "head": forged.head}, &res)
	if st != http.StatusUnprocessableEntity || res.Error.Code != "rejected" || res.Error.Reason == "" {
		t.Errorf("reviewer's import signed with another key: status %d, code %q, reason %q (%v), want 422 rejected with the reason", st, res.Error.Code, res.Error.Reason, err)
	} else {
		t.Logf("reviewer's change signed with their own key: %v", err)
	}
	var after string
	if _, err := c.call(http.MethodGet, exportPath, owner, nil, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("export after suspension, unsuspension and a refused change differs from before:\n%s\nwant\n%s", after, before)
	}
	for _, n := range c.nodes() {
		regWaitAnswer(t, n, za)
	}
}

// regLogEntries returns the registry log's entries (GET /v1/log/entries).
func regLogEntries(t *testing.T, c *regCluster) []translog.Entry {
	t.Helper()
	size := regCheckpointSize(t, c)
	var res struct {
		Entries []struct {
			Index uint64 `json:"index"`
			Leaf  []byte `json:"leaf"`
		} `json:"entries"`
	}
	if _, err := c.call(http.MethodGet, fmt.Sprintf("/v1/log/entries?start=0&end=%d", size), "", nil, &res); err != nil {
		t.Fatal(err)
	}
	if uint64(len(res.Entries)) != size {
		t.Fatalf("GET /v1/log/entries?start=0&end=%d: %d entries", size, len(res.Entries))
	}
	out := make([]translog.Entry, len(res.Entries))
	for i, e := range res.Entries {
		if e.Index != uint64(i) {
			t.Fatalf("entry %d has index %d", i, e.Index)
		}
		var err error
		if out[i], err = translog.ParseEntry(e.Leaf); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	return out
}

// regCheckpointSize is the size of the registry's current checkpoint.
func regCheckpointSize(t *testing.T, c *regCluster) uint64 {
	t.Helper()
	var cp string
	if _, err := c.call(http.MethodGet, "/v1/log/checkpoint", "", nil, &cp); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(cp, "\n")
	if len(lines) < 3 || lines[0] != c.origin {
		t.Fatalf("checkpoint:\n%s", cp)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	return size
}

// testRegistryMonitor runs `ddnrs log verify` against the real registry
// twice with growth in between, then against a fork of its log signed
// with the registry's own key: a split view, exit status 3.
func testRegistryMonitor(t *testing.T, c *regCluster, owner string) {
	state := filepath.Join(t.TempDir(), "monitor.json")
	verify := func(url string) (string, int) {
		t.Helper()
		out, errOut, err := tryCmd("", ddnrsBin, "log", "verify", "--log", url, "--key", c.vkey, "--state", state)
		code := 0
		if err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("ddnrs log verify: %v", err)
			}
			code = ee.ExitCode()
		}
		return out + errOut, code
	}
	first := regCheckpointSize(t, c)
	out, code := verify(c.api())
	if code != 0 || !strings.Contains(out, fmt.Sprintf("size %d,", first)) {
		t.Fatalf("first ddnrs log verify: exit %d, want 0 and size %d:\n%s", code, first, out)
	}
	c.createZone(t, owner, regSignZone(t, "gamma.example.", 30), "rb")
	if grown := regCheckpointSize(t, c); grown <= first {
		t.Fatalf("log size %d after a registration, was %d", grown, first)
	}
	out, code = verify(c.api())
	if code != 0 || !strings.Contains(out, "consistent with 1 earlier") {
		t.Fatalf("second ddnrs log verify: exit %d, want 0 and \"consistent with 1 earlier\":\n%s", code, out)
	}

	// A fork: the real log's entries but the last, then a registration of
	// gamma.example. to another owner key, signed with the log's key.
	var real string
	if _, err := c.call(http.MethodGet, "/v1/log/checkpoint", "", nil, &real); err != nil {
		t.Fatal(err)
	}
	size := regCheckpointSize(t, c)
	var res struct {
		Entries []struct {
			Leaf []byte `json:"leaf"`
		} `json:"entries"`
	}
	if _, err := c.call(http.MethodGet, fmt.Sprintf("/v1/log/entries?start=0&end=%d", size), "", nil, &res); err != nil {
		t.Fatal(err)
	}
	signer, err := translog.LoadSigner(c.logKey)
	if err != nil {
		t.Fatal(err)
	}
	fork := translogtest.NewServer(t, c.origin)
	fork.SetSigner(signer)
	for _, e := range res.Entries[:len(res.Entries)-1] {
		fork.AppendLeaf(e.Leaf)
	}
	evil := regSignZone(t, "gamma.example.", 99)
	last, err := translog.ParseEntry(res.Entries[len(res.Entries)-1].Leaf)
	if err != nil {
		t.Fatal(err)
	}
	forged := last
	forged.OwnerKey = evil.anchor
	fork.Append(t, forged, translog.Entry{Kind: translog.KindSuspension, Time: last.Time, Zone: "beta.example.", Reason: "forged", Actor: "operator"})
	forkCP := string(fork.Checkpoint(t))
	out, code = verify(fork.URL)
	if code != 3 {
		t.Fatalf("ddnrs log verify of a fork: exit %d, want 3 (split view):\n%s", code, out)
	}
	for _, cp := range []string{real, forkCP} {
		root := strings.Split(cp, "\n")[2]
		if _, err := base64.StdEncoding.DecodeString(root); err != nil || !strings.Contains(out, root) {
			t.Errorf("split view output lacks the checkpoint with root %s:\n%s", root, out)
		}
	}
	// The state file now holds the evidence too; the real log stays fine.
	if b, err := os.ReadFile(state); err != nil || len(b) == 0 {
		t.Errorf("monitor state %s: %v", state, err)
	}
}

// testRegistryDown: with every registry member killed, every other node
// answers every zone, verified; Unbound with the zones' owner keys
// validates what one of them answers; a node restarted while the
// registry is down still resolves both zones (follower state persisted).
func testRegistryDown(t *testing.T, c *regCluster, zones []*regZone) {
	for _, n := range c.nodes() {
		for _, z := range zones {
			regWaitAnswer(t, n, z)
		}
	}
	for _, n := range c.groups["reg"] {
		n.p.cmd.Process.Kill()
		<-n.p.done
		if _, err := regCall(c.hc, n.api, http.MethodGet, "/v1/health", "", nil, nil); err == nil {
			t.Fatalf("%s's API still answers after SIGKILL", n.name)
		}
	}
	var rest []*regNode
	for _, g := range c.order[1:] {
		rest = append(rest, c.groups[g]...)
	}
	check := func(n *regNode) {
		t.Helper()
		for _, z := range zones {
			r, err := askErr(n.DNS, "www."+z.origin, dns.TypeA, true)
			if err != nil {
				t.Errorf("%s: www.%s: %v", n.name, z.origin, err)
			} else if err := regCheckA(r, z.www); err != nil {
				t.Errorf("%s: www.%s with the registry down: %v", n.name, z.origin, err)
			}
			// A name not asked before: not an answer cached earlier.
			if r, err := askErr(n.DNS, "nothere."+z.origin, dns.TypeA, true); err != nil || r.Rcode != dns.RcodeNameError {
				t.Errorf("%s: nothere.%s with the registry down: %v %v, want NXDOMAIN", n.name, z.origin, r, err)
			}
			want := "node says: verified"
			if n.group == z.group {
				want = "node says: local"
			}
			out := runCmd(t, "", ddnrsBin, "resolve", "www."+z.origin, "A", "--server", n.DNS)
			if !strings.Contains(out, want) || !strings.Contains(out, z.www) {
				t.Errorf("%s: ddnrs resolve www.%s with the registry down: output lacks %q and %s:\n%s", n.name, z.origin, want, z.www, out)
			}
		}
	}
	for _, n := range rest {
		check(n)
	}
	// Unbound, with the owners' keys as trust anchors and both zones
	// stubbed to a node of ga, validates what it answers.
	dig := needTool(t, "dig", "bind9-dnsutils")
	n := c.groups["ga"][len(c.groups["ga"])-1]
	host, port, _ := net.SplitHostPort(n.DNS)
	var server, stubs strings.Builder
	server.WriteString("\ttarget-fetch-policy: \"0 0 0 0 0\"\n")
	for _, z := range zones {
		fmt.Fprintf(&server, "\ttrust-anchor: %q\n", z.anchor)
		fmt.Fprintf(&stubs, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", z.origin, host, port)
	}
	up := startUnboundConf(t, unboundConf{server: server.String(), zones: stubs.String(), probe: zones[0].origin})
	for _, z := range zones {
		out := runCmd(t, "", dig, "@127.0.0.1", "-p", strconv.Itoa(up), "+dnssec", "+time=5", "+tries=1", "www."+z.origin, "A")
		r := parseDig(out)
		if r.Status != "NOERROR" || !r.Flags["ad"] || !strings.Contains(out, z.www) {
			t.Errorf("unbound through %s, registry down: www.%s status %s ad=%v, want NOERROR with AD and %s\n%s", n.name, z.origin, r.Status, r.Flags["ad"], z.www, out)
		}
	}

	// Restart the single node of gb: it knows alpha's owner key only from
	// the log, kept in its data directory.
	gb := c.groups["gb"][0]
	if err := gb.p.stop(); err != nil {
		t.Errorf("stopping %s: %v", gb.name, err)
	}
	// What it kept: alpha's owner key, learned from the log.
	b, err := os.ReadFile(filepath.Join(gb.data, "follow.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st node.FollowState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s follow.json: %v", gb.name, err)
	}
	want, err := dns.NewRR(zones[0].anchor)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dns.NewRR(st.Anchors[zones[0].origin])
	if err != nil || got.(*dns.DNSKEY).PublicKey != want.(*dns.DNSKEY).PublicKey {
		t.Errorf("%s follow.json: anchor of %s = %q (%v), want the owner key %s", gb.name, zones[0].origin, st.Anchors[zones[0].origin], err, zones[0].anchor)
	}
	gb.start(t, c.dir)
	for _, z := range zones {
		regWaitAnswer(t, gb, z)
	}
	check(gb)
}
