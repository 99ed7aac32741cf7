package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestNewZoneAnswersEverywhereAtOnce is issue 17 item 4 with real `ddnrs
// node` processes: a zone created through the REST API answers through
// a node of every other group on its first query, without waiting for
// the next poll of the registry's log (follow_interval is 2 s here, and
// before the fix the first queries got SERVFAIL with EDE 9, "no trust
// anchor for the zone", until then). Each node is asked once per zone,
// right after the create is acknowledged; several zones are created so
// that the later ones fall inside the window the first one's poll
// opened.
func TestNewZoneAnswersEverywhereAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	c := startRegistryCluster(t, 1, regGroupSpec{name: "ga", size: 2, region: "ra"}, regGroupSpec{name: "gb", size: 1, region: "rb"})
	var issued struct {
		Key string `json:"key"`
	}
	if _, err := c.call(http.MethodPost, "/v1/keys", c.reviewer, map[string]any{
		"name":   "owner",
		"scope":  map[string]any{"suffixes": []string{"example."}, "actions": []string{"read", "create", "update"}},
		"limits": map[string]any{"per_minute": 6000, "burst": 1000},
	}, &issued); err != nil {
		t.Fatal(err)
	}
	others := append(append([]*regNode(nil), c.groups["reg"]...), c.groups["gb"]...)
	names := []string{"one.example.", "two.example.", "three.example."}
	for i, origin := range names {
		z := regSignZone(t, origin, 40+i)
		c.createZone(t, issued.Key, z, "ra")
		if z.group != "ga" {
			t.Fatalf("%s placed on %q, want ga", origin, z.group)
		}
		for _, n := range others {
			start := time.Now()
			r, err := askErr(n.DNS, "www."+origin, dns.TypeA, true)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("%s, first query for www.%s right after the create: %v", n.name, origin, err)
			}
			if err := regCheckA(r, z.www); err != nil {
				t.Errorf("%s, first query for www.%s right after the create: %v (after %v)", n.name, origin, err, took)
				continue
			}
			t.Logf("%s answered www.%s on its first query, in %v", n.name, origin, took)
		}
	}
}
