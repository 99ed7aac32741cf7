package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/node"
)

// TestRemovedMemberStopsServing is issue 17 item 6's removed member with
// real `ddnrs node` processes: a group of four with the overlay on;
// `ddnrs ops group remove node4` (the leader tells node4 before it
// answers); then a publish the removed member never receives. node4 must
// never answer for the zone from its frozen copy again: every answer it
// gives is the group's new version, relayed through the overlay and
// verified (its overlay counts them fetched), or a refusal; its /readyz
// says not ready, removed, and its log says why. Before the change it kept answering the
// old serial, authoritatively, with /readyz only saying "no leader".
func TestRemovedMemberStopsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	gs, _, _ := startOverlayGroupsWith(t, []int{4}, "")
	g := gs[0]
	gone := g.members[3] // node4
	opsTLS := []string{"--ca", filepath.Join(g.dir, "ca", "ca.crt"), "--cert", filepath.Join(g.dir, "ops", "node.crt"),
		"--key", filepath.Join(g.dir, "ops", "node.key")}
	publishTLS := []string{"--ca", opsTLS[1], "--cert", opsTLS[3], "--tls-key", opsTLS[5]}
	soa := func(m *dns.Msg) uint32 {
		for _, rr := range append(append([]dns.RR{}, m.Answer...), m.Ns...) {
			if s, ok := rr.(*dns.SOA); ok {
				return s.Serial
			}
		}
		return 0
	}
	if r, err := askErr(gone.DNS, g.zone, dns.TypeSOA, true); err != nil || soa(r) != 1 || !r.Authoritative {
		t.Fatalf("%s before the removal: %v, %v; want serial 1, authoritative", gone.name, r, err)
	}
	// node4 may have answered that (or the harness's checks) before it
	// had caught up, relaying to the others: such an answer of serial 1
	// sits in its relay cache for up to [overlay] relayed_ttl (default
	// 5 s) and is no frozen copy. Answers are judged once that has passed.
	cachedBy := time.Now().Add(node.DefaultRelayedTTL + 500*time.Millisecond)

	// The leader tells the member it removes at the admin address the
	// member announced: wait until it has.
	waitUntil(t, gone.name+" announced", func() error {
		out := runCmd(t, g.dir, ddnrsBin, append([]string{"ops", "group", "members", "--server", g.members[0].Admin, "-o", "json"}, opsTLS...)...)
		if !strings.Contains(out, gone.Admin) {
			return fmt.Errorf("members: %s", out)
		}
		return nil
	})
	out := runCmd(t, g.dir, ddnrsBin, append([]string{"ops", "group", "remove", "node4", "--server", g.members[0].Admin, "-o", "json"}, opsTLS...)...)
	var res struct {
		Removed string `json:"removed_member"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ops group remove -o json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(res.Removed, "stopped answering") {
		t.Errorf("ops group remove says of node4 %q, want that it stopped answering for the group's zones as a member (the leader tells it before answering)", res.Removed)
	}

	// A change node4 never receives.
	zf := filepath.Join(t.TempDir(), "zone")
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 2 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.99\n*.wild TXT \"wild 0\"\n", g.zone) + additionalRecords
	if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, g.dir, ddnrsBin, append([]string{"zone", "publish", "--server", g.members[0].Admin, "--key", g.key, zf}, publishTLS...)...)
	// node4 relays to the members left; under load the publish may be
	// acknowledged before all of them applied it, and a lagging member's
	// serial 1 relayed through node4 is a stale read, not node4's frozen
	// copy. Wait until every member left serves serial 2: from then on a
	// serial 1 from node4 can only be its own copy.
	for _, m := range g.members[:3] {
		waitUntil(t, m.name+" serving serial 2", func() error {
			r, err := askErr(m.DNS, g.zone, dns.TypeSOA, true)
			if err != nil {
				return err
			}
			if s := soa(r); s != 2 {
				return fmt.Errorf("serial %d", s)
			}
			return nil
		})
	}

	time.Sleep(time.Until(cachedBy))

	// Every answer node4 gives from now on: never serial 1, never the
	// old address, never authoritative; the new version once the overlay
	// found the group's members (the first lookups may fail: SERVFAIL or
	// REFUSED are allowed, a frozen answer is not).
	relayed := 0
	for i := 0; i < 40 && relayed < 5; i++ {
		for _, q := range []struct {
			name string
			t    uint16
		}{{g.zone, dns.TypeSOA}, {"www." + g.zone, dns.TypeA}, {fmt.Sprintf("n%d.wild.%s", i, g.zone), dns.TypeTXT}} {
			r, err := askErr(gone.DNS, q.name, q.t, true)
			if err != nil {
				t.Fatalf("%s %s: %v", gone.name, q.name, err)
			}
			if r.Rcode != dns.RcodeSuccess {
				t.Logf("%s %s/%s: %s", gone.name, q.name, dns.TypeToString[q.t], dns.RcodeToString[r.Rcode])
				continue
			}
			if q.t == dns.TypeSOA && soa(r) != 2 {
				t.Fatalf("%s answered %s SOA serial %d after its removal and a publish of serial 2", gone.name, q.name, soa(r))
			}
			if q.t == dns.TypeA {
				if err := regCheckA(r, "192.0.2.99"); err != nil {
					t.Fatalf("%s answered %s from its frozen copy after its removal: %v", gone.name, q.name, err)
				}
				relayed++
			}
		}
	}
	if relayed == 0 {
		t.Errorf("%s never answered www.%s through the overlay after its removal", gone.name, g.zone)
	}

	// /readyz on the metrics listener: not ready, removed.
	var rd struct {
		Metrics string `json:"metrics"`
	}
	if b, err := os.ReadFile(gone.ready); err != nil || json.Unmarshal(b, &rd) != nil || rd.Metrics == "" {
		t.Fatalf("%s's ready file: %v %s", gone.name, err, b)
	}
	resp, err := http.Get("http://" + rd.Metrics + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "removed from the group") {
		t.Errorf("%s /readyz = %d %q, want not ready, removed from the group", gone.name, resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + rd.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `ddnrs_overlay_answers_total{source="fetched"}`) || strings.Contains(string(body), `ddnrs_overlay_answers_total{source="fetched"} 0`+"\n") {
		t.Errorf("%s's answers were not fetched from the group's members over the overlay:\n%s", gone.name, grepLines(string(body), "ddnrs_overlay_answers_total"))
	}
	if log := gone.p.out.String(); !strings.Contains(log, "removed from the group") {
		t.Errorf("%s's log does not say it was removed:\n%s", gone.name, log)
	}
	// A member of the group still answers authoritatively, serial 2.
	if r, err := askErr(g.members[1].DNS, g.zone, dns.TypeSOA, true); err != nil || soa(r) != 2 || !r.Authoritative {
		t.Errorf("%s after the publish: %v, %v; want serial 2, authoritative", g.members[1].name, r, err)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
