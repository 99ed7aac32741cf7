package zone

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// treapSets returns n distinct RRsets in canonical order: names with an
// A and a TXT RRset each.
func treapSets(n int) []*RRset {
	var out []*RRset
	for i := range n / 2 {
		name := fmt.Sprintf("n%d.example.", i)
		out = append(out,
			NewRRset(name, dns.TypeA, 300, []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, byte(i)}}}, nil),
			NewRRset(name, dns.TypeTXT, 300, []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{name}}}, nil))
	}
	slices.SortFunc(out, func(a, b *RRset) int { return compareKey(a.Name, a.Type, b.Name, b.Type) })
	return out
}

func leavesOf(sets []*RRset) [][32]byte {
	out := make([][32]byte, len(sets))
	for i, s := range sets {
		out[i] = LeafHash(s)
	}
	return out
}

// checkTreap fails unless t holds exactly want (in canonical order), is
// a search tree and a heap with unique shape, and every node's hash is
// its children's, leaf's and key's.
func checkTreap(t *testing.T, what string, tr Treap, want []*RRset) {
	t.Helper()
	var got []*RRset
	tr.each(func(s *RRset) { got = append(got, s) })
	if !slices.Equal(got, want) || tr.Size() != len(want) {
		t.Fatalf("%s: holds %d RRsets (size %d), want %d", what, len(got), tr.Size(), len(want))
	}
	var walk func(n *tnode)
	walk = func(n *tnode) {
		if n == nil {
			return
		}
		for _, c := range []*tnode{n.left, n.right} {
			if c != nil && !above(n, c) {
				t.Fatalf("%s: %s %d below %s %d breaks the heap", what, n.set.Name, n.set.Type, c.set.Name, c.set.Type)
			}
		}
		if h := treapNodeHash(n.left.hashOrZero(), n.right.hashOrZero(), LeafHash(n.set), n.set.Name, n.set.Type); h != n.hash {
			t.Fatalf("%s: node %s %d hash is stale", what, n.set.Name, n.set.Type)
		}
		walk(n.left)
		walk(n.right)
	}
	walk(tr.root)
}

// TestTreapShapeIsTheSet: whatever order RRsets are added and removed
// in, the treap of a set of RRsets is the same (same root hash) as the
// one built at once from the sorted set; every earlier version keeps its
// RRsets and root (path copying); a replacement changes the root and
// nothing else.
func TestTreapShapeIsTheSet(t *testing.T) {
	sets := treapSets(400)
	built := treapOf(sets, leavesOf(sets))
	checkTreap(t, "built", built, sets)
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 5 {
		var tr Treap
		type version struct {
			tr   Treap
			root [32]byte
			want []*RRset
		}
		var versions []version
		present := map[*RRset]bool{}
		snapshot := func() []*RRset {
			var w []*RRset
			for _, s := range sets {
				if present[s] {
					w = append(w, s)
				}
			}
			return w
		}
		// Add everything in a random order, removing some on the way.
		for _, i := range rng.Perm(len(sets)) {
			tr = tr.With(sets[i])
			present[sets[i]] = true
			if rng.IntN(4) == 0 {
				j := rng.IntN(len(sets))
				tr = tr.Without(sets[j].Name, sets[j].Type)
				delete(present, sets[j])
			}
			versions = append(versions, version{tr, tr.Root(), snapshot()})
		}
		for _, s := range sets { // put back what was removed
			if !present[s] {
				tr = tr.With(s)
				present[s] = true
			}
		}
		checkTreap(t, fmt.Sprintf("round %d", round), tr, sets)
		if tr.Root() != built.Root() {
			t.Fatalf("round %d: root %x, want the built treap's %x", round, tr.Root(), built.Root())
		}
		for i, v := range versions {
			if v.tr.Root() != v.root {
				t.Fatalf("round %d: version %d changed its root", round, i)
			}
			if i%37 == 0 {
				checkTreap(t, fmt.Sprintf("round %d version %d", round, i), v.tr, v.want)
				if want := treapOf(v.want, leavesOf(v.want)); v.root != want.Root() {
					t.Fatalf("round %d: version %d root differs from the built treap of its RRsets", round, i)
				}
			}
		}
	}
	// A replacement: the same key, other data.
	s := sets[77]
	c := NewRRset(s.Name, s.Type, s.TTL+1, s.Records(), nil)
	tr := built.With(c)
	if tr.Size() != built.Size() || tr.Root() == built.Root() || tr.Get(s.Name, s.Type) != c || built.Get(s.Name, s.Type) != s {
		t.Fatalf("replacement: size %d root changed %v; want the same size, a new root, the old treap unchanged", tr.Size(), tr.Root() != built.Root())
	}
	if back := tr.With(s); back.Root() != built.Root() {
		t.Fatalf("putting the RRset back does not give the old root")
	}
	if tr.Without("absent.example.", dns.TypeA) != tr {
		t.Fatalf("removing an absent key changed the treap")
	}
}

// TestTreapPath: every present key's path verifies with its leaf hash,
// every absent key's path verifies as absent, and each way of tampering
// with a path (another leaf, a flipped direction, a changed key or
// sibling hash, a dropped step, a claimed absence of a present key) is
// refused.
func TestTreapPath(t *testing.T) {
	sets := treapSets(300)
	tr := treapOf(sets, leavesOf(sets))
	root := tr.Root()
	for _, s := range sets {
		p := tr.Path(s.Name, s.Type)
		leaf := LeafHash(s)
		if !p.Found {
			t.Fatalf("Path(%s %d) not found", s.Name, s.Type)
		}
		if err := p.Verify(root, &leaf); err != nil {
			t.Fatalf("Path(%s %d).Verify = %v", s.Name, s.Type, err)
		}
		for _, name := range []string{"a-" + s.Name, "zz." + s.Name} {
			q := tr.Path(name, dns.TypeAAAA)
			if q.Found {
				t.Fatalf("Path(%s AAAA) found", name)
			}
			if err := q.Verify(root, nil); err != nil {
				t.Fatalf("absent Path(%s AAAA).Verify = %v", name, err)
			}
		}
	}
	s := sets[123]
	leaf := LeafHash(s)
	good := tr.Path(s.Name, s.Type)
	if len(good.Steps) < 2 {
		t.Fatalf("path of %d steps: pick a deeper key", len(good.Steps))
	}
	clone := func() TreapPath { p := good; p.Steps = slices.Clone(good.Steps); return p }
	other := LeafHash(sets[124])
	for _, tc := range []struct {
		what string
		mut  func(*TreapPath)
		leaf *[32]byte
	}{
		{"another leaf", func(*TreapPath) {}, &other},
		{"leaf field changed", func(p *TreapPath) { p.Leaf[0] ^= 1 }, nil},
		{"direction flipped", func(p *TreapPath) { p.Steps[0].Left = !p.Steps[0].Left }, nil},
		{"step key changed", func(p *TreapPath) { p.Steps[1].Name = "zzzz.example." }, nil},
		{"sibling hash changed", func(p *TreapPath) { p.Steps[1].Other[5] ^= 1 }, nil},
		{"step dropped", func(p *TreapPath) { p.Steps = p.Steps[1:] }, nil},
		{"claimed absent", func(p *TreapPath) { p.Found = false }, nil},
		{"other key", func(p *TreapPath) { p.Name = "n1.example." }, nil},
	} {
		p := clone()
		tc.mut(&p)
		l := &leaf
		if tc.leaf != nil {
			l = tc.leaf
		}
		if err := p.Verify(root, l); err == nil {
			t.Errorf("%s: Verify = nil, want an error", tc.what)
		}
	}
	var empty Treap
	if err := empty.Path("x.example.", dns.TypeA).Verify(empty.Root(), nil); err != nil {
		t.Errorf("empty treap: absent path Verify = %v", err)
	}
	if err := empty.Path("x.example.", dns.TypeA).Verify(root, nil); err == nil {
		t.Errorf("empty path against a non-empty root verifies")
	}
}
