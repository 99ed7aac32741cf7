package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestPublishReadYourWrites is issue 17 item 5 with real `ddnrs node`
// processes, a group of three and a node of another group: right after
// `ddnrs zone publish` is acknowledged, the first read on every member
// the answer lists sees the change (the leader waited for them,
// group.ack_wait), and the node of the other group, which had cached the
// old answer, serves the new one once [overlay] relayed_ttl (1 s here)
// has passed, not after the record's TTL (3600 s).
func TestPublishReadYourWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	const ttl = time.Second
	gs, _, _ := startOverlayGroupsWith(t, []int{3, 1}, fmt.Sprintf("relayed_ttl = %q\n", ttl.String()))
	g, other := gs[0], gs[1].members[0]
	name := "www." + g.zone
	const oldAddr, newAddr = "192.0.2.10", "192.0.2.99"
	if r, err := askErr(other.DNS, name, dns.TypeA, true); err != nil || regCheckA(r, oldAddr) != nil {
		t.Fatalf("%s before the publish: %v, %v", other.name, r, err)
	}

	for round, addr := range []string{newAddr, oldAddr} {
		zf := filepath.Join(t.TempDir(), "zone")
		text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A %s\n*.wild TXT \"wild 0\"\n", g.zone, addr) +
			additionalRecords
		if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out := runCmd(t, g.dir, ddnrsBin, "zone", "publish", "--server", g.members[round].Admin,
			"--ca", filepath.Join(g.dir, "ca", "ca.crt"), "--cert", filepath.Join(g.dir, "ops", "node.crt"),
			"--tls-key", filepath.Join(g.dir, "ops", "node.key"), "--key", g.key, "--output", "json", zf)
		published := time.Now()
		var res struct {
			Serial  uint32   `json:"serial"`
			Members []string `json:"members"`
			Pending []string `json:"pending"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("publish --output json: %v\n%s", err, out)
		}
		if len(res.Members)+len(res.Pending) != len(g.members) || len(res.Members) == 0 {
			t.Fatalf("publish answered members %v, pending %v; want the %d members of the group between them, at least the leader serving it", res.Members, res.Pending, len(g.members))
		}
		if len(res.Pending) > 0 {
			// Allowed (a member slower than ack_wait on a loaded
			// machine), and said; the others must serve it.
			t.Logf("round %d: members %v had not applied serial %d within ack_wait", round, res.Pending, res.Serial)
		}
		// Every member the answer lists serves the change on its first
		// read. (The ops group bootstrap IDs are node1..nodeN, in the
		// order of g.members.)
		for i, m := range g.members {
			id := fmt.Sprintf("node%d", i+1)
			listed := false
			for _, x := range res.Members {
				listed = listed || x == id
			}
			r, err := askErr(m.DNS, name, dns.TypeA, true)
			if err != nil {
				t.Fatalf("%s: %v", m.name, err)
			}
			err = regCheckA(r, addr)
			switch {
			case err != nil && listed:
				t.Errorf("round %d: %s (%s), listed as serving serial %d, answered on the first read after the publish: %v", round, m.name, id, res.Serial, err)
			case err != nil:
				t.Logf("round %d: %s (pending) not yet: %v", round, m.name, err)
			}
		}
		r, err := askErr(other.DNS, name, dns.TypeA, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %s right after the publish: %v (old answers may be served for up to relayed_ttl %v)", round, other.name, rrStrings(r.Answer), ttl)
		if wait := ttl - time.Since(published); wait > 0 {
			time.Sleep(wait + 50*time.Millisecond)
		}
		if len(res.Pending) > 0 {
			continue // the other node may ask a member still behind
		}
		r, err = askErr(other.DNS, name, dns.TypeA, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := regCheckA(r, addr); err != nil {
			t.Errorf("round %d: %s, relayed_ttl (%v) after the publish, still serves the old answer: %v", round, other.name, ttl, err)
		}
	}
}
