package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Modes of lyingProxy.
const (
	honest = iota
	alterRecords
	forgeSignatures
	replayOlder // answers from another node holding an older serial
)

// lyingProxy is an entry node that passes queries to a genuine DDNRS
// node and, as mode says, alters what comes back (a fake: no ddnrs
// process lies on request; what it sends is what a compromised node
// could). delay is added to every answer, to rank it among the nodes.
type lyingProxy struct {
	addr        string
	genuine     string // a member of the zone's group
	older       string // a node holding olderZone at an older serial
	olderZone   string
	delay       time.Duration
	mode        atomic.Int32
	lies, total atomic.Int64
}

func startLyingProxy(t *testing.T, genuine, older, olderZone string, delay time.Duration) *lyingProxy {
	t.Helper()
	p := &lyingProxy{genuine: genuine, older: older, olderZone: olderZone, delay: delay}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		time.Sleep(p.delay)
		mode := p.mode.Load()
		up := p.genuine
		replay := mode == replayOlder && dns.IsSubDomain(p.olderZone, strings.ToLower(req.Question[0].Name))
		if replay {
			up = p.older
		}
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(req, up)
		if err != nil {
			return
		}
		p.total.Add(1)
		switch mode {
		case alterRecords:
			for _, rr := range r.Answer {
				if txt, ok := rr.(*dns.TXT); ok {
					txt.Txt = []string{"forged"}
					p.lies.Add(1)
				}
			}
		case forgeSignatures:
			for _, rr := range append(r.Answer, r.Ns...) {
				if s, ok := rr.(*dns.RRSIG); ok {
					b, _ := base64.StdEncoding.DecodeString(s.Signature)
					b[len(b)-1] ^= 0x5a
					s.Signature = base64.StdEncoding.EncodeToString(b)
					p.lies.Add(1)
				}
			}
		case replayOlder:
			if replay {
				p.lies.Add(1)
			}
		}
		w.WriteMsg(r)
	})
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ { // UDP and TCP on one port: retry when TCP's is taken
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			t.Fatal(err)
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	p.addr = pc.LocalAddr().String()
	return p
}

// stubProc is a running `ddnrs stub`.
type stubProc struct {
	*proc
	addr string
}

func startStubProc(t *testing.T, args ...string) *stubProc {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "stub-ready.json")
	p := startProc(t, t.TempDir(), ddnrsBin, append([]string{"stub", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--ready-file", ready, "--log-queries"}, args...)...)
	var r struct {
		DNS string `json:"dns"`
	}
	waitUntil(t, "the stub's ready file", func() error {
		if p.exited() {
			t.Fatalf("ddnrs stub exited: %v\n%s", p.err, p.out.String())
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &r)
	})
	return &stubProc{proc: p, addr: r.DNS}
}

// probeResult sums up a stretch of 10 ms probes through the stub.
type probeResult struct {
	queries, answered int
	longestGap        time.Duration
	unverified        []string // answers served that are not the genuine, verified ones
}

// probeStub asks the stub every 10 ms for a new name under the groups'
// wildcards (never cached: each is fetched from a node and verified) for
// d, and reports the longest time without a verified answer.
func probeStub(t *testing.T, s *stubProc, d time.Duration, seq *atomic.Int64) probeResult {
	t.Helper()
	var res probeResult
	last := time.Now()
	end := last.Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		if now.After(end) {
			break
		}
		i := seq.Add(1)
		g := i % 2
		name := fmt.Sprintf("p%d.wild.g%d.example.", i, g)
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		m.SetEdns0(1232, true)
		res.queries++
		r, _, err := (&dns.Client{Net: "udp", Timeout: 3 * time.Second}).Exchange(m, s.addr)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			continue
		}
		want := fmt.Sprintf("wild %d", g)
		var got string
		for _, rr := range r.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				got = strings.Join(txt.Txt, "")
			}
		}
		if got != want || !r.AuthenticatedData {
			res.unverified = append(res.unverified, fmt.Sprintf("%s: TXT %q AD %v", name, got, r.AuthenticatedData))
			continue
		}
		res.answered++
		at := time.Now()
		if gap := at.Sub(last); gap > res.longestGap {
			res.longestGap = gap
		}
		last = at
	}
	if gap := time.Since(last); gap > res.longestGap {
		res.longestGap = gap
	}
	return res
}

// TestStubInFrontOfTwoGroups: `ddnrs stub` in front of two overlay groups.
// A 10 ms probe runs through it while its entry node is SIGKILLed, then
// while a node lies (altered records, forged signatures, an older serial
// from a real node holding the zone's previous version): every answer
// served is the genuine one with AD, and the longest gap without a
// verified answer is logged (the figure the issue asks under 200 ms; not
// asserted, the machine is shared). Restarted, the stub serves its cached
// answers and still refuses the older serial; dig gets a DDNRS name with
// AD and a name of the outside world (a local Unbound serving
// example.com.) without.
func TestStubInFrontOfTwoGroups(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	gs, _, _ := startOverlayGroups(t, 2, 2)
	dir := t.TempDir()

	// g1's zone at serial 2 in its group; serial 1, genuinely signed,
	// stays in a ddnrs dev of its own: the replay.
	zf := filepath.Join(filepath.Dir(gs[1].dir), "g1.zone")
	old, err := os.ReadFile(zf)
	if err != nil {
		t.Fatal(err)
	}
	older := startDev(t, filepath.Join(dir, "older"), "--zone", zf, "--key", gs[1].key)
	newer := strings.Replace(string(old), "hostmaster 1 7200", "hostmaster 2 7200", 1) + "v2 TXT \"second version\"\n"
	zf2 := filepath.Join(dir, "g1-v2.zone")
	if err := os.WriteFile(zf2, []byte(newer), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, dir, ddnrsBin, "zone", "publish", "--server", gs[1].members[0].Admin,
		"--ca", filepath.Join(gs[1].dir, "ca", "ca.crt"), "--cert", filepath.Join(gs[1].dir, "ops", "node.crt"),
		"--tls-key", filepath.Join(gs[1].dir, "ops", "node.key"), "--key", gs[1].key, zf2)

	// The outside world: Unbound serving example.com. itself.
	outside := startUnboundConf(t, unboundConf{
		server: "\tlocal-zone: \"example.com.\" static\n\tlocal-data: \"www.example.com. 300 IN A 192.0.2.99\"\n\tlocal-data: \"example.com. 300 IN SOA ns.example.com. host.example.com. 1 3600 600 86400 300\"\n",
		probe:  "example.com.",
	})

	anchors := filepath.Join(dir, "anchors.keys")
	if err := os.WriteFile(anchors, []byte(gs[0].anchor+"\n"+gs[1].anchor+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	liar := startLyingProxy(t, gs[1].members[0].DNS, older.addr, gs[1].zone, 5*time.Millisecond)
	slow := startLyingProxy(t, gs[1].members[1].DNS, "", "", 25*time.Millisecond)
	entry := gs[0].members[0]
	data := filepath.Join(dir, "stub")
	args := []string{"--data", data, "--trust-anchor", anchors, "--node", entry.DNS, "--node", liar.addr, "--node", slow.addr,
		"--upstream", fmt.Sprintf("127.0.0.1:%d", outside), "--probe-interval", "1s"}
	s := startStubProc(t, args...)

	var seq atomic.Int64
	check := func(phase string, r probeResult) {
		t.Helper()
		t.Logf("%s: %d of %d probes answered (verified), longest gap without a verified answer %v", phase, r.answered, r.queries, r.longestGap.Round(time.Millisecond))
		for _, u := range r.unverified {
			t.Errorf("%s: an answer that is not the verified one was served: %s", phase, u)
		}
		if r.answered == 0 {
			t.Errorf("%s: no probe answered", phase)
		}
	}
	check("healthy", probeStub(t, s, 500*time.Millisecond, &seq))
	entry.p.cmd.Process.Kill() // SIGKILL
	check("entry node SIGKILLed", probeStub(t, s, time.Second, &seq))
	// Each lie on a fresh stub process (same data): a node found lying is
	// ranked last for a minute, so each lie starts with the liar, the
	// fastest live node, as the entry node again.
	for _, c := range []struct {
		phase string
		mode  int32
	}{{"node alters records", alterRecords}, {"node forges signatures", forgeSignatures}, {"node replays an older serial", replayOlder}} {
		if err := s.stop(); err != nil {
			t.Fatalf("stopping the stub: %v\n%s", err, s.out.String())
		}
		liar.mode.Store(c.mode)
		s = startStubProc(t, args...)
		check(c.phase, probeStub(t, s, time.Second, &seq))
		refused := strings.Count(s.out.String(), "answer refused: it does not verify")
		t.Logf("%s: the stub refused %d of its answers", c.phase, refused)
		if refused == 0 {
			t.Errorf("%s: the liar was never asked (or its lies not refused):\n%s", c.phase, s.out.String())
		}
	}

	// Restarted: the cache and the floor persist.
	if err := s.stop(); err != nil {
		t.Fatalf("stopping the stub: %v\n%s", err, s.out.String())
	}
	s = startStubProc(t, args...)
	if !strings.Contains(s.out.String(), "verified answers loaded from disk") || strings.Contains(s.out.String(), "loaded=0 ") {
		t.Errorf("the restarted stub loaded no verified answer from disk:\n%s", s.out.String())
	}
	digOut := runCmd(t, dir, "dig", "@127.0.0.1", "-p", portOf(s.addr), "p1.wild.g1.example.", "TXT", "+dnssec", "+time=3", "+tries=1")
	if !strings.Contains(digOut, " ad") || !strings.Contains(digOut, "\"wild 1\"") {
		t.Errorf("dig after restart, a cached name:\n%s", digOut)
	}
	// Restarted without its cache file: the serial floor alone
	// (serials.json) refuses the replay of the older serial.
	if err := s.stop(); err != nil {
		t.Fatalf("stopping the stub: %v\n%s", err, s.out.String())
	}
	if err := os.Remove(filepath.Join(data, "cache.db")); err != nil {
		t.Fatal(err)
	}
	liar.mode.Store(replayOlder)
	s = startStubProc(t, args...)
	for i := range 20 {
		name := fmt.Sprintf("after%d.wild.g1.example.", i)
		r, err := askErr(s.addr, name, dns.TypeTXT, true)
		if err != nil || r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || !strings.Contains(r.String(), "\"wild 1\"") {
			t.Fatalf("after restart, %s = %v, %v; want the verified answer", name, r, err)
		}
	}
	if !strings.Contains(s.out.String(), "older than one already seen") {
		t.Errorf("after a restart without the cache file, the replayed older serial was not refused by the floor:\n%s", s.out.String())
	}

	// dig: a DDNRS name with AD, an outside name without.
	digOut = runCmd(t, dir, "dig", "@127.0.0.1", "-p", portOf(s.addr), "www.g0.example.", "A", "+dnssec", "+time=3", "+tries=1")
	if !strings.Contains(digOut, " ad") || !strings.Contains(digOut, "192.0.2.10") {
		t.Errorf("dig @stub www.g0.example. A: want 192.0.2.10 with the ad flag:\n%s", digOut)
	}
	digOut = runCmd(t, dir, "dig", "@127.0.0.1", "-p", portOf(s.addr), "www.example.com.", "A", "+time=3", "+tries=1")
	if !strings.Contains(digOut, "192.0.2.99") || strings.Contains(digOut, " ad;") || strings.Contains(digOut, " ad ") {
		t.Errorf("dig @stub www.example.com. A: want the outside world's 192.0.2.99, without ad:\n%s", digOut)
	}
	if !strings.Contains(s.out.String(), "ddnrs_verified=false") || !strings.Contains(s.out.String(), "path=forwarded") {
		t.Errorf("the stub's log does not say the outside answer was forwarded, not verified:\n%s", s.out.String())
	}
}

// TestStubFromTheLogAlone: a stub given only the registry's log (--log
// and its verifier key; no --node, no --trust-anchor) learns the entry
// nodes from the log's node-admission entries and the owner keys from
// its claims, and serves ddnrs dev's demo zone verified (AD); a name of
// no DDNRS zone is refused (no upstream), never marked verified.
func TestStubFromTheLogAlone(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	dir := t.TempDir()
	data := filepath.Join(dir, "dev")
	d := startDev(t, data, "--api", "127.0.0.1:0")
	if d.ready.API == "" {
		t.Fatal("ddnrs dev reported no REST API")
	}
	s := startStubProc(t, "--data", filepath.Join(dir, "stub"), "--log", d.ready.API,
		"--log-key", filepath.Join(data, "log.pub"), "--follow-interval", "1s", "--probe-interval", "1s")
	// The stub reads the log at start; the dev members' admissions are in
	// it once their first heartbeats committed.
	var r *dns.Msg
	waitUntil(t, "a verified answer through a stub that knows only the log", func() error {
		var err error
		r, err = askErr(s.addr, "www.demo.ddnrs.", dns.TypeA, true)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0 {
			return fmt.Errorf("rcode %s, AD %t, %d answers", dns.RcodeToString[r.Rcode], r.AuthenticatedData, len(r.Answer))
		}
		return nil
	})
	// The stub logs an answer after sending it: wait (bounded) for the line.
	waitUntil(t, "the stub's log line saying the answer was verified", func() error {
		if !strings.Contains(s.out.String(), "name=www.demo.ddnrs. type=A rcode=NOERROR path=verified ddnrs_verified=true") {
			return fmt.Errorf("not in its log yet:\n%s", s.out.String())
		}
		return nil
	})
	digOut := runCmd(t, dir, "dig", "@127.0.0.1", "-p", portOf(s.addr), "nope.demo.ddnrs.", "A", "+dnssec", "+time=3", "+tries=1")
	if !strings.Contains(digOut, "NXDOMAIN") || !strings.Contains(digOut, " ad") {
		t.Errorf("dig through the stub, a name the zone denies: want a verified NXDOMAIN:\n%s", digOut)
	}
	out, err := askErr(s.addr, "www.example.com.", dns.TypeA, true)
	if err != nil || out.Rcode != dns.RcodeRefused || out.AuthenticatedData {
		t.Errorf("a name of no DDNRS zone without upstreams = %v, %v; want REFUSED without AD", out, err)
	}
}
