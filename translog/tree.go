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

// Tree is an append-only RFC 6962 Merkle tree holding its leaf hashes in
// memory. One goroutine may Append while any number read; readers see a
// consistent prefix. Roots and proofs are computed on demand in O(size)
// hashes, which is ample for a registry's log.
type Tree struct {
	mu     sync.RWMutex
	leaves [][32]byte
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{} }

// Append adds a leaf whose data is leafData (an encoded Entry) and returns
// its index.
func (t *Tree) Append(leafData []byte) uint64 {
	h := hashLeaf(leafData)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaves = append(t.leaves, h)
	return uint64(len(t.leaves) - 1)
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return uint64(len(t.leaves))
}

// snapshot returns the first size leaf hashes, or ErrRange when the tree
// is smaller. The slice is shared: leaves are never modified, only
// appended.
func (t *Tree) snapshot(size uint64) ([][32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size > uint64(len(t.leaves)) {
		return nil, fmt.Errorf("%w: size %d, tree has %d leaves", ErrRange, size, len(t.leaves))
	}
	return t.leaves[:size:size], nil
}

// Root returns the root of the tree of the first size leaves (for size 0,
// SHA-256 of the empty string).
func (t *Tree) Root(size uint64) ([32]byte, error) {
	l, err := t.snapshot(size)
	if err != nil {
		return [32]byte{}, err
	}
	return mth(l), nil
}

// LeafHash returns the hash of leaf i: SHA-256(0x00 ‖ leaf data).
func (t *Tree) LeafHash(i uint64) ([32]byte, error) {
	l, err := t.snapshot(t.Size())
	if err != nil {
		return [32]byte{}, err
	}
	if i >= uint64(len(l)) {
		return [32]byte{}, fmt.Errorf("%w: leaf %d, tree has %d leaves", ErrRange, i, len(l))
	}
	return l[i], nil
}

// InclusionProof returns the audit path (RFC 6962 §2.1.1) of leaf index in
// the tree of the first size leaves.
func (t *Tree) InclusionProof(index, size uint64) ([][32]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: inclusion of leaf %d in a tree of %d", ErrRange, index, size)
	}
	l, err := t.snapshot(size)
	if err != nil {
		return nil, err
	}
	return path(index, l), nil
}

// ConsistencyProof returns the proof (RFC 6962 §2.1.2) that the tree of
// the first first leaves is a prefix of the tree of the first second
// leaves. It is empty when first is 0 or first == second.
func (t *Tree) ConsistencyProof(first, second uint64) ([][32]byte, error) {
	if first > second {
		return nil, fmt.Errorf("%w: consistency from %d to %d", ErrRange, first, second)
	}
	l, err := t.snapshot(second)
	if err != nil {
		return nil, err
	}
	if first == 0 || first == second {
		return [][32]byte{}, nil
	}
	return subproof(first, l, true), nil
}

// split returns the largest power of two smaller than n (n >= 2).
func split(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// mth is RFC 6962's MTH over leaf hashes.
func mth(l [][32]byte) [32]byte {
	switch len(l) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return l[0]
	}
	k := split(len(l))
	return hashChildren(mth(l[:k]), mth(l[k:]))
}

// path is RFC 6962's PATH(m, D[n]).
func path(m uint64, l [][32]byte) [][32]byte {
	if len(l) <= 1 {
		return [][32]byte{}
	}
	k := split(len(l))
	if m < uint64(k) {
		return append(path(m, l[:k]), mth(l[k:]))
	}
	return append(path(m-uint64(k), l[k:]), mth(l[:k]))
}

// subproof is RFC 6962's SUBPROOF(m, D[n], b).
func subproof(m uint64, l [][32]byte, b bool) [][32]byte {
	n := uint64(len(l))
	if m == n {
		if b {
			return [][32]byte{}
		}
		return [][32]byte{mth(l)}
	}
	k := uint64(split(len(l)))
	if m <= k {
		return append(subproof(m, l[:k], b), mth(l[k:]))
	}
	return append(subproof(m-k, l[k:], false), mth(l[:k]))
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
