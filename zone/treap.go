package zone

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// treap.go: the Merkle treap, the tree that zone head format version 2
// is to commit to (docs/large-zones.md, "Small changes"). It is built and
// tested here; no head, proof encoding or verifier uses it yet.
//
// A binary search tree on (name, type) in canonical order, a max-heap on
// each key's priority, the first 8 bytes of SHA-256(0x02 ‖ name in wire
// form ‖ type): for a given set of keys there is exactly one such tree,
// so its root depends on the set of RRsets only, never on the order of
// the changes that made it. Inserting, deleting or replacing an RRset
// copies the nodes on one search path (expected depth about 1.39 log2 n:
// 28 at a million) and hashes them again; the old treap stays as it was.
//
// A node's hash is SHA-256(0x03 ‖ left ‖ right ‖ leaf ‖ name in wire form
// ‖ type), with 32 zero bytes for a missing child and leaf the RFC 6962
// leaf hash of the RRset (LeafHash). The empty treap's root is SHA-256 of
// nothing. A proof is a search path (TreapPath): every node on it gives
// its key, leaf hash and the hash of its child off the path, so the
// verifier checks the search order at each step and hashes up to the root.

// ErrTreapProof is returned by TreapPath.Verify when a path does not lead
// to the root or does not follow the search for its key.
var ErrTreapProof = errors.New("treap path does not verify")

const (
	treapPrioPrefix = 0x02
	treapNodePrefix = 0x03
)

// tnode is one treap node. It is never written once reachable from a
// Treap.
type tnode struct {
	set         *RRset
	prio        uint64
	left, right *tnode
	leaf        [32]byte // LeafHash(set)
	hash        [32]byte
}

// Treap is an immutable Merkle treap of RRsets; the zero value is empty.
type Treap struct {
	root *tnode
	size int
}

// treapPrio returns the priority of the key (name, t).
func treapPrio(name string, t uint16) uint64 {
	w, _ := appendName(make([]byte, 0, 64), name)
	h := sha256.New()
	h.Write([]byte{treapPrioPrefix})
	h.Write(w)
	h.Write([]byte{byte(t >> 8), byte(t)})
	var sum [32]byte
	h.Sum(sum[:0])
	return binary.BigEndian.Uint64(sum[:8])
}

// treapNodeHash hashes a node from its children's hashes, its leaf hash
// and its key.
func treapNodeHash(left, right, leaf [32]byte, name string, t uint16) [32]byte {
	w, _ := appendName(make([]byte, 0, 64), name)
	h := sha256.New()
	h.Write([]byte{treapNodePrefix})
	h.Write(left[:])
	h.Write(right[:])
	h.Write(leaf[:])
	h.Write(w)
	h.Write([]byte{byte(t >> 8), byte(t)})
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func (n *tnode) hashOrZero() [32]byte {
	if n == nil {
		return [32]byte{}
	}
	return n.hash
}

// above reports whether a belongs above b in the heap: the higher
// priority, and on equal priorities the smaller key, so that the shape is
// unique.
func above(a, b *tnode) bool {
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return compareKey(a.set.Name, a.set.Type, b.set.Name, b.set.Type) < 0
}

// withKids returns a copy of n with the given children, hashed.
func (n *tnode) withKids(left, right *tnode) *tnode {
	c := &tnode{set: n.set, prio: n.prio, left: left, right: right, leaf: n.leaf}
	c.rehash()
	return c
}

func (n *tnode) rehash() {
	n.hash = treapNodeHash(n.left.hashOrZero(), n.right.hashOrZero(), n.leaf, n.set.Name, n.set.Type)
}

// Size returns the number of RRsets.
func (t Treap) Size() int { return t.size }

// Root returns the treap's root hash; for an empty treap, SHA-256 of
// nothing.
func (t Treap) Root() [32]byte {
	if t.root == nil {
		return sha256.Sum256(nil)
	}
	return t.root.hash
}

// Get returns the RRset (name, typ), or nil.
func (t Treap) Get(name string, typ uint16) *RRset {
	for n := t.root; n != nil; {
		switch c := compareKey(name, typ, n.set.Name, n.set.Type); {
		case c == 0:
			return n.set
		case c < 0:
			n = n.left
		default:
			n = n.right
		}
	}
	return nil
}

// With returns the treap with s put: added, or replacing the RRset of the
// same name and type. t is not modified.
func (t Treap) With(s *RRset) Treap {
	nn := &tnode{set: s, prio: treapPrio(s.Name, s.Type), leaf: LeafHash(s)}
	root, added := treapInsert(t.root, nn)
	t.root = root
	if added {
		t.size++
	}
	return t
}

func treapInsert(n, nn *tnode) (*tnode, bool) {
	if n == nil {
		nn.rehash()
		return nn, true
	}
	c := compareKey(nn.set.Name, nn.set.Type, n.set.Name, n.set.Type)
	if c == 0 { // replace: same key, same priority, same place
		return (&tnode{set: nn.set, prio: n.prio, leaf: nn.leaf}).withKids(n.left, n.right), false
	}
	if above(nn, n) {
		l, r := treapSplit(n, nn.set.Name, nn.set.Type)
		nn.left, nn.right = l, r
		nn.rehash()
		return nn, true
	}
	if c < 0 {
		l, added := treapInsert(n.left, nn)
		return n.withKids(l, n.right), added
	}
	r, added := treapInsert(n.right, nn)
	return n.withKids(n.left, r), added
}

// split returns the nodes of n with keys below and above (name, typ),
// which n does not hold.
func treapSplit(n *tnode, name string, typ uint16) (*tnode, *tnode) {
	if n == nil {
		return nil, nil
	}
	if compareKey(name, typ, n.set.Name, n.set.Type) < 0 {
		l, r := treapSplit(n.left, name, typ)
		return l, n.withKids(r, n.right)
	}
	l, r := treapSplit(n.right, name, typ)
	return n.withKids(n.left, l), r
}

// Without returns the treap without the RRset (name, typ); t itself when
// it has none. t is not modified.
func (t Treap) Without(name string, typ uint16) Treap {
	root, removed := treapRemove(t.root, name, typ)
	if removed {
		t.root = root
		t.size--
	}
	return t
}

func treapRemove(n *tnode, name string, typ uint16) (*tnode, bool) {
	if n == nil {
		return nil, false
	}
	switch c := compareKey(name, typ, n.set.Name, n.set.Type); {
	case c == 0:
		return treapJoin(n.left, n.right), true
	case c < 0:
		l, ok := treapRemove(n.left, name, typ)
		if !ok {
			return n, false
		}
		return n.withKids(l, n.right), true
	default:
		r, ok := treapRemove(n.right, name, typ)
		if !ok {
			return n, false
		}
		return n.withKids(n.left, r), true
	}
}

// join merges a and b, every key of a below every key of b.
func treapJoin(a, b *tnode) *tnode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case above(a, b):
		return a.withKids(a.left, treapJoin(a.right, b))
	default:
		return b.withKids(treapJoin(a, b.left), b.right)
	}
}

// each calls f for every RRset in canonical order.
func (t Treap) each(f func(*RRset)) {
	var walk func(*tnode)
	walk = func(n *tnode) {
		if n != nil {
			walk(n.left)
			f(n.set)
			walk(n.right)
		}
	}
	walk(t.root)
}

// TreapStep is one node of a search path: its key and leaf hash, the
// hash of its child off the path, and which way the search went.
type TreapStep struct {
	Name  string
	Type  uint16
	Leaf  [32]byte
	Other [32]byte // hash of the child the search did not take
	Left  bool     // the search went to the left child
}

// TreapPath is the search for one key from the root: the steps above
// the end and, when the key is there, the found node's leaf hash and
// children's hashes. Found false proves the key absent: the search ends
// at a missing child.
type TreapPath struct {
	Name        string
	Type        uint16
	Steps       []TreapStep // root first
	Found       bool
	Leaf        [32]byte // when Found
	Left, Right [32]byte // when Found: the node's children's hashes
}

// Path returns the search path of (name, typ).
func (t Treap) Path(name string, typ uint16) TreapPath {
	p := TreapPath{Name: name, Type: typ}
	for n := t.root; n != nil; {
		c := compareKey(name, typ, n.set.Name, n.set.Type)
		if c == 0 {
			p.Found, p.Leaf = true, n.leaf
			p.Left, p.Right = n.left.hashOrZero(), n.right.hashOrZero()
			return p
		}
		st := TreapStep{Name: n.set.Name, Type: n.set.Type, Leaf: n.leaf, Left: c < 0}
		if c < 0 {
			st.Other, n = n.right.hashOrZero(), n.left
		} else {
			st.Other, n = n.left.hashOrZero(), n.right
		}
		p.Steps = append(p.Steps, st)
	}
	return p
}

// Verify checks that p leads from its key to root: each step's direction
// is the search order's, and hashing up the path gives root. For a found
// key it also checks the leaf hash is leaf (nil: any). A verified
// path with Found false proves the key is not in the treap.
func (p TreapPath) Verify(root [32]byte, leaf *[32]byte) error {
	if len(p.Steps) > maxPath {
		return fmt.Errorf("%w: %d steps", ErrTreapProof, len(p.Steps))
	}
	var h [32]byte // a missing child
	if p.Found {
		if leaf != nil && *leaf != p.Leaf {
			return fmt.Errorf("%w: leaf hash differs", ErrTreapProof)
		}
		h = treapNodeHash(p.Left, p.Right, p.Leaf, p.Name, p.Type)
	}
	for i := len(p.Steps) - 1; i >= 0; i-- {
		st := p.Steps[i]
		c := compareKey(p.Name, p.Type, st.Name, st.Type)
		if c == 0 || (c < 0) != st.Left {
			return fmt.Errorf("%w: step %d (%s %d) is not on the search for %s %d", ErrTreapProof, i, st.Name, st.Type, p.Name, p.Type)
		}
		if st.Left {
			h = treapNodeHash(h, st.Other, st.Leaf, st.Name, st.Type)
		} else {
			h = treapNodeHash(st.Other, h, st.Leaf, st.Name, st.Type)
		}
	}
	if len(p.Steps) == 0 && !p.Found {
		if root != sha256.Sum256(nil) {
			return fmt.Errorf("%w: not the empty treap", ErrTreapProof)
		}
		return nil
	}
	if h != root {
		return fmt.Errorf("%w: root differs", ErrTreapProof)
	}
	return nil
}

// treapOf builds the treap of sets, in canonical order without
// duplicates, from their leaf hashes, in O(n): the unique tree is the
// Cartesian tree of the keys by priority, made with one stack.
func treapOf(sets []*RRset, leaves [][32]byte) Treap {
	nodes := make([]tnode, len(sets))
	var stack []*tnode
	for i, s := range sets {
		x := &nodes[i]
		x.set, x.prio, x.leaf = s, treapPrio(s.Name, s.Type), leaves[i]
		var last *tnode
		for len(stack) > 0 && above(x, stack[len(stack)-1]) {
			last, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		x.left = last
		if len(stack) > 0 {
			stack[len(stack)-1].right = x
		}
		stack = append(stack, x)
	}
	t := Treap{size: len(sets)}
	if len(stack) > 0 {
		t.root = stack[0]
	}
	// Hash children before parents: post-order, without recursion
	// depth concerns (the expected depth is logarithmic anyway).
	var hash func(n *tnode)
	hash = func(n *tnode) {
		if n == nil {
			return
		}
		hash(n.left)
		hash(n.right)
		n.rehash()
	}
	hash(t.root)
	return t
}
