package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startKnot runs knotd on a free loopback port serving a signed zone file
// as it is: no signing of its own, no journal, no write-back.
// It returns host:port once Knot answers the zone's SOA.
func startKnot(t *testing.T, origin, signedFile string) string {
	t.Helper()
	bin := needTool(t, "knotd", "knot")
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`server:
    rundir: %q
    listen: 127.0.0.1@%d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: %q
database:
    storage: %q
log:
  - target: stderr
    any: warning
zone:
  - domain: %s
    file: %q
    storage: %q
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
`, dir, port, filepath.Join(dir, "knot.sock"), filepath.Join(dir, "db"), origin, signedFile, dir)
	path := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dir, bin, "-c", path)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(origin, dns.TypeSOA)
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		if r, _, err := c.Exchange(m, addr); err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative {
			return addr
		}
		if p.exited() {
			t.Fatalf("knotd exited: %v\n%s", p.err, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("knotd on %s did not serve %s within 15 s\n%s", addr, origin, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// summary is the part of a response the differential test compares: rcode,
// the AA and TC flags, and each section's records as sorted text (the
// order of RRsets within a section carries no meaning; Knot, for one,
// sends the RRSIGs of additional data after all of it).
type summary struct {
	Rcode      string
	AA, TC     bool
	Answer     []string
	Authority  []string
	Additional []string
}

func summarize(m *dns.Msg) summary { return summarizeMasked(m, false) }

// summarizeMasked is summarize; with maskSigs it blanks each RRSIG's
// inception, expiration and signature, for comparing two signings of one
// zone made at different times.
func summarizeMasked(m *dns.Msg, maskSigs bool) summary {
	s := summary{Rcode: dns.RcodeToString[m.Rcode], AA: m.Authoritative, TC: m.Truncated}
	if opt := m.IsEdns0(); opt != nil && opt.ExtendedRcode() != 0 {
		s.Rcode = dns.RcodeToString[m.Rcode|opt.ExtendedRcode()]
	}
	text := func(rrs []dns.RR) []string {
		out := []string{}
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			rr = dns.Copy(rr)
			rr.Header().Name = strings.ToLower(rr.Header().Name)
			if sig, ok := rr.(*dns.RRSIG); ok && maskSigs {
				sig.Inception, sig.Expiration, sig.Signature = 0, 0, "MASKED"
			}
			out = append(out, strings.Join(strings.Fields(rr.String()), " "))
		}
		slices.Sort(out)
		return out
	}
	s.Answer, s.Authority, s.Additional = text(m.Answer), text(m.Ns), text(m.Extra)
	return s
}

// diffQuestion is one query of the differential table.
type diffQuestion struct {
	qname string
	qtype uint16
	do    bool
	edns  bool   // send an OPT record
	size  uint16 // EDNS buffer size when edns
	net   string // "udp" or "tcp"
}

func (q diffQuestion) String() string {
	s := fmt.Sprintf("%s %s %s", q.qname, dns.TypeToString[q.qtype], q.net)
	if q.edns {
		s += fmt.Sprintf(" edns=%d", q.size)
	} else {
		s += " noedns"
	}
	if q.do {
		s += " +do"
	}
	return s
}

func (q diffQuestion) ask(t *testing.T, addr string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(q.qname, q.qtype)
	if q.edns {
		m.SetEdns0(q.size, q.do)
	}
	c := &dns.Client{Net: q.net, Timeout: 3 * time.Second, UDPSize: 65535}
	var r *dns.Msg
	var err error
	for range 2 {
		if r, _, err = c.Exchange(m, addr); err == nil {
			return r
		}
	}
	t.Fatalf("%s to %s: %v", q, addr, err)
	return nil
}

// diffQuestions builds the table: every behaviour of the fixture zone, over
// UDP and TCP, with and without DO, plus the truncation cases.
func diffQuestions() []diffQuestion {
	type nt struct {
		name string
		t    uint16
	}
	base := []nt{
		{"example.", dns.TypeSOA},
		{"example.", dns.TypeNS},
		{"example.", dns.TypeDNSKEY},
		{"example.", dns.TypeMX},
		{"www.example.", dns.TypeA},
		{"www.example.", dns.TypeAAAA},
		{"WwW.ExAmPlE.", dns.TypeA},
		{"nope.example.", dns.TypeA},
		{"deep.nope.example.", dns.TypeA},
		{"www.example.", dns.TypeTXT},
		{"example.", dns.TypeTXT},
		{"b.c.example.", dns.TypeA},
		{"a.b.c.example.", dns.TypeA},
		{"c.example.", dns.TypeTXT},
		{"foo.wild.example.", dns.TypeA},
		{"foo.wild.example.", dns.TypeAAAA},
		{"a.b.wild.example.", dns.TypeTXT},
		{"exact.wild.example.", dns.TypeA},
		{"exact.wild.example.", dns.TypeTXT},
		{"*.wild.example.", dns.TypeA},
		{"alias.example.", dns.TypeA},
		{"alias.example.", dns.TypeCNAME},
		{"alias.example.", dns.TypeAAAA},
		{"ext.example.", dns.TypeA},
		{"sub.example.", dns.TypeNS},
		{"sub.example.", dns.TypeDS},
		{"host.sub.example.", dns.TypeA},
		{"ns1.sub.example.", dns.TypeA},
		{"nods.example.", dns.TypeNS},
		{"nods.example.", dns.TypeDS},
		{"www.nods.example.", dns.TypeA},
		{"example.", dns.TypeANY},
		{"txt.example.", dns.TypeTXT},
		{"big.example.", dns.TypeA},
		{"example.", dns.TypeDS},
		{"www.example.net.", dns.TypeA},
	}
	var qs []diffQuestion
	for _, b := range base {
		for _, n := range []string{"udp", "tcp"} {
			for _, do := range []bool{false, true} {
				qs = append(qs, diffQuestion{qname: b.name, qtype: b.t, do: do, edns: true, size: 1232, net: n})
			}
		}
	}
	qs = append(qs,
		diffQuestion{qname: "big.example.", qtype: dns.TypeA, edns: true, size: 512, net: "udp"},
		diffQuestion{qname: "big.example.", qtype: dns.TypeA, edns: true, size: 512, do: true, net: "udp"},
		diffQuestion{qname: "big.example.", qtype: dns.TypeA, net: "udp"},
		diffQuestion{qname: "www.example.", qtype: dns.TypeA, net: "udp"},
		diffQuestion{qname: "nope.example.", qtype: dns.TypeA, net: "udp"},
	)
	return qs
}

func TestDifferentialKnot(t *testing.T) {
	needBinary(t)
	// dev signs what it is given with its own clock, so Knot gets exactly
	// what ddnrs stores: import, export, then serve both from that.
	sz := signFixture(t)
	data := t.TempDir()
	runCmd(t, "", ddnrsBin, "ops", "store", "restore-zone", "--data", data, "--key", sz.Key, sz.Unsigned)
	served := filepath.Join(t.TempDir(), "served.zone")
	runCmd(t, "", ddnrsBin, "zone", "export", "--data", data, "--out", served, sz.Origin)
	knot := startKnot(t, sz.Origin, served)
	d := startDev(t, data, "--zone", sz.Unsigned, "--key", sz.Key)
	if len(d.ready.Zones) != 1 || d.ready.Zones[0].Zone != sz.Origin {
		t.Fatalf("dev on the imported data dir serves %+v, want only %s", d.ready.Zones, sz.Origin)
	}
	compareWithKnot(t, knot, d.addr, diffQuestions(), false)

	// The signed file `ddnrs zone sign` writes, served by Knot, gives the
	// same answers as ddnrs dev signing the same unsigned file itself,
	// except for the signature times and bytes.
	t.Run("zone sign output", func(t *testing.T) {
		knot := startKnot(t, sz.Origin, sz.Signed)
		compareWithKnot(t, knot, d.addr, diffQuestions(), true)
	})
}

// compareWithKnot asks both servers every question of qs and fails on
// differing rcode, AA, TC or records, and on a record ddnrs sends twice in
// one section. Sections are compared as sets: Knot repeats the addresses
// of a target that two MX records name, which carries nothing (RFC 2181
// §5). When both replies are truncated
// only the flags and the answer are compared: what a truncated reply
// carries besides is a hint the client discards when it retries over
// TCP, and Knot keeps the records that fit where ddnrs sends none.
func compareWithKnot(t *testing.T, knot, ddnrs string, qs []diffQuestion, maskSigs bool) {
	t.Helper()
	for _, q := range qs {
		want := summarizeMasked(q.ask(t, knot), maskSigs)
		got := summarizeMasked(q.ask(t, ddnrs), maskSigs)
		if got.Rcode != want.Rcode || got.AA != want.AA || got.TC != want.TC {
			t.Errorf("%s: ddnrs rcode %s aa=%v tc=%v, knot rcode %s aa=%v tc=%v",
				q, got.Rcode, got.AA, got.TC, want.Rcode, want.AA, want.TC)
		}
		if !slices.Equal(got.Answer, want.Answer) {
			t.Errorf("%s: answer differs\n%s", q, sectionDiff(got.Answer, want.Answer))
		}
		for _, sec := range [][]string{got.Answer, got.Authority, got.Additional} {
			for i := 1; i < len(sec); i++ {
				if sec[i] == sec[i-1] {
					t.Errorf("%s: ddnrs sent %s twice", q, sec[i])
				}
			}
		}
		if got.TC && want.TC {
			continue
		}
		got.Authority, want.Authority = slices.Compact(got.Authority), slices.Compact(want.Authority)
		got.Additional, want.Additional = slices.Compact(got.Additional), slices.Compact(want.Additional)
		if !slices.Equal(got.Authority, want.Authority) {
			t.Errorf("%s: authority differs\n%s", q, sectionDiff(got.Authority, want.Authority))
		}
		if !slices.Equal(got.Additional, want.Additional) {
			t.Errorf("%s: additional differs\n%s", q, sectionDiff(got.Additional, want.Additional))
		}
	}
}

// sectionDiff lists the records only ddnrs sent (+) and only Knot sent (-).
func sectionDiff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  + ddnrs only: %s\n", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  - knot only:  %s\n", w)
		}
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "  same records, different multiplicity: ddnrs %d, knot %d\n", len(got), len(want))
	}
	return b.String()
}

// additionalZone exercises additional-section processing (RFC 1034
// §4.3.2 step 6, RFC 2782, RFC 9471): MX and SRV targets in the zone,
// outside it, behind a CNAME (never followed), matched by a wildcard and
// below a cut; referrals with in-domain glue, sibling glue and an
// authoritative in-zone name server; a target named twice; a referral
// whose glue cannot fit in 512 octets; an MX set whose addresses cannot.
func additionalZone() string {
	var b strings.Builder
	b.WriteString(`$ORIGIN add.test.
$TTL 3600
@         IN SOA ns1 hostmaster 1 7200 3600 1209600 300
          IN NS  ns1
          IN NS  ns.other.net.
          IN MX  10 mail
          IN MX  20 mx.other.net.
          IN MX  30 foo.wild
          IN MX  40 cn
          IN MX  50 host.sub
ns1       IN A    192.0.2.53
          IN AAAA 2001:db8::53
mail      IN A    192.0.2.25
          IN AAAA 2001:db8::25
*.wild    IN A    192.0.2.99
cn        IN CNAME mail
twice     IN MX  10 mail
          IN MX  20 mail
out       IN MX  10 mx.other.net.
self      IN MX  10 self
          IN A   192.0.2.9
_sip._tcp IN SRV 0 5 5060 mail
_sip._udp IN SRV 0 5 5060 sip.other.net.
sub       IN NS  ns1.sub
          IN NS  ns1
          IN NS  ns.other.net.
ns1.sub   IN A    192.0.2.201
          IN AAAA 2001:db8::201
host.sub  IN A    192.0.2.210
sib       IN NS  ns1.sub
`)
	for i := range 30 {
		fmt.Fprintf(&b, "big IN NS n%d.big\nn%d.big IN A 198.51.100.%d\nn%d.big IN AAAA 2001:db8:1::%d\n", i, i, i, i, i)
		fmt.Fprintf(&b, "many IN MX %d m%d\nm%d IN A 203.0.113.%d\nm%d IN AAAA 2001:db8:2::%d\n", i, i, i, i, i, i)
	}
	return b.String()
}

// additionalQuestions asks for every case of additionalZone, over UDP
// and TCP, with and without DO, and the size-limited cases over UDP.
func additionalQuestions() []diffQuestion {
	type nt struct {
		name string
		t    uint16
	}
	base := []nt{
		{"add.test.", dns.TypeMX},
		{"add.test.", dns.TypeNS},
		{"twice.add.test.", dns.TypeMX},
		{"out.add.test.", dns.TypeMX},
		{"self.add.test.", dns.TypeMX},
		{"_sip._tcp.add.test.", dns.TypeSRV},
		{"_sip._udp.add.test.", dns.TypeSRV},
		{"www.sub.add.test.", dns.TypeA},
		{"sub.add.test.", dns.TypeNS},
		{"www.sib.add.test.", dns.TypeA},
		{"www.big.add.test.", dns.TypeA},
		{"many.add.test.", dns.TypeMX},
	}
	var qs []diffQuestion
	for _, b := range base {
		for _, n := range []string{"udp", "tcp"} {
			for _, do := range []bool{false, true} {
				qs = append(qs, diffQuestion{qname: b.name, qtype: b.t, do: do, edns: true, size: 1232, net: n})
			}
		}
		qs = append(qs, diffQuestion{qname: b.name, qtype: b.t, net: "udp"})
	}
	return qs
}

func TestDifferentialKnotAdditional(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	key := keygen(t, dir, "add.test.")
	unsigned := filepath.Join(dir, "add.zone")
	if err := os.WriteFile(unsigned, []byte(additionalZone()), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	runCmd(t, "", ddnrsBin, "ops", "store", "restore-zone", "--data", data, "--key", key, unsigned)
	served := filepath.Join(t.TempDir(), "served.zone")
	runCmd(t, "", ddnrsBin, "zone", "export", "--data", data, "--out", served, "add.test.")
	knot := startKnot(t, "add.test.", served)
	d := startDev(t, data, "--zone", unsigned, "--key", key)
	compareWithKnot(t, knot, d.addr, additionalQuestions(), false)
}
