package zone

import (
	"maps"
	"slices"
	"sort"
)

// incremental.go: a change that only replaces RRsets the zone holds (the
// same names and types, new data or signatures: a record changed, the SOA
// serial, a re-signing) is applied without rebuilding the zone. The new
// Zone shares every unchanged Node and RRset with the old one, its node
// order is the old order with the changed nodes swapped in place, and its
// Merkle tree is the old one with only the changed leaves' paths hashed
// again: no sort, no re-index, no re-hash of unchanged leaves. A change
// that adds or removes a name or a type (which moves Merkle leaves and
// may move zone cuts) takes the whole rebuild (build).
//
// What is still proportional to the zone's size: copying the name index
// (a map clone), the node order and the tree's hash levels, all memory
// copies without hashing or comparing. Removing those needs persistent
// structures; see docs/large-zones.md, "Small changes".

// withReplaced returns z with puts (checked by checkSignedPut: canonical
// copies) replacing the RRsets of the same name and type, and ok; or
// nil, false when a put is not the replacement of an RRset z holds.
func (z *Zone) withReplaced(puts []*RRset) (*Zone, bool) {
	if len(puts) == 0 {
		return nil, false
	}
	ot := z.Tree()
	// Find every replaced RRset first: leave z's structures untouched
	// when the fast path does not apply.
	type hit struct {
		set  *RRset
		leaf int // index in the tree's leaves
	}
	hits := make([]hit, 0, len(puts))
	for _, p := range puts {
		i := sort.Search(len(ot.sets), func(i int) bool {
			return compareKey(ot.sets[i].Name, ot.sets[i].Type, p.Name, p.Type) >= 0
		})
		if i == len(ot.sets) || ot.sets[i].Name != p.Name || ot.sets[i].Type != p.Type {
			return nil, false
		}
		hits = append(hits, hit{p, i})
	}
	nz := &Zone{Origin: z.Origin, names: maps.Clone(z.names), order: slices.Clone(z.order), incremental: true}
	sets := slices.Clone(ot.sets)
	levels := make([][][32]byte, len(ot.levels))
	for l := range ot.levels {
		levels[l] = slices.Clone(ot.levels[l])
	}
	var e leafEncoder
	for _, h := range hits {
		p := h.set
		n := nz.names[p.Name]
		if n == z.names[p.Name] { // first put at this name: copy the node
			n = &Node{Name: n.Name, RRsets: slices.Clone(n.RRsets)}
			nz.names[p.Name] = n
			k := sort.Search(len(nz.order), func(k int) bool { return Compare(nz.order[k].Name, p.Name) >= 0 })
			nz.order[k] = n // the name exists and owns records: it is in the order
		}
		for j, s := range n.RRsets {
			if s.Type == p.Type {
				n.RRsets[j] = p
			}
		}
		sets[h.leaf] = p
		levels[0][h.leaf], _ = e.hash(p, p.TTL)
		for l, i := 1, h.leaf>>1; l < len(levels) && i < len(levels[l]); l, i = l+1, i>>1 {
			levels[l][i] = hashChildren(levels[l-1][2*i], levels[l-1][2*i+1])
		}
	}
	t := &Tree{sets: sets, levels: levels}
	t.root = t.rootHash()
	nz.tree.once.Do(func() { nz.tree.tree = t })
	return nz, true
}
