package dnsfront_test

import (
	"fmt"
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Records the cases below share.
const (
	soa       = "example. 300 SOA ns1.example. hostmaster.example. 2024010101 7200 3600 1209600 300"
	soaSig    = "example. 300 RRSIG SOA 1"
	wwwA      = "www.example. 3600 A 192.0.2.80"
	wwwASig   = "www.example. 3600 RRSIG A 2"
	apexNSEC  = "example. 300 NSEC alias.example. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY"
	apexNSIG  = "example. 300 RRSIG NSEC 1"
	nodsNSEC  = "nods.example. 300 NSEC ns1.example. NS RRSIG NSEC"
	nodsNSIG  = "nods.example. 300 RRSIG NSEC 2"
	exactNSEC = "exact.wild.example. 300 NSEC www.example. A RRSIG NSEC"
	exactNSIG = "exact.wild.example. 300 RRSIG NSEC 3"
	wildNSEC  = "*.wild.example. 300 NSEC exact.wild.example. A TXT RRSIG NSEC"
	wildNSIG  = "*.wild.example. 300 RRSIG NSEC 2"
	subDS     = "sub.example. 3600 DS 12345 15 2 2BB183AF5F22588179A53B0A98631FAD1A292118DD54CAF0B3F1D2A0C1E5E1DE"
	subDSSig  = "sub.example. 3600 RRSIG DS 2"
)

var (
	subNS   = []string{"sub.example. 3600 NS ns1.sub.example.", "sub.example. 3600 NS ns2.sub.example."}
	subGlue = []string{"ns1.sub.example. 3600 A 192.0.2.201", "ns1.sub.example. 3600 AAAA 2001:db8::201", "ns2.sub.example. 3600 A 192.0.2.202"}
)

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// answerCases cover RFC 1034 §4.3.2 lookups with the DNSSEC additions of
// RFC 4035 §3.1, against the shared fixture plus dnstest.Extra, signed.
var answerCases = []dnstest.Case{
	// Positive answers: AA, the RRset, its RRSIG only with DO.
	{Name: "www.example.", Type: dns.TypeA, AA: true, Answer: []string{wwwA}},
	{Name: "www.example.", Type: dns.TypeA, DO: true, AA: true, Answer: []string{wwwA, wwwASig}},
	{Name: "txt.example.", Type: dns.TypeTXT, AA: true, Answer: []string{`txt.example. 3600 TXT "first string" "second string" "third"`}},
	{Name: "sub.example.", Type: dns.TypeDS, DO: true, AA: true, Answer: []string{subDS, subDSSig}},

	// NXDOMAIN: SOA with the negative TTL (min(3600, 300)); with DO the
	// NSEC covering the name and the one denying *.example.
	{Name: "nothere.example.", Type: dns.TypeA, Rcode: dns.RcodeNameError, AA: true, Ns: []string{soa}},
	{Name: "nothere.example.", Type: dns.TypeA, DO: true, Rcode: dns.RcodeNameError, AA: true,
		Ns: []string{soa, soaSig, nodsNSEC, nodsNSIG, apexNSEC, apexNSIG}},
	// The covering NSEC also denies the wildcard: sent once.
	{Name: "a.exact.wild.example.", Type: dns.TypeA, DO: true, Rcode: dns.RcodeNameError, AA: true,
		Ns: []string{soa, soaSig, exactNSEC, exactNSIG}},

	// NODATA: the name exists without the type; with DO its own NSEC.
	{Name: "www.example.", Type: dns.TypeMX, AA: true, Ns: []string{soa}},
	{Name: "www.example.", Type: dns.TypeMX, DO: true, AA: true,
		Ns: []string{soa, soaSig, "www.example. 300 NSEC example. A AAAA RRSIG NSEC", "www.example. 300 RRSIG NSEC 2"}},
	// An empty non-terminal is NODATA (RFC 8020), proved by the NSEC
	// whose owner precedes it.
	{Name: "b.c.example.", Type: dns.TypeA, AA: true, Ns: []string{soa}},
	{Name: "b.c.example.", Type: dns.TypeA, DO: true, AA: true,
		Ns: []string{soa, soaSig, "c.example. 300 NSEC a.b.c.example. TXT RRSIG NSEC", "c.example. 300 RRSIG NSEC 2"}},
	{Name: "y.deep.example.", Type: dns.TypeA, AA: true, Ns: []string{soa}},

	// CNAME chains inside the zone are followed; the rcode is that of
	// the last name (RFC 6604).
	{Name: "alias.example.", Type: dns.TypeA, AA: true, Answer: []string{
		"alias.example. 3600 CNAME alias2.example.", "alias2.example. 3600 CNAME www.example.", wwwA}},
	{Name: "alias.example.", Type: dns.TypeA, DO: true, AA: true, Answer: []string{
		"alias.example. 3600 CNAME alias2.example.", "alias.example. 3600 RRSIG CNAME 2",
		"alias2.example. 3600 CNAME www.example.", "alias2.example. 3600 RRSIG CNAME 2", wwwA, wwwASig}},
	{Name: "alias.example.", Type: dns.TypeCNAME, AA: true, Answer: []string{"alias.example. 3600 CNAME alias2.example."}},
	{Name: "ext.example.", Type: dns.TypeA, AA: true, Answer: []string{"ext.example. 3600 CNAME www.example.net."}},
	// A target in another hosted zone is left to the resolver too.
	{Name: "toother.example.", Type: dns.TypeA, AA: true, Answer: []string{"toother.example. 3600 CNAME www.other.test."}},
	{Name: "loop1.example.", Type: dns.TypeA, AA: true, Answer: []string{
		"loop1.example. 3600 CNAME loop2.example.", "loop2.example. 3600 CNAME loop1.example."}},
	{Name: "self.example.", Type: dns.TypeA, AA: true, Answer: []string{"self.example. 3600 CNAME self.example."}},
	{Name: "tonx.example.", Type: dns.TypeA, DO: true, Rcode: dns.RcodeNameError, AA: true,
		Answer: []string{"tonx.example. 3600 CNAME nothere.example.", "tonx.example. 3600 RRSIG CNAME 2"},
		Ns:     []string{soa, soaSig, nodsNSEC, nodsNSIG, apexNSEC, apexNSIG}},
	{Name: "todeleg.example.", Type: dns.TypeA, DO: true, AA: true,
		Answer: []string{"todeleg.example. 3600 CNAME host.sub.example.", "todeleg.example. 3600 RRSIG CNAME 2"},
		Ns:     cat(subNS, []string{subDS, subDSSig}), Extra: subGlue},
	{Name: "towild.example.", Type: dns.TypeA, DO: true, AA: true,
		Answer: []string{"towild.example. 3600 CNAME foo.wild.example.", "towild.example. 3600 RRSIG CNAME 2",
			"foo.wild.example. 3600 A 192.0.2.99", "foo.wild.example. 3600 RRSIG A 2"},
		Ns: []string{exactNSEC, exactNSIG}},

	// Wildcards (RFC 4592): the owner is the query name; the RRSIG keeps
	// Labels 2, and with DO the NSEC covering the query name comes too.
	{Name: "foo.wild.example.", Type: dns.TypeA, AA: true, Answer: []string{"foo.wild.example. 3600 A 192.0.2.99"}},
	{Name: "foo.wild.example.", Type: dns.TypeA, DO: true, AA: true,
		Answer: []string{"foo.wild.example. 3600 A 192.0.2.99", "foo.wild.example. 3600 RRSIG A 2"},
		Ns:     []string{exactNSEC, exactNSIG}},
	{Name: "a.b.wild.example.", Type: dns.TypeTXT, DO: true, AA: true,
		Answer: []string{`a.b.wild.example. 3600 TXT "wildcard"`, "a.b.wild.example. 3600 RRSIG TXT 2"},
		Ns:     []string{wildNSEC, wildNSIG}},
	// Wildcard NODATA: the wildcard's NSEC and the covering one.
	{Name: "foo.wild.example.", Type: dns.TypeMX, DO: true, AA: true,
		Ns: []string{soa, soaSig, wildNSEC, wildNSIG, exactNSEC, exactNSIG}},
	// An existing name never matches the wildcard: NODATA.
	{Name: "exact.wild.example.", Type: dns.TypeTXT, AA: true, Ns: []string{soa}},
	{Name: "exact.wild.example.", Type: dns.TypeA, AA: true, Answer: []string{"exact.wild.example. 3600 A 192.0.2.100"}},
	// Nor across an existing name: *.deep does not reach a.y.deep.
	{Name: "a.y.deep.example.", Type: dns.TypeA, Rcode: dns.RcodeNameError, AA: true, Ns: []string{soa}},
	{Name: "x.deep.example.", Type: dns.TypeA, AA: true, Answer: []string{"x.deep.example. 3600 A 192.0.2.77"}},
	// A wildcard CNAME is expanded and followed.
	{Name: "x.cw.example.", Type: dns.TypeA, DO: true, AA: true,
		Answer: []string{"x.cw.example. 3600 CNAME www.example.", "x.cw.example. 3600 RRSIG CNAME 2", wwwA, wwwASig},
		Ns:     []string{"*.cw.example. 300 NSEC *.deep.example. CNAME RRSIG NSEC", "*.cw.example. 300 RRSIG NSEC 2"}},

	// Referrals: NOERROR, AA clear, NS unsigned, glue; with DO the DS or
	// the NSEC proving there is none.
	{Name: "host.sub.example.", Type: dns.TypeA, Ns: subNS, Extra: subGlue},
	{Name: "host.sub.example.", Type: dns.TypeA, DO: true, Ns: cat(subNS, []string{subDS, subDSSig}), Extra: subGlue},
	{Name: "sub.example.", Type: dns.TypeNS, Ns: subNS, Extra: subGlue},
	{Name: "ns1.sub.example.", Type: dns.TypeA, Ns: subNS, Extra: subGlue},
	{Name: "deeper.host.sub.example.", Type: dns.TypeDS, Ns: subNS, Extra: subGlue},
	{Name: "nods.example.", Type: dns.TypeA, DO: true,
		Ns: []string{"nods.example. 3600 NS ns.example.net.", nodsNSEC, nodsNSIG}},
	// DS at a cut: the parent answers, authoritatively.
	{Name: "nods.example.", Type: dns.TypeDS, DO: true, AA: true, Ns: []string{soa, soaSig, nodsNSEC, nodsNSIG}},
	// DS at our apex with no parent held: NODATA from the zone itself.
	{Name: "example.", Type: dns.TypeDS, DO: true, AA: true, Ns: []string{soa, soaSig, apexNSEC, apexNSIG}},

	// ANY (RFC 8482): one RRset, the lowest type.
	{Name: "www.example.", Type: dns.TypeANY, AA: true, Answer: []string{wwwA}},
	{Name: "alias.example.", Type: dns.TypeANY, AA: true, Answer: []string{"alias.example. 3600 CNAME alias2.example."}},
	{Name: "foo.wild.example.", Type: dns.TypeANY, DO: true, AA: true,
		Answer: []string{"foo.wild.example. 3600 A 192.0.2.99", "foo.wild.example. 3600 RRSIG A 2"},
		Ns:     []string{exactNSEC, exactNSIG}},
	{Name: "nothere.example.", Type: dns.TypeANY, Rcode: dns.RcodeNameError, AA: true, Ns: []string{soa}},
	{Name: "b.c.example.", Type: dns.TypeANY, AA: true, Ns: []string{soa}},

	// Type RRSIG, minimally as Knot does: the signatures of one RRset.
	{Name: "www.example.", Type: dns.TypeRRSIG, AA: true, Answer: []string{"www.example. 3600 RRSIG A 2"}},
	{Name: "foo.wild.example.", Type: dns.TypeRRSIG, AA: true, Answer: []string{"foo.wild.example. 3600 RRSIG A 2"}},
	{Name: "b.c.example.", Type: dns.TypeRRSIG, AA: true, Ns: []string{soa}},
	{Name: "host.sub.example.", Type: dns.TypeRRSIG, Ns: subNS, Extra: subGlue},

	// Outside every hosted zone.
	{Name: "www.example.org.", Type: dns.TypeA, Rcode: dns.RcodeRefused},
	{Name: ".", Type: dns.TypeNS, Rcode: dns.RcodeRefused},
	// Zone transfer is not offered; type 0 is not a type.
	{Name: "example.", Type: dns.TypeAXFR, Rcode: dns.RcodeRefused},
	{Name: "example.", Type: dns.TypeIXFR, Rcode: dns.RcodeRefused},
	{Name: "example.", Type: dns.TypeNone, Rcode: dns.RcodeNotImplemented},
}

func signedHandler(t *testing.T, opt dnsfront.Options) *dnsfront.Handler {
	t.Helper()
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.7\n")
	return dnsfront.NewHandler(dnstest.NewZones(z, other), opt)
}

func TestAnswer(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	for _, c := range answerCases {
		req := dnstest.Query(c.Name, c.Type, c.DO)
		resp := new(dns.Msg)
		h.Answer(req, resp, dnsfront.TCP)
		c.Check(t, resp)
		if resp.Id != req.Id || !resp.Response || resp.Opcode != dns.OpcodeQuery {
			t.Errorf("Answer(%q, %s) header = id %d qr %t opcode %d, want id %d qr true opcode 0", c.Name, c, resp.Id, resp.Response, resp.Opcode, req.Id)
		}
		if len(resp.Question) != 1 || resp.Question[0] != req.Question[0] {
			t.Errorf("Answer(%q, %s) question = %v, want %v", c.Name, c, resp.Question, req.Question)
		}
		if got := resp.IsEdns0() != nil; got != c.DO {
			t.Errorf("Answer(%q, %s) has OPT = %t, want %t", c.Name, c, got, c.DO)
		}
	}
}

// Unsigned zones answer the same, without RRSIGs or NSEC even with DO.
func TestAnswerUnsigned(t *testing.T) {
	h := dnsfront.NewHandler(dnstest.NewZones(dnstest.Example(t)), dnsfront.Options{})
	cases := []dnstest.Case{
		{Name: "www.example.", Type: dns.TypeA, DO: true, AA: true, Answer: []string{wwwA}},
		{Name: "nothere.example.", Type: dns.TypeA, DO: true, Rcode: dns.RcodeNameError, AA: true, Ns: []string{soa}},
		{Name: "foo.wild.example.", Type: dns.TypeA, DO: true, AA: true, Answer: []string{"foo.wild.example. 3600 A 192.0.2.99"}},
		{Name: "host.sub.example.", Type: dns.TypeA, DO: true, Ns: cat(subNS, []string{subDS}), Extra: subGlue},
		{Name: "www.example.", Type: dns.TypeRRSIG, AA: true, Ns: []string{soa}},
	}
	for _, c := range cases {
		resp := new(dns.Msg)
		h.Answer(dnstest.Query(c.Name, c.Type, c.DO), resp, dnsfront.UDP)
		c.Check(t, resp)
	}
}

// With the child zone hosted too, names in it come from the child, and
// DS at the child's apex from the parent (RFC 4035 §3.1.4.1).
func TestAnswerParentAndChild(t *testing.T) {
	parent, _ := dnstest.Sign(t, dnstest.Example(t))
	child, _ := dnstest.Sign(t, dnstest.Parse(t, "sub.example.", `
@    3600 IN SOA ns1 hm 7 7200 3600 1209600 60
@    3600 IN NS  ns1
@    3600 IN NS  ns2
ns1  3600 IN A   192.0.2.201
ns2  3600 IN A   192.0.2.202
host 3600 IN A   192.0.2.210
`))
	h := dnsfront.NewHandler(dnstest.NewZones(parent, child), dnsfront.Options{})
	cases := []dnstest.Case{
		{Name: "host.sub.example.", Type: dns.TypeA, AA: true, Answer: []string{"host.sub.example. 3600 A 192.0.2.210"}},
		{Name: "sub.example.", Type: dns.TypeDS, DO: true, AA: true, Answer: []string{subDS, subDSSig}},
		// The child's own NS answer brings its authoritative addresses.
		{Name: "sub.example.", Type: dns.TypeNS, AA: true, Answer: subNS,
			Extra: []string{"ns1.sub.example. 3600 A 192.0.2.201", "ns2.sub.example. 3600 A 192.0.2.202"}},
		{Name: "nothere.sub.example.", Type: dns.TypeA, Rcode: dns.RcodeNameError, AA: true,
			Ns: []string{"sub.example. 60 SOA ns1.sub.example. hm.sub.example. 7 7200 3600 1209600 60"}},
		// The CNAME into the child is not followed: another zone.
		{Name: "todeleg.example.", Type: dns.TypeA, AA: true, Answer: []string{"todeleg.example. 3600 CNAME host.sub.example."},
			Ns: subNS, Extra: subGlue},
	}
	for _, c := range cases {
		resp := new(dns.Msg)
		h.Answer(dnstest.Query(c.Name, c.Type, c.DO), resp, dnsfront.UDP)
		c.Check(t, resp)
	}
}

// everything is a Reader that wrongly returns its zone for every name.
type everything struct{ z *zone.Zone }

func (e everything) Zone(string) *zone.Zone { return e.z }

// A zone that does not enclose the name is never used to answer it.
func TestAnswerReaderOutsideZone(t *testing.T) {
	h := dnsfront.NewHandler(everything{dnstest.Example(t)}, dnsfront.Options{})
	for _, name := range []string{"www.example.org.", "example.", "."} {
		resp := new(dns.Msg)
		h.Answer(dnstest.Query(name, dns.TypeA, false), resp, dnsfront.UDP)
		want := dns.RcodeRefused
		if name == "example." {
			want = dns.RcodeSuccess
		}
		if resp.Rcode != want {
			t.Errorf("Answer(%q, A) rcode = %s, want %s", name, dns.RcodeToString[resp.Rcode], dns.RcodeToString[want])
		}
	}
}

// additionalZone holds the targets of NS, MX and SRV records for the
// additional-section cases: in the zone, outside it, behind a CNAME,
// matched by a wildcard, below a cut; referrals with in-domain glue,
// sibling glue and an authoritative in-zone name server.
func additionalZone(t testing.TB) *zone.Zone {
	t.Helper()
	text := `$ORIGIN add.test.
@         3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@         3600 IN NS  ns1
@         3600 IN NS  ns.other.net.
@         3600 IN MX  10 mail
@         3600 IN MX  20 mx.other.net.
@         3600 IN MX  30 foo.wild
@         3600 IN MX  40 cn
@         3600 IN MX  50 host.sub
ns1       3600 IN A    192.0.2.53
ns1       3600 IN AAAA 2001:db8::53
mail      3600 IN A    192.0.2.25
mail      3600 IN AAAA 2001:db8::25
*.wild    3600 IN A    192.0.2.99
cn        3600 IN CNAME mail
twice     3600 IN MX  10 mail
twice     3600 IN MX  20 MAIL
out       3600 IN MX  10 mx.other.net.
self      3600 IN MX  10 self
self      3600 IN A   192.0.2.9
_sip._tcp 3600 IN SRV 0 5 5060 mail
sub       3600 IN NS  ns1.sub
sub       3600 IN NS  ns1
ns1.sub   3600 IN A    192.0.2.201
ns1.sub   3600 IN AAAA 2001:db8::201
host.sub  3600 IN A    192.0.2.210
sib       3600 IN NS  ns1.sub
`
	for i := range 12 {
		text += fmt.Sprintf("big 3600 IN NS n%d.big\nn%d.big 3600 IN A 198.51.100.%d\nn%d.big 3600 IN AAAA 2001:db8:1::%d\n", i, i, i, i, i)
		text += fmt.Sprintf("sibbig 3600 IN NS n%d.big\n", i)
		text += fmt.Sprintf("many 3600 IN MX %d m%d\nm%d 3600 IN A 203.0.113.%d\nm%d 3600 IN AAAA 2001:db8:2::%d\n", i, i, i, i, i, i)
	}
	z, _ := dnstest.Sign(t, dnstest.Parse(t, "add.test.", text))
	return z
}

// addrs returns the Summary lines of the A and AAAA records of the
// targets named prefix+i.add.test. (or .big.add.test.) for i in [0, n),
// and with partial the A record of target n alone.
func addrs(prefix, v4, v6 string, n int, partial bool) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d%s 3600 A %s%d", prefix, i, zoneSuffix(prefix), v4, i))
		six := fmt.Sprintf("%s%d", v6, i)
		if i == 0 {
			six = v6[:len(v6)-1] + ":"
		}
		out = append(out, fmt.Sprintf("%s%d%s 3600 AAAA %s", prefix, i, zoneSuffix(prefix), six))
	}
	if partial {
		out = append(out, fmt.Sprintf("%s%d%s 3600 A %s%d", prefix, n, zoneSuffix(prefix), v4, n))
	}
	return out
}

func zoneSuffix(prefix string) string {
	if prefix == "n" {
		return ".big.add.test."
	}
	return ".add.test."
}

// Additional-section processing (RFC 1034 §4.3.2 step 6, RFC 2782, RFC
// 9471), against the same cases as integration's Knot differential. The
// queries carry no EDNS unless DO is set, so UDP replies are limited to
// 512 octets.
func TestAnswerAdditional(t *testing.T) {
	h := dnsfront.NewHandler(dnstest.NewZones(additionalZone(t)), dnsfront.Options{})
	const (
		mailA    = "mail.add.test. 3600 A 192.0.2.25"
		mailAAAA = "mail.add.test. 3600 AAAA 2001:db8::25"
		ns1A     = "ns1.add.test. 3600 A 192.0.2.53"
		ns1AAAA  = "ns1.add.test. 3600 AAAA 2001:db8::53"
		glueA    = "ns1.sub.add.test. 3600 A 192.0.2.201"
		glueAAAA = "ns1.sub.add.test. 3600 AAAA 2001:db8::201"
	)
	apexMX := []string{"add.test. 3600 MX 10 mail.add.test.", "add.test. 3600 MX 20 mx.other.net.",
		"add.test. 3600 MX 30 foo.wild.add.test.", "add.test. 3600 MX 40 cn.add.test.", "add.test. 3600 MX 50 host.sub.add.test."}
	subNS := []string{"sub.add.test. 3600 NS ns1.sub.add.test.", "sub.add.test. 3600 NS ns1.add.test."}
	var manyMX, sibbigNS []string
	for i := range 12 {
		manyMX = append(manyMX, fmt.Sprintf("many.add.test. 3600 MX %d m%d.add.test.", i, i))
		sibbigNS = append(sibbigNS, fmt.Sprintf("sibbig.add.test. 3600 NS n%d.big.add.test.", i))
	}
	cases := []dnstest.Case{
		// MX targets: in the zone, matched by a wildcard (the owner is
		// the target), below a cut (glue); not outside the zone, not
		// behind a CNAME (cn.add.test. owns no address).
		{Name: "add.test.", Type: dns.TypeMX, AA: true, Answer: apexMX,
			Extra: []string{mailA, mailAAAA, "foo.wild.add.test. 3600 A 192.0.2.99", "host.sub.add.test. 3600 A 192.0.2.210"}},
		// With DO the authoritative addresses are signed, after all the
		// addresses; the glue is not (RFC 4035 §3.1.1, §2.2).
		{Name: "add.test.", Type: dns.TypeMX, DO: true, AA: true, Answer: append(apexMX[:5:5], "add.test. 3600 RRSIG MX 2"),
			Extra: []string{mailA, mailAAAA, "foo.wild.add.test. 3600 A 192.0.2.99", "host.sub.add.test. 3600 A 192.0.2.210",
				"mail.add.test. 3600 RRSIG A 3", "mail.add.test. 3600 RRSIG AAAA 3", "foo.wild.add.test. 3600 RRSIG A 3"}},
		{Name: "add.test.", Type: dns.TypeNS, DO: true, AA: true,
			Answer: []string{"add.test. 3600 NS ns1.add.test.", "add.test. 3600 NS ns.other.net.", "add.test. 3600 RRSIG NS 2"},
			Extra:  []string{ns1A, ns1AAAA, "ns1.add.test. 3600 RRSIG A 3", "ns1.add.test. 3600 RRSIG AAAA 3"}},
		// A target outside the zone: nothing to add.
		{Name: "out.add.test.", Type: dns.TypeMX, DO: true, AA: true,
			Answer: []string{"out.add.test. 3600 MX 10 mx.other.net.", "out.add.test. 3600 RRSIG MX 3"}},
		// A target named twice (in two letter cases): its addresses once.
		{Name: "twice.add.test.", Type: dns.TypeMX, AA: true,
			Answer: []string{"twice.add.test. 3600 MX 10 mail.add.test.", "twice.add.test. 3600 MX 20 MAIL.add.test."},
			Extra:  []string{mailA, mailAAAA}},
		{Name: "self.add.test.", Type: dns.TypeMX, DO: true, AA: true,
			Answer: []string{"self.add.test. 3600 MX 10 self.add.test.", "self.add.test. 3600 RRSIG MX 3"},
			Extra:  []string{"self.add.test. 3600 A 192.0.2.9", "self.add.test. 3600 RRSIG A 3"}},
		{Name: "_sip._tcp.add.test.", Type: dns.TypeSRV, AA: true,
			Answer: []string{"_sip._tcp.add.test. 3600 SRV 0 5 5060 mail.add.test."}, Extra: []string{mailA, mailAAAA}},
		// Referrals: in-domain glue unsigned, an in-zone server's
		// authoritative addresses signed.
		{Name: "www.sub.add.test.", Type: dns.TypeA, Ns: subNS, Extra: []string{glueA, glueAAAA, ns1A, ns1AAAA}},
		{Name: "www.sub.add.test.", Type: dns.TypeA, DO: true,
			Ns:    append(subNS[:2:2], "sub.add.test. 300 NSEC twice.add.test. NS RRSIG NSEC", "sub.add.test. 300 RRSIG NSEC 3"),
			Extra: []string{glueA, glueAAAA, ns1A, ns1AAAA, "ns1.add.test. 3600 RRSIG A 3", "ns1.add.test. 3600 RRSIG AAAA 3"}},
		// Sibling glue: the server is below another cut.
		{Name: "www.sib.add.test.", Type: dns.TypeA, Ns: []string{"sib.add.test. 3600 NS ns1.sub.add.test."}, Extra: []string{glueA, glueAAAA}},
		// In-domain glue that does not fit in 512 octets: TC (RFC 9471).
		{Name: "www.big.add.test.", Type: dns.TypeA, TC: true},
		// Sibling glue and MX addresses that do not fit are dropped,
		// whole RRsets from the end, without TC (RFC 2181 §9).
		{Name: "www.sibbig.add.test.", Type: dns.TypeA, Ns: sibbigNS, Extra: addrs("n", "198.51.100.", "2001:db8:1::", 6, false)},
		{Name: "many.add.test.", Type: dns.TypeMX, AA: true, Answer: manyMX, Extra: addrs("m", "203.0.113.", "2001:db8:2::", 5, true)},
	}
	for _, c := range cases {
		resp := new(dns.Msg)
		h.Answer(dnstest.Query(c.Name, c.Type, c.DO), resp, dnsfront.UDP)
		c.Check(t, resp)
	}
	// Over TCP nothing is dropped.
	for _, c := range []struct {
		name  string
		t     uint16
		extra int
	}{{"www.big.add.test.", dns.TypeA, 24}, {"www.sibbig.add.test.", dns.TypeA, 24}, {"many.add.test.", dns.TypeMX, 24}} {
		resp := new(dns.Msg)
		h.Answer(dnstest.Query(c.name, c.t, false), resp, dnsfront.TCP)
		if resp.Truncated || len(resp.Extra) != c.extra {
			t.Errorf("Answer(%q, %s) over TCP: TC %t, %d additional records, want no TC, %d", c.name, dns.TypeToString[c.t], resp.Truncated, len(resp.Extra), c.extra)
		}
	}
}

// Handle trims additional data on the wire as Answer does: the reply
// fits the client's buffer, TC only when in-domain glue does not fit.
func TestHandleAdditionalTrim(t *testing.T) {
	h := dnsfront.NewHandler(dnstest.NewZones(additionalZone(t)), dnsfront.Options{})
	cases := []struct {
		name   string
		t      uint16
		tc     bool
		answer int
		ns     int
		extra  int
	}{
		{"www.big.add.test.", dns.TypeA, true, 0, 0, 0},
		{"www.sibbig.add.test.", dns.TypeA, false, 0, 12, 12},
		{"many.add.test.", dns.TypeMX, false, 12, 0, 11},
		{"www.sub.add.test.", dns.TypeA, false, 0, 2, 4},
	}
	buf := make([]byte, 0, 65535)
	for _, c := range cases {
		raw, err := dnstest.Query(c.name, c.t, false).Pack()
		if err != nil {
			t.Fatal(err)
		}
		out, ok := h.Handle(raw, buf, dnsfront.UDP)
		if !ok {
			t.Fatalf("Handle(%s %s) sent nothing", c.name, dns.TypeToString[c.t])
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("Handle(%s %s): %v", c.name, dns.TypeToString[c.t], err)
		}
		if len(out) > 512 || resp.Truncated != c.tc || len(resp.Answer) != c.answer || len(resp.Ns) != c.ns || len(resp.Extra) != c.extra {
			t.Errorf("Handle(%s %s) = %d octets, TC %t, %d/%d/%d records; want <= 512, TC %t, %d/%d/%d",
				c.name, dns.TypeToString[c.t], len(out), resp.Truncated, len(resp.Answer), len(resp.Ns), len(resp.Extra), c.tc, c.answer, c.ns, c.extra)
		}
	}
}
