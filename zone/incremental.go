package zone

import (
	"fmt"
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

// applyReplaced is Apply's path for a change that only replaces RRsets
// z holds (no deletion; no SOA, DNSKEY or DNSSEC-made RRset put), on a
// zone that carries a head and whose apex DNSKEY RRset and SOA RRSIG are
// k's: it signs the put RRsets and the SOA with the next serial and makes
// the zone with withReplaced, in O(changed × log n), where the full path
// re-indexes, re-chains and re-hashes the whole zone. No NSEC changes:
// the names and their types stay. The result is the zone the full path
// gives (Ed25519 signatures are deterministic; the full path carries
// every other RRSIG over the same way). ok is false when the change does
// not qualify; the caller takes the full path.
func (z *Zone) applyReplaced(c Change, k *Key, opt SignOptions) (nz *Zone, ok bool, err error) {
	if len(c.Delete) > 0 || len(c.Put) == 0 || z.Head == nil || !hasKey(z, k) {
		return nil, false, nil
	}
	oldSOA := z.Apex().RRset(dns.TypeSOA)
	soaSigs := oldSOA.Signatures()
	if len(soaSigs) == 0 || soaSigs[0].KeyTag != k.Tag() || soaSigs[0].Algorithm != dns.ED25519 || CanonicalName(soaSigs[0].SignerName) != z.Origin {
		return nil, false, nil
	}
	puts := make([]*RRset, 0, len(c.Put)+1)
	seen := make(map[RRKey]bool, len(c.Put))
	for _, p := range c.Put {
		s, err := z.checkPut(p)
		if err != nil {
			return nil, false, nil // the full path reports it with the rest
		}
		key := RRKey{s.Name, s.Type}
		n := z.Node(s.Name)
		if seen[key] || s.Type == dns.TypeSOA || s.Type == dns.TypeDNSKEY || n == nil || n.RRset(s.Type) == nil {
			return nil, false, nil
		}
		seen[key] = true
		puts = append(puts, s)
	}
	soa := oldSOA.First().(*dns.SOA) // decoded afresh: ours
	soa.Serial = z.Serial() + 1
	puts = append(puts, NewRRset(z.Origin, dns.TypeSOA, oldSOA.TTL, []dns.RR{soa}, nil))
	var jobs []*RRset
	for _, s := range puts {
		if signs(status(z, z.Node(s.Name)), s.Type) {
			jobs = append(jobs, s)
		}
	}
	if err := signAll(jobs, k, opt); err != nil {
		return nil, true, err
	}
	pk := newPacker(len(puts)) // the zone holds them packed (packed.go)
	for _, s := range puts {
		if err := pk.pack(s); err != nil {
			return nil, true, err
		}
	}
	nz, ok = z.withReplaced(puts)
	if !ok { // cannot happen: every put replaces an RRset z holds
		return nil, false, nil
	}
	h, err := NewHead(nz, k, opt.headTime())
	if err != nil {
		return nil, true, fmt.Errorf("sign zone head: %w", err)
	}
	nz.Head = h
	return nz, true, nil
}

// diffReplaced is SignedDiff's path when new was made from old by
// replacing RRsets (their trees have the same shape and share every
// unchanged subtree): it walks the two trees together, skipping shared
// nodes, in O(changed × log n). ok is false when the trees' shapes
// differ or a leaf changed its (name, type); the caller then compares
// every RRset.
func diffReplaced(old, new *Zone) (puts []*RRset, ok bool) {
	if !new.incremental {
		return nil, false
	}
	a, b := old.Tree(), new.Tree()
	if a.size != b.size || a.height != b.height {
		return nil, false
	}
	ok = true
	var walk func(x, y *mnode)
	walk = func(x, y *mnode) {
		switch {
		case !ok || x == y:
		case x == nil || y == nil:
			ok = false
		case x.kids[0] == nil:
			if y.kids[0] != nil || len(x.sets) != len(y.sets) {
				ok = false
				return
			}
			for i, s := range y.sets {
				o := x.sets[i]
				switch {
				case o == s:
				case o.Name != s.Name || o.Type != s.Type:
					ok = false
					return
				case !sameSigned(o, s):
					puts = append(puts, s)
				}
			}
		default:
			walk(x.kids[0], y.kids[0])
			walk(x.kids[1], y.kids[1])
		}
	}
	walk(a.top, b.top)
	return puts, ok
}
