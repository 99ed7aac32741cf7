package ops

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
)

// devGroupRun is a `ddnrs dev` group running in this test process, and
// the --dev flags that reach it.
type devGroupRun struct {
	*devRun
	data string
	info readyInfo
	dev  []string // "--dev", "--data", DATA
}

// startTestGroup runs dev on a fresh data dir and reads its dev.json.
func startTestGroup(t *testing.T) *devGroupRun {
	t.Helper()
	data := t.TempDir()
	d, err := startDev(t, devOptions{Data: data})
	if err != nil {
		t.Fatalf("runDev: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(data, devInfoFile))
	if err != nil {
		t.Fatalf("dev.json: %v", err)
	}
	g := &devGroupRun{devRun: d, data: data, dev: []string{"--dev", "--data", data}}
	if err := json.Unmarshal(b, &g.info); err != nil {
		t.Fatalf("dev.json: %v\n%s", err, b)
	}
	if len(g.info.Members) != devMembers {
		t.Fatalf("dev.json lists %d members, want %d:\n%s", len(g.info.Members), devMembers, b)
	}
	return g
}

// args returns args followed by the --dev flags.
func (g *devGroupRun) args(args ...string) []string {
	return append(append([]string{}, args...), g.dev...)
}

// members runs `ops group members --output json` and decodes it.
func (g *devGroupRun) members(t *testing.T) membersJSON {
	t.Helper()
	r := mustRun(t, g.args("ops", "group", "members", "--output", "json")...)
	var m membersJSON
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("members JSON: %v\n%s", err, r.stdout)
	}
	return m
}

// waitFor polls cond until it holds, failing the test after a generous
// bound. It asserts that something happens, not how fast.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGroupMembersAndStatus(t *testing.T) {
	g := startTestGroup(t)

	// The table as it stands with a leader: on a loaded machine an
	// election can be under way when the command runs, and every row then
	// rightly says "follower ... unknown (no leader)".
	var r result
	waitFor(t, "a members table with a leader", func() bool {
		r = mustRun(t, g.args("ops", "group", "members")...)
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[2] == "leader" {
				return true
			}
		}
		return false
	})
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 1+devMembers {
		t.Fatalf("members table has %d lines, want a header and %d rows:\n%s", len(lines), devMembers, r.stdout)
	}
	for _, col := range []string{"ID", "ADDRESS", "ROLE", "LAST INDEX", "APPLIED", "LAG"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("members header %q lacks %s", lines[0], col)
		}
	}
	leaders := 0
	for _, l := range lines[1:] {
		role := ""
		if f := strings.Fields(l); len(f) > 2 {
			role = f[2] // ID ADDRESS ROLE ...; "trails leader by" is in LAG
		}
		switch {
		case role == "leader":
			leaders++
		case role == "follower":
			if !strings.Contains(l, "up to date") && !strings.Contains(l, "trails leader by") {
				t.Errorf("follower row %q says nothing of its lag", l)
			}
		default:
			t.Errorf("row %q is neither leader nor follower", l)
		}
	}
	if leaders != 1 {
		t.Errorf("members table shows %d leaders, want 1:\n%s", leaders, r.stdout)
	}
	if !strings.Contains(r.stderr, "warning: the group has 3 voters") {
		t.Errorf("members with 3 voters: stderr %q, want the fewer-than-five warning", r.stderr)
	}

	m := g.members(t)
	if m.Voters != 3 || len(m.Members) != 3 || !strings.Contains(m.Warning, "3 voters") {
		t.Errorf("members JSON = %+v, want 3 voters and the warning", m)
	}
	for _, row := range m.Members {
		want := g.info.Members[memberIndex(t, row.ID)]
		if row.Raft != want.Raft || row.Admin != want.Admin || row.DNS != want.DNS || !row.Voter || row.Error != "" || row.AppliedIndex == 0 {
			t.Errorf("member %s = %+v, want voter at raft %s admin %s dns %s with indexes", row.ID, row, want.Raft, want.Admin, want.DNS)
		}
	}

	r = mustRun(t, g.args("ops", "group", "status")...)
	for _, want := range []string{"ID", "node1", "STATE", "TERM", "COMMIT INDEX", "APPLIED INDEX", "LEADER", g.info.Members[0].DNS} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, g.args("ops", "group", "status", "-o", "json")...)
	var s admin.Status
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.ID != "node1" || s.LeaderID == "" || s.Term == 0 || s.AppliedIndex == 0 {
		t.Errorf("status JSON = %+v (%v), want node1 with a leader, term and applied index", s, err)
	}
}

func memberIndex(t *testing.T, id string) int {
	t.Helper()
	for i := 0; i < devMembers; i++ {
		if devMemberID(i) == id {
			return i
		}
	}
	t.Fatalf("unexpected member %q", id)
	return 0
}

func TestGroupTransferJoinRemove(t *testing.T) {
	g := startTestGroup(t)

	// transfer-leader --to a follower moves leadership there.
	var to string
	for _, row := range g.members(t).Members {
		if !row.Leader {
			to = row.ID
		}
	}
	r := mustRun(t, g.args("ops", "group", "transfer-leader", "--to", to)...)
	if !strings.Contains(r.stdout, "leadership transferred") {
		t.Errorf("transfer-leader printed %q", r.stdout)
	}
	waitFor(t, "the new leader "+to, func() bool {
		for _, row := range g.members(t).Members {
			if row.Leader {
				return row.ID == to
			}
		}
		return false
	})

	// Publishing through a follower reads the leader's copy and commits.
	if to != "node1" {
		dir := t.TempDir()
		key, _ := ownerKey(t, dir, "example.")
		zf := writeFile(t, dir, "example.zone", exampleZone)
		r = mustRun(t, g.args("zone", "publish", "--key", key, zf)...)
		writeFile(t, dir, "example.zone", strings.Replace(exampleZone, "192.0.2.80", "192.0.2.81", 1))
		r = mustRun(t, g.args("zone", "publish", "--key", key, zf)...)
		if !strings.Contains(r.stdout, "serial 7 -> 8") {
			t.Errorf("publish through follower node1 printed %q", r.stdout)
		}
	}

	// A fourth node with a certificate from the dev CA joins as a
	// non-voter, receives the zone, and leaves again.
	reader := startReader(t, g.data, "reader1")
	r = mustRun(t, g.args("ops", "group", "join", "reader1", reader.RaftAddr(), "--nonvoter")...)
	if !strings.Contains(r.stdout, "added reader1") || !strings.Contains(r.stdout, "non-voter") {
		t.Errorf("join printed %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "3 voters") {
		t.Errorf("join: stderr %q, want the 3-voter warning (a non-voter adds no vote)", r.stderr)
	}
	waitFor(t, "reader1 to serve the demo zone", func() bool { return reader.Served().Get(demo.Origin) != nil })
	if got := answerA(ask(t, reader.Addr().String(), "udp", "chain."+demo.Origin, dns.TypeA)); len(got) != 1 {
		t.Errorf("reader1 answers chain A with %v, want one address", got)
	}
	waitFor(t, "reader1 in the members table", func() bool {
		for _, row := range g.members(t).Members {
			if row.ID == "reader1" {
				return row.Role == "non-voter" && !row.Voter && row.Error == ""
			}
		}
		return false
	})
	r = mustRun(t, g.args("ops", "group", "members")...)
	if !strings.Contains(r.stdout, "non-voter") {
		t.Errorf("members table does not show the non-voter:\n%s", r.stdout)
	}

	r = mustRun(t, g.args("ops", "group", "remove", "reader1", "-o", "json")...)
	var ch changeJSON
	if err := json.Unmarshal([]byte(r.stdout), &ch); err != nil || ch.Action != "removed" || ch.ID != "reader1" || ch.Voters != 3 {
		t.Errorf("remove JSON = %+v (%v)", ch, err)
	}
	m := g.members(t)
	for _, row := range m.Members {
		if row.ID == "reader1" {
			t.Errorf("reader1 still listed after remove: %+v", m.Members)
		}
	}

	// Errors are typed and hinted: removing an unknown member, joining
	// with a bad address.
	r = ddnrs(t, g.args("ops", "group", "join", "x", "not-an-address")...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "RAFTADDR") {
		t.Errorf("join with a bad address: exit %d, stderr %q", r.code, r.stderr)
	}
}

// startReader starts a node that is no member of any group yet, with a
// certificate from the dev group's CA, on free ports.
func startReader(t *testing.T, data, id string) *node.Node {
	t.Helper()
	caDir := filepath.Join(data, "tls", "ca")
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pki.IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := p.Save(filepath.Join(dir, "tls")); err != nil {
		t.Fatal(err)
	}
	cfg := node.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.DNS, cfg.Admin.Listen, cfg.Metrics.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Group.ID, cfg.Group.RaftBind, cfg.Group.Bootstrap = id, "127.0.0.1:0", false
	cfg.TLS = node.TLSConfig{CA: filepath.Join(caDir, pki.CACertFile), Cert: filepath.Join(dir, "tls", pki.CertFile), Key: filepath.Join(dir, "tls", pki.KeyFile)}
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("close %s: %v", id, err)
		}
	})
	return n
}

func TestZonePublish(t *testing.T) {
	g := startTestGroup(t)
	dir := t.TempDir()
	key, _ := ownerKey(t, dir, "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	publish := func(args ...string) result {
		return ddnrs(t, g.args(append([]string{"zone", "publish", "--key", key}, args...)...)...)
	}

	// Create: the group had no example.
	r := publish(zf)
	if r.code != ExitOK || !strings.Contains(r.stdout, "created example. at serial 7") || !strings.Contains(r.stdout, "raft index") {
		t.Fatalf("first publish: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	waitServed(t, g, "www.example.", "192.0.2.80")

	// Change: re-signed incrementally, serial above the group's.
	writeFile(t, dir, "example.zone", strings.Replace(exampleZone, "192.0.2.80", "192.0.2.81", 1))
	r = publish("-o", "json", zf)
	var pj publishJSON
	if err := json.Unmarshal([]byte(r.stdout), &pj); err != nil || r.code != ExitOK {
		t.Fatalf("second publish: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if pj.Action != "updated" || pj.OldSerial != 7 || pj.Serial != 8 || pj.Index == 0 || pj.Put == 0 {
		t.Errorf("second publish = %+v, want updated 7 -> 8 at an index with RRsets put", pj)
	}
	waitServed(t, g, "www.example.", "192.0.2.81")

	// The same file again: nothing to send.
	r = publish(zf)
	if r.code != ExitOK || !strings.Contains(r.stdout, "unchanged at serial 8") {
		t.Errorf("third publish: exit %d, stdout %q", r.code, r.stdout)
	}

	// Another key for the same zone: refused before anything is sent.
	otherKey, _ := ownerKey(t, t.TempDir(), "example.")
	r = ddnrs(t, g.args("zone", "publish", "--key", otherKey, zf)...)
	if r.code != ExitError || !strings.Contains(r.stderr, "not signed by key") || !strings.Contains(r.stderr, "--rotate-from") {
		t.Errorf("publish with another key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// waitServed waits until every member answers name A with addr.
func waitServed(t *testing.T, g *devGroupRun, name, addr string) {
	t.Helper()
	for _, m := range g.info.Members {
		waitFor(t, m.ID+" to answer "+name+" "+addr, func() bool {
			got := answerA(ask(t, m.DNS, "udp", name, dns.TypeA))
			return len(got) == 1 && got[0] == addr
		})
	}
}

// Two owners (or one, twice) sign changes against the same copy of the
// zone: the first commits, the second is refused as stale, and the
// command line says so with a hint.
func TestZonePublishStaleSerial(t *testing.T) {
	g := startTestGroup(t)
	dir := t.TempDir()
	keyPath, _ := ownerKey(t, dir, "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	mustRun(t, g.args("zone", "publish", "--key", keyPath, zf)...)

	k, err := loadKey(keyPath, true)
	if err != nil {
		t.Fatal(err)
	}
	o := adminOptions{Dev: true, Data: g.data, Timeout: 30 * time.Second}
	if err := o.resolve("key"); err != nil {
		t.Fatal(err)
	}
	c, err := o.client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdle()
	ctx := context.Background()
	plan := func(addr string) *publishPlan {
		t.Helper()
		u, err := readZone(writeFile(t, dir, "edit.zone", strings.Replace(exampleZone, "192.0.2.80", addr, 1)), "example.", k)
		if err != nil {
			t.Fatal(err)
		}
		p, err := planPublish(ctx, c, o.Server, u, k, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first, second := plan("192.0.2.1"), plan("192.0.2.2")
	if first.New.Serial() != 8 || second.New.Serial() != 8 {
		t.Fatalf("plans at serials %d and %d, want both 8", first.New.Serial(), second.New.Serial())
	}
	if _, err := submitPublish(ctx, c, o.Server, first); err != nil {
		t.Fatalf("first change: %v", err)
	}
	_, err = submitPublish(ctx, c, o.Server, second)
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Code != admin.CodeRejected || ae.Reason != "stale-serial" {
		t.Fatalf("second change = %v, want rejected stale-serial", err)
	}
	var buf bytes.Buffer
	printError(&buf, nil, err)
	for _, want := range []string{"error: the group rejected the change to example. (serial 8): rejected (stale-serial)", "hint:", "run the command again"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("printed error lacks %q:\n%s", want, buf.String())
		}
	}
	if exitCode(err) != ExitError {
		t.Errorf("exit code for a rejection = %d, want %d", exitCode(err), ExitError)
	}
	waitServed(t, g, "www.example.", "192.0.2.1")
}

func TestSnapshotSaveRestore(t *testing.T) {
	g := startTestGroup(t)
	dir := t.TempDir()
	key, _ := ownerKey(t, dir, "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	mustRun(t, g.args("zone", "publish", "--key", key, zf)...)
	waitServed(t, g, "www.example.", "192.0.2.80")

	snap := filepath.Join(dir, "backup.snap")
	r := mustRun(t, g.args("ops", "snapshot", "save", snap)...)
	if !strings.Contains(r.stdout, "saved a snapshot") {
		t.Errorf("save printed %q", r.stdout)
	}
	b, err := os.ReadFile(snap)
	if err != nil || !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		t.Fatalf("snapshot file: %v, starts %q", err, b[:min(len(b), 8)])
	}
	r = ddnrs(t, g.args("ops", "snapshot", "save", snap)...)
	if r.code != ExitError || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("save over an existing file: exit %d, stderr %q", r.code, r.stderr)
	}

	// Change the zone, then restore: the group is back at serial 7.
	writeFile(t, dir, "example.zone", strings.Replace(exampleZone, "192.0.2.80", "192.0.2.81", 1))
	mustRun(t, g.args("zone", "publish", "--key", key, zf)...)
	waitServed(t, g, "www.example.", "192.0.2.81")

	r = ddnrs(t, g.args("ops", "snapshot", "restore", snap)...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("restore without --yes: exit %d, stderr %q", r.code, r.stderr)
	}
	junk := writeFile(t, dir, "junk.snap", "not a snapshot at all")
	r = ddnrs(t, g.args("ops", "snapshot", "restore", "--yes", junk)...)
	if r.code != ExitError || !strings.Contains(r.stderr, "not a DDNRS snapshot") {
		t.Errorf("restore of junk: exit %d, stderr %q", r.code, r.stderr)
	}
	// The snapshot moves the zone back from 8 to 7: refused without the
	// owner's statement, which the refusal says how to make.
	r = ddnrs(t, g.args("ops", "snapshot", "restore", "--yes", snap)...)
	m := regexp.MustCompile(`rollback-sign --key OWNER.private --zone example. --from 8 --to 7 --root (\S+)`).FindStringSubmatch(r.stderr)
	if r.code != ExitError || m == nil {
		t.Fatalf("restore to an older serial without a statement: exit %d, stderr %q", r.code, r.stderr)
	}
	stmt := filepath.Join(dir, "example.rollback")
	mustRun(t, "zone", "rollback-sign", "--key", key, "--zone", "example.", "--from", "8", "--to", "7", "--root", m[1], "--out", stmt)
	r = mustRun(t, g.args("ops", "snapshot", "restore", "--yes", "--rollback", stmt, snap)...)
	if !strings.Contains(r.stdout, "restored the group from "+snap) {
		t.Errorf("restore printed %q", r.stdout)
	}
	waitServed(t, g, "www.example.", "192.0.2.80")
	for _, m := range g.info.Members {
		q := ask(t, m.DNS, "udp", "example.", dns.TypeSOA)
		var serial uint32
		if len(q.Answer) > 0 {
			if soa, ok := q.Answer[0].(*dns.SOA); ok {
				serial = soa.Serial
			}
		}
		if serial != 7 {
			t.Errorf("%s SOA after restore = %v, want serial 7", m.ID, q.Answer)
		}
	}
	// Publishing goes on from the restored state, above the serial
	// rolled back from (8): serial 8 again is refused.
	r = ddnrs(t, g.args("zone", "publish", "--key", key, zf)...)
	if r.code != ExitError || !strings.Contains(r.stderr, "above 8") {
		t.Errorf("publish of serial 8 after the rollback from 8: exit %d, stderr %q", r.code, r.stderr)
	}
	writeFile(t, dir, "example.zone", strings.Replace(strings.Replace(exampleZone, "192.0.2.80", "192.0.2.81", 1), "hostmaster 7 ", "hostmaster 9 ", 1))
	r = mustRun(t, g.args("zone", "publish", "--key", key, zf)...)
	if !strings.Contains(r.stdout, "serial 7 -> 9") {
		t.Errorf("publish after restore printed %q, want 7 -> 9", r.stdout)
	}
}

func TestAdminFlagErrors(t *testing.T) {
	tests := []struct {
		desc string
		args []string
		code ExitCode
		want string
	}{
		{"no endpoint", []string{"ops", "group", "members"}, ExitUsage, "--dev"},
		{"bad output", []string{"ops", "group", "status", "--output", "yaml"}, ExitUsage, "table or json"},
		{"data without dev", []string{"ops", "group", "members", "--data", "/nonexistent"}, ExitUsage, "--dev"},
		{"no dev running", []string{"ops", "group", "members", "--dev", "--data", filepath.Join(t.TempDir(), "none")}, ExitError, "ddnrs dev --data"},
		{"missing CA file", []string{"ops", "group", "members", "--server", "127.0.0.1:1", "--ca", "/nonexistent/ca.crt", "--cert", "x", "--key", "y"}, ExitError, "--ca"},
		{"publish without key", []string{"zone", "publish", "--dev", "x.zone"}, ExitUsage, "--key"},
		{"join args", []string{"ops", "group", "join", "onlyid", "--dev"}, ExitUsage, "RAFTADDR"},
	}
	for _, tt := range tests {
		r := ddnrs(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tt.desc, r.code, r.stderr, tt.code, tt.want)
		}
	}
}

func TestGroupBootstrap(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cluster")
	r := mustRun(t, "ops", "group", "bootstrap", "--out", out, "--members", "4", "--nonvoters", "1", "--ip", "127.0.0.1", "-o", "json")
	var res bootstrapJSON
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bootstrap JSON: %v\n%s", err, r.stdout)
	}
	if len(res.Members) != 4 || !strings.Contains(r.stderr, "3 voters") {
		t.Fatalf("bootstrap = %+v, stderr %q; want 4 members and the 3-voter warning", res, r.stderr)
	}
	pool, err := pki.LoadCAPool(res.CA)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range res.Members {
		cfg, err := node.LoadConfig(m.Config)
		if err != nil {
			t.Errorf("%s: %v", m.Config, err)
			continue
		}
		if cfg.Group.ID != m.ID || cfg.Group.Bootstrap != (i == 0) || cfg.DNS != m.DNS || cfg.Admin.Listen != m.Admin || cfg.Group.NonVoter != (i == 3) || (i > 0) != (len(cfg.Group.Join) > 0) {
			t.Errorf("%s = %+v, want member %s (bootstrap only for the first, non-voter only for the last)", m.Config, cfg, m.ID)
		}
		p, err := pki.LoadPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			t.Errorf("%s cert: %v", m.ID, err)
			continue
		}
		if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s cert does not verify against the CA: %v", m.ID, err)
		}
	}
	if r := ddnrs(t, "ops", "group", "bootstrap", "--out", out); r.code != ExitError || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second bootstrap into %s: exit %d, stderr %q; want a refusal", out, r.code, r.stderr)
	}
	if r := ddnrs(t, "ops", "group", "bootstrap", "--out", t.TempDir(), "--members", "3", "--ip", "127.0.0.1,127.0.0.2"); r.code != ExitUsage {
		t.Errorf("bootstrap with 2 IPs for 3 members: exit %d, want usage", r.code)
	}
}

func TestVoterWarning(t *testing.T) {
	for _, tt := range []struct {
		voters int
		want   string
	}{
		{1, "survives the loss of 0"},
		{3, "3 voters and survives the loss of 1"},
		{4, "4 voters and survives the loss of 1"},
		{5, ""},
		{6, "even number of voters (6)"},
		{7, ""},
	} {
		got := voterWarning(tt.voters)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("voterWarning(%d) = %q, want %q", tt.voters, got, tt.want)
		}
	}
}

func TestLag(t *testing.T) {
	for _, tt := range []struct {
		m    admin.MemberStatus
		want string
	}{
		{admin.MemberStatus{Leader: true, Voter: true}, "-"},
		{admin.MemberStatus{Voter: true, Trails: 0}, "up to date"},
		{admin.MemberStatus{Voter: true, Trails: 1}, "trails leader by 1 entry"},
		{admin.MemberStatus{Trails: 3}, "trails leader by 3 entries"},
		{admin.MemberStatus{Trails: -1}, "unknown (no leader)"},
		{admin.MemberStatus{Trails: -1, Error: "unreachable"}, "unknown: unreachable"},
	} {
		if got := lag(memberRow{MemberStatus: tt.m}); got != tt.want {
			t.Errorf("lag(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// The owner hands the zone to a new key: the old key signs the hand-over,
// the group then accepts changes only from the new key.
func TestZonePublishRotate(t *testing.T) {
	g := startTestGroup(t)
	dir := t.TempDir()
	oldKey, _ := ownerKey(t, dir, "example.")
	newKey, nk := ownerKey(t, t.TempDir(), "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	mustRun(t, g.args("zone", "publish", "--key", oldKey, zf)...)

	r := mustRun(t, g.args("zone", "publish", "--key", newKey, "--rotate-from", oldKey, zf)...)
	if !strings.Contains(r.stdout, "rotated") || !strings.Contains(r.stdout, "serial 7 -> 8") {
		t.Errorf("rotation printed %q", r.stdout)
	}
	waitFor(t, "every member to serve the new DNSKEY", func() bool {
		for _, m := range g.info.Members {
			q := ask(t, m.DNS, "udp", "example.", dns.TypeDNSKEY)
			found := false
			for _, rr := range q.Answer {
				if dk, ok := rr.(*dns.DNSKEY); ok && dk.PublicKey == nk.DNSKEY.PublicKey {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	})
	writeFile(t, dir, "example.zone", strings.Replace(exampleZone, "192.0.2.80", "192.0.2.82", 1))
	r = ddnrs(t, g.args("zone", "publish", "--key", oldKey, zf)...)
	if r.code != ExitError || !strings.Contains(r.stderr, "not signed by key") {
		t.Errorf("publish with the retired key: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, g.args("zone", "publish", "--key", newKey, zf)...)
	waitServed(t, g, "www.example.", "192.0.2.82")
}

// Every stable error code of the admin API gets its own hint.
func TestAdminErrHints(t *testing.T) {
	tests := []struct {
		err  *admin.APIError
		want string
	}{
		{&admin.APIError{Code: admin.CodeNoQuorum, Message: "x"}, "majority of the voters"},
		{&admin.APIError{Code: admin.CodeNoLeader, Message: "x"}, "no leader"},
		{&admin.APIError{Code: admin.CodeNotLeader, Message: "x", LeaderID: "node2", LeaderAdmin: "127.0.0.1:9"}, "--server 127.0.0.1:9"},
		{&admin.APIError{Code: admin.CodeRejected, Reason: "stale-serial", Message: "x"}, "run the command again"},
		{&admin.APIError{Code: admin.CodeRejected, Reason: "wrong-key", Message: "x"}, "another owner key"},
		{&admin.APIError{Code: admin.CodeRejected, Reason: "bad-signature", Message: "x"}, "did not verify"},
		{&admin.APIError{Code: admin.CodeNotFound, Message: "x"}, "no such zone"},
		{&admin.APIError{Code: admin.CodeUnavailable, Message: "x"}, "starting or stopping"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		printError(&buf, nil, adminErr(tt.err, "127.0.0.1:1"))
		if !strings.Contains(buf.String(), "hint: ") || !strings.Contains(buf.String(), tt.want) {
			t.Errorf("%s/%s printed %q, want a hint with %q", tt.err.Code, tt.err.Reason, buf.String(), tt.want)
		}
	}
}

func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	pw := &progressWriter{w: &bytes.Buffer{}, out: &out, label: "received"}
	chunk := make([]byte, 1<<20)
	for i := 0; i < 40; i++ {
		pw.Write(chunk)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != "snapshot: 16.0 MiB received" || lines[1] != "snapshot: 32.0 MiB received" {
		t.Errorf("progress for 40 MiB = %q, want lines at 16 and 32 MiB", lines)
	}
	out.Reset()
	pr := &progressReader{r: bytes.NewReader(make([]byte, 1000)), out: &out, label: "sent"}
	if _, err := io.Copy(io.Discard, pr); err != nil || out.Len() != 0 || pr.n != 1000 {
		t.Errorf("small read: %v, %d bytes counted, progress %q; want no progress line", err, pr.n, out.String())
	}
}

// With two of three members stopped, a publish fails with the typed
// no-quorum (or no-leader, once the leader stepped down) error and its
// hint, and the survivor still answers DNS from its copy.
func TestZonePublishWithoutQuorum(t *testing.T) {
	data := t.TempDir()
	tf, err := devTLS(data)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g, err := startDevGroup(ctx, &devOptions{DNS: "127.0.0.1:0", out: io.Discard, log: slog.New(slog.DiscardHandler)}, data, tf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.close(cctx)
	})
	m1 := g.members[0].n
	tls := []string{"--server", m1.AdminAddr(), "--ca", tf.CA, "--cert", tf.Ops.Cert, "--key", tf.Ops.Key}
	dir := t.TempDir()
	key, _ := ownerKey(t, dir, "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	pub := func() result {
		return ddnrs(t, append([]string{"zone", "publish", "--server", m1.AdminAddr(), "--ca", tf.CA, "--cert", tf.Ops.Cert, "--tls-key", tf.Ops.Key, "--key", key}, zf)...)
	}
	if r := pub(); r.code != ExitOK {
		t.Fatalf("publish to the whole group: exit %d\n%s", r.code, r.stderr)
	}
	waitFor(t, "node1 to serve example.", func() bool { return m1.Served().Get("example.") != nil })

	// Move leadership to node1, then stop the others.
	mustRun(t, append([]string{"ops", "group", "transfer-leader", "--to", "node1"}, tls...)...)
	for _, m := range g.members[1:] {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.n.Close(cctx); err != nil {
			t.Errorf("close %s: %v", m.id, err)
		}
		cancel()
	}
	writeFile(t, dir, "example.zone", strings.Replace(exampleZone, "192.0.2.80", "192.0.2.81", 1))
	r := pub()
	quorum := strings.Contains(r.stderr, "no_quorum") && strings.Contains(r.stderr, "majority of the voters")
	leader := strings.Contains(r.stderr, "no_leader") && strings.Contains(r.stderr, "has no leader")
	if r.code != ExitError || !quorum && !leader {
		t.Errorf("publish without a quorum: exit %d, stderr %q; want no_quorum or no_leader with its hint", r.code, r.stderr)
	}
	if got := answerA(ask(t, m1.Addr().String(), "udp", "www.example.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.80" {
		t.Errorf("node1 alone answers www.example. A = %v, want its copy's [192.0.2.80]", got)
	}
}

func TestGroupCommandsHelp(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"ops", "group"}, []string{"bootstrap", "members", "status", "join", "remove", "transfer-leader"}},
		{[]string{"ops", "group", "members"}, []string{"--server", "--ca", "--cert", "--key", "--dev", "--output", "Examples:"}},
		{[]string{"ops", "group", "join"}, []string{"--nonvoter", "RAFTADDR", "Examples:"}},
		{[]string{"ops", "group", "transfer-leader"}, []string{"--to", "Examples:"}},
		{[]string{"ops", "group", "bootstrap"}, []string{"--out", "--members", "--nonvoters", "--ip", "--ca", "--name", "--region", "--overlay", "--overlay-port", "--bootstrap-peer", "--registry", "--registry-urls", "--registry-admin", "--log-verifier", "--api-port", "registry and two regions", "Examples:"}},
		{[]string{"ops", "snapshot", "save"}, []string{"FILE", "--dev", "Examples:"}},
		{[]string{"ops", "snapshot", "restore"}, []string{"--yes", "Examples:"}},
		{[]string{"zone", "publish"}, []string{"--key", "--tls-key", "--rotate-from", "--server", "Examples:"}},
	} {
		r := mustRun(t, append(tt.args, "--help")...)
		for _, w := range tt.wants {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("ddnrs %s --help lacks %q", strings.Join(tt.args, " "), w)
			}
		}
	}
}
