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

// withChanged is WithChanges's path for a change that adds or removes
// RRsets without moving a zone cut (no NS RRset put or deleted below the
// apex) or deleting the SOA: the name index is the old one with the
// changed nodes put or removed (and the empty non-terminals above them
// made or dropped), in O(changed × log n); the node order is made from
// the tree when asked for; the CNAME rule is checked at the changed
// names only. The Merkle tree is rebuilt from the old leaf hashes and
// the new ones: the version-1 tree's leaves are positions, so an added
// or removed leaf shifts those after it (O(n) hashing, no encoding; see
// docs/large-zones.md, "Small changes"). ok is false when the change
// does not qualify; err is the CNAME rule broken.
func (z *Zone) withChanged(puts []*RRset, dels []RRKey) (nz *Zone, ok bool, err error) {
	soa := RRKey{z.Origin, dns.TypeSOA}
	edits := make(map[RRKey]*RRset, len(puts)+len(dels))
	for _, d := range dels {
		key := RRKey{CanonicalName(d.Name), d.Type}
		if key == soa || key.Type == dns.TypeNS && key.Name != z.Origin {
			return nil, false, nil
		}
		if n := z.names.get(key.Name); n != nil && n.RRset(key.Type) != nil {
			edits[key] = nil
		}
	}
	for _, p := range puts {
		if p.Type == dns.TypeNS && p.Name != z.Origin {
			return nil, false, nil
		}
		edits[RRKey{p.Name, p.Type}] = p
	}
	keys := make([]RRKey, 0, len(edits))
	for k := range edits {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b RRKey) int { return compareKey(a.Name, a.Type, b.Name, b.Type) })

	// The leaves: the old ones merged with the edits, in order.
	ot := z.Tree()
	sets := make([]*RRset, 0, ot.size+len(keys))
	leaves := make([][32]byte, 0, ot.size+len(keys))
	var e leafEncoder
	k := 0
	emit := func() { // keys[k], which sorts before the next old leaf
		if s := edits[keys[k]]; s != nil {
			h, _ := e.hash(s, s.TTL)
			sets, leaves = append(sets, s), append(leaves, h)
		}
		k++
	}
	ot.each(func(_ int, s *RRset, leaf [32]byte) bool {
		c := 1
		for k < len(keys) {
			if c = compareKey(keys[k].Name, keys[k].Type, s.Name, s.Type); c >= 0 {
				break
			}
			emit()
		}
		if c == 0 { // replaced or deleted
			emit()
			return true
		}
		sets, leaves = append(sets, s), append(leaves, leaf)
		return true
	})
	for k < len(keys) {
		emit()
	}
	t := treeOf(sets, leaves)

	// The nodes at the changed names, name by name.
	names, count := z.names, z.count
	for i := 0; i < len(keys); {
		name := keys[i].Name
		j := i
		for j < len(keys) && keys[j].Name == name {
			j++
		}
		old := names.get(name)
		var rrsets []*RRset
		if old != nil {
			rrsets = slices.Clone(old.RRsets)
		}
		for _, key := range keys[i:j] {
			rrsets = slices.DeleteFunc(rrsets, func(s *RRset) bool { return s.Type == key.Type })
			if s := edits[key]; s != nil {
				rrsets = append(rrsets, s)
			}
		}
		slices.SortFunc(rrsets, func(a, b *RRset) int { return int(a.Type) - int(b.Type) })
		i = j
		wasEmpty := old == nil || old.Empty()
		switch {
		case len(rrsets) > 0:
			n := &Node{Name: name, RRsets: rrsets}
			if n.RRset(dns.TypeCNAME) != nil && slices.ContainsFunc(rrsets, func(s *RRset) bool { return s.Type != dns.TypeCNAME && s.Type != dns.TypeNSEC }) {
				return nil, true, &RecordError{name, dns.TypeCNAME, ErrCNAMEAndOther}
			}
			names = names.with(n)
			if wasEmpty {
				count++
			}
			for p := parent(name); old == nil && p != "" && dns.IsSubDomain(z.Origin, p); p = parent(p) {
				if names.get(p) != nil {
					break
				}
				names = names.with(&Node{Name: p}) // a new empty non-terminal
			}
		case !wasEmpty: // the name owns nothing any more
			count--
			if hasDescendants(t, name) {
				names = names.with(&Node{Name: name}) // an empty non-terminal now
				break
			}
			names = names.without(name)
			for p := parent(name); p != "" && p != z.Origin && dns.IsSubDomain(z.Origin, p); p = parent(p) {
				if n := names.get(p); n == nil || !n.Empty() || hasDescendants(t, p) {
					break
				}
				names = names.without(p)
			}
		}
	}
	nz = &Zone{Origin: z.Origin, names: names, count: count, incremental: true}
	nz.tree.once.Do(func() { nz.tree.tree = t })
	return nz, true, nil
}

// hasDescendants reports whether a leaf of t is strictly below name: in
// canonical order the names below a name follow its own RRsets at once.
func hasDescendants(t *Tree, name string) bool {
	i, found := t.search(name, 0xFFFF)
	if found {
		i++
	}
	return i < t.size && t.set(i).Name != name && IsSubDomain(name, t.set(i).Name)
}

// signedBy reports whether z's SOA carries an RRSIG by k: the zone the
// owner's incremental paths may carry every other RRSIG of over (a key
// change re-signs everything and takes the full path).
func signedBy(z *Zone, k *Key) bool {
	sigs := z.Apex().RRset(dns.TypeSOA).Signatures()
	return z.Head != nil && len(sigs) > 0 && sigs[0].KeyTag == k.Tag() && sigs[0].Algorithm == dns.ED25519 &&
		CanonicalName(sigs[0].SignerName) == z.Origin && hasKey(z, k)
}

// applyChanged is Apply's path for a change that adds or removes RRsets
// or names without moving a zone cut (no NS put or deleted below the
// apex; no SOA or DNSKEY put or deleted), on a zone signed by k with an
// NSEC chain: it works out the NSEC records of the changed names and of
// the chain predecessors of names that join or leave the chain (found by
// walking the tree from the name), signs those, the put RRsets and the
// SOA with the next serial, and makes the zone with withChanged. The
// result is the zone the full path gives (same NSEC records, same
// signatures: Ed25519 is deterministic). ok is false when the change
// does not qualify or breaks a rule: the full path then makes or refuses
// it.
func (z *Zone) applyChanged(c Change, k *Key, opt SignOptions) (nz *Zone, ok bool, err error) {
	if !signedBy(z, k) || z.Apex().RRset(dns.TypeNSEC) == nil {
		return nil, false, nil
	}
	skip := func(key RRKey) bool {
		return key.Type == dns.TypeSOA || key.Type == dns.TypeDNSKEY || isDNSSECType(key.Type) ||
			key.Type == dns.TypeNS && key.Name != z.Origin
	}
	edits := make(map[RRKey]*RRset, len(c.Put)+len(c.Delete))
	for _, d := range c.Delete {
		key := RRKey{CanonicalName(d.Name), d.Type}
		if skip(key) {
			return nil, false, nil
		}
		if n := z.Node(key.Name); n != nil && n.RRset(key.Type) != nil {
			edits[key] = nil
		}
	}
	for _, p := range c.Put {
		s, err := z.checkPut(p)
		if err != nil || skip(RRKey{s.Name, s.Type}) {
			return nil, false, nil
		}
		edits[RRKey{s.Name, s.Type}] = s
	}
	// The data each touched name ends with.
	final := make(map[string][]*RRset)
	for key := range edits {
		final[key.Name] = nil
	}
	touched := make([]string, 0, len(final))
	for name := range final {
		var sets []*RRset
		if n := z.Node(name); n != nil {
			for _, s := range n.RRsets {
				if _, edited := edits[RRKey{name, s.Type}]; !edited && !isDNSSECType(s.Type) {
					sets = append(sets, s)
				}
			}
		}
		for key, s := range edits {
			if key.Name == name && s != nil {
				sets = append(sets, s)
			}
		}
		slices.SortFunc(sets, func(a, b *RRset) int { return int(a.Type) - int(b.Type) })
		if slices.ContainsFunc(sets, func(s *RRset) bool { return s.Type == dns.TypeCNAME }) && len(sets) > 1 {
			return nil, false, nil // the CNAME rule: the full path reports it
		}
		final[name] = sets
		touched = append(touched, name)
	}
	slices.SortFunc(touched, Compare)
	statusOf := func(name string) nameStatus { // no cut moves: z's cuts
		switch cut := z.Delegation(name); {
		case cut == nil:
			return statusAuth
		case cut.Name == name:
			return statusCut
		}
		return statusOccluded
	}
	inChain := func(name string) bool {
		if sets, ok := final[name]; ok {
			return len(sets) > 0 && statusOf(name) != statusOccluded
		}
		n := z.Node(name)
		return n != nil && n.RRset(dns.TypeNSEC) != nil
	}
	t := z.Tree()
	// neighbour returns the chain name after (dir +1) or before (-1)
	// name, circularly: the nearest untouched name of z with an NSEC
	// (walking the tree) or touched name in the chain, whichever is
	// nearer.
	neighbour := func(name string, dir int) string {
		var start int
		if dir > 0 {
			i, found := t.search(name, 0xFFFF)
			if found {
				i++
			}
			start = i
		} else {
			i, _ := t.search(name, 0)
			start = i - 1
		}
		best := ""
		for k := 0; k < t.size; k++ {
			s := t.set(((start+dir*k)%t.size + t.size) % t.size)
			if _, isTouched := final[s.Name]; !isTouched && s.Name != name && s.Type == dns.TypeNSEC {
				best = s.Name
				break
			}
		}
		// dist orders names by how far they come after (or before)
		// name, circularly.
		dist := func(a string) (wrapped bool, c int) {
			c = dir * Compare(a, name)
			return c < 0, c
		}
		nearer := func(a, b string) bool { // a nearer than b
			wa, _ := dist(a)
			wb, _ := dist(b)
			if wa != wb {
				return !wa
			}
			return dir*Compare(a, b) < 0
		}
		for _, tn := range touched {
			if tn != name && inChain(tn) && (best == "" || nearer(tn, best)) {
				best = tn
			}
		}
		return best
	}
	recompute := make(map[string]bool)
	for _, name := range touched {
		if inChain(name) {
			recompute[name] = true
		}
		n := z.Node(name)
		if was := n != nil && n.RRset(dns.TypeNSEC) != nil; was != inChain(name) {
			if p := neighbour(name, -1); p != "" {
				recompute[p] = true
			}
		}
	}
	var puts []*RRset
	var dels []RRKey
	var jobs []*RRset
	for key, s := range edits {
		if s == nil {
			dels = append(dels, key)
			continue
		}
		puts = append(puts, s)
		if signs(statusOf(key.Name), key.Type) {
			jobs = append(jobs, s)
		}
	}
	ttl := nsecTTL(z)
	for name := range recompute {
		sets, isTouched := final[name]
		old := z.Node(name)
		if !isTouched {
			sets = old.RRsets
		}
		next := neighbour(name, +1)
		if next == "" {
			next = name // the only name in the chain
		}
		nsec := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: next,
			TypeBitMap: nsecBitmap(&Node{Name: name, RRsets: sets}, statusOf(name)),
		}
		if old != nil {
			if o := old.RRset(dns.TypeNSEC); o != nil && sameNSEC(o.First().(*dns.NSEC), nsec) {
				continue // unchanged: its RRSIG is carried over
			}
		}
		s := NewRRset(name, dns.TypeNSEC, ttl, []dns.RR{nsec}, nil)
		puts, jobs = append(puts, s), append(jobs, s)
	}
	for _, name := range touched {
		if n := z.Node(name); n != nil && n.RRset(dns.TypeNSEC) != nil && !inChain(name) {
			dels = append(dels, RRKey{name, dns.TypeNSEC})
		}
	}
	oldSOA := z.Apex().RRset(dns.TypeSOA)
	soa := oldSOA.First().(*dns.SOA) // decoded afresh: ours
	soa.Serial = z.Serial() + 1
	soaSet := NewRRset(z.Origin, dns.TypeSOA, oldSOA.TTL, []dns.RR{soa}, nil)
	puts, jobs = append(puts, soaSet), append(jobs, soaSet)
	if err := signAll(jobs, k, opt); err != nil {
		return nil, true, err
	}
	pk := newPacker(len(puts)) // the zone holds them packed (packed.go)
	for _, s := range puts {
		if err := pk.pack(s); err != nil {
			return nil, true, err
		}
	}
	nz, ok, err = z.withChanged(puts, dels)
	if !ok || err != nil {
		return nil, false, nil
	}
	h, err := NewHead(nz, k, opt.headTime())
	if err != nil {
		return nil, true, fmt.Errorf("sign zone head: %w", err)
	}
	nz.Head = h
	return nz, true, nil
}
