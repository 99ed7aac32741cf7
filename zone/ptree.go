package zone

import (
	"crypto/sha256"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
)

// ptree.go: the persistent shape of Tree (merkle.go). The leaves, in
// order, are cut into buckets of 16 (the last one may hold fewer); the
// buckets are the level-0 nodes of a binary tree whose node at level l
// covers 16<<l leaf positions. Every node holds the RFC 6962 hash of the
// leaves it covers (MTH, RFC 6962 §2.1): a node whose right child is
// missing (past the last leaf) has its left child's hash, which is what
// MTH gives for a range no longer than the left half. The root is
// therefore exactly the RFC 6962 root of the leaves in order, and every
// complete subtree an audit path names is one node's hash (or, below 16
// leaves, a few hashes inside one bucket).
//
// withLeaf copies one bucket and the nodes above it (about log2(n/16)),
// hashing 15 + log2(n/16) times; the rest is shared. No node is written
// after it is reachable from a Tree.

const (
	bucketBits = 4
	bucketSize = 1 << bucketBits
	bucketMask = bucketSize - 1
)

// mnode is a bucket (level 0: sets and leaves, kids nil) or an inner
// node (kids[0] always present, kids[1] nil when no leaf falls under it).
type mnode struct {
	hash   [32]byte
	kids   [2]*mnode
	sets   []*RRset   // bucket: the leaves' RRsets
	leaves [][32]byte // bucket: their leaf hashes
}

// mth returns the RFC 6962 hash of leaves (at least one).
func mth(leaves [][32]byte) [32]byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1 << (bits.Len(uint(len(leaves)-1)) - 1) // largest power of 2 below len
	return hashChildren(mth(leaves[:k]), mth(leaves[k:]))
}

func (n *mnode) rehash() {
	switch {
	case n.kids[0] == nil:
		n.hash = mth(n.leaves)
	case n.kids[1] == nil:
		n.hash = n.kids[0].hash
	default:
		n.hash = hashChildren(n.kids[0].hash, n.kids[1].hash)
	}
}

// treeOf builds the tree over sets from their leaf hashes. The buckets
// share the two slices' arrays (capacity cut to the bucket, and never
// written once built): the caller gives them up.
func treeOf(sets []*RRset, leaves [][32]byte) *Tree {
	t := &Tree{size: len(sets)}
	if len(sets) == 0 {
		t.root = sha256.Sum256(nil)
		return t
	}
	level := make([]*mnode, 0, (len(sets)+bucketMask)/bucketSize)
	for i := 0; i < len(sets); i += bucketSize {
		j := min(i+bucketSize, len(sets))
		b := &mnode{sets: sets[i:j:j], leaves: leaves[i:j:j]}
		b.rehash()
		level = append(level, b)
	}
	for len(level) > 1 {
		next := make([]*mnode, 0, (len(level)+1)/2)
		for i := 0; i < len(level); i += 2 {
			n := &mnode{kids: [2]*mnode{level[i], nil}}
			if i+1 < len(level) {
				n.kids[1] = level[i+1]
			}
			n.rehash()
			next = append(next, n)
		}
		level = next
		t.height++
	}
	t.top = level[0]
	t.root = t.top.hash
	return t
}

// bucket returns the bucket holding leaf i.
func (t *Tree) bucket(i int) *mnode {
	n := t.top
	for l := t.height - 1; l >= 0; l-- {
		n = n.kids[(i>>(bucketBits+l))&1]
	}
	return n
}

// set returns leaf i's RRset.
func (t *Tree) set(i int) *RRset { return t.bucket(i).sets[i&bucketMask] }

// each calls f for every leaf in order, until f returns false.
func (t *Tree) each(f func(i int, s *RRset, leaf [32]byte) bool) {
	i := 0
	var walk func(n *mnode) bool
	walk = func(n *mnode) bool {
		if n == nil {
			return true
		}
		if n.kids[0] == nil {
			for k, s := range n.sets {
				if !f(i, s, n.leaves[k]) {
					return false
				}
				i++
			}
			return true
		}
		return walk(n.kids[0]) && walk(n.kids[1])
	}
	walk(t.top)
}

// node returns the hash of a complete subtree (every node an audit path
// names is one).
func (t *Tree) node(id compact.NodeID) [32]byte {
	if id.Level >= bucketBits {
		l := int(id.Level) - bucketBits // level in the tree of nodes
		n := t.top
		for k := t.height - 1; k >= l; k-- {
			n = n.kids[(id.Index>>uint(k-l))&1]
		}
		return n.hash
	}
	first := int(id.Index << id.Level)
	b := t.bucket(first)
	lo := first & bucketMask
	return mth(b.leaves[lo : lo+1<<id.Level])
}

// withLeaf returns the tree with leaf i (< Size) replaced by s, whose leaf
// hash is leaf; t is not modified.
func (t *Tree) withLeaf(i int, s *RRset, leaf [32]byte) *Tree {
	var copyDown func(n *mnode, l int) *mnode
	copyDown = func(n *mnode, l int) *mnode {
		c := *n
		if l < 0 {
			c.sets = append([]*RRset(nil), n.sets...)
			c.leaves = append([][32]byte(nil), n.leaves...)
			c.sets[i&bucketMask], c.leaves[i&bucketMask] = s, leaf
		} else {
			k := (i >> (bucketBits + l)) & 1
			c.kids[k] = copyDown(n.kids[k], l-1)
		}
		c.rehash()
		return &c
	}
	nt := &Tree{top: copyDown(t.top, t.height-1), height: t.height, size: t.size}
	nt.root = nt.top.hash
	return nt
}
