// Package dnstest helps test code that answers DNS queries: a Reader over
// a map of zones, the shared test zone (signed and not), and a case table
// that checks a response section by section.
package dnstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Zones is a Reader (dnsfront.Reader) over a fixed set of zones, keyed by
// canonical origin.
type Zones map[string]*zone.Zone

// NewZones returns the zones keyed by their origins.
func NewZones(zs ...*zone.Zone) Zones {
	m := make(Zones, len(zs))
	for _, z := range zs {
		m[z.Origin] = z
	}
	return m
}

// Zone returns the zone whose origin is the longest suffix of the
// canonical name, or nil.
func (m Zones) Zone(name string) *zone.Zone {
	for n := name; n != ""; n = zone.Parent(n) {
		if z := m[n]; z != nil {
			return z
		}
	}
	return nil
}

// Extra holds records added to the shared fixture zone for the answer
// tests: CNAME loops, chains ending in NXDOMAIN, at a delegation or at a
// wildcard, a wildcard CNAME, and a wildcard under an existing name.
const Extra = `
$ORIGIN example.
loop1      3600 IN CNAME loop2
loop2      3600 IN CNAME loop1
self       3600 IN CNAME self
tonx       3600 IN CNAME nothere
todeleg    3600 IN CNAME host.sub
towild     3600 IN CNAME foo.wild
toother    3600 IN CNAME www.other.test.
*.cw       3600 IN CNAME www
*.deep     3600 IN A 192.0.2.77
x.y.deep   3600 IN A 192.0.2.78
`

// FixturePath returns the path of the shared zone file fixture
// zone/testdata/example.zone (origin example.).
func FixturePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "zone", "testdata", "example.zone")
}

// Example returns the shared fixture zone with the Extra records, unsigned.
func Example(t testing.TB) *zone.Zone {
	t.Helper()
	text, err := os.ReadFile(FixturePath())
	if err != nil {
		t.Fatal(err)
	}
	text = append(text, Extra...)
	z, err := zone.ParseFile(bytes.NewReader(text), "example.", "example.zone+extra")
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// SignTime is the clock the signed test zones are made with.
var SignTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Sign signs z with a key derived from a fixed seed, so runs repeat.
func Sign(t testing.TB, z *zone.Zone) (*zone.Zone, *zone.Key) {
	t.Helper()
	k, err := zone.GenerateKey(z.Origin, true, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := zone.Sign(z, k, zone.DefaultSignOptions(SignTime))
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// Parse builds a zone from master-file text.
func Parse(t testing.TB, origin, text string) *zone.Zone {
	t.Helper()
	z, err := zone.ParseFile(strings.NewReader(text), origin, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// Query returns a query for name/t with RD clear, and with an OPT record
// of buffer size 1232 and the DO bit when do is set.
func Query(name string, t uint16, do bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.RecursionDesired = false
	m.Id = 4242
	if do {
		m.SetEdns0(1232, true)
	}
	return m
}

// Summary renders rr on one line for comparison: the owner, TTL, type and
// data as in a zone file, except that an RRSIG shows only the type it
// covers and its Labels field (its other fields change with each
// signing), and a DNSKEY only its flags.
func Summary(rr dns.RR) string {
	h := rr.Header()
	prefix := h.Name + " " + strconv.FormatUint(uint64(h.Ttl), 10) + " " + dns.TypeToString[h.Rrtype]
	switch r := rr.(type) {
	case *dns.RRSIG:
		return fmt.Sprintf("%s %s %d", prefix, dns.TypeToString[r.TypeCovered], r.Labels)
	case *dns.DNSKEY:
		return fmt.Sprintf("%s %d", prefix, r.Flags)
	case *dns.OPT:
		return fmt.Sprintf(". OPT udp=%d do=%t version=%d", r.UDPSize(), r.Do(), r.Version())
	}
	data := strings.TrimPrefix(rr.String(), h.String())
	return prefix + " " + strings.Join(strings.Fields(data), " ")
}

// Summaries renders each record with Summary.
func Summaries(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, Summary(rr))
	}
	return out
}

// Case is one question and the response it must get. Sections hold
// Summary lines; nil means the section must be empty.
type Case struct {
	Name   string
	Type   uint16
	DO     bool
	Rcode  int
	AA, TC bool
	Answer []string
	Ns     []string
	Extra  []string // OPT excluded
}

func (c Case) String() string {
	s := fmt.Sprintf("%s/%s", c.Name, dns.TypeToString[c.Type])
	if c.DO {
		s += "+do"
	}
	return s
}

// Check compares resp with the case and reports every difference with
// t.Errorf, as "Answer(name, type) = got, want want".
func (c Case) Check(t testing.TB, resp *dns.Msg) {
	t.Helper()
	if resp.Rcode != c.Rcode {
		t.Errorf("Answer(%q, %s) rcode = %s, want %s", c.Name, c, dns.RcodeToString[resp.Rcode], dns.RcodeToString[c.Rcode])
	}
	if resp.Authoritative != c.AA || resp.Truncated != c.TC {
		t.Errorf("Answer(%q, %s) AA,TC = %t,%t, want %t,%t", c.Name, c, resp.Authoritative, resp.Truncated, c.AA, c.TC)
	}
	var extra []dns.RR
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	for _, sec := range []struct {
		name string
		got  []dns.RR
		want []string
	}{{"answer", resp.Answer, c.Answer}, {"authority", resp.Ns, c.Ns}, {"additional", extra, c.Extra}} {
		got := Summaries(sec.got)
		if !equal(got, sec.want) {
			t.Errorf("Answer(%q, %s) %s =\n\t%s\nwant\n\t%s", c.Name, c, sec.name,
				strings.Join(got, "\n\t"), strings.Join(sec.want, "\n\t"))
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
