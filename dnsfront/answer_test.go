package dnsfront_test

import (
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
