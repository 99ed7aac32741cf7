package zone

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/miekg/dns"
)

func TestProveInclusionEveryRRset(t *testing.T) {
	z, k := mkTestZone(t)
	for _, s := range z.RRsets() {
		p, err := z.ProveInclusion(s.Name, s.Type)
		if err != nil {
			t.Errorf("ProveInclusion(%q, %s) = %v", s.Name, dns.TypeToString[s.Type], err)
			continue
		}
		a := Answer{Name: s.Name, Type: s.Type, RRsets: []*RRset{s}}
		if err := Verify(a, p, z.Head.Note, k); err != nil {
			t.Errorf("Verify(%q, %s) = %v, want nil", s.Name, dns.TypeToString[s.Type], err)
		}
	}
}

func TestProveAbsence(t *testing.T) {
	z, k := mkTestZone(t)
	last := z.Tree().Size() - 1
	tests := []struct {
		name        string
		t           uint16
		left, right bool // which neighbours the proof has
		nameAbsent  bool
	}{
		{"nope.example.", dns.TypeA, true, true, true},         // NXDOMAIN
		{"www.example.", dns.TypeTXT, true, true, false},       // NODATA, between A and AAAA
		{"www.example.", dns.TypeMX, true, true, false},        // NODATA
		{"WWW.Example.", dns.TypeCNAME, true, true, false},     // case does not matter
		{"example.", 0, false, true, false},                    // before the first leaf
		{"zzzz.example.", dns.TypeA, true, false, true},        // after the last leaf
		{"z.example.", 65535, true, false, false},              // after the last leaf, same name
		{"x.wild.example.", dns.TypeTXT, true, true, true},     // a name the wildcard covers
		{"b.c.sub.example.", dns.TypeA, true, true, true},      // below a cut
		{"example.", dns.TypeRRSIG, true, true, false},         // RRSIGs are never leaves
		{"\\000.example.", dns.TypeA, true, true, true},        // sorts right after the apex
		{"a\\.b.example.", dns.TypeA, true, true, true},        // escaped dot in a label
		{"mail.example.", dns.TypeAAAA, true, true, false},     // NODATA
		{"ns.sub.example.", dns.TypeAAAA, true, true, false},   // glue name
		{"*.wild.example.", dns.TypeA, true, true, false},      // the wildcard owner itself
		{"xn--nxasmq6b.example.", dns.TypeA, true, true, true}, // IDN
		{"alias.example.", dns.TypeA, true, true, false},       // CNAME owner
		{"sub.example.", dns.TypeDS, true, true, false},        // no DS at the cut
		{"ns1.example.", dns.TypeA + 1, true, true, false},     // a type just above an existing one
	}
	for _, tt := range tests {
		p, err := z.ProveAbsence(tt.name, tt.t)
		if err != nil {
			t.Errorf("ProveAbsence(%q, %s) = %v", tt.name, dns.TypeToString[tt.t], err)
			continue
		}
		if (p.Left != nil) != tt.left || (p.Right != nil) != tt.right {
			t.Errorf("ProveAbsence(%q, %s) has left %v right %v, want %v %v", tt.name, dns.TypeToString[tt.t], p.Left != nil, p.Right != nil, tt.left, tt.right)
		}
		if p.Right == nil && p.Left.Index != last {
			t.Errorf("ProveAbsence(%q, %s) left leaf %d, want the last, %d", tt.name, dns.TypeToString[tt.t], p.Left.Index, last)
		}
		if got := p.NameAbsent(tt.name); got != tt.nameAbsent {
			t.Errorf("ProveAbsence(%q, %s).NameAbsent() = %v, want %v", tt.name, dns.TypeToString[tt.t], got, tt.nameAbsent)
		}
		if err := Verify(Answer{Name: tt.name, Type: tt.t}, p, z.Head.Note, k); err != nil {
			t.Errorf("Verify(%q, %s, absence) = %v, want nil", tt.name, dns.TypeToString[tt.t], err)
		}
	}
}

func TestProveErrors(t *testing.T) {
	z, _ := mkTestZone(t)
	if _, err := z.ProveInclusion("nope.example.", dns.TypeA); !errors.Is(err, ErrNoRRset) {
		t.Errorf("ProveInclusion(nope.example., A) = %v, want %v", err, ErrNoRRset)
	}
	if _, err := z.ProveInclusion("www.example.", dns.TypeRRSIG); !errors.Is(err, ErrNoRRset) {
		t.Errorf("ProveInclusion(www.example., RRSIG) = %v, want %v", err, ErrNoRRset)
	}
	if _, err := z.ProveAbsence("Www.example.", dns.TypeA); !errors.Is(err, ErrRRsetExists) {
		t.Errorf("ProveAbsence(Www.example., A) = %v, want %v", err, ErrRRsetExists)
	}
	if _, err := z.ProveAbsence("example.net.", dns.TypeA); !errors.Is(err, ErrOutOfZone) {
		t.Errorf("ProveAbsence(example.net., A) = %v, want %v", err, ErrOutOfZone)
	}
	if _, err := z.ProveAnswer(Answer{Name: "www.example.", Type: dns.TypeA}); !errors.Is(err, ErrAnswerMismatch) {
		t.Errorf("ProveAnswer(empty answer) = %v, want %v", err, ErrAnswerMismatch)
	}
}

func TestProofRoundTrip(t *testing.T) {
	z, _ := mkTestZone(t)
	var proofs []*Proof
	for _, s := range z.RRsets() {
		p, err := z.ProveInclusion(s.Name, s.Type)
		if err != nil {
			t.Fatal(err)
		}
		proofs = append(proofs, p)
	}
	for _, q := range []struct {
		name string
		t    uint16
	}{{"nope.example.", dns.TypeA}, {"example.", 0}, {"zzz.example.", dns.TypeA}} {
		p, err := z.ProveAbsence(q.name, q.t)
		if err != nil {
			t.Fatal(err)
		}
		proofs = append(proofs, p)
	}
	chain, err := z.ProveAnswer(Answer{RRsets: []*RRset{
		z.Node("alias.example.").RRset(dns.TypeCNAME), z.Node("www.example.").RRset(dns.TypeA)}})
	if err != nil {
		t.Fatal(err)
	}
	proofs = append(proofs, chain)
	for i, p := range proofs {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("proof %d: MarshalBinary = %v", i, err)
		}
		var q Proof
		if err := q.UnmarshalBinary(b); err != nil {
			t.Fatalf("proof %d: UnmarshalBinary(MarshalBinary) = %v", i, err)
		}
		b2, err := q.MarshalBinary()
		if err != nil || !bytes.Equal(b, b2) {
			t.Errorf("proof %d: re-encoding = %x, %v; want %x", i, b2, err, b)
		}
		if q.Kind != p.Kind || q.Size != p.Size || len(q.Leaves) != len(p.Leaves) {
			t.Errorf("proof %d: decoded %+v, want %+v", i, q, p)
		}
	}
}

func TestMarshalBinaryErrors(t *testing.T) {
	leaf := &LeafProof{Index: 0}
	data := &LeafProof{Index: 0, Data: []byte{0, 0, 1}}
	tests := []struct {
		name string
		p    *Proof
	}{
		{"unknown kind", &Proof{Kind: 9, Size: 1}},
		{"inclusion without leaves", &Proof{Kind: Inclusion, Size: 1}},
		{"inclusion leaf with data", &Proof{Kind: Inclusion, Size: 1, Leaves: []*LeafProof{data}}},
		{"inclusion with neighbours", &Proof{Kind: Inclusion, Size: 1, Leaves: []*LeafProof{leaf}, Left: data}},
		{"absence without leaves", &Proof{Kind: Absence, Size: 1}},
		{"absence leaf without data", &Proof{Kind: Absence, Size: 1, Left: leaf}},
		{"absence with inclusion leaves", &Proof{Kind: Absence, Size: 1, Left: data, Leaves: []*LeafProof{leaf}}},
		{"path too long", &Proof{Kind: Inclusion, Size: 1, Leaves: []*LeafProof{{Path: make([][32]byte, 65)}}}},
	}
	for _, tt := range tests {
		if _, err := tt.p.MarshalBinary(); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("%s: MarshalBinary = %v, want %v", tt.name, err, ErrMalformedProof)
		}
	}
}

func TestUnmarshalBinaryErrors(t *testing.T) {
	head := func(version, kind byte) []byte {
		return binary.BigEndian.AppendUint64([]byte{version, kind}, 1)
	}
	leaf := func(pathLen byte, data []byte) []byte {
		b := binary.BigEndian.AppendUint64(nil, 0)
		b = append(b, pathLen)
		b = append(b, make([]byte, 32*int(pathLen))...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	okIncl := cat(head(1, 1), []byte{0, 1}, leaf(0, nil))
	okAbs := cat(head(1, 2), []byte{1}, leaf(0, []byte{0, 0, 1}))
	for _, b := range [][]byte{okIncl, okAbs} {
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary(%x) = %v, want nil (the cases below must differ from it in one way)", b, err)
		}
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformedProof},
		{"version 0", cat(head(0, 1), []byte{0, 1}, leaf(0, nil)), ErrProofVersion},
		{"version 2", cat(head(2, 1), []byte{0, 1}, leaf(0, nil)), ErrProofVersion},
		{"unknown kind", cat(head(1, 3), []byte{0, 1}, leaf(0, nil)), ErrMalformedProof},
		{"kind 0", cat(head(1, 0)), ErrMalformedProof},
		{"only the version", []byte{1}, ErrMalformedProof},
		{"truncated size", []byte{1, 1, 0, 0}, ErrMalformedProof},
		{"zero leaves", cat(head(1, 1), []byte{0, 0}), ErrMalformedProof},
		{"more leaves than bytes", cat(head(1, 1), []byte{0xFF, 0xFF}, leaf(0, nil)), ErrMalformedProof},
		{"trailing byte", append(bytes.Clone(okIncl), 0), ErrMalformedProof},
		{"truncated leaf", okIncl[:len(okIncl)-1], ErrMalformedProof},
		{"path of 65", cat(head(1, 1), []byte{0, 1}, leaf(65, nil)), ErrMalformedProof},
		{"inclusion leaf with data", cat(head(1, 1), []byte{0, 1}, leaf(0, []byte{1})), ErrMalformedProof},
		{"data longer than input", cat(head(1, 1), []byte{0, 1}, binary.BigEndian.AppendUint64(nil, 0), []byte{0, 0xFF, 0xFF, 0xFF, 0xFF}), ErrMalformedProof},
		{"absence flags 0", cat(head(1, 2), []byte{0}), ErrMalformedProof},
		{"absence flags 4", cat(head(1, 2), []byte{5}, leaf(0, []byte{1})), ErrMalformedProof},
		{"absence leaf without data", cat(head(1, 2), []byte{1}, leaf(0, nil)), ErrMalformedProof},
		{"absence missing right leaf", cat(head(1, 2), []byte{3}, leaf(0, []byte{1})), ErrMalformedProof},
	}
	for _, tt := range tests {
		var p Proof
		if err := p.UnmarshalBinary(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: UnmarshalBinary(%x) = %v, want %v", tt.name, tt.b, err, tt.want)
		}
	}
}

func FuzzUnmarshalProof(f *testing.F) {
	z, k := mkTestZone(f)
	incl, err := z.ProveInclusion("www.example.", dns.TypeA)
	if err != nil {
		f.Fatal(err)
	}
	abs, err := z.ProveAbsence("nope.example.", dns.TypeA)
	if err != nil {
		f.Fatal(err)
	}
	edge, err := z.ProveAbsence("zzz.example.", dns.TypeA)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []*Proof{incl, abs, edge} {
		b, err := p.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 3})
	f.Add([]byte{})
	www := z.Node("www.example.").RRset(dns.TypeA)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded proof = %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gave %x", b, out)
		}
		// Whatever decodes must not crash Verify, and must not prove
		// anything false: www A exists, nope A does not.
		if err := Verify(Answer{Name: "nope.example.", Type: dns.TypeA, RRsets: []*RRset{www}}, &p, z.Head.Note, k); err == nil {
			t.Fatalf("Verify accepted www's RRset as the answer for nope.example. with proof %x", b)
		}
		if err := Verify(Answer{Name: "www.example.", Type: dns.TypeA}, &p, z.Head.Note, k); err == nil {
			t.Fatalf("Verify accepted an absence proof for an existing RRset: %x", b)
		}
		_ = Verify(Answer{Name: "www.example.", Type: dns.TypeA, RRsets: []*RRset{www}}, &p, z.Head.Note, k)
		_ = Verify(Answer{Name: "nope.example.", Type: dns.TypeA}, &p, z.Head.Note, k)
	})
}
