package zone

import (
	"slices"

	"github.com/miekg/dns"
)

// incremental.go: a change that only replaces RRsets the zone holds (the
// same names and types, new data or signatures: a record changed, the SOA
// serial, a re-signing) is applied without rebuilding the zone and in
// O(changed × log n): the new Zone's name index (nameindex.go) and
// Merkle tree (ptree.go) are the old ones with only the changed nodes
// and leaves copied, along their paths; every unchanged Node and RRset
// is shared. Nothing proportional to the zone's size is copied, sorted
// or hashed. A change that adds or removes a name or a type (which moves
// Merkle leaves and may move zone cuts) takes the whole rebuild (build):
// see docs/large-zones.md, "Small changes".

// withReplaced returns z with puts (checked by checkSignedPut: canonical
// copies) replacing the RRsets of the same name and type, and ok; or
// nil, false when a put is not the replacement of an RRset z holds.
func (z *Zone) withReplaced(puts []*RRset) (*Zone, bool) {
	if len(puts) == 0 {
		return nil, false
	}
	t := z.Tree()
	// Find every replaced RRset first: leave z's structures untouched
	// when the fast path does not apply.
	leaves := make([]int, len(puts))
	for k, p := range puts {
		i, found := t.search(p.Name, p.Type)
		if !found {
			return nil, false
		}
		leaves[k] = i
	}
	names := z.names
	var e leafEncoder
	for k, p := range puts {
		n := names.get(p.Name)
		if n == z.names.get(p.Name) { // first put at this name: copy the node
			n = &Node{Name: n.Name, RRsets: slices.Clone(n.RRsets)}
			names = names.with(n)
		}
		for j, s := range n.RRsets {
			if s.Type == p.Type {
				n.RRsets[j] = p
			}
		}
		leaf, _ := e.hash(p, p.TTL)
		t = t.withLeaf(leaves[k], p, leaf)
	}
	nz := &Zone{Origin: z.Origin, names: names, count: z.count, incremental: true}
	nz.tree.once.Do(func() { nz.tree.tree = t })
	return nz, true
}

// treePredecessor is Predecessor for a zone withReplaced made, which has
// no node order until something asks for it: it walks the tree's leaves
// back from where name would sit.
func (z *Zone) treePredecessor(name string) *Node {
	t := z.Tree()
	i, _ := t.search(name, 0) // the first leaf at or after name (no type is 0)
	for k := 0; k < t.size; k++ {
		i--
		if i < 0 {
			i = t.size - 1
		}
		s := t.set(i)
		if s.Type == dns.TypeNSEC {
			return z.names.get(s.Name)
		}
	}
	return nil
}
