package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestLeaseTeardownSurvivesLeaderChange: the drop a released ephemeral
// zone owes is registry state, not the registry leader's memory (issue
// 12 item 5, durable teardown). A zone with a 4 s lease is placed on
// group "ga", whose only member is stopped; the registry's leader
// releases the claim and cannot reach the group to drop the zone (it
// logs so). That leader is then killed (SIGKILL) and "ga" started again:
// the next registry leader, which never held the drop in memory, finds it
// in its replica, the group drops the zone and answers REFUSED for it.
func TestLeaseTeardownSurvivesLeaderChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	c := startRegistryCluster(t, 3, regGroupSpec{name: "ga", size: 1, region: "eu"})
	ga := c.groups["ga"][0]
	key := c.issueKeyCLI(t, "--name", "ci", "--actions", "read,create,update,delete", "--suffix", "tear.test.")
	z := regSignZone(t, "pr-7.tear.test.", 77)
	var res struct {
		Group string `json:"group"`
	}
	expires := time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339)
	if st, err := c.call(http.MethodPost, "/v1/zones", key, map[string]any{"zone_file": z.signed, "head": z.head, "region": "eu", "expires": expires}, &res); err != nil || st != http.StatusCreated {
		t.Fatalf("creating the ephemeral %s: status %d: %v", z.origin, st, err)
	}
	if res.Group != "ga" {
		t.Fatalf("%s placed on group %q, want ga (region eu)", z.origin, res.Group)
	}
	www := "www." + z.origin
	waitUntil(t, www+" answered by "+ga.name, func() error {
		if r, err := askErr(ga.DNS, www, dns.TypeA, false); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("%v %v", r, err)
		}
		return nil
	})
	if st := c.adminZoneStatus(t, ga, z.origin); st != http.StatusOK {
		t.Fatalf("admin GET /v1/zones/%s at %s: %d, want 200", z.origin, ga.name, st)
	}

	// The group goes away before the lease runs out: its drop cannot be
	// delivered.
	if err := ga.p.stop(); err != nil {
		t.Logf("%s stopped: %v", ga.name, err)
	}
	regs := c.groups["reg"]
	waitUntil(t, z.origin+" released", func() error {
		for _, n := range regs {
			if st, _ := regCall(c.hc, n.api, http.MethodGet, "/v1/zones/"+z.origin, key, nil, nil); st != http.StatusNotFound {
				return fmt.Errorf("GET at %s: %d", n.name, st)
			}
		}
		return nil
	})
	var leader *regNode
	waitUntil(t, "the registry leader owes the drop", func() error {
		for _, n := range regs {
			out := n.p.out.String()
			if strings.Contains(out, "not dropped by its group yet") && strings.Contains(out, z.origin) {
				leader = n
				return nil
			}
		}
		return fmt.Errorf("no registry member logged the pending drop")
	})
	t.Logf("%s owes the drop; killing it", leader.name)
	leader.p.cmd.Process.Kill()
	<-leader.p.done

	ga.start(t, c.dir)
	// The zone is back with its group (it replayed its own log; it
	// answers REFUSED for it already, having read the release in the
	// registry's log): the next registry leader must drop it from the
	// group's store, which the admin endpoint shows.
	waitUntil(t, ga.name+" drops "+z.origin, func() error {
		if st := c.adminZoneStatus(t, ga, z.origin); st != http.StatusNotFound {
			return fmt.Errorf("admin GET /v1/zones/%s at %s: %d", z.origin, ga.name, st)
		}
		return nil
	})
	// The new leader records that the drop is done (ZoneDropped), so
	// no later leader sends it again.
	waitUntil(t, "a surviving registry member records the drop done", func() error {
		for _, n := range regs {
			if n != leader && strings.Contains(n.p.out.String(), `msg="released ephemeral zone dropped by its group"`) {
				t.Logf("%s, the new leader, finished the drop", n.name)
				return nil
			}
		}
		return fmt.Errorf("no surviving member logged the drop it finished")
	})
}

// adminZoneStatus asks n's admin endpoint (mutual TLS, the operator's
// certificate) for zone in its group's store: 200 held, 404 not; 0 when
// the endpoint cannot be reached.
func (c *regCluster) adminZoneStatus(t *testing.T, n *regNode, origin string) int {
	t.Helper()
	caPEM, err := os.ReadFile(c.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(c.opsCert, c.opsKey)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + n.Admin + "/v1/zones/" + origin)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
