package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// rcodeOf asks n for name A with DO and returns the rcode.
func rcodeOf(t *testing.T, n *Node, name string) int {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, true)
	return queryNode(t, n, m).Rcode
}

// placeOnEast claims origin in the registry (placed on east, which holds
// fewer zones) and creates it there; it returns the zone and its key.
func placeOnEast(t *testing.T, f registryFixture, origin string) (*zone.Zone, *zone.Key) {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := zone.ParseFile(stringsReader("@ 3600 IN SOA ns hm 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\nwww 3600 IN A 192.0.2.80\n"), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	propose(t, f.reg, &raftfsm.ClaimZone{Zone: origin, Owner: k.DNSKEY.String(), Actor: "test", Time: f.reg.Now()})
	create, err := writes.PublishCommand(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := (apiBackend{f.reg}).SubmitZone(ctx, "east", origin, mustDecode(t, create), false); err != nil {
		t.Fatalf("SubmitZone(east, %s): %v", origin, err)
	}
	syncLog(t, f.reg, f.east)
	waitFor(t, "answers of "+origin+" from reg", func() error { return answered(t, f.reg, origin) })
	return z, k
}

// deleteOnEast deletes origin on east through reg.
func deleteOnEast(t *testing.T, f registryFixture, z *zone.Zone, k *zone.Key) {
	t.Helper()
	del, err := raftfsm.DeleteCommand(z, k)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := (apiBackend{f.reg}).SubmitZone(ctx, "east", z.Origin, mustDecode(t, del), false); err != nil {
		t.Fatalf("delete %s: %v", z.Origin, err)
	}
}

// TestReleasedZoneAnswersAsNoZone: once a zone of another group is
// deleted, a node answers its names, cached or not, as names of no zone
// (REFUSED), not from its answer cache nor with SERVFAIL: from the
// registry log's release, and also without it (every member the DHT
// lists says it no longer holds the zone).
func TestReleasedZoneAnswersAsNoZone(t *testing.T) {
	f := startRegistryPair(t)
	waitFor(t, "east in the directory", func() error {
		rs, err := f.reg.Registry()
		if err != nil {
			return err
		}
		for _, r := range rs.Nodes() {
			if r.Group == "east" && r.PeerID != "" && len(r.Overlay) > 0 {
				return nil
			}
		}
		return fmt.Errorf("directory %v", rs.Nodes())
	})

	// Through the log: deleted, then released.
	logged, lk := placeOnEast(t, f, "logged.test.")
	deleteOnEast(t, f, logged, lk)
	propose(t, f.reg, &raftfsm.ReleaseZone{Zone: "logged.test.", Actor: "test", Time: f.reg.Now()})
	syncLog(t, f.reg, f.east)
	for _, name := range []string{"www.logged.test.", "new.logged.test."} {
		if got := rcodeOf(t, f.reg, name); got != dns.RcodeRefused {
			t.Errorf("reg after the release: %s -> %s, want REFUSED", name, dns.RcodeToString[got])
		}
	}

	// Without the log: the zone's group no longer holds it.
	quiet, qk := placeOnEast(t, f, "quiet.test.")
	deleteOnEast(t, f, quiet, qk)
	for _, name := range []string{"new.quiet.test.", "www.quiet.test."} {
		if got := rcodeOf(t, f.reg, name); got != dns.RcodeRefused {
			t.Errorf("reg after the deletion: %s -> %s, want REFUSED", name, dns.RcodeToString[got])
		}
	}
}
