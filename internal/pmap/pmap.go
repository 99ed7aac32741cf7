// Package pmap is a persistent (immutable) hash map from string keys: Set
// and Delete return a new map and leave the old one as it was, sharing
// all but the O(log32 n) nodes on the changed key's path. The registry's
// state machine keeps its applications in one, so a write costs the same
// with a thousand entries as with a hundred thousand, and every earlier
// state stays readable without a copy.
//
// A Map is a value; its zero value is an empty map. Every method may be
// called from any goroutine on a map no one is changing (no method
// changes its receiver).
package pmap

import (
	"hash/fnv"
	"iter"
	"slices"
)

const (
	bits     = 5
	width    = 1 << bits
	maxDepth = 64 / bits // past it, entries whose hashes agree share a leaf
)

// Map maps strings to values of V.
type Map[V any] struct {
	root *node[V]
	n    int
}

// node is a trie node: internal (kids) or a leaf (entries: one, or more
// whose hashes agree on every level below maxDepth, or entirely).
type node[V any] struct {
	kids    *[width]*node[V]
	entries []entry[V]
}

type entry[V any] struct {
	hash uint64
	key  string
	val  V
}

func hashOf(k string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	return h.Sum64()
}

func slot(h uint64, depth int) int { return int(h>>(bits*depth)) & (width - 1) }

// Len is the number of keys.
func (m Map[V]) Len() int { return m.n }

// Get returns the value of k.
func (m Map[V]) Get(k string) (V, bool) {
	h := hashOf(k)
	n := m.root
	for depth := 0; n != nil; depth++ {
		if n.kids == nil {
			for _, e := range n.entries {
				if e.key == k {
					return e.val, true
				}
			}
			break
		}
		n = n.kids[slot(h, depth)]
	}
	var zero V
	return zero, false
}

// Set returns m with k set to v.
func (m Map[V]) Set(k string, v V) Map[V] {
	root, added := set(m.root, 0, entry[V]{hash: hashOf(k), key: k, val: v})
	if added {
		m.n++
	}
	m.root = root
	return m
}

func set[V any](n *node[V], depth int, e entry[V]) (*node[V], bool) {
	if n == nil {
		return &node[V]{entries: []entry[V]{e}}, true
	}
	if n.kids != nil {
		kids := *n.kids
		i := slot(e.hash, depth)
		child, added := set(kids[i], depth+1, e)
		kids[i] = child
		return &node[V]{kids: &kids}, added
	}
	for i, o := range n.entries {
		if o.key == e.key {
			entries := slices.Clone(n.entries)
			entries[i] = e
			return &node[V]{entries: entries}, false
		}
	}
	if depth >= maxDepth || n.entries[0].hash == e.hash {
		return &node[V]{entries: append(slices.Clone(n.entries), e)}, true
	}
	// Split the leaf: its entries (one hash) go one level down.
	inner := &node[V]{kids: &[width]*node[V]{}}
	inner.kids[slot(n.entries[0].hash, depth)] = &node[V]{entries: n.entries}
	return set(inner, depth, e)
}

// Delete returns m without k.
func (m Map[V]) Delete(k string) Map[V] {
	root, removed := del(m.root, 0, hashOf(k), k)
	if removed {
		m.n--
		m.root = root
	}
	return m
}

func del[V any](n *node[V], depth int, h uint64, k string) (*node[V], bool) {
	if n == nil {
		return nil, false
	}
	if n.kids != nil {
		i := slot(h, depth)
		child, removed := del(n.kids[i], depth+1, h, k)
		if !removed {
			return n, false
		}
		kids := *n.kids
		kids[i] = child
		return &node[V]{kids: &kids}, true
	}
	for i, o := range n.entries {
		if o.key == k {
			if len(n.entries) == 1 {
				return nil, true
			}
			return &node[V]{entries: slices.Delete(slices.Clone(n.entries), i, i+1)}, true
		}
	}
	return n, false
}

// All yields every key and value, in no particular order.
func (m Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		walk(m.root, yield)
	}
}

func walk[V any](n *node[V], yield func(string, V) bool) bool {
	if n == nil {
		return true
	}
	if n.kids == nil {
		for _, e := range n.entries {
			if !yield(e.key, e.val) {
				return false
			}
		}
		return true
	}
	for _, c := range n.kids {
		if !walk(c, yield) {
			return false
		}
	}
	return true
}
