package dnsfront_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// proofsQuery is q with the proofs option, DO and a buffer of size.
func proofsQuery(name string, t uint16, do bool, size uint16) *dns.Msg {
	q := dnstest.Query(name, t, false)
	q.SetEdns0(size, do)
	o := q.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dnsfront.ProofsOptionCode})
	return q
}

// proofsStatus returns the status of r's proofs option, and whether it
// has one.
func proofsStatus(t *testing.T, r *dns.Msg) (zone.ProofsStatus, bool) {
	t.Helper()
	data := client.ProofsOf(r)
	if data == nil {
		return 0, false
	}
	st, _, _, err := zone.DecodeProofsOption(data)
	if err != nil {
		t.Fatalf("proofs option %x: %v", data, err)
	}
	return st, true
}

// proofsHandler is the signed example zone (and the unsigned
// other.test.) behind a Handler, and a verifier trusting the example's
// owner key at a time its signatures are valid.
func proofsHandler(t *testing.T, opt dnsfront.Options) (*dnsfront.Handler, func() *client.Verifier) {
	t.Helper()
	z, k := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.7\n")
	h := dnsfront.NewHandler(dnstest.NewZones(z, other), opt)
	t.Cleanup(func() { h.Close() })
	anchors := client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: k.DNSKEY}}
	return h, func() *client.Verifier {
		return client.NewVerifier(anchors, func() time.Time { return dnstest.SignTime.Add(time.Hour) })
	}
}

// proofsCases are answers of every shape the verifier knows.
var proofsCases = []struct {
	name  string
	t     uint16
	rcode int
}{
	{"www.example.", dns.TypeA, dns.RcodeSuccess},
	{"WwW.ExAmPlE.", dns.TypeAAAA, dns.RcodeSuccess}, // 0x20 letter case
	{"example.", dns.TypeMX, dns.RcodeSuccess},       // with the MX target's address
	{"alias.example.", dns.TypeA, dns.RcodeSuccess},  // CNAME chain
	{"foo.wild.example.", dns.TypeA, dns.RcodeSuccess},
	{"www.example.", dns.TypeMX, dns.RcodeSuccess},      // NODATA
	{"nothere.example.", dns.TypeA, dns.RcodeNameError}, // NXDOMAIN
	{"host.sub.example.", dns.TypeA, dns.RcodeSuccess},  // referral, glue
	{"host.nods.example.", dns.TypeA, dns.RcodeSuccess}, // unsigned referral
	{"big.example.", dns.TypeA, dns.RcodeSuccess},       // 60 records: TC over UDP
}

// TestProofsEveryTransport asks each case with the proofs option over
// UDP (then TCP when truncated, as a client does), TCP, DoT, DoH over
// HTTP/2 and HTTP/3, and DoQ, against real servers on loopback, and
// verifies every reply with only the owner's key (client.VerifyResponse).
func TestProofsEveryTransport(t *testing.T) {
	h, verifier := proofsHandler(t, dnsfront.Options{Cookies: true})
	s := startServers(t, h, limits{})
	// Over UDP proofs go only to an address a server cookie proved.
	cookie := learnServerCookie(t, s.udp.Addr().String())
	cc := s.cert.Client(testHost)
	h2 := h2Client(t, cc)
	h3 := h3Client(t, cc)
	quicConn := doqDial(t, s.doq.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoQ))
	dohURL := "https://" + s.doh.Addr().String() + dnsfront.DefaultDoHPath
	for _, c := range proofsCases {
		q := proofsQuery(c.name, c.t, true, 1232)
		q.Id = 0 // DoQ wants 0 (RFC 9250 §4.2.1)
		raw := pack(t, q)
		replies := map[string][]byte{}
		udp := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
		r, _, err := udp.Exchange(withCookie(q.Copy(), cookie), s.udp.Addr().String())
		if err != nil {
			t.Fatalf("udp: %v", err)
		}
		if r.Truncated {
			if _, ok := proofsStatus(t, r); ok || len(r.Answer)+len(r.Ns) != 0 {
				t.Errorf("%s %s over UDP: truncated reply with records or a proofs option: %v", c.name, dns.TypeToString[c.t], r)
			}
			if _, err := verifier().VerifyResponse(c.name, c.t, r); !errors.Is(err, client.ErrTruncated) {
				t.Errorf("VerifyResponse(truncated) = %v, want ErrTruncated", err)
			}
			t.Logf("%s %s: TC over UDP at 1232 bytes, asked again over TCP", c.name, dns.TypeToString[c.t])
		} else {
			replies["udp"] = pack(t, r)
		}
		tcp := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		if r, _, err = tcp.Exchange(q.Copy(), s.tcp.Addr().String()); err != nil {
			t.Fatalf("tcp: %v", err)
		}
		replies["tcp"] = pack(t, r)
		dot, _ := dotExchange(t, s.dot.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoT), raw)
		replies["dot"] = dot[0]
		resp, body := dohPost(t, h2, dohURL, raw)
		if resp.StatusCode != 200 {
			t.Fatalf("DoH over HTTP/2: %s", resp.Status)
		}
		replies["doh-h2"] = body
		get, err := h3.Get(dohURL + "?dns=" + base64.RawURLEncoding.EncodeToString(raw))
		if err != nil {
			t.Fatalf("DoH over HTTP/3: %v", err)
		}
		body, _ = io.ReadAll(get.Body)
		get.Body.Close()
		replies["doh-h3"] = body
		if replies["doq"], err = doqExchange(quicConn, raw); err != nil {
			t.Fatalf("DoQ: %v", err)
		}
		for tr, b := range replies {
			r := unpack(t, b)
			if r.Rcode != c.rcode {
				t.Errorf("%s %s over %s: rcode %s, want %s", c.name, dns.TypeToString[c.t], tr, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
			v, err := verifier().VerifyResponse(c.name, c.t, r)
			if err != nil {
				t.Errorf("VerifyResponse(%s %s over %s) = %v", c.name, dns.TypeToString[c.t], tr, err)
				continue
			}
			if v.Zone != "example." || v.Serial != 2024010101 || len(v.Head) == 0 || len(v.Proof) == 0 {
				t.Errorf("VerifyResponse(%s %s over %s) = zone %s serial %d, head %d proof %d bytes", c.name, dns.TypeToString[c.t], tr, v.Zone, v.Serial, len(v.Head), len(v.Proof))
			}
		}
	}
}

// TestProofsStatus covers replies that cannot carry proofs: each says
// why, and none has records the verifier would take.
func TestProofsStatus(t *testing.T) {
	h, verifier := proofsHandler(t, dnsfront.Options{})
	cases := []struct {
		desc string
		q    *dns.Msg
		tr   dnsfront.Transport
		want zone.ProofsStatus
		err  error
	}{
		{"no DO", proofsQuery("www.example.", dns.TypeA, false, 1232), dnsfront.UDP, zone.NeedDO, client.ErrNoProof},
		{"unsigned zone", proofsQuery("www.other.test.", dns.TypeA, true, 1232), dnsfront.TCP, zone.NotProvable, client.ErrNoTrustAnchor},
		{"no zone here", proofsQuery("www.elsewhere.", dns.TypeA, true, 1232), dnsfront.TCP, zone.NotProvable, client.ErrNoTrustAnchor},
		{"CHAOS", func() *dns.Msg {
			q := proofsQuery("version.bind.", dns.TypeTXT, true, 1232)
			q.Question[0].Qclass = dns.ClassCHAOS
			return q
		}(), dnsfront.TCP, zone.NotProvable, client.ErrNoTrustAnchor},
	}
	for _, c := range cases {
		r, _ := exchange(t, h, c.q, c.tr)
		st, ok := proofsStatus(t, r)
		if !ok || st != c.want {
			t.Errorf("%s: proofs option %v (present %t), want %v", c.desc, st, ok, c.want)
		}
		qq := c.q.Question[0]
		if _, err := verifier().VerifyResponse(qq.Name, qq.Qtype, r); !errors.Is(err, c.err) {
			t.Errorf("%s: VerifyResponse = %v, want %v", c.desc, err, c.err)
		}
	}
	// Without the option, no proofs option comes back.
	r, _ := exchange(t, h, dnstest.Query("www.example.", dns.TypeA, true), dnsfront.UDP)
	if _, ok := proofsStatus(t, r); ok {
		t.Errorf("a query without the proofs option got one back: %v", r)
	}
	if _, err := verifier().VerifyResponse("www.example.", dns.TypeA, r); !errors.Is(err, client.ErrNoProof) {
		t.Errorf("VerifyResponse(no option) = %v, want ErrNoProof", err)
	}
}

// TestProofsSizeLimits: a reply with proofs is truncated, not shrunk,
// over UDP at 512, 1232 and 4096 bytes when it does not fit; over TCP a
// reply whose proofs would pass 64 KiB goes without them (TooLarge).
func TestProofsSizeLimits(t *testing.T) {
	z, k := bigZone(t)
	h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{})
	v := client.NewVerifier(client.Anchors{"big.test.": k}, func() time.Time { return dnstest.SignTime.Add(time.Hour) })

	for _, size := range []uint16{512, 1232, 4096} {
		r, _ := exchange(t, h, proofsQuery("ns.big.test.", dns.TypeA, true, size), dnsfront.UDP)
		if size >= 1232 {
			if r.Truncated {
				t.Errorf("ns.big.test. A at %d: truncated", size)
			} else if _, err := v.VerifyResponse("ns.big.test.", dns.TypeA, r); err != nil {
				t.Errorf("ns.big.test. A at %d: %v", size, err)
			}
		}
		r, _ = exchange(t, h, proofsQuery("mid.big.test.", dns.TypeTXT, true, size), dnsfront.UDP)
		if !r.Truncated || len(r.Answer) != 0 {
			t.Errorf("mid.big.test. TXT (about 5 KB) at %d: TC %t, %d answers; want TC and none", size, r.Truncated, len(r.Answer))
		}
		if _, ok := proofsStatus(t, r); ok {
			t.Errorf("truncated reply at %d carries a proofs option", size)
		}
	}
	r, _ := exchange(t, h, proofsQuery("mid.big.test.", dns.TypeTXT, true, 1232), dnsfront.TCP)
	if _, err := v.VerifyResponse("mid.big.test.", dns.TypeTXT, r); err != nil {
		t.Errorf("mid.big.test. TXT over TCP: %v", err)
	}
	// 248 × 263 bytes: the records and RRSIG fit 64 KiB, with the
	// proofs they would not.
	n, plain := wireSize(t, h, dnstest.Query("huge.big.test.", dns.TypeTXT, true), dnsfront.TCP)
	if plain.Truncated || n < 65535-400 {
		t.Fatalf("the fixture is off: huge.big.test. TXT is %d bytes (TC %t) without proofs, want just under 65535", n, plain.Truncated)
	}
	r, _ = exchange(t, h, proofsQuery("huge.big.test.", dns.TypeTXT, true, 1232), dnsfront.TCP)
	if st, ok := proofsStatus(t, r); !ok || st != zone.TooLarge || r.Truncated || len(r.Answer) == 0 {
		t.Errorf("huge.big.test. TXT over TCP: status %v (%t), TC %t, %d answers; want TooLarge with the records", st, ok, r.Truncated, len(r.Answer))
	}
	var pe *client.ProofsError
	if _, err := v.VerifyResponse("huge.big.test.", dns.TypeTXT, r); !errors.As(err, &pe) || pe.Status != zone.TooLarge {
		t.Errorf("VerifyResponse(huge) = %v, want a ProofsError TooLarge", err)
	}
	// The pure Answer follows the same rules.
	resp := new(dns.Msg)
	h.Answer(proofsQuery("mid.big.test.", dns.TypeTXT, true, 1232), resp, dnsfront.UDP)
	if !resp.Truncated || len(resp.Answer) != 0 || client.ProofsOf(resp) != nil {
		t.Errorf("Answer(mid over UDP) = TC %t, %d answers, option %x", resp.Truncated, len(resp.Answer), client.ProofsOf(resp))
	}
}

// TestProofsOverhead prints what the proofs add to each reply (go test
// -run TestProofsOverhead -v ./dnsfront): the figures of
// docs/proofs-option.md. It checks only that the proofs are the one
// difference.
func TestProofsOverhead(t *testing.T) {
	h, _ := proofsHandler(t, dnsfront.Options{})
	t.Logf("%-22s %-5s %8s %8s %7s %6s %s", "name", "type", "without", "with", "added", "proof", "UDP 1232")
	for _, c := range proofsCases {
		a, _ := wireSize(t, h, dnstest.Query(c.name, c.t, true), dnsfront.TCP)
		b, with := wireSize(t, h, proofsQuery(c.name, c.t, true, 1232), dnsfront.TCP)
		_, head, proof, err := zone.DecodeProofsOption(client.ProofsOf(with))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b != a+4+6+len(head)+len(proof) {
			t.Errorf("%s %s: %d bytes with proofs, want %d + option %d", c.name, dns.TypeToString[c.t], b, a, 4+6+len(head)+len(proof))
		}
		fits := "fits"
		if b > 1232 {
			fits = "TC"
		}
		t.Logf("%-22s %-5s %8d %8d %7d %6d %s", c.name, dns.TypeToString[c.t], a, b, b-a, len(proof), fits)
	}
}

// wireSize returns the size of h's reply to q as sent, and the reply.
func wireSize(t *testing.T, h *dnsfront.Handler, q *dns.Msg, tr dnsfront.Transport) (int, *dns.Msg) {
	t.Helper()
	out, ok := h.Handle(pack(t, q), make([]byte, 0, 65535), tr)
	if !ok {
		t.Fatalf("Handle(%v) dropped the query", q.Question)
	}
	return len(out), unpack(t, out)
}

// TestProofsJSONForm: the DoH JSON form with proofs=1 carries the head,
// the proof and the reply they cover, which verify with the owner's key;
// without proofs=1 the object is absent.
func TestProofsJSONForm(t *testing.T) {
	h, verifier := proofsHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	c := h2Client(t, s.cert.Client(testHost))
	get := func(query string) dnsfront.JSONAnswer {
		t.Helper()
		resp, err := c.Get("https://" + s.doh.Addr().String() + "/dns-query?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans dnsfront.JSONAnswer
		if err := jsonDecode(resp.Body, &ans); err != nil {
			t.Fatal(err)
		}
		return ans
	}
	for _, cs := range []struct {
		name string
		t    uint16
	}{{"www.example.", dns.TypeA}, {"nothere.example.", dns.TypeA}, {"host.sub.example.", dns.TypeA}} {
		ans := get("name=" + cs.name + "&type=" + dns.TypeToString[cs.t] + "&proofs=1")
		p := ans.Proofs
		if p == nil || p.Status != 0 || p.StatusText != "proved" {
			t.Fatalf("%s: proofs %+v, want status 0", cs.name, p)
		}
		msg, err1 := base64.StdEncoding.DecodeString(p.Message)
		proof, err2 := base64.StdEncoding.DecodeString(p.Proof)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: base64: %v %v", cs.name, err1, err2)
		}
		if _, err := verifier().VerifyAnswer(cs.name, cs.t, msg, []byte(p.Head), proof); err != nil {
			t.Errorf("%s: VerifyAnswer(JSON proofs) = %v", cs.name, err)
		}
	}
	if ans := get("name=www.example&type=A"); ans.Proofs != nil {
		t.Errorf("proofs without proofs=1: %+v", ans.Proofs)
	}
	if ans := get("name=www.other.test&type=A&proofs=1"); ans.Proofs == nil || ans.Proofs.Status != uint8(zone.NotProvable) || ans.Proofs.Message != "" {
		t.Errorf("unsigned zone: proofs %+v, want status 2 and no message", ans.Proofs)
	}
}

// BenchmarkHandleProofs is a node's cost per query with and without the
// proofs option (go test -run XXX -bench HandleProofs ./dnsfront).
func BenchmarkHandleProofs(b *testing.B) {
	z, _ := dnstest.Sign(b, dnstest.Example(b))
	h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{})
	for _, c := range []struct {
		desc string
		name string
		t    uint16
	}{{"address", "www.example.", dns.TypeA}, {"nxdomain", "nothere.example.", dns.TypeA}, {"referral-glue", "host.sub.example.", dns.TypeA}} {
		for _, proofs := range []bool{false, true} {
			q := dnstest.Query(c.name, c.t, true)
			if proofs {
				q = proofsQuery(c.name, c.t, true, 1232)
			}
			raw, err := q.Pack()
			if err != nil {
				b.Fatal(err)
			}
			name := c.desc
			if proofs {
				name += "+proofs"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]byte, 0, 65535)
				for b.Loop() {
					if _, ok := h.Handle(raw, buf, dnsfront.TCP); !ok {
						b.Fatal("dropped")
					}
				}
			})
		}
	}
}

// bigZone is big.test., signed: ns A (small), mid TXT (about 5 KB) and
// huge TXT (248 × 255 bytes: with its RRSIG just under 64 KiB, over it
// with the proofs).
func bigZone(t *testing.T) (*zone.Zone, *zone.Key) {
	t.Helper()
	var b strings.Builder
	b.WriteString("@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.1\n")
	for i := range 248 {
		fmt.Fprintf(&b, "huge 3600 IN TXT \"%0250d\"\n", i)
	}
	for i := range 30 {
		fmt.Fprintf(&b, "mid 3600 IN TXT \"%0150d\"\n", i)
	}
	return dnstest.Sign(t, dnstest.Parse(t, "big.test.", b.String()))
}

// memberGroup answers as a member of the zone's group does for the
// node that relays (node's AnswerLocal: the handler's whole answer with
// DO, proved with client.Prove), with no network between: these tests
// check how the relaying Handler carries the head and proof; the
// overlay path with real hosts is node's TestOverlayProofsInBand.
type memberGroup struct {
	z        *zone.Zone
	verified bool
}

func (g memberGroup) Resolve(ctx context.Context, req *dns.Msg) (*dnsfront.OtherGroupAnswer, error) {
	h := dnsfront.NewHandler(dnstest.NewZones(g.z), dnsfront.Options{PadBlock: -1, TCPKeepalive: -1})
	defer h.Close()
	q := new(dns.Msg)
	q.SetQuestion(req.Question[0].Name, req.Question[0].Qtype)
	q.SetEdns0(dns.MaxMsgSize, true)
	resp := new(dns.Msg)
	h.Answer(q, resp, dnsfront.TCP)
	a, err := client.Prove(g.z, resp)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	if err := m.Unpack(a.Msg); err != nil {
		return nil, err
	}
	if !g.verified {
		return &dnsfront.OtherGroupAnswer{Msg: m}, nil
	}
	return &dnsfront.OtherGroupAnswer{Msg: m, Verified: true, Head: a.Head, Proof: a.Proof}, nil
}

// TestProofsOtherGroupPath: an answer relayed from another group carries
// the head and proof its member sent, under the same size rules as a
// local answer.
func TestProofsOtherGroupPath(t *testing.T) {
	z, k := bigZone(t)
	h := newOtherGroupHandler(t, memberGroup{z: z, verified: true}, dnsfront.Options{})
	v := func() *client.Verifier {
		return client.NewVerifier(client.Anchors{"big.test.": k}, func() time.Time { return dnstest.SignTime.Add(time.Hour) })
	}
	r := otherGroupExchange(t, h, proofsQuery("ns.big.test.", dns.TypeA, true, 1232), dnsfront.UDP)
	if _, err := v().VerifyResponse("ns.big.test.", dns.TypeA, r); err != nil {
		t.Errorf("relayed ns.big.test. A over UDP: %v\n%v", err, r)
	}
	r = otherGroupExchange(t, h, proofsQuery("nothere.big.test.", dns.TypeA, true, 1232), dnsfront.TCP)
	if _, err := v().VerifyResponse("nothere.big.test.", dns.TypeA, r); err != nil || r.Rcode != dns.RcodeNameError {
		t.Errorf("relayed NXDOMAIN over TCP: %v\n%v", err, r)
	}
	r = otherGroupExchange(t, h, proofsQuery("mid.big.test.", dns.TypeTXT, true, 1232), dnsfront.UDP)
	if !r.Truncated || len(r.Answer) != 0 || client.ProofsOf(r) != nil {
		t.Errorf("relayed mid.big.test. TXT over UDP: TC %t, %d answers, option %x; want TC, nothing else", r.Truncated, len(r.Answer), client.ProofsOf(r))
	}
	r = otherGroupExchange(t, h, proofsQuery("mid.big.test.", dns.TypeTXT, true, 1232), dnsfront.TCP)
	if _, err := v().VerifyResponse("mid.big.test.", dns.TypeTXT, r); err != nil {
		t.Errorf("relayed mid.big.test. TXT over TCP: %v", err)
	}
	r = otherGroupExchange(t, h, proofsQuery("huge.big.test.", dns.TypeTXT, true, 1232), dnsfront.TCP)
	if st, ok := proofsStatus(t, r); !ok || st != zone.TooLarge || len(r.Answer) == 0 {
		t.Errorf("relayed huge.big.test. TXT over TCP: status %v (%t), %d answers; want TooLarge with the records", st, ok, len(r.Answer))
	}
	r = otherGroupExchange(t, h, proofsQuery("ns.big.test.", dns.TypeA, false, 1232), dnsfront.UDP)
	if st, ok := proofsStatus(t, r); !ok || st != zone.NeedDO {
		t.Errorf("relayed, no DO: status %v (%t), want NeedDO", st, ok)
	}
	unverified := newOtherGroupHandler(t, memberGroup{z: z}, dnsfront.Options{})
	r = otherGroupExchange(t, unverified, proofsQuery("ns.big.test.", dns.TypeA, true, 1232), dnsfront.TCP)
	if st, ok := proofsStatus(t, r); !ok || st != zone.NotProvable {
		t.Errorf("relayed, not verified: status %v (%t), want NotProvable", st, ok)
	}
}

// TestProofsOddQuestions: question types whose answers are not plain
// RRsets of the tree (ANY, RRSIG, NSEC, DS at a cut, DNSKEY), padding
// over an encrypted transport, and QCLASS ANY: each reply verifies, or
// says there is nothing to prove; none carries proofs that fail.
func TestProofsOddQuestions(t *testing.T) {
	h, verifier := proofsHandler(t, dnsfront.Options{})
	for _, c := range []struct {
		name string
		t    uint16
	}{
		{"example.", dns.TypeANY}, {"www.example.", dns.TypeRRSIG}, {"www.example.", dns.TypeNSEC},
		{"sub.example.", dns.TypeDS}, {"example.", dns.TypeDNSKEY}, {"example.", dns.TypeNSEC3PARAM},
		{"*.wild.example.", dns.TypeA}, {"example.", dns.TypeSOA},
	} {
		for _, tr := range []dnsfront.Transport{dnsfront.TCP, dnsfront.TLS} {
			q := proofsQuery(c.name, c.t, true, 1232)
			if tr == dnsfront.TLS {
				if err := dnsfront.PadQuery(q); err != nil {
					t.Fatal(err)
				}
			}
			n, r := wireSize(t, h, q, tr)
			st, ok := proofsStatus(t, r)
			if !ok {
				t.Errorf("%s %s over %s: no proofs option", c.name, dns.TypeToString[c.t], tr)
				continue
			}
			_, err := verifier().VerifyResponse(c.name, c.t, r)
			switch {
			case st == zone.Proved && err != nil:
				t.Errorf("%s %s over %s: proved, but VerifyResponse = %v", c.name, dns.TypeToString[c.t], tr, err)
			case st != zone.Proved && st != zone.NotProvable:
				t.Errorf("%s %s over %s: status %v", c.name, dns.TypeToString[c.t], tr, st)
			}
			if tr == dnsfront.TLS && n%468 != 0 {
				t.Errorf("%s %s over TLS: padded reply of %d bytes, not a multiple of 468", c.name, dns.TypeToString[c.t], n)
			}
			t.Logf("%s %s over %s: %v, %d bytes", c.name, dns.TypeToString[c.t], tr, st, n)
		}
	}
	q := proofsQuery("www.example.", dns.TypeA, true, 1232)
	q.Question[0].Qclass = dns.ClassANY
	r, _ := exchange(t, h, q, dnsfront.TCP)
	if _, err := verifier().VerifyResponse("www.example.", dns.TypeA, r); err != nil {
		t.Errorf("QCLASS ANY: %v", err)
	}
}

// testClientCookie is the client cookie the proofs tests send.
const testClientCookie = "0123456789abcdef"

// withCookie adds a COOKIE option (client and server cookie, hex) to q.
func withCookie(q *dns.Msg, cookie string) *dns.Msg {
	o := q.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
	return q
}

// learnServerCookie asks the UDP server at addr a plain question with a
// client cookie and returns the client and server cookie it answers
// with (RFC 7873 §5.2.3), failing the test when there is none.
func learnServerCookie(t *testing.T, addr string) string {
	t.Helper()
	q := dnstest.Query("www.example.", dns.TypeA, false)
	q.SetEdns0(1232, false)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 10 * time.Second}).Exchange(withCookie(q, testClientCookie), addr)
	if err != nil {
		t.Fatalf("asking for a server cookie: %v", err)
	}
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ck, ok := e.(*dns.EDNS0_COOKIE); ok && len(ck.Cookie) > len(testClientCookie) {
				return ck.Cookie
			}
		}
	}
	t.Fatalf("no server cookie in %v", r)
	return ""
}

// TestProofsOverUDPNeedAProvenAddress: over UDP the proofs go only to a
// client whose address a valid server cookie proved. A query asking for
// them without a cookie gets a truncated reply no larger than the
// question; one with a client cookie alone, or a forged server cookie,
// gets BADCOOKIE with a fresh server cookie (RFC 7873 §5.3) and no
// records, and asking again with that cookie gets the proofs over UDP. A
// forged source can use neither as a reflector.
func TestProofsOverUDPNeedAProvenAddress(t *testing.T) {
	h, verifier := proofsHandler(t, dnsfront.Options{Cookies: true})
	s := startServers(t, h, limits{})
	addr := s.udp.Addr().String()
	cookie := learnServerCookie(t, addr)
	forged := []byte(cookie)
	if forged[len(forged)-1] = '0'; cookie[len(cookie)-1] == '0' {
		forged[len(forged)-1] = '1' // another hex digit: the MAC no longer matches
	}
	udp := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
	ask := func(cookie string) (*dns.Msg, *dns.Msg) {
		t.Helper()
		q := proofsQuery("www.example.", dns.TypeA, true, 1232)
		if cookie != "" {
			withCookie(q, cookie)
		}
		r, _, err := udp.Exchange(q, addr)
		if err != nil {
			t.Fatalf("cookie %q: %v", cookie, err)
		}
		return q, r
	}
	proved := func(what string, r *dns.Msg) {
		t.Helper()
		if st, has := proofsStatus(t, r); r.Truncated || !has || st != zone.Proved {
			t.Errorf("%s: TC=%t, proofs option %t status %d; want the answer with its proofs over UDP", what, r.Truncated, has, st)
			return
		}
		if _, err := verifier().VerifyResponse("www.example.", dns.TypeA, r); err != nil {
			t.Errorf("%s: the proved answer does not verify: %v", what, err)
		}
	}
	// No cookie: TC, the question alone, no larger than the query.
	q, r := ask("")
	if _, has := proofsStatus(t, r); !r.Truncated || has || len(r.Answer)+len(r.Ns) != 0 {
		t.Errorf("no cookie: TC=%t, proofs option %t, %d records; want TC and nothing else", r.Truncated, has, len(r.Answer)+len(r.Ns))
	} else if qn, rn := len(pack(t, q)), len(pack(t, r)); rn > qn {
		t.Errorf("no cookie: the truncated reply is %d octets for a %d-octet query: an amplifier", rn, qn)
	}
	// A client cookie alone, or a forged server cookie: BADCOOKIE with a
	// server cookie, which then proves the address.
	for _, c := range []struct{ name, cookie string }{
		{"client cookie only", testClientCookie},
		{"forged server cookie", string(forged)},
	} {
		q, r := ask(c.cookie)
		fresh := ""
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if ck, ok := e.(*dns.EDNS0_COOKIE); ok && len(ck.Cookie) == 48 && ck.Cookie[:16] == testClientCookie {
					fresh = ck.Cookie
				}
			}
		}
		_, has := proofsStatus(t, r)
		switch {
		case r.Rcode != dns.RcodeBadCookie || has || len(r.Answer)+len(r.Ns) != 0 || fresh == "":
			t.Errorf("%s: rcode %s, proofs option %t, %d records, server cookie %q; want BADCOOKIE with a server cookie and nothing else",
				c.name, dns.RcodeToString[r.Rcode], has, len(r.Answer)+len(r.Ns), fresh)
			continue
		case fresh == string(forged):
			t.Errorf("%s: the reply returned the forged cookie", c.name)
		}
		// No more than the server cookie (16 octets) larger than the query.
		if qn, rn := len(pack(t, q)), len(pack(t, r)); rn > qn+16 {
			t.Errorf("%s: BADCOOKIE of %d octets for a %d-octet query", c.name, rn, qn)
		}
		_, r = ask(fresh)
		proved(c.name+", then with the cookie it gave", r)
	}
	_, r = ask(cookie)
	proved("the server's cookie", r)
	// The same question without the proofs option needs no cookie.
	q = dnstest.Query("www.example.", dns.TypeA, false)
	q.SetEdns0(1232, true)
	if r, _, err := udp.Exchange(q, addr); err != nil || r.Truncated || len(r.Answer) == 0 {
		t.Errorf("without the proofs option: %v, %v; want the answer over UDP", r, err)
	}
}
