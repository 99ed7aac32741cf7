package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// signedExample returns the shared fixture zone with serial, signed with
// dnstest's fixed key, in a registry.
func signedExample(t testing.TB, serial string) (*served, *zone.Zone, *zone.Key) {
	t.Helper()
	text, err := os.ReadFile(dnstest.FixturePath())
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("2024010101 ; serial"), []byte(serial+" ; serial"), 1)
	z := dnstest.Parse(t, "example.", string(text)+dnstest.Extra)
	s, k := dnstest.Sign(t, z)
	r := new(served)
	r.Set(s)
	return r, s, k
}

// verifyClock is a time at which dnstest's signatures are valid.
func verifyClock() time.Time { return dnstest.SignTime.Add(time.Hour) }

// served holds signed zones as a group's store does, for the DNS
// handler.
type served struct{ zones []*zone.Zone }

func (s *served) Set(z *zone.Zone) { s.zones = append(s.zones, z) }

func (s *served) Zone(name string) *zone.Zone {
	var best *zone.Zone
	for _, z := range s.zones {
		if zone.IsSubDomain(z.Origin, name) && (best == nil || dns.CountLabel(z.Origin) > dns.CountLabel(best.Origin)) {
			best = z
		}
	}
	return best
}

// localAnswer is what a member of the zone's group sends for a question:
// the response, head and proof (client.Answer), and the audit hash.
type localAnswer struct {
	Msg, Head, Proof []byte
	Hash             [32]byte
}

// answerLocal answers (name, t) the way a member of the zone's group does
// (intergroup.AnswerLocal): the DNS handler's response to the query with DO
// set, whole as over TCP, proved with client.Prove.
func answerLocal(r *served, name string, t uint16) (*localAnswer, error) {
	name = zone.CanonicalName(name)
	z := r.Zone(name)
	if z == nil || z.Head == nil {
		return nil, fmt.Errorf("no signed zone holds %s", name)
	}
	h := dnsfront.NewHandler(r, dnsfront.Options{PadBlock: -1, TCPKeepalive: -1})
	req := new(dns.Msg)
	req.SetQuestion(name, t)
	req.RecursionDesired = false
	req.SetEdns0(dns.MaxMsgSize, true)
	resp := new(dns.Msg)
	h.Answer(req, resp, dnsfront.TCP)
	a, err := client.Prove(z, resp)
	if err != nil {
		return nil, err
	}
	return &localAnswer{Msg: a.Msg, Head: a.Head, Proof: a.Proof, Hash: client.AuditHash(a.Head, a.Proof, a.Msg)}, nil
}

func TestVerifyAnswerGenuine(t *testing.T) {
	r, _, k := signedExample(t, "2024010101")
	cases := []struct {
		name  string
		t     uint16
		rcode int
	}{
		{"www.example.", dns.TypeA, dns.RcodeSuccess},
		{"example.", dns.TypeSOA, dns.RcodeSuccess},
		{"example.", dns.TypeDNSKEY, dns.RcodeSuccess},
		{"big.example.", dns.TypeA, dns.RcodeSuccess},
		{"alias.example.", dns.TypeA, dns.RcodeSuccess},      // CNAME chain
		{"ext.example.", dns.TypeA, dns.RcodeSuccess},        // CNAME out of the zone
		{"foo.wild.example.", dns.TypeA, dns.RcodeSuccess},   // wildcard
		{"*.wild.example.", dns.TypeA, dns.RcodeSuccess},     // the wildcard by its own name: nothing expanded
		{"foo.wild.example.", dns.TypeMX, dns.RcodeSuccess},  // wildcard NODATA
		{"www.example.", dns.TypeMX, dns.RcodeSuccess},       // NODATA
		{"b.c.example.", dns.TypeA, dns.RcodeSuccess},        // empty non-terminal
		{"nothere.example.", dns.TypeA, dns.RcodeNameError},  // NXDOMAIN
		{"tonx.example.", dns.TypeA, dns.RcodeNameError},     // CNAME to NXDOMAIN
		{"host.sub.example.", dns.TypeA, dns.RcodeSuccess},   // referral, signed
		{"host.nods.example.", dns.TypeA, dns.RcodeSuccess},  // referral, unsigned
		{"sub.example.", dns.TypeDS, dns.RcodeSuccess},       // DS at a cut
		{"x.cw.example.", dns.TypeA, dns.RcodeSuccess},       // wildcard CNAME
		{"z.deep.example.", dns.TypeA, dns.RcodeSuccess},     // wildcard beside x.y.deep
		{"q.y.deep.example.", dns.TypeA, dns.RcodeNameError}, // under an ENT, no wildcard there
	}
	for _, c := range cases {
		v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
		la, err := answerLocal(r, c.name, c.t)
		if err != nil {
			t.Fatalf("answerLocal(%q, %s) = %v", c.name, dns.TypeToString[c.t], err)
		}
		got, err := v.VerifyAnswer(c.name, c.t, la.Msg, la.Head, la.Proof)
		if err != nil {
			t.Errorf("VerifyAnswer(%q, %s) = %v, want success", c.name, dns.TypeToString[c.t], err)
			continue
		}
		if got.Msg.Rcode != c.rcode {
			t.Errorf("VerifyAnswer(%q, %s) rcode = %s, want %s", c.name, dns.TypeToString[c.t], dns.RcodeToString[got.Msg.Rcode], dns.RcodeToString[c.rcode])
		}
		if got.Hash != la.Hash || got.Serial != 2024010101 || got.Zone != "example." {
			t.Errorf("VerifyAnswer(%q, %s) = zone %s serial %d hash %x, want example. 2024010101 %x", c.name, dns.TypeToString[c.t], got.Zone, got.Serial, got.Hash[:4], la.Hash[:4])
		}
		if got.TTL <= 0 || got.TTL > time.Hour {
			t.Errorf("VerifyAnswer(%q, %s) TTL = %v, want in (0, 1h]", c.name, dns.TypeToString[c.t], got.TTL)
		}
	}
}

// reprove rebuilds the response after f changed it, with a proof made
// from the genuine zone for whatever RRsets it now holds: the strongest
// forger, who holds every genuine record and proof.
func reprove(t *testing.T, z *zone.Zone, la *localAnswer, f func(m *dns.Msg)) *localAnswer {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(la.Msg); err != nil {
		t.Fatal(err)
	}
	f(m)
	msg, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := &localAnswer{Msg: msg, Head: la.Head, Proof: la.Proof}
	sets, err := client.ResponseRRsets(m)
	if err != nil || len(sets) == 0 {
		return out
	}
	p, err := z.ProveAnswer(zone.Answer{RRsets: sets})
	if err != nil {
		return out // not provable: keep the original proof
	}
	if out.Proof, err = p.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyAnswerTampered(t *testing.T) {
	r1, z1, k := signedExample(t, "2024010101")
	r2, z2, _ := signedExample(t, "2024010102")
	other := dnstest.Parse(t, "other.test.", "other.test. 3600 IN SOA ns.other.test. h.other.test. 1 2 3 4 5\nother.test. 3600 IN NS ns.other.test.\nns.other.test. 3600 IN A 192.0.2.9\n")
	otherSigned, _ := dnstest.Sign(t, other)
	otherKey, err := zone.GenerateKey("example.", true, bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := zone.Sign(z1, otherKey, zone.DefaultSignOptions(dnstest.SignTime))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(r *served, name string, qt uint16) *localAnswer {
		t.Helper()
		la, err := answerLocal(r, name, qt)
		if err != nil {
			t.Fatal(err)
		}
		return la
	}
	cases := []struct {
		desc  string
		name  string
		t     uint16
		resp  func() *localAnswer
		prior *localAnswer // verified first (raises the highest serial)
		want  error
	}{
		{"altered A record", "www.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "www.example.", dns.TypeA), func(m *dns.Msg) {
				m.Answer[0].(*dns.A).A[3] = 66
			})
		}, nil, zone.ErrBadSignature},
		{"altered TTL of an unsigned glue-free referral", "host.nods.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "host.nods.example.", dns.TypeA), func(m *dns.Msg) {
				for _, rr := range m.Ns {
					if ns, ok := rr.(*dns.NS); ok {
						ns.Ns = "evil.example.net."
					}
				}
			})
		}, nil, zone.ErrNotIncluded},
		{"forged RRSIG", "www.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "www.example.", dns.TypeA), func(m *dns.Msg) {
				for _, rr := range m.Answer {
					if s, ok := rr.(*dns.RRSIG); ok {
						s.Signature = strings.Repeat("A", len(s.Signature))
					}
				}
			})
		}, nil, zone.ErrBadSignature},
		{"signed by another key", "www.example.", dns.TypeA, func() *localAnswer {
			r := new(served)
			r.Set(forged)
			return answer(r, "www.example.", dns.TypeA)
		}, nil, zone.ErrBadSignature},
		{"older serial", "www.example.", dns.TypeA, func() *localAnswer {
			return answer(r1, "www.example.", dns.TypeA)
		}, answer(r2, "www.example.", dns.TypeA), client.ErrStaleSerial},
		{"head of the new version, records of the old", "www.example.", dns.TypeA, func() *localAnswer {
			la := answer(r1, "www.example.", dns.TypeA)
			la.Head = z2.Head.Note
			return la
		}, nil, zone.ErrNotIncluded},
		{"head text altered (serial), signature kept", "www.example.", dns.TypeA, func() *localAnswer {
			la := answer(r1, "www.example.", dns.TypeA)
			la.Head = bytes.Replace(bytes.Clone(la.Head), []byte("2024010101"), []byte("2024010109"), 1)
			if bytes.Equal(la.Head, z1.Head.Note) {
				t.Fatal("head does not contain its serial")
			}
			return la
		}, nil, zone.ErrBadSignature},
		{"head of another zone", "www.example.", dns.TypeA, func() *localAnswer {
			la := answer(r1, "www.example.", dns.TypeA)
			la.Head = otherSigned.Head.Note
			return la
		}, nil, zone.ErrWrongZone},
		{"bad proof path", "www.example.", dns.TypeA, func() *localAnswer {
			la := answer(r1, "www.example.", dns.TypeA)
			p := new(zone.Proof)
			if err := p.UnmarshalBinary(la.Proof); err != nil {
				t.Fatal(err)
			}
			p.Leaves[0].Path[0][0] ^= 1
			la.Proof, _ = p.MarshalBinary()
			return la
		}, nil, zone.ErrNotIncluded},
		{"truncated proof", "www.example.", dns.TypeA, func() *localAnswer {
			la := answer(r1, "www.example.", dns.TypeA)
			la.Proof = la.Proof[:len(la.Proof)-3]
			return la
		}, nil, zone.ErrMalformedProof},
		{"NXDOMAIN for a name that exists", "www.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "nothere.example.", dns.TypeA), func(m *dns.Msg) {
				m.Question[0].Name = "www.example."
			})
		}, nil, client.ErrNSECMissing},
		{"NODATA for a type that exists", "www.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "www.example.", dns.TypeMX), func(m *dns.Msg) {
				m.Question[0].Qtype = dns.TypeA
			})
		}, nil, client.ErrNotAnswer},
		{"NXDOMAIN without its NSEC", "nothere.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "nothere.example.", dns.TypeA), func(m *dns.Msg) {
				var ns []dns.RR
				for _, rr := range m.Ns {
					if t := rr.Header().Rrtype; t == dns.TypeSOA || rr.Header().Rrtype == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeSOA {
						ns = append(ns, rr)
					}
				}
				m.Ns = ns
			})
		}, nil, client.ErrNSECMissing},
		{"answer for another name", "mail.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "www.example.", dns.TypeA), func(m *dns.Msg) {
				m.Question[0].Name = "mail.example."
			})
		}, nil, client.ErrNotAnswer},
		{"wildcard answer without its NSEC", "foo.wild.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "foo.wild.example.", dns.TypeA), func(m *dns.Msg) {
				m.Ns = nil
			})
		}, nil, client.ErrNSECMissing},
		{"altered signed address in the additional section", "example.", dns.TypeMX, func() *localAnswer {
			return reprove(t, z1, answer(r1, "example.", dns.TypeMX), func(m *dns.Msg) {
				extraA(t, m, "mail.example.").A[3] = 66
			})
		}, nil, zone.ErrBadSignature},
		{"altered glue", "host.sub.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "host.sub.example.", dns.TypeA), func(m *dns.Msg) {
				extraA(t, m, "ns1.sub.example.").A[3] = 66
			})
		}, nil, zone.ErrNotIncluded},
		{"glue added for an out-of-zone name server", "host.nods.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "host.nods.example.", dns.TypeA), func(m *dns.Msg) {
				rr, _ := dns.NewRR("ns.example.net. 3600 IN A 203.0.113.66")
				m.Extra = append(m.Extra, rr)
			})
		}, nil, zone.ErrWrongZone},
		{"genuine address no record of the answer names", "www.example.", dns.TypeA, func() *localAnswer {
			mx := answer(r1, "example.", dns.TypeMX)
			return reprove(t, z1, answer(r1, "www.example.", dns.TypeA), func(m *dns.Msg) {
				mm := new(dns.Msg)
				if err := mm.Unpack(mx.Msg); err != nil {
					t.Fatal(err)
				}
				m.Extra = append(m.Extra, mm.Extra...) // mail.example. A and its RRSIG, OPT
			})
		}, nil, client.ErrUnexpectedAdditional},
		{"genuine non-address record in the additional section", "example.", dns.TypeMX, func() *localAnswer {
			txt := answer(r1, "txt.example.", dns.TypeTXT)
			return reprove(t, z1, answer(r1, "example.", dns.TypeMX), func(m *dns.Msg) {
				mm := new(dns.Msg)
				if err := mm.Unpack(txt.Msg); err != nil {
					t.Fatal(err)
				}
				m.Extra = append(m.Extra, mm.Answer...)
			})
		}, nil, client.ErrUnexpectedAdditional},
		{"additional RRset without its proof leaf", "example.", dns.TypeMX, func() *localAnswer {
			la := answer(r1, "example.", dns.TypeMX)
			p := new(zone.Proof)
			if err := p.UnmarshalBinary(la.Proof); err != nil {
				t.Fatal(err)
			}
			p.Leaves = p.Leaves[:len(p.Leaves)-1] // the last leaf is mail.example. A's
			la.Proof, _ = p.MarshalBinary()
			return la
		}, nil, zone.ErrAnswerMismatch},
		{"additional RRset proven by another RRset's leaf", "example.", dns.TypeMX, func() *localAnswer {
			la := answer(r1, "example.", dns.TypeMX)
			p := new(zone.Proof)
			if err := p.UnmarshalBinary(la.Proof); err != nil {
				t.Fatal(err)
			}
			p.Leaves[len(p.Leaves)-1] = p.Leaves[0]
			la.Proof, _ = p.MarshalBinary()
			return la
		}, nil, zone.ErrNotIncluded},
		{"SERVFAIL", "www.example.", dns.TypeA, func() *localAnswer {
			return reprove(t, z1, answer(r1, "www.example.", dns.TypeA), func(m *dns.Msg) {
				m.Rcode = dns.RcodeServerFailure
			})
		}, nil, client.ErrBadResponse},
		{"garbage message", "www.example.", dns.TypeA, func() *localAnswer {
			la := answer(r1, "www.example.", dns.TypeA)
			la.Msg = la.Msg[:20]
			return la
		}, nil, client.ErrBadResponse},
	}
	// Each case twice: with a fresh verifier, and with one that has just
	// verified a genuine answer of the zone, so its head is remembered
	// (client.Verifier.parseHead): a remembered head must not let anything
	// through that a fresh check refuses.
	genuine := answer(r1, "mail.example.", dns.TypeA)
	for _, warm := range []bool{false, true} {
		for _, c := range cases {
			v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
			if warm {
				if _, err := v.VerifyAnswer("mail.example.", dns.TypeA, genuine.Msg, genuine.Head, genuine.Proof); err != nil {
					t.Fatalf("%s: genuine answer first: %v", c.desc, err)
				}
			}
			if c.prior != nil {
				if _, err := v.VerifyAnswer(c.name, c.t, c.prior.Msg, c.prior.Head, c.prior.Proof); err != nil {
					t.Fatalf("%s: prior answer: %v", c.desc, err)
				}
			}
			la := c.resp()
			_, err := v.VerifyAnswer(c.name, c.t, la.Msg, la.Head, la.Proof)
			var ve *client.VerifyError
			if !errors.Is(err, c.want) || !errors.As(err, &ve) {
				t.Errorf("%s (warm head %v): VerifyAnswer(%q, %s) = %v, want %v", c.desc, warm, c.name, dns.TypeToString[c.t], err, c.want)
			}
		}
	}
}

// extraA returns the A record of m's additional section owned by name.
func extraA(t *testing.T, m *dns.Msg, name string) *dns.A {
	t.Helper()
	for _, rr := range m.Extra {
		if a, ok := rr.(*dns.A); ok && a.Hdr.Name == name {
			return a
		}
	}
	t.Fatalf("no A record of %s in the additional section of\n%v", name, m)
	return nil
}

// TestVerifyAnswerAdditional: a member's answer carries the additional
// section the owning group gives a client (the handler's own answer to
// the same query) and it survives verification whole, signatures and
// glue alike.
func TestVerifyAnswerAdditional(t *testing.T) {
	r, _, k := signedExample(t, "2024010101")
	cases := []struct {
		name  string
		t     uint16
		extra []string // owner/type of the additional RRsets, in order
	}{
		{"example.", dns.TypeMX, []string{"mail.example./A"}},
		{"example.", dns.TypeNS, []string{"ns1.example./A", "ns2.example./A"}},
		{"host.sub.example.", dns.TypeA, []string{"ns1.sub.example./A", "ns1.sub.example./AAAA", "ns2.sub.example./A"}},
		{"sub.example.", dns.TypeNS, []string{"ns1.sub.example./A", "ns1.sub.example./AAAA", "ns2.sub.example./A"}},
		{"host.nods.example.", dns.TypeA, nil}, // out-of-zone server: no glue
		{"www.example.", dns.TypeA, nil},
	}
	for _, c := range cases {
		la, err := answerLocal(r, c.name, c.t)
		if err != nil {
			t.Fatalf("answerLocal(%q, %s) = %v", c.name, dns.TypeToString[c.t], err)
		}
		got, err := client.NewVerifier(client.Anchors{"example.": k}, verifyClock).VerifyAnswer(c.name, c.t, la.Msg, la.Head, la.Proof)
		if err != nil {
			t.Errorf("VerifyAnswer(%q, %s) = %v, want success", c.name, dns.TypeToString[c.t], err)
			continue
		}
		// The owning group's own answer to a client asking with DO.
		want := new(dns.Msg)
		dnsfront.NewHandler(r, dnsfront.Options{}).Answer(dnstest.Query(c.name, c.t, true), want, dnsfront.TCP)
		if g, w := dnstest.Summaries(got.Msg.Extra), dnstest.Summaries(want.Extra); !slices.Equal(g, w) {
			t.Errorf("VerifyAnswer(%q, %s) additional = %v, want the owning group's %v", c.name, dns.TypeToString[c.t], g, w)
		}
		var sets []string
		sigs := make(map[string]int)
		for _, rr := range got.Msg.Extra {
			switch v := rr.(type) {
			case *dns.OPT:
			case *dns.RRSIG:
				sigs[v.Hdr.Name+"/"+dns.TypeToString[v.TypeCovered]]++
			default:
				if s := v.Header().Name + "/" + dns.TypeToString[v.Header().Rrtype]; len(sets) == 0 || sets[len(sets)-1] != s {
					sets = append(sets, s)
				}
			}
		}
		if !slices.Equal(sets, c.extra) {
			t.Errorf("VerifyAnswer(%q, %s) additional RRsets = %v, want %v", c.name, dns.TypeToString[c.t], sets, c.extra)
		}
		for _, s := range sets {
			// Glue (below the sub. cut) is unsigned, the rest signed.
			if glue := strings.Contains(s, ".sub.example."); glue != (sigs[s] == 0) {
				t.Errorf("VerifyAnswer(%q, %s): %s has %d RRSIGs, glue %v", c.name, dns.TypeToString[c.t], s, sigs[s], glue)
			}
		}
	}
}

// TestVerifyAnswerAdditionalTTL: the TTL a verified answer may be cached
// for counts the additional section: a short-lived address of the mail
// exchanger bounds the MX answer's.
func TestVerifyAnswerAdditionalTTL(t *testing.T) {
	z := dnstest.Parse(t, "example.", `$ORIGIN example.
@    3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@    3600 IN NS  ns1
@    3600 IN MX  10 mail
ns1  3600 IN A   192.0.2.53
mail 60   IN A   192.0.2.25
`)
	s, k := dnstest.Sign(t, z)
	r := new(served)
	r.Set(s)
	for _, c := range []struct {
		t    uint16
		want time.Duration
	}{
		{dns.TypeMX, time.Minute}, // mail A (60 s) in the additional section
		{dns.TypeNS, time.Hour},   // ns1 A (3600 s)
		{dns.TypeSOA, time.Hour},  // no additional
	} {
		la, err := answerLocal(r, "example.", c.t)
		if err != nil {
			t.Fatal(err)
		}
		got, err := client.NewVerifier(client.Anchors{"example.": k}, verifyClock).VerifyAnswer("example.", c.t, la.Msg, la.Head, la.Proof)
		if err != nil || got.TTL != c.want {
			t.Errorf("VerifyAnswer(example., %s) TTL = %v (%v), want %v", dns.TypeToString[c.t], got, err, c.want)
		}
	}
}

func TestVerifyAnswerClockAndAnchors(t *testing.T) {
	r, _, k := signedExample(t, "2024010101")
	la, err := answerLocal(r, "www.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	late := func() time.Time { return dnstest.SignTime.Add(31 * 24 * time.Hour) }
	_, err = client.NewVerifier(client.Anchors{"example.": k}, late).VerifyAnswer("www.example.", dns.TypeA, la.Msg, la.Head, la.Proof)
	var ve *client.VerifyError
	if !errors.Is(err, client.ErrExpired) || !errors.As(err, &ve) || ve.EDE() != dns.ExtendedErrorCodeSignatureExpired {
		t.Errorf("VerifyAnswer after expiry = %v, want client.ErrExpired with EDE Signature Expired", err)
	}
	_, err = client.NewVerifier(client.Anchors{"other.": k}, verifyClock).VerifyAnswer("www.example.", dns.TypeA, la.Msg, la.Head, la.Proof)
	if !errors.Is(err, client.ErrNoTrustAnchor) || !errors.As(err, &ve) || ve.EDE() != dns.ExtendedErrorCodeDNSKEYMissing {
		t.Errorf("VerifyAnswer without anchor = %v, want client.ErrNoTrustAnchor", err)
	}
	// The TTL is bounded by the signature expiry.
	near := func() time.Time { return dnstest.SignTime.Add(30*24*time.Hour - 10*time.Second) }
	got, err := client.NewVerifier(client.Anchors{"example.": k}, near).VerifyAnswer("www.example.", dns.TypeA, la.Msg, la.Head, la.Proof)
	if err != nil || got.TTL != 10*time.Second {
		t.Errorf("VerifyAnswer 10 s before expiry = %v, %v, want TTL 10s", got, err)
	}
}

// FuzzVerifyAnswer feeds VerifyAnswer arbitrary question, message, head
// and proof bytes: it must not panic, and whatever it accepts must be
// the owning group's answer to that question (groupsAnswer): every RRset
// in it holds the zone's records, and, for a question the group answers,
// the rcode and the answer section are the group's. The seeds include
// tampered answers (a changed address, a denial sent for a name that
// exists, a changed glue address) that only verification refuses.
func FuzzVerifyAnswer(f *testing.F) {
	r, z, k := signedExample(f, "2024010101")
	answer := func(name string, t uint16) *localAnswer {
		la, err := answerLocal(r, name, t)
		if err != nil {
			f.Fatal(err)
		}
		return la
	}
	for _, q := range []struct {
		name string
		t    uint16
	}{{"www.example.", dns.TypeA}, {"nothere.example.", dns.TypeA}, {"foo.wild.example.", dns.TypeA}, {"example.", dns.TypeMX}, {"host.sub.example.", dns.TypeA}} {
		la := answer(q.name, q.t)
		f.Add(q.name, q.t, la.Msg, la.Head, la.Proof)
	}
	tamper := func(la *localAnswer, edit func(m *dns.Msg)) []byte {
		m := new(dns.Msg)
		if err := m.Unpack(la.Msg); err != nil {
			f.Fatal(err)
		}
		edit(m)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	www := answer("www.example.", dns.TypeA)
	f.Add("www.example.", dns.TypeA, tamper(www, func(m *dns.Msg) { m.Answer[0].(*dns.A).A = []byte{203, 0, 113, 66} }), www.Head, www.Proof)
	nx := answer("nothere.example.", dns.TypeA)
	f.Add("www.example.", dns.TypeA, tamper(nx, func(m *dns.Msg) { m.Question[0].Name = "www.example." }), nx.Head, nx.Proof)
	ref := answer("host.sub.example.", dns.TypeA)
	f.Add("host.sub.example.", dns.TypeA, tamper(ref, func(m *dns.Msg) {
		for _, rr := range m.Extra {
			if a, ok := rr.(*dns.A); ok {
				a.A = []byte{203, 0, 113, 67}
			}
		}
	}), ref.Head, ref.Proof)
	f.Fuzz(func(t *testing.T, name string, qt uint16, msg, head, proof []byte) {
		v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
		got, err := v.VerifyAnswer(name, qt, msg, head, proof)
		if err != nil {
			return
		}
		if err := groupsAnswer(r, z, name, qt, got.Msg); err != nil {
			t.Errorf("VerifyAnswer(%q, %s) accepted %v\nwhich is not the owning group's answer: %v", name, dns.TypeToString[qt], got.Msg, err)
		}
	})
}

// groupsAnswer returns why m is not the answer zone z's group gives to
// (name, t), nil when it is: every RRset of m (client.ResponseRRsets,
// wildcard expansions as stored) holds the records z holds at that
// owner and type; and, when the group answers the question with NOERROR
// or NXDOMAIN (not for type ANY, where any RRset at the name will do),
// m has the group's rcode and answer section. Records compare by their
// data (TTLs and letter case aside, RRSIGs apart: a genuine RRset may
// come with another copy of its signature).
func groupsAnswer(r *served, z *zone.Zone, name string, t uint16, m *dns.Msg) error {
	text := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			if h := rr.Header(); h.Rrtype != dns.TypeRRSIG && h.Rrtype != dns.TypeOPT {
				c := dns.Copy(rr)
				c.Header().Ttl = 0
				out = append(out, strings.ToLower(c.String()))
			}
		}
		slices.Sort(out)
		return out
	}
	sets, err := client.ResponseRRsets(m)
	if err != nil {
		return err
	}
	for _, s := range sets {
		var held []dns.RR
		if n := z.Node(s.Name); n != nil {
			if hs := n.RRset(s.Type); hs != nil {
				held = hs.Records()
			}
		}
		if got, want := text(s.Records()), text(held); !slices.Equal(got, want) {
			return fmt.Errorf("%s %s is %q, the zone holds %q", s.Name, dns.TypeToString[s.Type], got, want)
		}
	}
	if t == dns.TypeANY {
		return nil
	}
	la, err := answerLocal(r, name, t)
	if err != nil {
		return nil // a question the group does not answer: the RRsets above are its own
	}
	g := new(dns.Msg)
	if err := g.Unpack(la.Msg); err != nil {
		return err
	}
	if g.Rcode != dns.RcodeSuccess && g.Rcode != dns.RcodeNameError {
		return nil
	}
	if m.Rcode != g.Rcode {
		return fmt.Errorf("rcode %s, the group answers %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[g.Rcode])
	}
	if got, want := text(m.Answer), text(g.Answer); !slices.Equal(got, want) {
		return fmt.Errorf("answer %q, the group answers %q", got, want)
	}
	return nil
}

// BenchmarkVerifyAnswer measures what verifying a relayed answer costs,
// by the additional section it carries: none (www A), one signed address
// (the apex MX), three unsigned glue RRsets (a referral).
func BenchmarkVerifyAnswer(b *testing.B) {
	r, _, k := signedExample(b, "2024010101")
	for _, q := range []struct {
		desc string
		name string
		t    uint16
	}{
		{"no-additional", "www.example.", dns.TypeA},
		{"signed-address", "example.", dns.TypeMX},
		{"referral-glue", "host.sub.example.", dns.TypeA},
	} {
		la, err := answerLocal(r, q.name, q.t)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(q.desc, func(b *testing.B) {
			v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyAnswer(q.name, q.t, la.Msg, la.Head, la.Proof); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
