package ops

import (
	crand "crypto/rand"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/zone"
)

// fakeNode serves DNS on loopback with f and returns its address.
func fakeNode(t *testing.T, f func(q, r *dns.Msg)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		r.SetEdns0(1232, true)
		f(q, r)
		w.WriteMsg(r)
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- s.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		s.Shutdown()
		<-done
	})
	return pc.LocalAddr().String()
}

func TestResolve(t *testing.T) {
	a, _ := dns.NewRR("www.example. 300 IN A 192.0.2.80")
	soa, _ := dns.NewRR("example. 3600 IN SOA ns1.example. h.example. 1 2 3 4 60")
	hops := []dnsfront.AuditHop{{Node: "12D3KooWmember", Hash: [32]byte{0xab}}, {Node: "12D3KooWentry", Hash: [32]byte{0xab}}}
	cases := []struct {
		desc  string
		args  []string
		serve func(q, r *dns.Msg)
		code  ExitCode
		want  []string
	}{
		{"verified remote answer", []string{"resolve", "www.example."}, func(q, r *dns.Msg) {
			r.Answer = []dns.RR{a}
			if o := q.IsEdns0(); o != nil && hasOption(o, dnsfront.AuditOptionCode) && hasOption(o, client.ProofsOptionCode) && o.Do() {
				r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode, Data: dnsfront.EncodeAudit(true, hops)})
			}
		}, ExitOK, []string{"192.0.2.80", "node says: verified", "verified: not checked", "path 1: 12D3KooWmember hash ab00", "path 2: 12D3KooWentry", "ttl: 300s", "proof: none (no proofs option)"}},
		{"trace", []string{"resolve", "www.example.", "--trace"}, func(q, r *dns.Msg) {
			r.Answer = []dns.RR{a}
			if o := q.IsEdns0(); o != nil && hasOption(o, dnsfront.TraceOptionCode) {
				hops := []dnsfront.TraceHop{{Kind: dnsfront.TraceRelayed, Node: "12D3KooWentry", Elapsed: 1500 * time.Microsecond}, {Kind: dnsfront.TraceMember, Node: "12D3KooWmember", Elapsed: 900 * time.Microsecond}}
				r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.TraceOptionCode, Data: dnsfront.AppendTrace(nil, hops)})
			}
		}, ExitOK, []string{"trace 1: relayed 12D3KooWentry 1.5ms", "trace 2: member 12D3KooWmember 900µs"}},
		{"proofs status", []string{"resolve", "www.example."}, func(q, r *dns.Msg) {
			r.Answer = []dns.RR{a}
			r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: client.ProofsOptionCode, Data: []byte{1, 2}})
		}, ExitOK, []string{"proof: none (nothing to prove)"}},
		{"local zone", []string{"resolve", "www.example.", "A"}, func(q, r *dns.Msg) {
			r.Authoritative = true
			r.Answer = []dns.RR{a}
		}, ExitOK, []string{"node says: local", "ttl: 300s"}},
		{"negative answer TTL", []string{"resolve", "nothere.example.", "aaaa"}, func(q, r *dns.Msg) {
			r.Authoritative = true
			r.Rcode = dns.RcodeNameError
			r.Ns = []dns.RR{soa}
		}, ExitOK, []string{"NXDOMAIN", "ttl: 60s"}},
		{"refused by verification", []string{"resolve", "www.example."}, func(q, r *dns.Msg) {
			r.Rcode = dns.RcodeServerFailure
			r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus, ExtraText: "serial older than one already seen"})
		}, ExitError, []string{"node says: not verified", "why: extended error 6 (DNSSEC Bogus): serial older"}},
		{"json", []string{"resolve", "www.example.", "--output", "json"}, func(q, r *dns.Msg) {
			r.Answer = []dns.RR{a}
			r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode, Data: dnsfront.EncodeAudit(true, hops)})
		}, ExitOK, []string{`"status": "verified"`, `"node": "12D3KooWentry"`}},
	}
	for _, c := range cases {
		addr := fakeNode(t, c.serve)
		r := ddnrs(t, append(c.args, "--server", addr)...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d", c.desc, r.code, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.desc, w, r.stdout)
			}
		}
	}
	if r := ddnrs(t, "resolve", "www.example.", "--trace", "--server", fakeNode(t, func(q, r *dns.Msg) {
		r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.TraceOptionCode, Data: []byte{9}})
	})); r.code != ExitError || !strings.Contains(r.stderr, "trace option") {
		t.Errorf("resolve with a garbled trace option: exit %d, want %d saying so:\n%s", r.code, ExitError, r.stderr)
	}
	if r := ddnrs(t, "resolve", "www.example.", "NOPE"); r.code != ExitUsage {
		t.Errorf("resolve with an unknown type: exit %d, want %d", r.code, ExitUsage)
	}
}

// TestResolveVerifiesDev: ddnrs resolve verifies a real dev node's
// answers itself, with the owner key pinned (--trust-anchor) or taken from
// the registry's transparency log the node's REST API serves (--log,
// --log-key): an address, a denial, a wildcard and a referral verify and
// the output names the key; another owner key, or a path that changes
// the address on the way, is refused (exit 1) though the node says the
// answer is its own; without an anchor nothing is claimed.
func TestResolveVerifiesDev(t *testing.T) {
	data := t.TempDir()
	readyPath := filepath.Join(t.TempDir(), "ready.json")
	d, err := startDev(t, devOptions{Data: data, API: "127.0.0.1:0", ReadyFile: readyPath})
	if err != nil {
		t.Fatal(err)
	}
	m := apiRE.FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("dev printed no REST API URL:\n%s", d.out.String())
	}
	base, logKey := m[1], filepath.Join(data, devLogPub)
	var ready readyInfo
	b, err := os.ReadFile(readyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ready); err != nil || len(ready.Zones) == 0 {
		t.Fatalf("ready file %s: %v %+v", readyPath, err, ready)
	}
	dir := t.TempDir()
	anchor := writeFile(t, dir, "anchor", ready.Zones[0].DNSKEY+"\n")
	otherKey, err := zone.GenerateKey(demo.Origin, true, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrong := writeFile(t, dir, "wrong", otherKey.DNSKEY.String()+"\n")
	// A path that changes every A record on the way from the node.
	tampering := fakeNode(t, func(q, r *dns.Msg) {
		// Over TCP: over UDP the node sends proofs only to an address a
		// cookie proved, and this relay does not keep cookies.
		up, _, err := (&dns.Client{Net: "tcp"}).Exchange(q, d.addr)
		if err != nil {
			r.Rcode = dns.RcodeServerFailure
			return
		}
		for _, rr := range up.Answer {
			if a, ok := rr.(*dns.A); ok {
				a.A = net.IPv4(203, 0, 113, 66)
			}
		}
		r.Answer, r.Ns, r.Rcode, r.Authoritative = up.Answer, up.Ns, up.Rcode, up.Authoritative
	})
	pinned := []string{"--trust-anchor", anchor}
	fromLog := []string{"--log", base, "--log-key", logKey}
	cases := []struct {
		desc   string
		args   []string
		server string
		code   ExitCode
		want   []string
	}{
		{"address, pinned key", append([]string{"resolve", "www." + demo.Origin}, pinned...), d.addr, ExitOK,
			[]string{"127.0.0.2", "verified: yes, here: DNSSEC signatures (RRSIG), NSEC denial and the Merkle proof of every RRset under the zone's signed head, against demo.ddnrs. key tag", "pinned in " + anchor,
				"zone: demo.ddnrs. serial ", "verification hash: ", "proof: ", "bytes in band (signed zone head ", "node says: local"}},
		{"trace", append([]string{"resolve", "www." + demo.Origin, "--trace"}, pinned...), d.addr, ExitOK,
			[]string{"verified: yes, here", "trace 1: local "}},
		{"over TCP", append([]string{"resolve", "www." + demo.Origin, "--tcp"}, pinned...), d.addr, ExitOK,
			[]string{"verified: yes, here: DNSSEC signatures (RRSIG), NSEC denial and the Merkle proof"}},
		{"address, key from the log", append([]string{"resolve", "www." + demo.Origin}, fromLog...), d.addr, ExitOK,
			[]string{"127.0.0.2", "verified: yes, here", "from the registry's transparency log at " + base}},
		{"NXDOMAIN", append([]string{"resolve", "nothere." + demo.Origin, "AAAA"}, fromLog...), d.addr, ExitOK,
			[]string{"NXDOMAIN", "verified: yes, here"}},
		{"NODATA", append([]string{"resolve", "www." + demo.Origin, "MX"}, pinned...), d.addr, ExitOK,
			[]string{"NOERROR", "verified: yes, here"}},
		{"wildcard", append([]string{"resolve", "any.wild." + demo.Origin}, pinned...), d.addr, ExitOK,
			[]string{"127.0.0.9", "verified: yes, here"}},
		{"CNAME chain", append([]string{"resolve", "chain." + demo.Origin}, pinned...), d.addr, ExitOK,
			[]string{"127.0.0.2", "verified: yes, here"}},
		{"referral", append([]string{"resolve", "host.sub." + demo.Origin}, pinned...), d.addr, ExitOK,
			[]string{"verified: yes, here", "unsigned: sub.demo.ddnrs. NS", "the Merkle proof does"}},
		{"another owner key", append([]string{"resolve", "www." + demo.Origin}, "--trust-anchor", wrong), d.addr, ExitError,
			[]string{"verified: no, here", "signature does not verify", "node says: local"}},
		{"changed on the way", append([]string{"resolve", "www." + demo.Origin}, fromLog...), tampering, ExitError,
			[]string{"203.0.113.66", "verified: no, here", "signature does not verify", "proof: none (no proofs option)"}},
		{"changed on the way, no anchor", []string{"resolve", "www." + demo.Origin}, tampering, ExitOK,
			[]string{"203.0.113.66", "verified: not checked (no trust anchor"}},
		{"json", append([]string{"resolve", "www." + demo.Origin, "-o", "json"}, pinned...), d.addr, ExitOK,
			[]string{`"result": "yes"`, `"zone": "demo.ddnrs."`, `"key_source": "pinned in `}},
	}
	for _, c := range cases {
		r := ddnrs(t, append(c.args, "--server", c.server)...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", c.desc, r.code, c.code, r.stdout, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.desc, w, r.stdout)
			}
		}
	}
	for _, args := range [][]string{
		{"resolve", "www." + demo.Origin, "--log", base},
		{"resolve", "www." + demo.Origin, "--log", "ftp://x", "--log-key", logKey},
	} {
		if r := ddnrs(t, append(args, "--server", d.addr)...); r.code != ExitUsage {
			t.Errorf("ddnrs %v: exit %d, want %d (usage)", args, r.code, ExitUsage)
		}
	}
	// --log-state keeps the checkpoint: the second run extends it.
	state := filepath.Join(dir, "log-state.json")
	for run := range 2 {
		r := ddnrs(t, append([]string{"resolve", "www." + demo.Origin, "--server", d.addr, "--log-state", state}, fromLog...)...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "verified: yes, here") {
			t.Fatalf("run %d with --log-state: exit %d\n%s%s", run, r.code, r.stdout, r.stderr)
		}
		if b, err := os.ReadFile(state); err != nil || !strings.Contains(string(b), `"checkpoint"`) || !strings.Contains(string(b), demo.Origin) {
			t.Fatalf("run %d: --log-state file %s: %v\n%s", run, state, err, b)
		}
	}
	garbled := writeFile(t, dir, "garbled.json", "{not json")
	if r := ddnrs(t, append([]string{"resolve", "www." + demo.Origin, "--server", d.addr, "--log-state", garbled}, fromLog...)...); r.code != ExitError || !strings.Contains(r.stderr, "--log-state") {
		t.Errorf("resolve with a garbled --log-state: exit %d, want %d naming the flag\n%s", r.code, ExitError, r.stderr)
	}
	if r := ddnrs(t, "resolve", "www."+demo.Origin, "--server", d.addr, "--log-state", state); r.code != ExitUsage {
		t.Errorf("--log-state without --log: exit %d, want %d", r.code, ExitUsage)
	}
	if r := ddnrs(t, "resolve", "www."+demo.Origin, "--server", d.addr, "--log", base, "--log-key", filepath.Join(dir, "anchor")); r.code != ExitError {
		t.Errorf("resolve with a DNSKEY as the log key: exit %d, want %d\n%s", r.code, ExitError, r.stderr)
	}
}

func hasOption(o *dns.OPT, code uint16) bool {
	for _, e := range o.Option {
		if e.Option() == code {
			return true
		}
	}
	return false
}
