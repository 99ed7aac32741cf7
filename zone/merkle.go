package zone

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is the RFC 6962 hasher (SHA-256, leaf prefix 0x00, node prefix
// 0x01) every tree and proof of this package uses.
var hasher = rfc6962.DefaultHasher

// rfc6962LeafPrefix starts the hashed bytes of a leaf.
const rfc6962LeafPrefix = rfc6962.RFC6962LeafHashPrefix

// LeafHash returns the RFC 6962 leaf hash of s: SHA-256(0x00 ‖ LeafData(s)).
func LeafHash(s *RRset) [32]byte {
	var e leafEncoder
	h, _ := e.hash(s, s.TTL)
	return h
}

// hashLeaf returns SHA-256(0x00 ‖ data).
func hashLeaf(data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{rfc6962LeafPrefix})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func hashChildren(l, r [32]byte) [32]byte {
	var b [65]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// Tree is the Merkle tree over a zone's RRsets: one leaf per RRset (RRSIGs
// are not leaves; NSEC and DNSKEY RRsets are), in canonical (name, type)
// order, the order of Zone.RRsets. A Tree is immutable and safe for
// concurrent use.
//
// It is persistent (ptree.go): the leaves sit in buckets of 16 under a
// binary tree of nodes, each holding its subtree's RFC 6962 hash, and
// withLeaf makes a tree with one leaf replaced by copying one bucket and
// the O(log n) nodes above it, sharing everything else with the old
// tree, which readers keep using unchanged.
type Tree struct {
	top    *mnode // nil when empty
	height int    // levels of nodes above the buckets: capacity 16<<height
	size   int
	root   [32]byte
}

// treeCache holds a Zone's tree, built on first use. It is the field
// model.go's Zone embeds; a Zone must therefore not be copied by value.
type treeCache struct {
	once sync.Once
	tree *Tree
}

// Tree returns the zone's Merkle tree, building it on the first call; later
// calls, from any goroutine, return the same tree. The tree depends only on
// the RRsets, not on their RRSIGs or on the zone's Head.
func (z *Zone) Tree() *Tree {
	z.tree.once.Do(func() { z.tree.tree = newTree(z.RRsets()) })
	return z.tree.tree
}

// newTree builds the tree over sets, which must be in canonical order.
func newTree(sets []*RRset) *Tree {
	leaves := make([][32]byte, len(sets))
	var e leafEncoder
	for i, s := range sets {
		leaves[i], _ = e.hash(s, s.TTL)
	}
	return treeOf(sets, leaves)
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 { return uint64(t.size) }

// Root returns the RFC 6962 tree hash; for an empty tree, SHA-256 of
// nothing.
func (t *Tree) Root() [32]byte { return t.root }

// Leaf returns the hash of leaf i. It panics when i >= Size().
func (t *Tree) Leaf(i uint64) [32]byte {
	b := t.bucket(int(i))
	return b.leaves[i&bucketMask]
}

// inclusion returns the RFC 6962 audit path of leaf i, leaf to root.
func (t *Tree) inclusion(i uint64) ([][32]byte, error) {
	nodes, err := proof.Inclusion(i, t.Size())
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	for k, id := range nodes.IDs {
		h := t.node(id)
		hashes[k] = h[:]
	}
	hashes, err = nodes.Rehash(hashes, func(l, r []byte) []byte {
		h := hashChildren([32]byte(l), [32]byte(r))
		return h[:]
	})
	if err != nil {
		return nil, err
	}
	path := make([][32]byte, len(hashes))
	for k, h := range hashes {
		path[k] = [32]byte(h)
	}
	return path, nil
}

// search returns the index of the first leaf whose (name, type) does not
// sort before (name, typ), and whether that leaf is exactly (name, typ).
func (t *Tree) search(name string, typ uint16) (int, bool) {
	i := sort.Search(t.size, func(i int) bool {
		s := t.set(i)
		return compareKey(s.Name, s.Type, name, typ) >= 0
	})
	found := false
	if i < t.size {
		s := t.set(i)
		found = compareKey(s.Name, s.Type, name, typ) == 0
	}
	return i, found
}

// leafProof returns leaf i with its audit path; withData adds the leaf
// data, which absence proofs carry.
func (t *Tree) leafProof(i int, withData bool) (*LeafProof, error) {
	path, err := t.inclusion(uint64(i))
	if err != nil {
		return nil, fmt.Errorf("leaf %d: %w", i, err)
	}
	lp := &LeafProof{Index: uint64(i), Path: path}
	if withData {
		lp.Data = LeafData(t.set(i))
	}
	return lp, nil
}
