package translog

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Tree is an append-only RFC 6962 Merkle tree holding its leaf hashes,
// and the hash of every complete perfect subtree, in memory (about twice
// 32 bytes a leaf). One goroutine may Append while any number read;
// readers see a consistent prefix. A root or a proof costs O(log² size)
// hashes.
type Tree struct {
	mu sync.RWMutex
	// levels[0] holds the leaf hashes; levels[l][i] is the hash of the
	// perfect subtree of the 2^l leaves from i<<l, for every such subtree
	// that is complete. Entries are never changed once written.
	levels [][][32]byte
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{levels: [][][32]byte{nil}} }

// Append adds a leaf whose data is leafData (an encoded Entry) and returns
// its index.
func (t *Tree) Append(leafData []byte) uint64 {
	h := hashLeaf(leafData)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.levels) == 0 {
		t.levels = [][][32]byte{nil}
	}
	t.levels[0] = append(t.levels[0], h)
	index := uint64(len(t.levels[0]) - 1)
	for l := 0; len(t.levels[l])%2 == 0; l++ {
		if l+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		n := len(t.levels[l])
		t.levels[l+1] = append(t.levels[l+1], hashChildren(t.levels[l][n-2], t.levels[l][n-1]))
	}
	return index
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.levels) == 0 {
		return 0
	}
	return uint64(len(t.levels[0]))
}

// view is a tree's first size leaves, readable without the lock.
type view struct {
	levels [][][32]byte
	size   uint64
}

// view returns the first size leaves, or ErrRange when the tree is
// smaller. The level slices are copied (their elements are never changed,
// only appended), so the view stays valid while Append runs.
func (t *Tree) view(size uint64) (view, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var have uint64
	if len(t.levels) > 0 {
		have = uint64(len(t.levels[0]))
	}
	if size > have {
		return view{}, fmt.Errorf("%w: size %d, tree has %d leaves", ErrRange, size, have)
	}
	lv := make([][][32]byte, len(t.levels))
	copy(lv, t.levels)
	return view{levels: lv, size: size}, nil
}

// Root returns the root of the tree of the first size leaves (for size 0,
// SHA-256 of the empty string).
func (t *Tree) Root(size uint64) ([32]byte, error) {
	v, err := t.view(size)
	if err != nil {
		return [32]byte{}, err
	}
	return v.mth(0, size), nil
}

// LeafHash returns the hash of leaf i: SHA-256(0x00 ‖ leaf data).
func (t *Tree) LeafHash(i uint64) ([32]byte, error) {
	v, err := t.view(t.Size())
	if err != nil {
		return [32]byte{}, err
	}
	if i >= v.size {
		return [32]byte{}, fmt.Errorf("%w: leaf %d, tree has %d leaves", ErrRange, i, v.size)
	}
	return v.levels[0][i], nil
}

// InclusionProof returns the audit path (RFC 6962 §2.1.1) of leaf index in
// the tree of the first size leaves.
func (t *Tree) InclusionProof(index, size uint64) ([][32]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: inclusion of leaf %d in a tree of %d", ErrRange, index, size)
	}
	v, err := t.view(size)
	if err != nil {
		return nil, err
	}
	return v.path(index, 0, size), nil
}

// ConsistencyProof returns the proof (RFC 6962 §2.1.2) that the tree of
// the first first leaves is a prefix of the tree of the first second
// leaves. It is empty when first is 0 or first == second.
func (t *Tree) ConsistencyProof(first, second uint64) ([][32]byte, error) {
	if first > second {
		return nil, fmt.Errorf("%w: consistency from %d to %d", ErrRange, first, second)
	}
	v, err := t.view(second)
	if err != nil {
		return nil, err
	}
	if first == 0 || first == second {
		return [][32]byte{}, nil
	}
	return v.subproof(first, 0, second, true), nil
}

// split returns the largest power of two smaller than n (n >= 2).
func split(n uint64) uint64 {
	return 1 << (bits.Len64(n-1) - 1)
}

// mth is RFC 6962's MTH over leaves [lo, hi). Every range the recursions
// below ask for starts at a multiple of the largest power of two not
// above its length, so each perfect part is a cached subtree.
func (v view) mth(lo, hi uint64) [32]byte {
	n := hi - lo
	switch {
	case n == 0:
		return sha256.Sum256(nil)
	case n&(n-1) == 0 && lo%n == 0:
		l := bits.TrailingZeros64(n)
		return v.levels[l][lo>>l]
	}
	k := split(n)
	return hashChildren(v.mth(lo, lo+k), v.mth(lo+k, hi))
}

// path is RFC 6962's PATH(m, D[lo:hi]).
func (v view) path(m, lo, hi uint64) [][32]byte {
	n := hi - lo
	if n <= 1 {
		return [][32]byte{}
	}
	k := split(n)
	if m < k {
		return append(v.path(m, lo, lo+k), v.mth(lo+k, hi))
	}
	return append(v.path(m-k, lo+k, hi), v.mth(lo, lo+k))
}

// subproof is RFC 6962's SUBPROOF(m, D[lo:hi], b).
func (v view) subproof(m, lo, hi uint64, b bool) [][32]byte {
	n := hi - lo
	if m == n {
		if b {
			return [][32]byte{}
		}
		return [][32]byte{v.mth(lo, hi)}
	}
	k := split(n)
	if m <= k {
		return append(v.subproof(m, lo, lo+k, b), v.mth(lo+k, hi))
	}
	return append(v.subproof(m-k, lo+k, hi, false), v.mth(lo, lo+k))
}

func hashLeaf(data []byte) [32]byte {
	var out [32]byte
	copy(out[:], rfc6962.DefaultHasher.HashLeaf(data))
	return out
}

func hashChildren(l, r [32]byte) [32]byte {
	var b [65]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// HashLeaf returns the RFC 6962 hash of a leaf: SHA-256(0x00 ‖ leafData).
func HashLeaf(leafData []byte) [32]byte { return hashLeaf(leafData) }

// proofReason words a transparency-dev verification error on one line.
func proofReason(err error) string {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Sprintf("the proof gives root %s, want %s",
			base64.StdEncoding.EncodeToString(rm.CalculatedRoot), base64.StdEncoding.EncodeToString(rm.ExpectedRoot))
	}
	return err.Error()
}

// VerifyInclusion checks that leafData is leaf index of the tree of size
// leaves whose root is root; ErrProof when it is not proven.
func VerifyInclusion(leafData []byte, index, size uint64, root [32]byte, p [][32]byte) error {
	h := hashLeaf(leafData)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, h[:], ProofHashes(p), root[:]); err != nil {
		return fmt.Errorf("%w: inclusion of leaf %d in tree of %d: %s", ErrProof, index, size, proofReason(err))
	}
	return nil
}

// VerifyConsistency checks that the tree of first leaves with root root1
// is a prefix of the tree of second leaves with root root2; ErrProof when
// it is not proven. (first == second needs root1 == root2 and an empty
// proof; first == 0 needs an empty proof.)
func VerifyConsistency(first, second uint64, root1, root2 [32]byte, p [][32]byte) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first, second, ProofHashes(p), root1[:], root2[:]); err != nil {
		return fmt.Errorf("%w: consistency from %d to %d: %s", ErrProof, first, second, proofReason(err))
	}
	return nil
}
