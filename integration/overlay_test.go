package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/internal/testnet"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/zone"
)

// ovMember is one `ddnrs node` process with the overlay on.
type ovMember struct {
	name    string
	config  string
	ready   string
	DNS     string   `json:"dns"`
	Admin   string   `json:"admin"`
	Overlay []string `json:"overlay"`
	p       *proc
}

// ovGroup is a replica group made by `ddnrs ops group bootstrap`, holding
// one zone.
type ovGroup struct {
	anchor  string // the owner's DNSKEY, presentation form
	dir     string
	zone    string
	key     string // owner key (.private)
	members []*ovMember
}

// freePortOn returns a port free for TCP (and UDP when both) on ip,
// outside the ephemeral range, so the node's own port-0 listeners (the
// overlay binds before DNS) cannot take it first.
func freePortOn(t *testing.T, ip string, both bool) int {
	t.Helper()
	return testnet.FreePort(t, ip, both)
}

// startOverlayGroups makes groups of size members each, on 127.0.(30+g).i,
// with the overlay on, every node trusting every group's zone key, all
// bootstrapped to the first node; then publishes zone gN.example. to group N.
//
// extra names zones no group holds whose owner keys every node trusts
// too; their keys (.private paths) are returned, with the overlay
// addresses of the first node, for peers the test runs itself.
func startOverlayGroups(t *testing.T, groups, size int, extra ...string) ([]*ovGroup, map[string]string, []string) {
	t.Helper()
	sizes := make([]int, groups)
	for i := range sizes {
		sizes[i] = size
	}
	return startOverlayGroupsOf(t, sizes, extra...)
}

// startOverlayGroupsOf is startOverlayGroups with a size per group.
func startOverlayGroupsOf(t *testing.T, sizes []int, extra ...string) ([]*ovGroup, map[string]string, []string) {
	t.Helper()
	return startOverlayGroupsWith(t, sizes, "", extra...)
}

// startOverlayGroupsWith is startOverlayGroupsOf with more lines for
// every node's [overlay] section.
func startOverlayGroupsWith(t *testing.T, sizes []int, overlayLines string, extra ...string) ([]*ovGroup, map[string]string, []string) {
	t.Helper()
	needBinary(t)
	dir := t.TempDir()
	var gs []*ovGroup
	var anchors []byte
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	extraKeys := make(map[string]string)
	for _, z := range extra {
		extraKeys[z] = keygen(t, keys, z)
		pub, err := os.ReadFile(strings.TrimSuffix(extraKeys[z], ".private") + ".key")
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, pub...)
	}
	for g, size := range sizes {
		gr := &ovGroup{dir: filepath.Join(dir, fmt.Sprintf("g%d", g)), zone: fmt.Sprintf("g%d.example.", g)}
		gr.key = keygen(t, keys, gr.zone)
		pub, err := os.ReadFile(strings.TrimSuffix(gr.key, ".private") + ".key")
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, pub...)
		for _, line := range strings.Split(string(pub), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, ";") {
				gr.anchor = l
			}
		}
		var ips []string
		for i := 1; i <= size; i++ {
			ips = append(ips, fmt.Sprintf("127.0.%d.%d", 30+g, i))
		}
		runCmd(t, dir, ddnrsBin, "ops", "group", "bootstrap", "--out", gr.dir,
			"--members", strconv.Itoa(size), "--ip", strings.Join(ips, ","),
			"--dns-port", strconv.Itoa(freePortOn(t, ips[0], true)),
			"--raft-port", strconv.Itoa(freePortOn(t, ips[0], false)),
			"--admin-port", strconv.Itoa(freePortOn(t, ips[0], false)))
		for i := 1; i <= size; i++ {
			name := fmt.Sprintf("node%d", i)
			gr.members = append(gr.members, &ovMember{
				name:   fmt.Sprintf("g%d/%s", g, name),
				config: filepath.Join(gr.dir, name, "node.toml"),
				ready:  filepath.Join(gr.dir, name, "ready.json"),
			})
		}
		gs = append(gs, gr)
	}
	anchorFile := filepath.Join(dir, "anchors.keys")
	if err := os.WriteFile(anchorFile, anchors, 0o644); err != nil {
		t.Fatal(err)
	}
	var boot []string
	for g, gr := range gs {
		for i, m := range gr.members {
			ip := fmt.Sprintf("127.0.%d.%d", 30+g, i+1)
			quoted := make([]string, len(boot))
			for j, b := range boot {
				quoted[j] = strconv.Quote(b)
			}
			section := fmt.Sprintf("\n[overlay]\nenabled = true\nlisten = [%q]\nbootstrap = [%s]\ntrust_anchors = %q\n",
				"/ip4/"+ip+"/udp/0/quic-v1", strings.Join(quoted, ", "), anchorFile) + overlayLines
			f, err := os.OpenFile(m.config, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(section); err != nil {
				t.Fatal(err)
			}
			f.Close()
			m.p = startProc(t, dir, ddnrsBin, "node", "--config", m.config, "--ready-file", m.ready)
			waitOverlayReady(t, m)
			if boot == nil {
				boot = m.Overlay
			}
		}
	}
	for g, gr := range gs {
		zf := filepath.Join(dir, fmt.Sprintf("g%d.zone", g))
		text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.%d\n*.wild TXT \"wild %d\"\n", gr.zone, 10+g, g) +
			additionalRecords
		if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		runCmd(t, dir, ddnrsBin, "zone", "publish", "--server", gr.members[0].Admin,
			"--ca", filepath.Join(gr.dir, "ca", "ca.crt"), "--cert", filepath.Join(gr.dir, "ops", "node.crt"),
			"--tls-key", filepath.Join(gr.dir, "ops", "node.key"), "--key", gr.key, zf)
		for _, m := range gr.members {
			waitUntil(t, m.name+" serves "+gr.zone, func() error {
				r, err := askErr(m.DNS, gr.zone, dns.TypeSOA, false)
				if err != nil {
					return err
				}
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
				}
				return nil
			})
		}
	}
	return gs, extraKeys, boot
}

// additionalRecords are the records of every group's zone whose answers
// carry an additional section (dnsfront/additional.go): an MX and an SRV
// target with their addresses, a delegation with in-domain glue and an
// out-of-zone server, a delegation to twelve in-domain servers whose glue
// does not fit in 512 octets (TC, RFC 9471) and twelve mail exchangers
// whose addresses do not either (dropped silently).
var additionalRecords = func() string {
	text := "@ MX 10 mail\nmail A 192.0.2.25\nmail AAAA 2001:db8::25\n" +
		"_sip._tcp SRV 0 0 5060 sip\nsip A 192.0.2.26\n" +
		"sub NS ns1.sub\nsub NS ns.elsewhere.test.\nns1.sub A 192.0.2.53\nns1.sub AAAA 2001:db8::53\n"
	for i := range 12 {
		text += fmt.Sprintf("wide NS ns%02d.wide\nns%02d.wide A 192.0.2.%d\nns%02d.wide AAAA 2001:db8::%d\n", i, i, 100+i, i, 100+i)
		text += fmt.Sprintf("mx MX %d mx%02d\nmx%02d A 198.51.100.%d\nmx%02d AAAA 2001:db8:1::%d\n", i, i, i, i, i, i)
	}
	return text
}()

func waitOverlayReady(t *testing.T, m *ovMember) {
	t.Helper()
	waitUntil(t, m.name+" ready", func() error {
		if m.p.exited() {
			t.Fatalf("%s exited: %v\n%s", m.name, m.p.err, m.p.out.String())
		}
		b, err := os.ReadFile(m.ready)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, m); err != nil {
			return err
		}
		if len(m.Overlay) == 0 {
			t.Fatalf("%s ready file without overlay addresses: %s", m.name, b)
		}
		return nil
	})
}

// waitUntil polls cond every 50 ms until it returns nil, failing after 30 s.
func waitUntil(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func askErr(addr, name string, t uint16, do bool) (*dns.Msg, error) {
	return askSized(addr, name, t, do, 0)
}

// askSized asks over UDP with an EDNS buffer of size octets and returns
// the reply as it came, truncated or not; size 0 means 1232, and a
// truncated reply is asked again over TCP.
func askSized(addr, name string, t uint16, do bool, size uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.RecursionDesired = false
	buf := size
	if buf == 0 {
		buf = 1232
	}
	m.SetEdns0(buf, do)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated && size == 0 {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	return r, err
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

// TestOverlayEveryNodeAnswersEveryZone: three groups of three real nodes,
// a zone on each; every node answers every zone exactly as the owning
// group does, verified, with the audit path; Unbound with the zones' trust
// anchors validates what any node answers; ddnrs resolve shows it.
func TestOverlayEveryNodeAnswersEveryZone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 9 node processes")
	}
	gs, _, _ := startOverlayGroups(t, 3, 3)
	checkEveryNodeAnswersEveryZone(t, gs)
	// Unbound, with each zone's trust anchor and every zone stubbed to one
	// node, validates what that node answers for every zone.
	for _, g := range gs {
		m := g.members[len(g.members)-1]
		port := startUnboundStubs(t, m.DNS, gs)
		for _, owner := range gs {
			for _, q := range []struct {
				name  string
				t     uint16
				rcode int
			}{
				{"www." + owner.zone, dns.TypeA, dns.RcodeSuccess},
				{"nothere." + owner.zone, dns.TypeA, dns.RcodeNameError},
				{"x.wild." + owner.zone, dns.TypeTXT, dns.RcodeSuccess},
			} {
				msg := new(dns.Msg)
				msg.SetQuestion(q.name, q.t)
				msg.SetEdns0(1232, true)
				r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(msg, "127.0.0.1:"+strconv.Itoa(port))
				if err != nil || r.Rcode != q.rcode || !r.AuthenticatedData {
					t.Errorf("unbound through %s: %s %s = %v (%v), want %s with AD", m.name, q.name, dns.TypeToString[q.t], r, err, dns.RcodeToString[q.rcode])
				}
			}
		}
	}
	// ddnrs resolve through a node of the other group.
	out := runCmd(t, "", ddnrsBin, "resolve", "www."+gs[0].zone, "A", "--server", gs[1].members[1].DNS)
	for _, want := range []string{"192.0.2.10", "node says: verified", "path 1:", "path 2:", "ttl: "} {
		if !strings.Contains(out, want) {
			t.Errorf("ddnrs resolve output lacks %q:\n%s", want, out)
		}
	}
	// ddnrs resolve verifies the relayed answer itself, with the owner's
	// key pinned.
	anchorFile := filepath.Join(t.TempDir(), "anchor")
	if err := os.WriteFile(anchorFile, []byte(gs[0].anchor+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = runCmd(t, "", ddnrsBin, "resolve", "www."+gs[0].zone, "A", "--server", gs[1].members[1].DNS, "--trust-anchor", anchorFile)
	for _, want := range []string{
		"verified: yes, here: DNSSEC signatures (RRSIG), NSEC denial and the Merkle proof of every RRset under the zone's signed head, against " + gs[0].zone,
		"zone: " + gs[0].zone + " serial ", "proof: ", "verification hash: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ddnrs resolve --trust-anchor through another group: output lacks %q:\n%s", want, out)
		}
	}
	// --trace: the node asked relayed the query to a member of the
	// owning group (or answered from its cache of verified answers).
	out = runCmd(t, "", ddnrsBin, "resolve", "nothere."+gs[0].zone, "A", "--server", gs[1].members[1].DNS, "--trust-anchor", anchorFile, "--trace")
	if !strings.Contains(out, "NXDOMAIN") || !strings.Contains(out, "verified: yes, here") ||
		!(strings.Contains(out, "trace 1: relayed ") && strings.Contains(out, "trace 2: member ") || strings.Contains(out, "trace 1: cache ")) {
		t.Errorf("ddnrs resolve --trace through another group: output lacks the verified NXDOMAIN and its hops:\n%s", out)
	}
	// dig asks for the proofs (EDNS option 65002) and gets them back.
	digOut := runCmd(t, "", needTool(t, "dig", "bind9-dnsutils"), "@"+hostOf(gs[1].members[1].DNS), "-p", portOf(gs[1].members[1].DNS), "+tcp", "+dnssec", "+ednsopt=65002", "www."+gs[0].zone, "A")
	if !strings.Contains(digOut, "65002") || !strings.Contains(digOut, "status: NOERROR") {
		t.Errorf("dig +ednsopt=65002 through another group: no proofs option in the reply:\n%s", digOut)
	}
	out = runCmd(t, "", ddnrsBin, "resolve", "www."+gs[0].zone, "A", "--server", gs[0].members[1].DNS)
	if !strings.Contains(out, "node says: local") {
		t.Errorf("ddnrs resolve at the owning group: output lacks %q:\n%s", "node says: local", out)
	}
	// A zone no group holds is refused, as without the overlay.
	r, err := askErr(gs[1].members[0].DNS, "www.nowhere.test.", dns.TypeA, false)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("www.nowhere.test.: %v %v, want REFUSED", r, err)
	}
}

// tamperer is a peer in the overlay that holds a zone signed by its owner
// but alters the A records of its answers, in every section (the
// additional section's name server addresses included).
type tamperer struct {
	zones *node.Served
	id    string
}

func (x *tamperer) AnswerLocal(_ context.Context, name string, t uint16, _ bool) (*overlay.QueryResponse, error) {
	la, err := intergroup.AnswerLocal(x.zones, name, t)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	if err := m.Unpack(la.Msg); err != nil {
		return nil, err
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if a, ok := rr.(*dns.A); ok {
				a.A = net.IPv4(203, 0, 113, 66)
			}
		}
	}
	msg, err := m.Pack()
	if err != nil {
		return nil, err
	}
	return &overlay.QueryResponse{Msg: msg, Head: la.Head, Proof: la.Proof, Audit: []overlay.AuditHop{{Node: x.id, Hash: la.Hash}}}, nil
}

// startTamperer runs a tampering peer holding origin, signed with the
// owner key keyFile (.private), provided in the DHT through boot.
func startTamperer(t *testing.T, origin, keyFile string, boot []string) {
	t.Helper()
	priv, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(strings.TrimSuffix(keyFile, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.99\n%s\n", origin, k.DNSKEY.String())
	z, err := zone.ParseFile(strings.NewReader(text), origin, "tamper.zone")
	if err != nil {
		t.Fatal(err)
	}
	if z, err = zone.Sign(z, k, zone.DefaultSignOptions(time.Now())); err != nil {
		t.Fatal(err)
	}
	zs := new(node.Served)
	zs.Set(z)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := overlay.NewHost(ctx, overlay.HostOptions{
		KeyFile:   filepath.Join(t.TempDir(), "tamperer.key"),
		Listen:    []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
		Bootstrap: boot,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := overlay.NewServer(h.P2P(), overlay.ServerOptions{Answerer: &tamperer{zones: zs, id: h.ID().String()}})
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	if err := h.Provide(ctx, origin); err != nil {
		t.Fatal(err)
	}
}

// TestOverlayRefusesTamperedAnswers: a peer holding a zone whose owner
// key the nodes trust returns altered records; every node refuses them
// with SERVFAIL and an Extended DNS Error, and ddnrs resolve says why.
func TestOverlayRefusesTamperedAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 2 node processes")
	}
	const evil = "evil.example."
	gs, keys, boot := startOverlayGroups(t, 1, 2, evil)
	startTamperer(t, evil, keys[evil], boot)
	for _, m := range gs[0].members {
		var r *dns.Msg
		waitUntil(t, m.name+" finds "+evil, func() error {
			var err error
			if r, err = askErr(m.DNS, "www."+evil, dns.TypeA, true); err != nil {
				return err
			}
			if r.Rcode == dns.RcodeRefused {
				return fmt.Errorf("REFUSED (zone not found yet)")
			}
			return nil
		})
		var ede *dns.EDNS0_EDE
		if o := r.IsEdns0(); o != nil {
			for _, opt := range o.Option {
				if e, ok := opt.(*dns.EDNS0_EDE); ok {
					ede = e
				}
			}
		}
		if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 || ede == nil || ede.InfoCode != dns.ExtendedErrorCodeDNSBogus {
			t.Errorf("%s: tampered www.%s = %v, want SERVFAIL with EDE DNSSEC Bogus and no records", m.name, evil, r)
		}
		// The NS answer is genuine; the address of ns1 in its additional
		// section is not.
		r, err := askErr(m.DNS, evil, dns.TypeNS, true)
		if err != nil || r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
			t.Errorf("%s: %s NS with a tampered additional section = %v (%v), want SERVFAIL and no records", m.name, evil, r, err)
		}
	}
	stdout, _, err := tryCmd("", ddnrsBin, "resolve", "www."+evil, "--server", gs[0].members[0].DNS)
	if err == nil || !strings.Contains(stdout, "node says: not verified") || !strings.Contains(stdout, "why: extended error 6 (DNSSEC Bogus)") ||
		!strings.Contains(stdout, "signature does not verify") {
		t.Errorf("ddnrs resolve of a tampered answer: err %v, output:\n%s\nwant exit 1, node says: not verified, and why", err, stdout)
	}
}

// startUnboundStubs runs a validating Unbound whose stub zones send every
// group's zone to the node at addr, with each zone's owner key as trust
// anchor. It returns the port.
func startUnboundStubs(t *testing.T, addr string, gs []*ovGroup) int {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	server := "\ttarget-fetch-policy: \"0 0 0 0 0\"\n"
	var stubs strings.Builder
	for _, g := range gs {
		server += fmt.Sprintf("\ttrust-anchor: %q\n", g.anchor)
		fmt.Fprintf(&stubs, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", g.zone, host, port)
	}
	return startUnboundConf(t, unboundConf{server: server, zones: stubs.String(), probe: gs[0].zone})
}

// auditPath returns the node ids of the audit option of r.
func auditPath(r *dns.Msg) []string {
	var ids []string
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if l, ok := opt.(*dns.EDNS0_LOCAL); ok && l.Code == dnsfront.AuditOptionCode {
				if _, hops, err := dnsfront.DecodeAudit(l.Data); err == nil {
					for _, h := range hops {
						ids = append(ids, h.Node)
					}
				}
			}
		}
	}
	return ids
}

// TestOverlayFailover: a client asks a node of another group, at a steady
// rate, names that are never cached; the member answering them is killed
// with SIGKILL. The node keeps answering from the other members. The
// longest gap between answers and the failed queries are reported (the
// issue's target: under 200 ms); the test asserts only that answers go on
// coming from another member.
func TestOverlayFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	gs, _, _ := startOverlayGroups(t, 2, 3)
	owner, entry := gs[0], gs[1].members[0]
	byID := make(map[string]*ovMember)
	for _, m := range owner.members {
		for _, a := range m.Overlay {
			if i := strings.LastIndex(a, "/p2p/"); i >= 0 {
				byID[a[i+len("/p2p/"):]] = m
			}
		}
	}
	seq := 0
	ask := func(timeout time.Duration) (*dns.Msg, error) {
		seq++
		m := new(dns.Msg)
		// NODATA for a private-use type not asked before: never in the
		// answer cache, while the route of www.ZONE is (a new name would
		// put a DHT lookup of its own on the path).
		m.SetQuestion("www."+owner.zone, uint16(65280+seq%255))
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode})
		r, _, err := (&dns.Client{Timeout: timeout}).Exchange(m, entry.DNS)
		if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0) {
			err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		return r, err
	}
	waitUntil(t, "an answer from the owning group", func() error {
		_, err := ask(2 * time.Second)
		return err
	})
	// Warm up for longer than the node keeps a route with a single
	// provider (members provide the zone once they hold it, so the first
	// lookup may have found one), scoring the members.
	for range 40 {
		if _, err := ask(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	r, err := ask(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	victim := byID[auditPath(r)[0]]
	t.Logf("killing %s, which answered", victim.name)
	victim.p.cmd.Process.Kill()
	killed := time.Now()
	last := killed
	var gap time.Duration
	failed, answered := 0, 0
	var after []string
	// At most 150 queries after the kill: with the 60 before, the 255
	// private-use types are not reused, so none is answered from cache.
	for q := 0; q < 150 && time.Since(killed) < 3*time.Second; q++ {
		r, err := ask(time.Second)
		now := time.Now()
		if err != nil {
			failed++
			continue
		}
		answered++
		gap = max(gap, now.Sub(last))
		last = now
		if p := auditPath(r); len(p) > 0 && byID[p[0]] != nil {
			after = append(after, byID[p[0]].name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("failover: longest gap between answers %v (target < 200ms), %d queries failed, %d answered after the kill", gap.Round(time.Millisecond), failed, answered)
	if answered == 0 {
		t.Fatalf("no answer after %s was killed", victim.name)
	}
	for _, name := range after {
		if name == victim.name {
			t.Errorf("answers attributed to the killed member %s after the kill: %v", victim.name, after)
			break
		}
	}
}

// checkEveryNodeAnswersEveryZone asks every node of gs for names of every
// group's zone and compares the whole response (flags, rcode, answer,
// authority, additional, OPT) with the owning group's first member's:
// among them MX, NS, SRV and referral answers, whose additional sections
// carry addresses and glue, and replies to 512-octet UDP buffers, which
// drop optional addresses silently or, for a referral whose glue does
// not fit, are truncated.
func checkEveryNodeAnswersEveryZone(t *testing.T, gs []*ovGroup) {
	t.Helper()
	type question struct {
		name string
		t    uint16
		do   bool
		size uint16 // EDNS buffer; 0: 1232, and TCP when truncated
		// shape, when set, checks that the owning group's answer has the
		// shape the question is for (an additional section, TC...).
		shape func(*dns.Msg) error
	}
	extra := func(min, max int) func(*dns.Msg) error {
		return func(r *dns.Msg) error {
			n := 0
			for _, rr := range r.Extra {
				if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Rrtype != dns.TypeRRSIG {
					n++
				}
			}
			if n < min || n > max || r.Truncated {
				return fmt.Errorf("%d additional addresses, TC %v; want %d to %d, no TC", n, r.Truncated, min, max)
			}
			return nil
		}
	}
	truncated := func(r *dns.Msg) error {
		if !r.Truncated || len(r.Answer)+len(r.Ns) != 0 {
			return fmt.Errorf("TC %v with %d records, want TC and none", r.Truncated, len(r.Answer)+len(r.Ns))
		}
		return nil
	}
	for _, owner := range gs {
		qs := []question{
			{owner.zone, dns.TypeSOA, true, 0, nil},
			{owner.zone, dns.TypeDNSKEY, true, 0, nil},
			{"www." + owner.zone, dns.TypeA, true, 0, nil},
			{"www." + owner.zone, dns.TypeA, false, 0, nil},
			{"x.wild." + owner.zone, dns.TypeTXT, true, 0, nil},
			{"nothere." + owner.zone, dns.TypeA, true, 0, nil},
			{"www." + owner.zone, dns.TypeMX, true, 0, nil},
			{owner.zone, dns.TypeMX, true, 0, extra(2, 2)},
			{owner.zone, dns.TypeMX, false, 0, extra(2, 2)},
			{owner.zone, dns.TypeNS, true, 0, extra(1, 1)},
			{"_sip._tcp." + owner.zone, dns.TypeSRV, true, 0, extra(1, 1)},
			{"host.sub." + owner.zone, dns.TypeA, true, 0, extra(2, 2)},  // referral, glue
			{"host.sub." + owner.zone, dns.TypeA, false, 0, extra(2, 2)}, // no DS without DO
			{"host.wide." + owner.zone, dns.TypeA, false, 0, extra(24, 24)},
			{"host.wide." + owner.zone, dns.TypeA, false, 512, truncated}, // RFC 9471
			{"host.wide." + owner.zone, dns.TypeA, true, 512, truncated},
			{"mx." + owner.zone, dns.TypeMX, false, 0, extra(24, 24)},
			{"mx." + owner.zone, dns.TypeMX, false, 512, extra(1, 23)}, // some dropped, no TC
			{"mx." + owner.zone, dns.TypeMX, true, 512, nil},
		}
		for _, q := range qs {
			want, err := askSized(owner.members[0].DNS, q.name, q.t, q.do, q.size)
			if err != nil {
				t.Fatal(err)
			}
			if q.shape != nil {
				if err := q.shape(want); err != nil {
					t.Fatalf("the owning group's answer to %s %s do=%v size %d: %v\n%v", q.name, dns.TypeToString[q.t], q.do, q.size, err, want)
				}
			}
			for _, g := range gs {
				for _, m := range g.members {
					var got *dns.Msg
					waitUntil(t, m.name+" answers "+q.name, func() error {
						r, err := askSized(m.DNS, q.name, q.t, q.do, q.size)
						if err != nil {
							return err
						}
						if r.Rcode == dns.RcodeRefused {
							return fmt.Errorf("REFUSED (zone not found yet)")
						}
						got = r
						return nil
					})
					if err := sameResponse(got, want); err != nil {
						t.Errorf("%s: %s %s do=%v size %d: %v:\n%v\nwant the owning group's\n%v", m.name, q.name, dns.TypeToString[q.t], q.do, q.size, err, got, want)
					}
				}
			}
		}
	}
}

// sameResponse reports how got differs from want, ID aside: header
// flags, rcode, every section and the OPT. A TTL may be lower than
// want's by up to a minute (a node's cached answer ages), never higher.
func sameResponse(got, want *dns.Msg) error {
	got = got.Copy()
	got.Id = want.Id
	for i, sec := range [][]dns.RR{got.Answer, got.Ns, got.Extra} {
		wsec := [][]dns.RR{want.Answer, want.Ns, want.Extra}[i]
		if len(sec) != len(wsec) {
			break // the comparison below says it
		}
		for j, rr := range sec {
			h, w := rr.Header(), wsec[j].Header()
			if h.Rrtype == dns.TypeOPT || h.Ttl > w.Ttl || w.Ttl-h.Ttl > 60 {
				continue
			}
			h.Ttl = w.Ttl
		}
	}
	if g, w := got.String(), want.String(); g != w {
		return errors.New("responses differ")
	}
	return nil
}

// TestOverlayGroupOfSeven: a zone on a group of seven members and one on a
// single-node group; all eight nodes answer both zones alike.
func TestOverlayGroupOfSeven(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 node processes")
	}
	gs, _, _ := startOverlayGroupsOf(t, []int{7, 1})
	checkEveryNodeAnswersEveryZone(t, gs)
}

// hostOf and portOf split a HOST:PORT address for dig's @HOST -p PORT.
func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
