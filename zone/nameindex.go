package zone

import (
	"hash/maphash"
	"math/bits"
)

// nameindex.go: a zone's index of nodes by canonical name, persistent (a
// hash array mapped trie): a change that replaces, adds or removes a few
// nodes makes a new index sharing everything else with the old one, in
// O(log n) per node, where a Go map would be cloned whole (O(n); 1M
// names took about 100 ms and 40 MB per change). Readers of the old
// index are unaffected. A lookup hashes the name once and follows at
// most a few pointers (6 bits of the hash per level).

// indexSeed seeds the index's hash. It is per process: the index is
// never stored or sent, and a seed nobody outside knows keeps crafted
// names from colliding on purpose.
var indexSeed = maphash.MakeSeed()

const (
	indexBits  = 6 // hash bits per level: 64 slots a trie node
	indexLevel = 64 / indexBits
)

// nameIndex maps canonical names to nodes. The zero value is empty. A
// nameIndex is immutable once shared: with makes new versions, and only
// set (for an index still being built by its one owner) writes in place.
type nameIndex struct {
	root *inode
	n    int
}

// inode is a trie node: bitmap says which of the 64 slots are present,
// slots holds them in slot order. At the deepest level (all 64 bits of
// the hash used), entries with equal hashes share a node whose slots are
// a plain list (collision).
type inode struct {
	bitmap uint64
	slots  []islot
}

// islot is either a subtree (child != nil) or one entry.
type islot struct {
	child *inode
	hash  uint64
	node  *Node
}

// indexHash hashes a name for the index. Tests replace it with a weak
// hash to reach collisions and deep paths; nothing else writes it.
var indexHash = func(name string) uint64 { return maphash.String(indexSeed, name) }

// get returns the node at name, or nil.
func (x *nameIndex) get(name string) *Node {
	h := indexHash(name)
	in := x.root
	for shift := 0; in != nil; shift += indexBits {
		if shift >= indexLevel*indexBits { // collision list
			for i := range in.slots {
				if s := &in.slots[i]; s.hash == h && s.node.Name == name {
					return s.node
				}
			}
			return nil
		}
		bit := uint64(1) << ((h >> shift) & 63)
		if in.bitmap&bit == 0 {
			return nil
		}
		s := &in.slots[bits.OnesCount64(in.bitmap&(bit-1))]
		if s.child != nil {
			in = s.child
			continue
		}
		if s.hash == h && s.node.Name == name {
			return s.node
		}
		return nil
	}
	return nil
}

// len returns the number of names.
func (x *nameIndex) len() int { return x.n }

// each calls f for every node, in no particular order.
func (x *nameIndex) each(f func(*Node)) {
	var walk func(*inode)
	walk = func(in *inode) {
		for i := range in.slots {
			if s := &in.slots[i]; s.child != nil {
				walk(s.child)
			} else {
				f(s.node)
			}
		}
	}
	if x.root != nil {
		walk(x.root)
	}
}

// set puts n at n.Name in place. It is for an index being built by its
// one owner, never for one a reader or another version may hold.
func (x *nameIndex) set(n *Node) {
	if x.get(n.Name) == nil {
		x.n++
	}
	x.root = put(x.root, n, indexHash(n.Name), 0, true)
}

// with returns a new index with n at n.Name (added or replacing), sharing
// all else with x; x is not modified.
func (x nameIndex) with(n *Node) nameIndex {
	added := x.get(n.Name) == nil
	x.root = put(x.root, n, indexHash(n.Name), 0, false)
	if added {
		x.n++
	}
	return x
}

// without returns a new index without name, sharing all else with x; x
// is not modified. It returns x when name is not in it.
func (x nameIndex) without(name string) nameIndex {
	if x.get(name) == nil {
		return x
	}
	x.root = remove(x.root, name, indexHash(name), 0)
	x.n--
	return x
}

// put returns in with n put at hash h, below shift; inPlace writes in's
// own slots (set) instead of copying them (with).
func put(in *inode, n *Node, h uint64, shift int, inPlace bool) *inode {
	if in == nil {
		in = &inode{}
	} else if !inPlace {
		in = &inode{bitmap: in.bitmap, slots: append([]islot(nil), in.slots...)}
	}
	if shift >= indexLevel*indexBits { // collision list
		for i := range in.slots {
			if s := &in.slots[i]; s.hash == h && s.node.Name == n.Name {
				s.node = n
				return in
			}
		}
		in.slots = append(in.slots, islot{hash: h, node: n})
		return in
	}
	bit := uint64(1) << ((h >> shift) & 63)
	i := bits.OnesCount64(in.bitmap & (bit - 1))
	if in.bitmap&bit == 0 {
		in.bitmap |= bit
		in.slots = append(in.slots, islot{})
		copy(in.slots[i+1:], in.slots[i:])
		in.slots[i] = islot{hash: h, node: n}
		return in
	}
	s := &in.slots[i]
	switch {
	case s.child != nil:
		s.child = put(s.child, n, h, shift+indexBits, inPlace)
	case s.hash == h && s.node.Name == n.Name:
		s.node = n
	default: // another name in this slot: push both one level down
		old := *s
		child := put(nil, old.node, old.hash, shift+indexBits, true) // fresh: this version's own
		s.child, s.node, s.hash = put(child, n, h, shift+indexBits, true), nil, 0
	}
	return in
}

// remove returns in without name (which is present below it), copying
// the path; a node left with a single entry is folded into its parent's
// slot.
func remove(in *inode, name string, h uint64, shift int) *inode {
	if shift >= indexLevel*indexBits {
		out := &inode{}
		for _, s := range in.slots {
			if !(s.hash == h && s.node.Name == name) {
				out.slots = append(out.slots, s)
			}
		}
		return fold(out)
	}
	bit := uint64(1) << ((h >> shift) & 63)
	i := bits.OnesCount64(in.bitmap & (bit - 1))
	out := &inode{bitmap: in.bitmap, slots: append([]islot(nil), in.slots...)}
	if s := &out.slots[i]; s.child != nil {
		c := remove(s.child, name, h, shift+indexBits)
		switch {
		case c == nil:
			out.bitmap &^= bit
			out.slots = append(out.slots[:i], out.slots[i+1:]...)
		case len(c.slots) == 1 && c.slots[0].child == nil:
			*s = c.slots[0] // one entry left below: it moves up
		default:
			s.child = c
		}
	} else {
		out.bitmap &^= bit
		out.slots = append(out.slots[:i], out.slots[i+1:]...)
	}
	return fold(out)
}

// fold returns nil for a node left empty.
func fold(in *inode) *inode {
	if len(in.slots) == 0 {
		return nil
	}
	return in
}
