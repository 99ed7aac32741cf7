package zone

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// cloneRRset deep-copies s so a test can tamper with it.
func cloneRRset(s *RRset) *RRset {
	c := &RRset{Name: s.Name, Type: s.Type, TTL: s.TTL}
	for _, rr := range s.Records() {
		c.AddRecord(dns.Copy(rr))
	}
	for _, sig := range s.Signatures() {
		c.SetSignatures(append(c.Signatures(), dns.Copy(sig).(*dns.RRSIG)))
	}
	return c
}

func cloneProof(p *Proof) *Proof {
	b, err := p.MarshalBinary()
	if err != nil {
		panic(err)
	}
	var q Proof
	if err := q.UnmarshalBinary(b); err != nil {
		panic(err)
	}
	return &q
}

type verifyCase struct {
	name  string
	a     Answer
	p     *Proof
	head  []byte
	key   *Key
	want  error // nil: Verify must accept
	setup func(c *verifyCase)
}

func TestVerify(t *testing.T) {
	z, k := mkTestZone(t)
	must := func(p *Proof, err error) *Proof {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	rrset := func(name string, typ uint16) *RRset {
		t.Helper()
		n := z.Node(name)
		if n == nil || n.RRset(typ) == nil {
			t.Fatalf("test zone lacks %s %s", name, dns.TypeToString[typ])
		}
		return n.RRset(typ)
	}
	www := rrset("www.example.", dns.TypeA)
	wwwA := Answer{Name: "www.example.", Type: dns.TypeA, RRsets: []*RRset{www}}
	wwwProof := must(z.ProveInclusion("www.example.", dns.TypeA))
	mailProof := must(z.ProveInclusion("mail.example.", dns.TypeA))
	nope := Answer{Name: "nope.example.", Type: dns.TypeA}
	nopeProof := must(z.ProveAbsence("nope.example.", dns.TypeA))
	head := z.Head.Note

	// Other heads: a later serial of the same zone, a head made after the
	// RRSIGs expired, another zone's.
	rrs := mkParse(t, "example.", mkZoneText)
	late := mkSignedZone(t, k, rrs, mkInception, mkExpiration, mkExpiration.Add(time.Hour))
	early := mkSignedZone(t, k, rrs, mkInception, mkExpiration, mkInception.Add(-time.Hour))
	netKey := mkKey(t, "example.net.", 2)
	netZone := mkSignedZone(t, netKey, mkParse(t, "example.net.", "@ 60 SOA ns. h. 1 2 3 4 5\nwww 60 A 192.0.2.1\n"), mkInception, mkExpiration, mkHeadTime)
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			soa.Serial++
		}
	}
	rrs = append(rrs, mkParse(t, "example.", "new 60 TXT added\n")...)
	next := mkSignedZone(t, k, rrs, mkInception, mkExpiration, mkHeadTime.Add(time.Hour))

	// A wrong RRSIG on www: signed by another key of the zone.
	otherKey := mkKey(t, "example.", 7)

	tests := []verifyCase{
		{name: "inclusion", a: wwwA, p: wwwProof},
		{name: "absence of a name", a: nope, p: nopeProof},
		{name: "absence of a type", a: Answer{Name: "www.example.", Type: dns.TypeTXT}, p: must(z.ProveAbsence("www.example.", dns.TypeTXT))},
		{name: "absence before the first leaf", a: Answer{Name: "example.", Type: 0}, p: must(z.ProveAbsence("example.", 0))},
		{name: "absence after the last leaf", a: Answer{Name: "zzz.example.", Type: dns.TypeA}, p: must(z.ProveAbsence("zzz.example.", dns.TypeA))},
		{name: "CNAME chain", a: Answer{Name: "alias.example.", Type: dns.TypeA, RRsets: []*RRset{rrset("alias.example.", dns.TypeCNAME), www}},
			p: must(z.ProveAnswer(Answer{RRsets: []*RRset{rrset("alias.example.", dns.TypeCNAME), www}}))},
		{name: "ANY", a: Answer{Name: "www.example.", Type: dns.TypeANY, RRsets: []*RRset{www}}, p: wwwProof},
		{name: "unsigned delegation NS", a: Answer{Name: "sub.example.", Type: dns.TypeNS, RRsets: []*RRset{rrset("sub.example.", dns.TypeNS)}}, p: must(z.ProveInclusion("sub.example.", dns.TypeNS))},
		{name: "unsigned glue", a: Answer{Name: "ns.sub.example.", Type: dns.TypeA, RRsets: []*RRset{rrset("ns.sub.example.", dns.TypeA)}}, p: must(z.ProveInclusion("ns.sub.example.", dns.TypeA))},
		{name: "question in other case", a: Answer{Name: "WWW.example.", Type: dns.TypeA, RRsets: []*RRset{www}}, p: wwwProof},
		{name: "TTL decremented by a cache", a: wwwA, p: wwwProof, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.TTL = 17
			for _, rr := range s.Records() {
				rr.Header().Ttl = 17
			}
			c.a.RRsets = []*RRset{s}
		}},
		{name: "records in another order and case", a: wwwA, p: wwwProof, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			r := s.Records()
			r[0], r[1] = r[1], r[0]
			for _, rr := range s.Records() {
				rr.Header().Name = "WwW.ExAmPlE."
			}
			c.a.RRsets = []*RRset{s}
		}},

		{name: "tampered RRset", a: wwwA, p: wwwProof, want: ErrBadSignature, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.First().(*dns.A).A = net.IPv4(192, 0, 2, 66)
			c.a.RRsets = []*RRset{s}
		}},
		{name: "tampered RRset, RRSIGs stripped", a: wwwA, p: wwwProof, want: ErrNotIncluded, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.First().(*dns.A).A = net.IPv4(192, 0, 2, 66)
			s.SetSignatures(nil)
			c.a.RRsets = []*RRset{s}
		}},
		{name: "record dropped from the RRset", a: wwwA, p: wwwProof, want: ErrBadSignature, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.SetRecords(s.Records()[:1])
			c.a.RRsets = []*RRset{s}
		}},
		{name: "tampered RRSIG", a: wwwA, p: wwwProof, want: ErrBadSignature, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.Signatures()[0].Expiration++
			c.a.RRsets = []*RRset{s}
		}},
		{name: "RRSIG by another key of the zone", a: wwwA, p: wwwProof, want: ErrBadSignature, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.SetSignatures([]*dns.RRSIG{mkRRSIG(t, otherKey, s, mkInception, mkExpiration)})
			c.a.RRsets = []*RRset{s}
		}},
		{name: "authoritative RRset unsigned", a: Answer{Name: "example.", Type: dns.TypeTXT}, p: must(z.ProveInclusion("example.", dns.TypeTXT)), want: ErrUnsigned, setup: func(c *verifyCase) {
			s := cloneRRset(rrset("example.", dns.TypeTXT))
			s.SetSignatures(nil)
			c.a.RRsets = []*RRset{s}
		}},
		{name: "RRSIG expired at the head's time", a: wwwA, p: wwwProof, head: late.Head.Note, want: ErrSignatureWindow},
		{name: "RRSIG not yet valid at the head's time", a: wwwA, p: wwwProof, head: early.Head.Note, want: ErrSignatureWindow},
		{name: "tampered proof path", a: wwwA, p: wwwProof, want: ErrNotIncluded, setup: func(c *verifyCase) {
			c.p = cloneProof(wwwProof)
			c.p.Leaves[0].Path[0][0] ^= 1
		}},
		{name: "proof path too short", a: wwwA, p: wwwProof, want: ErrNotIncluded, setup: func(c *verifyCase) {
			c.p = cloneProof(wwwProof)
			c.p.Leaves[0].Path = c.p.Leaves[0].Path[1:]
		}},
		{name: "proof for another leaf", a: wwwA, p: mailProof, want: ErrNotIncluded},
		{name: "leaf index beyond the tree", a: wwwA, p: wwwProof, want: ErrNotIncluded, setup: func(c *verifyCase) {
			c.p = cloneProof(wwwProof)
			c.p.Leaves[0].Index = c.p.Size
		}},
		{name: "proof for another tree size", a: wwwA, p: wwwProof, want: ErrTreeSize, setup: func(c *verifyCase) {
			c.p = cloneProof(wwwProof)
			c.p.Size++
		}},
		{name: "proof from a newer tree, old head", a: wwwA, p: must(next.ProveInclusion("www.example.", dns.TypeA)), want: ErrTreeSize},
		{name: "wrong key", a: wwwA, p: wwwProof, key: otherKey, want: ErrBadSignature},
		{name: "head of another zone", a: wwwA, p: wwwProof, head: netZone.Head.Note, want: ErrWrongZone},
		{name: "other zone's answer, head and key", a: Answer{Name: "www.example.net.", Type: dns.TypeA, RRsets: []*RRset{netZone.Node("www.example.net.").RRset(dns.TypeA)}},
			p: must(netZone.ProveInclusion("www.example.net.", dns.TypeA)), head: netZone.Head.Note, key: netKey},
		{name: "answer outside the zone", a: Answer{Name: "www.example.net.", Type: dns.TypeA, RRsets: []*RRset{www}}, p: wwwProof, want: ErrWrongZone},
		{name: "RRset outside the zone", a: Answer{Name: "alias.example.", Type: dns.TypeA, RRsets: []*RRset{rrset("alias.example.", dns.TypeCNAME), netZone.Node("www.example.net.").RRset(dns.TypeA)}},
			p: must(z.ProveAnswer(Answer{RRsets: []*RRset{rrset("alias.example.", dns.TypeCNAME), www}})), want: ErrWrongZone},
		{name: "tampered head", a: wwwA, p: wwwProof, head: bytes.Replace(head, []byte("\n2025010101\n"), []byte("\n2025010109\n"), 1), want: ErrBadSignature},
		{name: "garbage head", a: wwwA, p: wwwProof, head: []byte("not a note"), want: ErrBadHead},
		{name: "answer not for the question", a: Answer{Name: "mail.example.", Type: dns.TypeA, RRsets: []*RRset{www}}, p: wwwProof, want: ErrAnswerMismatch},
		{name: "answer of another type", a: Answer{Name: "www.example.", Type: dns.TypeAAAA, RRsets: []*RRset{www}}, p: wwwProof, want: ErrAnswerMismatch},
		{name: "inclusion proof for an empty answer", a: Answer{Name: "www.example.", Type: dns.TypeA}, p: wwwProof, want: ErrAnswerMismatch},
		{name: "fewer leaves than RRsets", a: Answer{Name: "alias.example.", Type: dns.TypeA, RRsets: []*RRset{rrset("alias.example.", dns.TypeCNAME), www}},
			p: must(z.ProveInclusion("alias.example.", dns.TypeCNAME)), want: ErrAnswerMismatch},
		{name: "record of another name in the RRset", a: wwwA, p: wwwProof, want: ErrAnswerMismatch, setup: func(c *verifyCase) {
			s := cloneRRset(www)
			s.Records()[1].Header().Name = "mail.example."
			c.a.RRsets = []*RRset{s}
		}},
		{name: "absence proof with an answer", a: Answer{Name: "nope.example.", Type: dns.TypeA, RRsets: []*RRset{www}}, p: nopeProof, want: ErrAnswerMismatch},
		{name: "no proof", a: wwwA, p: nil, want: ErrMalformedProof},
		{name: "absence proof for an RRset that exists", a: Answer{Name: "www.example.", Type: dns.TypeA}, p: must(z.ProveAbsence("www.example.", dns.TypeTXT)), want: ErrNotBetween},
		{name: "absence proof for a name that exists", a: Answer{Name: "mail.example.", Type: dns.TypeA}, p: nopeProof, want: ErrNotBetween},
		{name: "absence proof for another missing name", a: Answer{Name: "aaa.example.", Type: dns.TypeA}, p: nopeProof, want: ErrNotBetween},
		{name: "non-adjacent leaves", a: nope, p: nopeProof, want: ErrNotAdjacent, setup: func(c *verifyCase) {
			// Skip the leaf after nope's left neighbour: a node hiding mail
			// A would send leaves i and i+2.
			far := must(z.ProveAbsence("zzz.example.", dns.TypeA))
			c.p = cloneProof(nopeProof)
			c.p.Right = far.Left
		}},
		{name: "non-adjacent leaves hiding an RRset", a: Answer{Name: "mail.example.", Type: dns.TypeA}, want: ErrNotAdjacent, setup: func(c *verifyCase) {
			before := must(z.ProveAbsence("mail.example.", 0))
			after := must(z.ProveAbsence("mail.example.", dns.TypeA+1))
			c.p = &Proof{Kind: Absence, Size: before.Size, Left: before.Left, Right: after.Right}
		}},
		{name: "left edge claimed in the middle", a: nope, p: nopeProof, want: ErrNotAdjacent, setup: func(c *verifyCase) {
			c.p = cloneProof(nopeProof)
			c.p.Left = nil
		}},
		{name: "right edge claimed in the middle", a: nope, p: nopeProof, want: ErrNotAdjacent, setup: func(c *verifyCase) {
			c.p = cloneProof(nopeProof)
			c.p.Right = nil
		}},
		{name: "tampered neighbour data", a: nope, p: nopeProof, want: ErrNotIncluded, setup: func(c *verifyCase) {
			c.p = cloneProof(nopeProof)
			c.p.Left.Data[len(c.p.Left.Data)-1] ^= 1
		}},
		{name: "neighbour renamed to cover the name", a: nope, p: nopeProof, want: ErrNotIncluded, setup: func(c *verifyCase) {
			// Rewrite the right neighbour's owner to one sorting after
			// nope: the hash no longer matches.
			c.p = cloneProof(nopeProof)
			c.p.Right.Data = LeafData(NewRRset("zzz.example.", dns.TypeA, 60, []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: "zzz.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}, nil))
		}},
		{name: "neighbour data not a leaf", a: nope, p: nopeProof, want: ErrMalformedProof, setup: func(c *verifyCase) {
			c.p = cloneProof(nopeProof)
			c.p.Right.Data = []byte{0xC0, 0x00, 0x00, 0x01}
		}},
		{name: "absence proof without leaves", a: nope, p: &Proof{Kind: Absence, Size: nopeProof.Size}, want: ErrMalformedProof},
		{name: "unknown proof kind", a: nope, p: &Proof{Kind: 7, Size: nopeProof.Size}, want: ErrMalformedProof},
	}
	for _, tt := range tests {
		if tt.head == nil {
			tt.head = head
		}
		if tt.key == nil {
			tt.key = k
		}
		if tt.setup != nil {
			tt.setup(&tt)
		}
		err := Verify(tt.a, tt.p, tt.head, tt.key)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify(%q, %s) = %v, want %v", tt.name, tt.a.Name, dns.TypeToString[tt.a.Type], err, tt.want)
		}
	}
}

// TestVerifyRollbackIsCallersJob: Verify is stateless, so an old head
// with its own proofs verifies after a newer head exists. The caller
// remembers the highest serial it verified (ParseHead gives it) and
// rejects lower ones.
func TestVerifyRollbackIsCallersJob(t *testing.T) {
	old, k := mkTestZone(t)
	rrs := mkParse(t, "example.", mkZoneText)
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			soa.Serial++
			soa.Hdr.Ttl = 60
		}
	}
	newer := mkSignedZone(t, k, rrs, mkInception, mkExpiration, mkHeadTime.Add(time.Hour))
	nh, err := ParseHead(newer.Head.Note, k)
	if err != nil {
		t.Fatal(err)
	}
	soa := old.Apex().RRset(dns.TypeSOA)
	p, err := old.ProveInclusion("example.", dns.TypeSOA)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(Answer{Name: "example.", Type: dns.TypeSOA, RRsets: []*RRset{soa}}, p, old.Head.Note, k); err != nil {
		t.Fatalf("Verify(old SOA, old head) = %v, want nil: Verify does not know about newer heads", err)
	}
	oh, err := ParseHead(old.Head.Note, k)
	if err != nil {
		t.Fatal(err)
	}
	if oh.Serial >= nh.Serial || old.Tree().Root() == newer.Tree().Root() {
		t.Errorf("old head serial %d root %x, newer %d root %x: the caller could not tell them apart", oh.Serial, oh.Root, nh.Serial, nh.Root)
	}
}

// TestVerifyRecordError: failures about one RRset name it.
func TestVerifyRecordError(t *testing.T) {
	z, k := mkTestZone(t)
	p, err := z.ProveInclusion("www.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	s := cloneRRset(z.Node("www.example.").RRset(dns.TypeA))
	s.SetSignatures(nil)
	s.First().(*dns.A).A = net.IPv4(192, 0, 2, 66)
	err = Verify(Answer{Name: "www.example.", Type: dns.TypeA, RRsets: []*RRset{s}}, p, z.Head.Note, k)
	var re *RecordError
	if !errors.As(err, &re) || re.Name != "www.example." || re.Type != dns.TypeA {
		t.Errorf("Verify(tampered www A) = %v, want a *RecordError for www.example. A", err)
	}
}

// TestVerifyWithSign: zones signed by Sign verify, so the signer and the
// verifier agree on the head's time and the RRSIG windows.
func TestVerifyWithSign(t *testing.T) {
	k := mkKey(t, "example.", 1)
	unsigned, err := New("example.", mkParse(t, "example.", mkZoneText))
	if err != nil {
		t.Fatal(err)
	}
	z, err := Sign(unsigned, k, DefaultSignOptions(mkHeadTime))
	if err != nil {
		t.Fatalf("Sign = %v", err)
	}
	for _, s := range z.RRsets() {
		p, err := z.ProveInclusion(s.Name, s.Type)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(Answer{Name: s.Name, Type: s.Type, RRsets: []*RRset{s}}, p, z.Head.Note, k); err != nil {
			t.Errorf("Verify(%q, %s) of a Sign-ed zone = %v", s.Name, dns.TypeToString[s.Type], err)
		}
	}
	p, err := z.ProveAbsence("nope.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(Answer{Name: "nope.example.", Type: dns.TypeA}, p, z.Head.Note, k); err != nil {
		t.Errorf("Verify(nope.example., A, absence) of a Sign-ed zone = %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	z, k := mkTestZone(b)
	www := z.Node("www.example.").RRset(dns.TypeA)
	p, err := z.ProveInclusion("www.example.", dns.TypeA)
	if err != nil {
		b.Fatal(err)
	}
	a := Answer{Name: "www.example.", Type: dns.TypeA, RRsets: []*RRset{www}}
	b.Run("inclusion", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := Verify(a, p, z.Head.Note, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	abs, err := z.ProveAbsence("nope.example.", dns.TypeA)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("absence", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := Verify(Answer{Name: "nope.example.", Type: dns.TypeA}, abs, z.Head.Note, k); err != nil {
				b.Fatal(err)
			}
		}
	})
}
