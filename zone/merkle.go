package zone

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"

	"github.com/transparency-dev/merkle/compact"
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
type Tree struct {
	// levels[0] holds the leaf hashes; levels[l][i] is the hash of the
	// perfect subtree of 2^l leaves starting at leaf i<<l, for every such
	// subtree that is complete.
	levels [][][32]byte
	// sets are the leaves' RRsets, in leaf order, for finding a leaf by
	// (name, type).
	sets []*RRset
	root [32]byte
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

// treeOf builds the tree over sets from their leaf hashes.
func treeOf(sets []*RRset, leaves [][32]byte) *Tree {
	t := &Tree{sets: sets, levels: [][][32]byte{leaves}}
	for cur := leaves; len(cur) > 1; {
		next := make([][32]byte, len(cur)/2)
		for i := range next {
			next[i] = hashChildren(cur[2*i], cur[2*i+1])
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	t.root = t.rootHash()
	return t
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 { return uint64(len(t.levels[0])) }

// Root returns the RFC 6962 tree hash; for an empty tree, SHA-256 of
// nothing.
func (t *Tree) Root() [32]byte { return t.root }

// Leaf returns the hash of leaf i. It panics when i >= Size().
func (t *Tree) Leaf(i uint64) [32]byte { return t.levels[0][i] }

// node returns the hash of a complete subtree.
func (t *Tree) node(id compact.NodeID) [32]byte { return t.levels[id.Level][id.Index] }

// rootHash folds the perfect subtrees that cover [0, size), right to left,
// as RFC 6962 §2.1 defines the hash of an unbalanced tree.
func (t *Tree) rootHash() [32]byte {
	ids := compact.RangeNodes(0, t.Size(), nil)
	if len(ids) == 0 {
		return sha256.Sum256(nil)
	}
	h := t.node(ids[len(ids)-1])
	for i := len(ids) - 2; i >= 0; i-- {
		h = hashChildren(t.node(ids[i]), h)
	}
	return h
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
	i := sort.Search(len(t.sets), func(i int) bool {
		return compareKey(t.sets[i].Name, t.sets[i].Type, name, typ) >= 0
	})
	found := i < len(t.sets) && compareKey(t.sets[i].Name, t.sets[i].Type, name, typ) == 0
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
		lp.Data = LeafData(t.sets[i])
	}
	return lp, nil
}
