package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// TestBigZoneMove (issue 14 item 4): a zone of 50,000 RRsets, far above
// one Raft entry, moves from group gb to group ga with `ddnrs ops zone
// move`, which copies it as a staged upload through ga's adopt endpoint,
// while a DNS probe asks for it through a node of a third group (the
// registry's) and directly at ga's and gb's members: no query goes
// unanswered or fails. The copy resumes an upload an earlier, interrupted
// move left open in ga (here the test opened it: the upload's first
// chunks sent through the same endpoint), and the old group drops its
// copy only after the claim moved. Last, placement weighs RRsets: with
// every group holding one zone, a new zone goes to a group of small
// zones, not to ga (the first name, which zone counts alone would pick).
func TestBigZoneMove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 node processes and moves a 50,000-RRset zone")
	}
	c := startRegistryClusterWith(t, true, 1, regGroupSpec{name: "ga", size: 1, region: "ra"}, regGroupSpec{name: "gb", size: 1, region: "rb"})
	reg, ga, gb := c.groups["reg"][0], c.groups["ga"][0], c.groups["gb"][0]
	const origin = "big.move.example."
	dir := t.TempDir()
	z := &regZone{origin: origin, key: keygen(t, dir, origin), www: "192.0.2.77", group: "gb"}
	file := writeBigZone(t, dir, origin, 1, "v1")
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(f, "www A %s\n", z.www); err != nil {
		t.Fatal(err)
	}
	f.Close()
	start := time.Now()
	// Published through gb's admin endpoint: the name is claimed for gb.
	if out, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--server", gb.Admin, "--ca", c.ca, "--cert", c.opsCert,
		"--tls-key", c.opsKey, "--key", z.key, "--timeout", "60s", file); err != nil {
		t.Fatalf("publishing %s to gb: %v\n%s%s", origin, err, out, errOut)
	}
	t.Logf("published %d RRsets to gb in %v", 4*bigNames+5, time.Since(start).Round(time.Millisecond))
	nodes := []*regNode{reg, ga, gb}
	for _, n := range nodes {
		regWaitAnswer(t, n, z)
	}

	// An interrupted move's leftover: the upload's begin and first two
	// chunks, sent to ga's leader as the move sends them.
	tc, err := clusterTLS(c.ca, c.opsCert, c.opsKey)
	if err != nil {
		t.Fatal(err)
	}
	ac := admin.NewClient(tc)
	t.Cleanup(ac.CloseIdle)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmds := bigMoveCommands(t, ctx, ac, gb.Admin, z)
	if len(cmds) < 6 {
		t.Fatalf("the staged copy of %s has %d commands, want a begin, several chunks and a commit", origin, len(cmds))
	}
	for i, cmd := range cmds[:3] {
		if _, err := ac.Adopt(ctx, ga.Admin, origin, cmd); err != nil {
			t.Fatalf("staging command %d at ga: %v", i, err)
		}
	}
	if n := adminZones(t, c, ga); n != 0 {
		t.Fatalf("ga holds %d zones with the upload open, want 0 (staged RRsets are never served)", n)
	}

	stop := make(chan struct{})
	probe := startMoveProbe(nodes, z, stop)
	start = time.Now()
	out, errOut, err := tryCmd(c.dir, ddnrsBin, append([]string{"ops", "zone", "move", origin, "--to", "ga", "--reason", "test",
		"--drain", "6s", "--timeout", "3m", "--server", reg.Admin}, c.opsArgs()...)...)
	if err != nil {
		close(stop)
		<-probe.done
		t.Fatalf("ddnrs ops zone move: %v\n%s%s", err, out, errOut)
	}
	t.Logf("zone move of %d RRsets (%d chunks) in %v:\n%s%s", 4*bigNames+5, len(cmds)-2, time.Since(start).Round(time.Millisecond), errOut, out)
	if want := fmt.Sprintf("%d chunks, the group holds 2", len(cmds)-2); !strings.Contains(errOut, want) {
		t.Errorf("zone move did not resume the open upload: stderr lacks %q", want)
	}
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
	if a, b := adminZones(t, c, ga), adminZones(t, c, gb); a != 1 || b != 0 {
		t.Errorf("after the move ga holds %d zones and gb %d; want 1 and 0", a, b)
	}
	checkBigServed(t, ctx, "ga", ga.DNS, origin, "v1", 1)
	checkBigServed(t, ctx, "reg (through the overlay)", reg.DNS, origin, "v1", 1)
	checkBigServed(t, ctx, "gb (dropped its copy)", gb.DNS, origin, "v1", 1)

	// Placement by RRsets: the heartbeats carry each group's load band.
	waitUntil(t, "the registry's health showing ga's 50,005 RRsets and gb's none", func() error {
		bands := groupBands(t, c)
		if bands["ga"] != 16 || bands["gb"] != 0 {
			return fmt.Errorf("load bands %v", bands)
		}
		return nil
	})
	// Two small zones, no region asked: gb, then reg (fewest zones, and
	// no RRsets).
	for i, want := range []string{"gb", "reg"} {
		s := regSignZone(t, fmt.Sprintf("small%d.example.", i), 20+i)
		c.createZone(t, c.reviewer, s, "")
		if s.group != want {
			t.Errorf("small zone %d placed on %q, want %q", i, s.group, want)
		}
	}
	// Every group holds one zone now: zone counts tie and the first name
	// is ga; ga's RRsets are in band 16, the others' far below.
	s := regSignZone(t, "small2.example.", 22)
	c.createZone(t, c.reviewer, s, "")
	if s.group == "ga" || s.group == "" {
		t.Errorf("with one zone on every group, a new zone was placed on %q; want gb or reg, not ga with 50,005 RRsets (bands %v)", s.group, groupBands(t, c))
	}
}

// groupBands returns each group's load band (rrsets_band) as the
// registry's REST health shows it.
func groupBands(t *testing.T, c *regCluster) map[string]int {
	t.Helper()
	var h struct {
		Groups []struct {
			Name string `json:"name"`
			Band int    `json:"rrsets_band"`
		} `json:"groups"`
	}
	if _, err := c.call(http.MethodGet, "/v1/health", "", nil, &h); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, g := range h.Groups {
		out[g.Name] = g.Band
	}
	return out
}

// bigMoveCommands reads z as the member at addr holds it and returns
// its staged upload (raftfsm.UploadCommands), as `ddnrs ops zone move`
// makes it.
func bigMoveCommands(t *testing.T, ctx context.Context, ac *admin.Client, addr string, z *regZone) [][]byte {
	t.Helper()
	exp, err := ac.Zone(ctx, addr, z.origin)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(strings.TrimSuffix(z.key, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	var k *zone.Key
	for _, line := range strings.Split(string(pub), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, ";") {
			rr, err := dns.NewRR(l)
			if err != nil {
				t.Fatal(err)
			}
			k = &zone.Key{Zone: z.origin, DNSKEY: rr.(*dns.DNSKEY)}
		}
	}
	zz, err := zone.ParseFile(strings.NewReader(exp.ZoneFile), z.origin, "ga's copy")
	if err != nil {
		t.Fatal(err)
	}
	if zz.Head, err = zone.ParseHead([]byte(exp.Head), k); err != nil {
		t.Fatal(err)
	}
	cmds, err := raftfsm.UploadCommands(nil, zz, k)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
}

// adminZones is how many zones n's group holds (ddnrs ops group status).
func adminZones(t *testing.T, c *regCluster, n *regNode) int {
	t.Helper()
	out, errOut, err := tryCmd(c.dir, ddnrsBin, append([]string{"ops", "group", "status", "--server", n.Admin, "--output", "json"}, c.opsArgs()...)...)
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
