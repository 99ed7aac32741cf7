package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// waitLimit bounds every wait in these tests for a condition that Raft
// reaches asynchronously (an election, replication). It is a safety net
// for a hung test, not a speed assertion.
const waitLimit = 20 * time.Second

// testPKI is a cluster CA in a temp dir that issues node certificates.
type testPKI struct {
	dir string
	ca  *pki.CA
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := pki.NewCA("test cluster")
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	dir := t.TempDir()
	if err := ca.Save(dir); err != nil {
		t.Fatalf("CA Save: %v", err)
	}
	return &testPKI{dir: dir, ca: ca}
}

// issue writes a certificate for id (127.0.0.1) and returns the [tls]
// configuration naming it.
func (p *testPKI) issue(t testing.TB, id string) TLSConfig {
	t.Helper()
	pair, err := pki.IssueNode(p.ca, id, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatalf("IssueNode: %v", err)
	}
	dir := filepath.Join(p.dir, id)
	if err := pair.Save(dir); err != nil {
		t.Fatalf("pair Save: %v", err)
	}
	return TLSConfig{CA: filepath.Join(p.dir, pki.CACertFile), Cert: filepath.Join(dir, pki.CertFile), Key: filepath.Join(dir, pki.KeyFile)}
}

// client returns an admin client with a certificate for id.
func (p *testPKI) client(t testing.TB, id string) *admin.Client {
	t.Helper()
	c := p.issue(t, id)
	pair, err := pki.LoadPair(c.Cert, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.LoadCAPool(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	tc := pki.ClientTLS(pair, pool)
	ac := admin.NewClient(tc)
	t.Cleanup(ac.CloseIdle)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	t.Cleanup(hc.CloseIdleConnections)
	rawClients.Store(ac, hc)
	return ac
}

// rawClients holds, for each admin client p.client made, a plain HTTP
// client with the same certificate, for requests the admin client does
// not make (getRaw, postRaw).
var rawClients sync.Map // *admin.Client -> *http.Client

// groupConfig is a node configuration on 127.0.0.1 with free ports.
func groupConfig(t testing.TB, p *testPKI, id string) Config {
	t.Helper()
	c := Default()
	c.DataDir = t.TempDir()
	c.DNS = "127.0.0.1:0"
	c.TCPIdleTimeout = time.Second
	c.Group.ID = id
	c.Group.RaftBind = "127.0.0.1:0"
	c.Admin.Listen = "127.0.0.1:0"
	c.Metrics.Listen = "127.0.0.1:0"
	if p != nil {
		c.TLS = p.issue(t, id)
	}
	return c
}

// runNode starts a node with cfg and closes it at cleanup.
func runNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	log := testLogger(t).With("node", cfg.Group.ID)
	if _, ok := t.(*testing.B); ok {
		log = nil // benchmarks: logs would dominate
	}
	n, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Group.ID, err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("Start(%s): %v", cfg.Group.ID, err)
	}
	t.Cleanup(func() { closeNode(t, n) })
	return n
}

func closeNode(t testing.TB, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("Close(%s): %v", n.ID(), err)
	}
}

// waitFor polls cond until it returns nil, failing the test with its last
// error after waitLimit.
func waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startGroup starts size nodes: the first bootstraps, the others join
// through it. It returns once every member is in the configuration and
// every node has announced its addresses.
func startGroup(t testing.TB, size int) ([]*Node, *testPKI) {
	t.Helper()
	p := newTestPKI(t)
	nodes := []*Node{runNode(t, groupConfig(t, p, "n1"))}
	for i := 2; i <= size; i++ {
		cfg := groupConfig(t, p, fmt.Sprintf("n%d", i))
		cfg.Group.Bootstrap = false
		cfg.Group.Join = []string{nodes[0].AdminAddr()}
		nodes = append(nodes, runNode(t, cfg))
	}
	for _, n := range nodes {
		waitFor(t, "members known to "+n.ID(), func() error {
			for _, m := range nodes {
				a, ok := n.lookupMember(m.ID())
				if !ok || a.Admin != m.AdminAddr() {
					return fmt.Errorf("%s does not know %s's admin address yet", n.ID(), m.ID())
				}
			}
			return n.Ready()
		})
	}
	return nodes, p
}

// leaderOf returns the node that leads, and the others.
func leaderOf(t testing.TB, nodes []*Node) (*Node, []*Node) {
	t.Helper()
	var leader *Node
	var others []*Node
	waitFor(t, "a leader", func() error {
		leader, others = nil, nil
		for _, n := range nodes {
			if id, _ := n.group.Leader(); id == n.ID() {
				leader = n
			} else {
				others = append(others, n)
			}
		}
		if leader == nil {
			return errors.New("no node leads")
		}
		return nil
	})
	return leader, others
}

// demoCommand signs the demo zone with a fresh key and returns the zone,
// its key and the CreateZone command.
func demoCommand(t testing.TB) (*zone.Zone, *zone.Key, []byte) {
	t.Helper()
	k, err := zone.GenerateKey(demo.Origin, true, rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	u, err := demo.Zone()
	if err != nil {
		t.Fatalf("DemoZone: %v", err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	cmd, err := raftfsm.ChangeCommand(nil, z, k)
	if err != nil {
		t.Fatalf("ChangeCommand: %v", err)
	}
	return z, k, cmd
}

// demoWith returns the demo zone with record rr (presentation form)
// added, signed by k as the next version after base (nil: a first one).
func demoWith(t testing.TB, base *zone.Zone, k *zone.Key, rr string) *zone.Zone {
	t.Helper()
	u, err := demo.Zone()
	if err != nil {
		t.Fatalf("DemoZone: %v", err)
	}
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatalf("record %q: %v", rr, err)
	}
	if u, err = zone.New(demo.Origin, append(u.Records(), r)); err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(base, u, k, time.Now())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return z
}

// dnsAnswer asks n for name/qtype over UDP and returns the answer's
// fields joined, or an error.
func dnsSOASerial(n *Node, origin string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(origin, dns.TypeSOA)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, n.Addr().String())
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0, fmt.Errorf("SOA %s from %s: rcode %s, %d answers", origin, n.ID(), dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return r.Answer[0].(*dns.SOA).Serial, nil
}

func TestGroupWriteViaFollowerIsForwardedAndServedEverywhere(t *testing.T) {
	nodes, p := startGroup(t, 3)
	_, followers := leaderOf(t, nodes)
	ac := p.client(t, "operator")
	z, _, cmd := demoCommand(t)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	res, err := ac.SubmitChange(ctx, followers[0].AdminAddr(), demo.Origin, cmd)
	if err != nil {
		t.Fatalf("SubmitChange via follower %s: %v", followers[0].ID(), err)
	}
	if res.Serial != z.Serial() || res.Index == 0 {
		t.Errorf("SubmitChange = %+v, want serial %d and a log index", res, z.Serial())
	}
	for _, n := range nodes {
		waitFor(t, "zone on "+n.ID(), func() error {
			s, err := dnsSOASerial(n, demo.Origin)
			if err == nil && s != z.Serial() {
				err = fmt.Errorf("serial %d, want %d", s, z.Serial())
			}
			return err
		})
	}
	// The export endpoint of any member gives the signed zone back.
	ex, err := ac.Zone(ctx, followers[1].AdminAddr(), "DEMO.ddnrs")
	if err != nil {
		t.Fatalf("Zone export: %v", err)
	}
	if ex.Serial != z.Serial() || ex.Head != string(z.Head.Note) {
		t.Errorf("export = serial %d head %q, want serial %d and the published head", ex.Serial, ex.Head, z.Serial())
	}
	got, err := zone.ParseFile(strings.NewReader(ex.ZoneFile), demo.Origin, "export")
	if err != nil || got.Len() != z.Len() {
		t.Errorf("exported zone file parses to %v names (%v), want %d", got, err, z.Len())
	}

	// Members: three, one leader, every one caught up. An election can
	// be running when we ask (the CI machine is loaded, timeouts are
	// 300 ms): then no row is the leader and lags are unknown, which is
	// the right answer at that moment, so ask until the group has settled.
	waitFor(t, "members: three voters, one leader, lags known", func() error {
		rows, err := ac.Members(ctx, followers[0].AdminAddr())
		if err != nil {
			return fmt.Errorf("Members: %w", err)
		}
		leaders := 0
		for _, r := range rows {
			if r.Leader {
				leaders++
			}
			if !r.Voter || r.Admin == "" || r.DNS == "" || r.Error != "" || r.Trails < 0 {
				return fmt.Errorf("member row %+v, want a voter with addresses and a known lag", r)
			}
		}
		if len(rows) != 3 || leaders != 1 {
			return fmt.Errorf("Members = %+v, want 3 rows and 1 leader", rows)
		}
		return nil
	})
}

func TestGroupWithoutQuorumStillAnswersDNS(t *testing.T) {
	nodes, p := startGroup(t, 3)
	z, _, cmd := demoCommand(t)
	ac := p.client(t, "operator")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := ac.SubmitChange(ctx, nodes[0].AdminAddr(), demo.Origin, cmd); err != nil {
		t.Fatalf("SubmitChange: %v", err)
	}
	survivor := nodes[2]
	waitFor(t, "zone on the survivor", func() error { _, err := dnsSOASerial(survivor, demo.Origin); return err })

	closeNode(t, nodes[0])
	closeNode(t, nodes[1])

	// Readiness goes off: no leader without a majority.
	waitFor(t, "readyz 503 on the survivor", func() error {
		code, err := getStatus(ctx, ac, survivor.AdminAddr(), "/readyz")
		if err == nil && code != http.StatusServiceUnavailable {
			err = fmt.Errorf("readyz = %d", code)
		}
		return err
	})
	// DNS still answers from the local replica.
	if s, err := dnsSOASerial(survivor, demo.Origin); err != nil || s != z.Serial() {
		t.Errorf("survivor SOA = %d, %v, want %d", s, err, z.Serial())
	}
	// A write fails with a typed error in bounded time.
	next, _, cmd2 := demoCommand(t)
	_ = next
	_, err := ac.SubmitChange(ctx, survivor.AdminAddr(), demo.Origin, cmd2)
	var ae *admin.APIError
	if !errors.As(err, &ae) || (ae.Code != admin.CodeNoLeader && ae.Code != admin.CodeNoQuorum) {
		t.Errorf("write without quorum = %v, want no_leader or no_quorum", err)
	}
	if !errors.Is(err, raftfsm.ErrNoLeader) && !errors.Is(err, raftfsm.ErrNoQuorum) {
		t.Errorf("errors.Is(write without quorum, ErrNoLeader|ErrNoQuorum) = false for %v", err)
	}
}

// getStatus GETs path on the admin endpoint and returns the status code.
func getStatus(ctx context.Context, ac *admin.Client, addr, path string) (int, error) {
	body, code, err := getRaw(ctx, ac, addr, path)
	_ = body
	return code, err
}

func getRaw(ctx context.Context, ac *admin.Client, addr, path string) ([]byte, int, error) {
	return rawDo(ctx, ac, http.MethodGet, addr, path, nil)
}

func rawDo(ctx context.Context, ac *admin.Client, method, addr, path string, body []byte) ([]byte, int, error) {
	hc, ok := rawClients.Load(ac)
	if !ok {
		return nil, 0, errors.New("admin client not made by testPKI.client")
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.(*http.Client).Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// postRaw posts body to path and returns the endpoint's *admin.APIError
// for a failed request.
func postRaw(ctx context.Context, ac *admin.Client, addr, path string, body []byte) error {
	b, status, err := rawDo(ctx, ac, http.MethodPost, addr, path, body)
	if err != nil || status/100 == 2 {
		return err
	}
	ae := &admin.APIError{}
	if err := json.Unmarshal(b, ae); err != nil {
		return fmt.Errorf("HTTP %d: %s", status, b)
	}
	ae.Status = status
	return ae
}

func TestAdminErrorsAndMetrics(t *testing.T) {
	nodes, p := startGroup(t, 1)
	n := nodes[0]
	ac := p.client(t, "operator")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	z, k, cmd := demoCommand(t)
	if _, err := ac.SubmitChange(ctx, n.AdminAddr(), demo.Origin, cmd); err != nil {
		t.Fatalf("SubmitChange: %v", err)
	}
	// The same creation again: a repeat, answered as done.
	if res, err := ac.SubmitChange(ctx, n.AdminAddr(), demo.Origin, cmd); err != nil || !res.Repeat || res.Index != 0 || res.Serial != z.Serial() {
		t.Errorf("create again = %+v, %v; want a repeat at serial %d", res, err, z.Serial())
	}
	// A creation of the zone under another key: refused by the state
	// machine (zone-exists).
	_, _, other := demoCommand(t)
	_, errAgain := ac.SubmitChange(ctx, n.AdminAddr(), demo.Origin, other)
	// A newer version, then a change from it back to the first: stale.
	z2 := demoWith(t, z, k, "newer."+demo.Origin+" 300 IN TXT \"v2\"")
	next, err := raftfsm.ChangeCommand(z, z2, k)
	if err != nil {
		t.Fatalf("ChangeCommand: %v", err)
	}
	if _, err := ac.SubmitChange(ctx, n.AdminAddr(), demo.Origin, next); err != nil {
		t.Fatalf("newer change: %v", err)
	}
	stale, err := raftfsm.ChangeCommand(z2, z, k)
	if err != nil {
		t.Fatalf("ChangeCommand: %v", err)
	}
	_, errStale := ac.SubmitChange(ctx, n.AdminAddr(), demo.Origin, stale)

	tests := []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"create under another key", errAgain, admin.CodeRejected, http.StatusUnprocessableEntity},
		{"older serial", errStale, admin.CodeRejected, http.StatusUnprocessableEntity},
		{"empty command", postRaw(ctx, ac, n.AdminAddr(), "/v1/zones/demo.ddnrs./changes", nil), admin.CodeBadRequest, http.StatusBadRequest},
		{"bad zone name", postRaw(ctx, ac, n.AdminAddr(), "/v1/zones/a..b/changes", []byte{1}), admin.CodeBadRequest, http.StatusBadRequest},
		{"garbage command", postRaw(ctx, ac, n.AdminAddr(), "/v1/zones/demo.ddnrs./changes", []byte{0x42, 9, 9}), admin.CodeRejected, http.StatusUnprocessableEntity},
		{"bad join", postRaw(ctx, ac, n.AdminAddr(), "/v1/group/join", []byte(`{"id":""}`)), admin.CodeBadRequest, http.StatusBadRequest},
		{"join not json", postRaw(ctx, ac, n.AdminAddr(), "/v1/group/join", []byte(`{`)), admin.CodeBadRequest, http.StatusBadRequest},
		{"no such zone", func() error { _, err := ac.Zone(ctx, n.AdminAddr(), "nope.example."); return err }(), admin.CodeNotFound, http.StatusNotFound},
	}
	for _, tt := range tests {
		var ae *admin.APIError
		if !errors.As(tt.err, &ae) || ae.Code != tt.code || ae.Status != tt.status {
			t.Errorf("%s: error = %v (%+v), want code %s status %d", tt.name, tt.err, ae, tt.code, tt.status)
		}
	}
	var ae *admin.APIError
	if errors.As(errStale, &ae) && ae.Reason == "" {
		t.Errorf("rejected change has no reason: %+v", ae)
	}

	// Metrics: Raft gauges, apply latency, rejections by reason.
	body, code, err := getRaw(ctx, ac, n.AdminAddr(), "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", code, err)
	}
	for _, want := range []string{
		`ddnrs_raft_state{state="Leader"} 1`,
		`ddnrs_raft_state{state="Follower"} 0`,
		"ddnrs_raft_term ",
		"ddnrs_raft_commit_index ",
		"ddnrs_raft_applied_index ",
		"ddnrs_raft_lag_entries ",
		"ddnrs_raft_has_leader 1",
		"ddnrs_raft_apply_seconds_count ",
		`ddnrs_raft_rejected_changes_total{reason=`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/group/status": 200} {
		if code, err := getStatus(ctx, ac, n.AdminAddr(), path); err != nil || code != want {
			t.Errorf("GET %s = %d, %v, want %d", path, code, err, want)
		}
	}
	st, err := ac.Status(ctx, n.AdminAddr())
	if err != nil || st.State != "Leader" || st.LeaderID != "n1" || st.AppliedIndex == 0 || !st.Ready || st.Zones != 1 {
		t.Errorf("Status = %+v, %v, want the ready leader n1 with one zone", st, err)
	}
}

func TestAdminRequiresClientCertificate(t *testing.T) {
	nodes, p := startGroup(t, 1)
	addr := nodes[0].AdminAddr()
	pool, err := pki.LoadCAPool(filepath.Join(p.dir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	other := newTestPKI(t) // a certificate from another CA
	tests := []struct {
		name string
		tc   *tls.Config
	}{
		{"no client certificate", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}},
		{"certificate from another CA", func() *tls.Config {
			c := other.issue(t, "intruder")
			pair, err := pki.LoadPair(c.Cert, c.Key)
			if err != nil {
				t.Fatal(err)
			}
			return pki.ClientTLS(pair, pool)
		}()},
	}
	for _, tt := range tests {
		ac := admin.NewClient(tt.tc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := ac.Status(ctx, addr)
		cancel()
		ac.CloseIdle()
		if !errors.Is(err, admin.ErrUnavailable) {
			t.Errorf("%s: Status = %v, want a refused TLS handshake", tt.name, err)
		}
	}
}

func TestReadyFlips(t *testing.T) {
	cfg := groupConfig(t, nil, "solo") // private CA made in the data dir
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Ready before Start = %v, want ErrNotRunning", err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitFor(t, "ready", n.Ready)
	closeNode(t, n)
	if err := n.Ready(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Ready after Close = %v, want ErrNotRunning", err)
	}
}

func TestSnapshotSaveAndRestore(t *testing.T) {
	nodes, p := startGroup(t, 3)
	leader, followers := leaderOf(t, nodes)
	ac := p.client(t, "operator")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	z, k, cmd := demoCommand(t)
	if _, err := ac.SubmitChange(ctx, leader.AdminAddr(), demo.Origin, cmd); err != nil {
		t.Fatalf("SubmitChange: %v", err)
	}
	f := followers[0]
	waitFor(t, "zone on "+f.ID(), func() error { _, err := dnsSOASerial(f, demo.Origin); return err })
	var snap bytes.Buffer
	if err := ac.Snapshot(ctx, f.AdminAddr(), &snap); err != nil {
		t.Fatalf("Snapshot from follower: %v", err)
	}
	if !bytes.HasPrefix(snap.Bytes(), []byte("DDNRSSNP")) {
		t.Fatalf("snapshot starts %q, want the DDNRSSNP magic", snap.Bytes()[:min(8, snap.Len())])
	}

	// A newer serial, then restore the snapshot: the group goes back.
	z2 := demoWith(t, z, k, "restored-away.demo.ddnrs. 300 IN A 192.0.2.7")
	cmd2, err := raftfsm.ChangeCommand(z, z2, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.SubmitChange(ctx, f.AdminAddr(), demo.Origin, cmd2); err != nil {
		t.Fatalf("SubmitChange(newer serial): %v", err)
	}

	// Restore on a follower: not_leader, naming the leader's admin
	// endpoint. A loaded machine can move the leadership meanwhile: the
	// leader is found again before each step, and a restore that met an
	// election (not_leader, no_quorum) is sent again, as `ddnrs ops
	// snapshot restore` does.
	leader, followers = leaderOf(t, nodes)
	f = followers[0]
	err = ac.Restore(ctx, f.AdminAddr(), bytes.NewReader(snap.Bytes()))
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Code != admin.CodeNotLeader || ae.LeaderAdmin == "" {
		t.Fatalf("Restore on a follower = %v, want not_leader naming the leader", err)
	}
	// A damaged snapshot: refused, nothing changes.
	bad := bytes.Clone(snap.Bytes())
	bad[len(bad)/2] ^= 0xff
	if err := ac.Restore(ctx, ae.LeaderAdmin, bytes.NewReader(bad)); admin.ErrorOf(err).Code != admin.CodeBadRequest {
		t.Errorf("Restore(damaged) = %v, want bad_request", err)
	}
	// The snapshot moves the zone back (z2 -> z): refused without the
	// owner's rollback statement (issue 17 item 7).
	leader, _ = leaderOf(t, nodes)
	if err := ac.Restore(ctx, leader.AdminAddr(), bytes.NewReader(snap.Bytes())); admin.ErrorOf(err).Reason != string(raftfsm.ReasonUnsignedRollback) {
		t.Fatalf("Restore to an older serial without the owner's statement = %v, want unsigned-rollback", err)
	}
	rb, err := zone.NewRollback(k, z2.Serial(), z.Serial(), z.Head.Root)
	if err != nil {
		t.Fatal(err)
	}
	for try := 1; ; try++ {
		leader, _ = leaderOf(t, nodes)
		err := ac.Restore(ctx, leader.AdminAddr(), bytes.NewReader(snap.Bytes()), rb.Note)
		if err == nil {
			break
		}
		if c := admin.ErrorOf(err).Code; try == 5 || c != admin.CodeNotLeader && c != admin.CodeNoQuorum && c != admin.CodeNoLeader {
			t.Fatalf("Restore on the leader (try %d): %v", try, err)
		}
		t.Logf("Restore on the leader %s met an election (%v): again", leader.ID(), err)
	}
	for _, n := range nodes {
		waitFor(t, "restored serial on "+n.ID(), func() error {
			s, err := dnsSOASerial(n, demo.Origin)
			if err == nil && s != z.Serial() {
				err = fmt.Errorf("serial %d, want %d", s, z.Serial())
			}
			return err
		})
	}
}

func TestNonVoterJoinsAndServes(t *testing.T) {
	nodes, p := startGroup(t, 2)
	cfg := groupConfig(t, p, "reader")
	cfg.Group.Bootstrap = false
	cfg.Group.Join = []string{nodes[1].AdminAddr(), nodes[0].AdminAddr()} // any member; forwarded to the leader
	cfg.Group.NonVoter = true
	r := runNode(t, cfg)
	ac := p.client(t, "operator")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	z, _, cmd := demoCommand(t)
	waitFor(t, "reader announced", func() error {
		if a, ok := nodes[0].lookupMember("reader"); !ok || a.Admin != r.AdminAddr() {
			return errors.New("not yet")
		}
		return nil
	})
	// A write through the non-voter is forwarded like any other.
	if _, err := ac.SubmitChange(ctx, r.AdminAddr(), demo.Origin, cmd); err != nil {
		t.Fatalf("SubmitChange via the non-voter: %v", err)
	}
	waitFor(t, "zone on the non-voter", func() error {
		s, err := dnsSOASerial(r, demo.Origin)
		if err == nil && s != z.Serial() {
			err = fmt.Errorf("serial %d", s)
		}
		return err
	})
	rows, err := ac.Members(ctx, nodes[0].AdminAddr())
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	voters := map[string]bool{}
	for _, row := range rows {
		voters[row.ID] = row.Voter
	}
	if len(rows) != 3 || voters["reader"] || !voters["n1"] || !voters["n2"] {
		t.Errorf("Members = %+v, want n1, n2 voters and reader a non-voter", rows)
	}
	// Removing it through a follower is forwarded to the leader.
	_, others := leaderOf(t, nodes)
	if err := ac.Remove(ctx, others[0].AdminAddr(), admin.RemoveRequest{ID: "reader"}); err != nil {
		t.Fatalf("Remove via follower: %v", err)
	}
	waitFor(t, "reader removed", func() error {
		rows, err := ac.Members(ctx, nodes[0].AdminAddr())
		if err == nil && len(rows) != 2 {
			err = fmt.Errorf("%d members", len(rows))
		}
		return err
	})
}

func TestTransferLeaderAndCloseHandsOver(t *testing.T) {
	nodes, p := startGroup(t, 3)
	leader, followers := leaderOf(t, nodes)
	ac := p.client(t, "operator")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	target := followers[0]
	if err := ac.TransferLeader(ctx, followers[1].AdminAddr(), admin.TransferRequest{ID: target.ID()}); err != nil {
		t.Fatalf("TransferLeader via follower: %v", err)
	}
	waitFor(t, target.ID()+" leads", func() error {
		if id, _ := leader.group.Leader(); id != target.ID() {
			return fmt.Errorf("leader is %q", id)
		}
		return nil
	})
	// Closing the leader hands leadership over; the others go on writing.
	closeNode(t, target)
	rest := []*Node{leader, followers[1]}
	_, _, cmd := demoCommand(t)
	if _, err := ac.SubmitChange(ctx, rest[0].AdminAddr(), demo.Origin, cmd); err != nil {
		t.Fatalf("write after the leader stopped: %v", err)
	}
}

// BenchmarkGroupWrite measures one committed write on a 3-member group
// on loopback with mutual TLS, sent to the leader or to a follower (one
// forward). Each write is a PublishChange of one re-signed RRset.
func BenchmarkGroupWrite(b *testing.B) {
	for _, via := range []string{"leader", "follower"} {
		b.Run(via, func(b *testing.B) { benchWrites(b, via) })
	}
}

func benchWrites(b *testing.B, via string) {
	nodes, p := startGroup(b, 3)
	leader, followers := leaderOf(b, nodes)
	target := leader
	if via == "follower" {
		target = followers[0]
	}
	ac := p.client(b, "operator")
	ctx := context.Background()
	z, k, cmd := demoCommand(b)
	if _, err := ac.SubmitChange(ctx, target.AdminAddr(), demo.Origin, cmd); err != nil {
		b.Fatalf("create: %v", err)
	}
	// Sign every change first: the benchmark measures the group, not
	// the owner's signing.
	cmds := make([][]byte, b.N)
	prev := z
	for i := range cmds {
		u, err := zone.ParseFile(strings.NewReader(fmt.Sprintf("$ORIGIN demo.ddnrs.\n@ 3600 SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 NS ns1\nns1 3600 A 127.0.0.1\nwww 3600 TXT \"change %d\"\n", i)), demo.Origin, "bench")
		if err != nil {
			b.Fatal(err)
		}
		next, _, err := zone.Prepare(prev, u, k, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if cmds[i], err = raftfsm.ChangeCommand(prev, next, k); err != nil {
			b.Fatal(err)
		}
		prev = next
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for _, c := range cmds {
		start := time.Now()
		if _, err := ac.SubmitChange(ctx, target.AdminAddr(), demo.Origin, c); err != nil {
			b.Fatalf("write: %v", err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func TestNotRunningIsUnavailable(t *testing.T) {
	if got := admin.ErrorOf(fmt.Errorf("submit: %w", ErrNotRunning)); got.Code != admin.CodeUnavailable || got.Status != http.StatusServiceUnavailable {
		t.Errorf("admin.ErrorOf(ErrNotRunning) = %s %d, want %s 503", got.Code, got.Status, admin.CodeUnavailable)
	}
	if got := admin.ErrorOf(fmt.Errorf("%w: %w", admin.ErrUnavailable, ErrNotHosted)); got.Code != admin.CodeUnavailable {
		t.Errorf("admin.ErrorOf(unreachable, not hosted) = %s, want %s", got.Code, admin.CodeUnavailable)
	}
}

// mustDecode decodes an encoded command for the write path.
func mustDecode(t testing.TB, b []byte) raftfsm.Encoded {
	t.Helper()
	c, err := raftfsm.Decode(b)
	if err != nil {
		t.Fatalf("raftfsm.Decode: %v", err)
	}
	return c
}
