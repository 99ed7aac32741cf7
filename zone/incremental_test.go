package zone

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/miekg/dns"
)

// TestWithReplaced: a change that only replaces RRsets takes the
// incremental path, and its result is exactly the zone the full rebuild
// makes (the same RRsets in the same order, the same nodes, empty
// non-terminals included, the same Merkle tree leaf by leaf), while the
// zone it came from stays as it was. Changes that add or remove a name
// or a type take the rebuild.
func TestWithReplaced(t *testing.T) {
	z, _ := mkTestZone(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 40 {
		before := z.RRsets()
		beforeRoot := z.Tree().Root()
		// Replace 1 to 3 RRsets, picked at random, with a new TTL.
		var cs ChangeSet
		cs.Zone = z.Origin
		for range 1 + rng.IntN(3) {
			s := before[rng.IntN(len(before))]
			ttl := s.TTL + 1 + uint32(step)
			c := &RRset{Name: s.Name, Type: s.Type, TTL: ttl}
			for _, rr := range s.Records() {
				cp := dns.Copy(rr)
				cp.Header().Ttl = ttl
				c.AddRecord(cp)
			}
			cs.Put = append(cs.Put, c)
		}
		nz, err := z.WithChanges(cs)
		if err != nil {
			t.Fatalf("step %d: WithChanges: %v", step, err)
		}
		if !nz.incremental {
			t.Fatalf("step %d: a replacement-only change took the rebuild", step)
		}
		want := build(z.Origin, nz.RRsets())
		sameZone(t, fmt.Sprintf("step %d", step), nz, want)
		// The old zone is untouched.
		after := z.RRsets()
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("step %d: the old zone's RRset %d changed", step, i)
			}
		}
		if z.Tree().Root() != beforeRoot || newTree(before).Root() != beforeRoot {
			t.Fatalf("step %d: the old zone's tree changed", step)
		}
		z = nz
	}

	// A new name, a new type at a name, a deletion: the incremental
	// path for changes (withChanged), the same zone as a rebuild.
	a, _ := dns.NewRR("brand-new.example. 300 IN A 192.0.2.99")
	caa, _ := dns.NewRR("example. 300 IN CAA 0 issue \"ca.example\"")
	first := z.RRsets()[0]
	for _, cs := range []ChangeSet{
		{Zone: z.Origin, Put: []*RRset{NewRRset("brand-new.example.", dns.TypeA, 300, []dns.RR{a}, nil)}},
		{Zone: z.Origin, Put: []*RRset{NewRRset("example.", dns.TypeCAA, 300, []dns.RR{caa}, nil)}},
		{Zone: z.Origin, Delete: []RRKey{{Name: "brand-new.example.", Type: dns.TypeA}}, Put: []*RRset{first}},
	} {
		nz, err := z.WithChanges(cs)
		if err != nil {
			t.Fatalf("WithChanges(%+v): %v", cs, err)
		}
		if !nz.incremental {
			t.Errorf("WithChanges(%+v) took the rebuild", cs)
		}
		sameZone(t, fmt.Sprintf("%+v", cs), nz, build(z.Origin, nz.RRsets()))
	}
}

// TestWithChanged: random changes that add and remove RRsets and whole
// names (deep ones, making and dropping empty non-terminals; names
// below a zone cut; RRsets at an empty non-terminal) take the
// incremental path, and each result is exactly the zone a rebuild of
// its RRsets makes (names, empty non-terminals, order, tree,
// predecessors), the zone before it untouched. A change that puts or
// deletes a delegation's NS or deletes the SOA takes the rebuild; a
// CNAME beside other data is refused on either path.
func TestWithChanged(t *testing.T) {
	z, _ := mkTestZone(t)
	rng := rand.New(rand.NewPCG(7, 8))
	labels := []string{"a", "b", "c", "www", "sub", "ns.sub", "deep.x.y", "x.y", "y", "alias"}
	rr := func(name string, typ uint16, i int) *RRset {
		var r dns.RR
		switch typ {
		case dns.TypeA:
			r = &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, byte(i)}}
		default:
			r = &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{fmt.Sprint(i)}}
			typ = dns.TypeTXT
		}
		return NewRRset(name, typ, 300, []dns.RR{r}, nil)
	}
	for step := range 120 {
		var cs ChangeSet
		cs.Zone = z.Origin
		for range 1 + rng.IntN(3) {
			name := labels[rng.IntN(len(labels))] + "." + z.Origin
			if rng.IntN(3) == 0 {
				name = fmt.Sprintf("n%d.%s", rng.IntN(5), labels[rng.IntN(len(labels))]+"."+z.Origin)
			}
			typ := []uint16{dns.TypeA, dns.TypeTXT}[rng.IntN(2)]
			if n := z.Node(name); n != nil && n.RRset(dns.TypeCNAME) != nil {
				continue // keep the CNAME rule for its own case below
			}
			if rng.IntN(2) == 0 {
				cs.Delete = append(cs.Delete, RRKey{name, typ})
			} else {
				cs.Put = append(cs.Put, rr(name, typ, step))
			}
		}
		before := z.RRsets()
		beforeRoot := z.Tree().Root()
		nz, err := z.WithChanges(cs)
		if err != nil {
			t.Fatalf("step %d: WithChanges(%+v): %v", step, cs, err)
		}
		if !nz.incremental {
			t.Fatalf("step %d: the change took the rebuild", step)
		}
		sameZone(t, fmt.Sprintf("step %d", step), nz, build(z.Origin, nz.RRsets()))
		if after := z.RRsets(); !slices.Equal(before, after) || z.Tree().Root() != beforeRoot {
			t.Fatalf("step %d: the old zone changed", step)
		}
		z = nz
	}
	// A deep name alone under two new empty non-terminals, then gone:
	// they go with it.
	for _, cs := range []ChangeSet{
		{Zone: z.Origin, Put: []*RRset{rr("leaf.e1.e2.example.", dns.TypeA, 1)}},
		{Zone: z.Origin, Delete: []RRKey{{"leaf.e1.e2.example.", dns.TypeA}}},
	} {
		nz, err := z.WithChanges(cs)
		if err != nil || !nz.incremental {
			t.Fatalf("WithChanges(%+v) = %v, incremental %v", cs, err, err == nil && nz.incremental)
		}
		sameZone(t, fmt.Sprintf("%+v", cs), nz, build(z.Origin, nz.RRsets()))
		z = nz
	}
	if z.Node("e2.example.") != nil || z.Node("e1.e2.example.") != nil {
		t.Errorf("the empty non-terminals of a removed name stayed")
	}
	ns := NewRRset("new-cut.example.", dns.TypeNS, 300, []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "new-cut.example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 300}, Ns: "ns.example.net."}}, nil)
	for _, cs := range []ChangeSet{
		{Zone: z.Origin, Put: []*RRset{ns}},
		{Zone: z.Origin, Delete: []RRKey{{"sub.example.", dns.TypeNS}}},
	} {
		nz, err := z.WithChanges(cs)
		if err != nil {
			t.Fatalf("WithChanges(%+v): %v", cs, err)
		}
		if nz.incremental {
			t.Errorf("WithChanges(%+v) moved a zone cut on the incremental path", cs)
		}
	}
	if _, err := z.WithChanges(ChangeSet{Zone: z.Origin, Delete: []RRKey{{"example.", dns.TypeSOA}}}); !errors.Is(err, ErrNoSOA) {
		t.Errorf("deleting the SOA: %v, want ErrNoSOA", err)
	}
	if _, err := z.WithChanges(ChangeSet{Zone: z.Origin, Put: []*RRset{rr("alias.example.", dns.TypeA, 1)}}); !errors.Is(err, ErrCNAMEAndOther) {
		t.Errorf("an A beside a CNAME: %v, want ErrCNAMEAndOther", err)
	}
}

// sameZone fails unless got and want hold the same RRsets in the same
// order, the same nodes by name and the same Merkle tree.
func sameZone(t *testing.T, what string, got, want *Zone) {
	t.Helper()
	gs, ws := got.RRsets(), want.RRsets()
	if len(gs) != len(ws) {
		t.Fatalf("%s: %d RRsets, want %d", what, len(gs), len(ws))
	}
	for i := range gs {
		if gs[i] != ws[i] {
			t.Fatalf("%s: RRset %d is %s %s, want %s %s", what, i, gs[i].Name, dns.TypeToString[gs[i].Type], ws[i].Name, dns.TypeToString[ws[i].Type])
		}
	}
	if got.names.len() != want.names.len() || got.Len() != want.Len() || len(got.Nodes()) != len(want.Nodes()) {
		t.Fatalf("%s: %d names, %d ordered; want %d, %d", what, got.names.len(), got.Len(), want.names.len(), want.Len())
	}
	for i, n := range want.Nodes() {
		if got.Nodes()[i] != got.Node(n.Name) || got.Nodes()[i].Name != n.Name {
			t.Fatalf("%s: node %d in order is %s, want %s", what, i, got.Nodes()[i].Name, n.Name)
		}
	}
	var wantNodes []*Node
	want.names.each(func(n *Node) { wantNodes = append(wantNodes, n) })
	for _, wn := range wantNodes {
		name := wn.Name
		gn := got.Node(name)
		if gn == nil || len(gn.RRsets) != len(wn.RRsets) {
			t.Fatalf("%s: node %s = %v, want %d RRsets", what, name, gn, len(wn.RRsets))
		}
		for i := range wn.RRsets {
			if gn.RRsets[i] != wn.RRsets[i] {
				t.Fatalf("%s: node %s RRset %d differs", what, name, i)
			}
		}
	}
	gt, wt := got.Tree(), want.Tree()
	if gt.Root() != wt.Root() || gt.Size() != wt.Size() {
		t.Fatalf("%s: tree root %x size %d, want %x size %d", what, gt.Root(), gt.Size(), wt.Root(), wt.Size())
	}
	if !slices.Equal(leafHashes(gt), leafHashes(wt)) {
		t.Fatalf("%s: tree leaves differ", what)
	}
	for i := range wt.size {
		for l := uint(0); i%(1<<l) == 0 && i+1<<l <= wt.size; l++ {
			id := compact.NewNodeID(l, uint64(i>>l))
			if gt.node(id) != wt.node(id) {
				t.Fatalf("%s: tree level %d node %d differs", what, l, i>>l)
			}
		}
	}
	for _, s := range gs {
		for _, name := range []string{s.Name, "a-" + s.Name, "zz." + s.Name} {
			g, w := got.Predecessor(name), want.Predecessor(name)
			if (g == nil) != (w == nil) || g != nil && (g.Name != w.Name || g != got.Node(g.Name)) {
				t.Fatalf("%s: Predecessor(%s) = %v, want %v", what, name, g, w)
			}
		}
	}
}

// TestApplyReplaced: a change that only replaces RRsets, or adds or
// removes some without moving a zone cut, takes one of Apply's
// incremental paths and gives exactly the zone the full path gives,
// signature bytes included (Ed25519 is deterministic), with the same
// head root; SignedDiff of it, which walks only the changed paths of
// the two trees, gives what comparing every RRset gives. Changes that
// do not qualify take the full path.
func TestApplyReplaced(t *testing.T) {
	old, k := signedExample(t)
	opt := DefaultSignOptions(signNow.Add(time.Hour))
	for _, tc := range []struct {
		desc string
		c    Change
		fast bool
	}{
		{"one RRset", Change{Put: []*RRset{mustRRset(t, "big.example. 600 IN A 198.51.100.1", "big.example. 600 IN A 198.51.100.2")}}, true},
		{"two RRsets at one name", Change{Put: []*RRset{mustRRset(t, "www.example. 60 IN A 192.0.2.9"), mustRRset(t, "www.example. 60 IN AAAA 2001:db8::9")}}, true},
		{"delegation NS and glue (unsigned)", Change{Put: []*RRset{mustRRset(t, "sub.example. 3600 IN NS ns1.sub.example."), mustRRset(t, "ns1.sub.example. 3600 IN A 192.0.2.209")}}, true},
		// applyChanged (incremental too):
		{"a new name", Change{Put: []*RRset{mustRRset(t, "new.example. 3600 IN A 192.0.2.7")}}, true},
		{"a new type", Change{Put: []*RRset{mustRRset(t, "www.example. 3600 IN TXT \"x\"")}}, true},
		{"the same RRset twice", Change{Put: []*RRset{mustRRset(t, "www.example. 60 IN A 192.0.2.9"), mustRRset(t, "www.example. 60 IN A 192.0.2.10")}}, true},
		{"a deletion", Change{Delete: []RRKey{{"www.example.", dns.TypeAAAA}}, Put: []*RRset{mustRRset(t, "www.example. 60 IN A 192.0.2.9")}}, true},
		{"nothing", Change{}, true},
		{"a name removed", Change{Delete: []RRKey{{"mail.example.", dns.TypeA}}}, true},
		{"a deep name (empty non-terminals)", Change{Put: []*RRset{mustRRset(t, "a.b.new.example. 3600 IN TXT \"deep\"")}}, true},
		{"glue below a cut", Change{Put: []*RRset{mustRRset(t, "ns3.sub.example. 3600 IN A 192.0.2.203")}}, true},
		{"a DS at a cut", Change{Put: []*RRset{mustRRset(t, "nods.example. 3600 IN DS 12345 15 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF")}}, true},
		{"a name after the last", Change{Put: []*RRset{mustRRset(t, "zzzz.example. 3600 IN A 192.0.2.1")}}, true},
		// The full path:
		{"the SOA", Change{Put: []*RRset{mustRRset(t, "example. 3600 IN SOA ns1.example. hostmaster.example. 99 7200 3600 1209600 600")}}, false},
		{"a new cut", Change{Put: []*RRset{mustRRset(t, "newcut.example. 3600 IN NS ns.example.net.")}}, false},
		{"the DNSKEY deleted", Change{Delete: []RRKey{{"example.", dns.TypeDNSKEY}}}, false},
		{"a CNAME beside data", Change{Put: []*RRset{mustRRset(t, "www.example. 3600 IN CNAME other.example.")}}, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := old.Apply(tc.c, k, opt)
			if tc.desc == "a CNAME beside data" {
				if !errors.Is(err, ErrCNAMEAndOther) {
					t.Fatalf("Apply = %v, want ErrCNAMEAndOther", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply = %v", err)
			}
			if got.incremental != tc.fast {
				t.Fatalf("Apply took the incremental path: %v, want %v", got.incremental, tc.fast)
			}
			want, err := old.applyFull(tc.c, k, opt)
			if err != nil {
				t.Fatalf("applyFull = %v", err)
			}
			if !tc.fast {
				return
			}
			if a, b := recordStrings(got), recordStrings(want); !slices.Equal(a, b) {
				t.Errorf("Apply differs from the full path:\n got %v\nwant %v", a, b)
			}
			if got.Head.Root != want.Head.Root || got.Head.Size != want.Head.Size || got.Head.Serial != want.Head.Serial {
				t.Errorf("head %x/%d/%d, want %x/%d/%d", got.Head.Root, got.Head.Size, got.Head.Serial, want.Head.Root, want.Head.Size, want.Head.Serial)
			}
			if err := CheckSigned(got, k, signNow.Add(time.Hour)); err != nil {
				t.Errorf("CheckSigned = %v", err)
			}
			diff, full := SignedDiff(old, got), SignedDiff(old, want)
			var gk, wk []string
			for _, s := range diff.Put {
				gk = append(gk, s.Name+" "+dns.TypeToString[s.Type])
			}
			for _, s := range full.Put {
				wk = append(wk, s.Name+" "+dns.TypeToString[s.Type])
			}
			if !slices.Equal(gk, wk) || len(diff.Delete) != len(full.Delete) {
				t.Errorf("SignedDiff puts %v, deletes %v; want %v, %v", gk, diff.Delete, wk, full.Delete)
			}
			// The members' side takes the change and reaches the same head.
			if _, err := VerifyChange(old, diff, k); err != nil {
				t.Errorf("VerifyChange(SignedDiff) = %v", err)
			}
		})
	}
}

// TestApplyChanged: a random sequence of owner changes (names added and
// removed, deep ones, glue below a cut, types added and removed, several
// at once) made with Apply's incremental paths, each step compared with
// the full path from the same zone: the same records and signatures
// (NSEC chain included), the same head; and each step's SignedDiff is
// taken by the members' side (VerifyChange) with the same root.
func TestApplyChanged(t *testing.T) {
	z, k := signedExample(t)
	opt := DefaultSignOptions(signNow.Add(time.Hour))
	rng := rand.New(rand.NewPCG(9, 10))
	names := []string{"new", "a.new", "x.y.new", "www", "mail", "c", "zzz", "ns3.sub", "aaa", "big", "b.c"}
	for step := range 40 {
		var c Change
		for range 1 + rng.IntN(3) {
			name := names[rng.IntN(len(names))] + ".example."
			switch rng.IntN(3) {
			case 0:
				c.Delete = append(c.Delete, RRKey{name, dns.TypeA}, RRKey{name, dns.TypeTXT})
			case 1:
				c.Put = append(c.Put, mustRRset(t, fmt.Sprintf("%s 300 IN A 192.0.2.%d", name, step)))
			default:
				c.Put = append(c.Put, mustRRset(t, fmt.Sprintf("%s 300 IN TXT \"s%d\"", name, step)))
			}
		}
		if n := z.Node("www.example."); n == nil || n.RRset(dns.TypeCNAME) != nil {
			t.Fatalf("step %d: test zone lost www", step)
		}
		got, err := z.Apply(c, k, opt)
		want, werr := z.applyFull(c, k, opt)
		if (err == nil) != (werr == nil) {
			t.Fatalf("step %d: Apply = %v, full path = %v", step, err, werr)
		}
		if err != nil {
			continue
		}
		if !got.incremental {
			t.Fatalf("step %d: Apply(%+v) took the full path", step, c)
		}
		if a, b := recordStrings(got), recordStrings(want); !slices.Equal(a, b) {
			t.Fatalf("step %d: Apply(%+v) differs from the full path:\n got %v\nwant %v", step, c, a, b)
		}
		if got.Head.Root != want.Head.Root || got.Head.Size != want.Head.Size {
			t.Fatalf("step %d: head differs from the full path's", step)
		}
		if err := CheckSigned(got, k, signNow.Add(time.Hour)); err != nil {
			t.Fatalf("step %d: CheckSigned = %v", step, err)
		}
		if _, err := VerifyChange(z, SignedDiff(z, got), k); err != nil {
			t.Fatalf("step %d: VerifyChange = %v", step, err)
		}
		z = got
	}
}
