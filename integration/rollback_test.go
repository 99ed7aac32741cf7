package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestRestoreRollback is issue 17 item 7 with real `ddnrs node`
// processes: a group of three and a node of another group. The node of
// the other group verifies serial 2 of the group's zone; the operator
// then restores a snapshot holding serial 1. Without the owner's
// statement the restore is refused, naming the zone, both serials and
// the command the owner runs; with the statement (`ddnrs zone
// rollback-sign`) it goes through, and the node of the other group
// answers names of the rolled-back zone at serial 1 at once, no SERVFAIL
// EDE 6 (before the change it refused them until the owner published
// again). The owner's next publish must go above serial 2.
func TestRestoreRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	gs, _, _ := startOverlayGroupsWith(t, []int{3, 1}, "")
	g, other := gs[0], gs[1].members[0]
	opsTLS := []string{"--ca", filepath.Join(g.dir, "ca", "ca.crt"), "--cert", filepath.Join(g.dir, "ops", "node.crt"),
		"--key", filepath.Join(g.dir, "ops", "node.key")}
	publishTLS := []string{"--ca", opsTLS[1], "--cert", opsTLS[3], "--tls-key", opsTLS[5]}
	dir := t.TempDir()
	snap := filepath.Join(dir, "serial1.snap")
	runCmd(t, g.dir, ddnrsBin, append([]string{"ops", "snapshot", "save", "--server", g.members[0].Admin, snap}, opsTLS...)...)

	publish := func(serial int) (string, error) {
		zf := filepath.Join(dir, fmt.Sprintf("zone%d", serial))
		text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.%d\n*.wild TXT \"wild %d\"\n", g.zone, serial, 100+serial, serial) + additionalRecords
		if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := tryCmd(g.dir, ddnrsBin, append([]string{"zone", "publish", "--server", g.members[0].Admin, "--key", g.key, zf}, publishTLS...)...)
		return out + errOut, err
	}
	if out, err := publish(2); err != nil {
		t.Fatalf("publish serial 2: %v\n%s", err, out)
	}
	soa := func(addr, name string) (uint32, *dns.Msg) {
		t.Helper()
		r, err := askErr(addr, name, dns.TypeSOA, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, rr := range append(append([]dns.RR{}, r.Answer...), r.Ns...) {
			if s, ok := rr.(*dns.SOA); ok {
				return s.Serial, r
			}
		}
		return 0, r
	}
	waitUntil(t, other.name+" verifies serial 2", func() error {
		if s, r := soa(other.DNS, g.zone); s != 2 {
			return fmt.Errorf("serial %d: %v", s, r)
		}
		return nil
	})

	restore := append([]string{"ops", "snapshot", "restore", "--yes", "--server", g.members[0].Admin}, opsTLS...)
	out, errOut, err := tryCmd(g.dir, ddnrsBin, append(restore, snap)...)
	if err == nil {
		t.Fatalf("restore to an older serial without the owner's statement succeeded:\n%s%s", out, errOut)
	}
	m := regexp.MustCompile(`rollback-sign --key OWNER.private --zone (\S+) --from (\d+) --to (\d+) --root (\S+)`).FindStringSubmatch(errOut)
	if m == nil || m[1] != g.zone || m[2] != "2" || m[3] != "1" || !strings.Contains(errOut, g.zone+" serial 2 now, 1 in the snapshot") {
		t.Fatalf("refused restore does not name the zone, its serials and the owner's command:\n%s", errOut)
	}
	if s, _ := soa(g.members[1].DNS, g.zone); s != 2 {
		t.Fatalf("after the refused restore %s serves serial %d, want 2 (nothing restored)", g.members[1].name, s)
	}
	stmt := filepath.Join(dir, "rollback")
	runCmd(t, g.dir, ddnrsBin, "zone", "rollback-sign", "--key", g.key, "--zone", m[1], "--from", m[2], "--to", m[3], "--root", m[4], "--out", stmt)
	// A statement for another version is refused as well.
	bad := filepath.Join(dir, "rollback-bad")
	runCmd(t, g.dir, ddnrsBin, "zone", "rollback-sign", "--key", g.key, "--from", "3", "--to", "1", "--root", m[4], "--out", bad)
	if _, errOut, err := tryCmd(g.dir, ddnrsBin, append(restore, "--rollback", bad, snap)...); err == nil {
		t.Fatalf("restore with a statement from serial 3 (the group holds 2) succeeded:\n%s", errOut)
	}
	runCmd(t, g.dir, ddnrsBin, append(restore, "--rollback", stmt, snap)...)

	for _, mb := range g.members {
		waitUntil(t, mb.name+" serves serial 1", func() error {
			if s, r := soa(mb.DNS, g.zone); s != 1 {
				return fmt.Errorf("serial %d: %v", s, r)
			}
			return nil
		})
	}
	// Names the other group's node has not cached: answered at serial 1
	// at once, never SERVFAIL EDE 6.
	for i := range 5 {
		name := fmt.Sprintf("r%d.wild.%s", i, g.zone)
		r, err := askErr(other.DNS, name, dns.TypeTXT, true)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "wild 0") { // the snapshot's version (serial 1)
			t.Fatalf("%s %s after the owner-approved rollback: %v", other.name, name, r)
		}
	}
	// The owner's next serial must go above the one rolled back from.
	if out, err := publish(2); err == nil || !strings.Contains(out, "above 2") {
		t.Errorf("publish of serial 2 after a rollback from 2: %v\n%s", err, out)
	}
	if out, err := publish(3); err != nil {
		t.Fatalf("publish of serial 3 after the rollback: %v\n%s", err, out)
	}
	waitUntil(t, other.name+" verifies serial 3", func() error {
		r, err := askErr(other.DNS, "r9.wild."+g.zone, dns.TypeTXT, true)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "wild 3") {
			return fmt.Errorf("%v %v", r, err)
		}
		return nil
	})
}
