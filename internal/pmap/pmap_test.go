package pmap

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestAgainstMap applies random sets and deletes to a Map and a Go map,
// keeping every version of the Map, and checks every version still holds
// what it held when made.
func TestAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var (
		m        Map[int]
		versions []Map[int]
		wants    []map[string]int
	)
	want := map[string]int{}
	for i := range 5000 {
		k := fmt.Sprintf("k%d", r.IntN(2000))
		if r.IntN(4) == 0 {
			m = m.Delete(k)
			delete(want, k)
		} else {
			m = m.Set(k, i)
			want[k] = i
		}
		if i%500 == 0 {
			versions = append(versions, m)
			wants = append(wants, maps.Clone(want))
		}
	}
	versions = append(versions, m)
	wants = append(wants, want)
	for vi, v := range versions {
		w := wants[vi]
		if v.Len() != len(w) {
			t.Fatalf("version %d: Len %d, want %d", vi, v.Len(), len(w))
		}
		got := map[string]int{}
		for k, x := range v.All() {
			got[k] = x
		}
		if !maps.Equal(got, w) {
			t.Fatalf("version %d: All differs from the map (%d vs %d keys)", vi, len(got), len(w))
		}
		for k, x := range w {
			if y, ok := v.Get(k); !ok || y != x {
				t.Fatalf("version %d: Get(%q) = %d, %v; want %d", vi, k, y, ok, x)
			}
		}
		if _, ok := v.Get("absent"); ok {
			t.Fatalf("version %d: Get(absent) found", vi)
		}
	}
}

// TestSameHash: keys whose hashes agree entirely share a leaf and stay
// apart.
func TestSameHash(t *testing.T) {
	var n *node[string]
	for _, k := range []string{"a", "b", "c"} {
		n, _ = set(n, 0, entry[string]{hash: 42, key: k, val: k + "!"})
	}
	n, _ = set(n, 0, entry[string]{hash: 43, key: "d", val: "d!"})
	m := Map[string]{root: n, n: 4}
	for _, k := range []string{"a", "b", "c", "d"} {
		if v, _ := getHash(m, k, map[string]uint64{"d": 43}); v != k+"!" {
			t.Errorf("get %q = %q", k, v)
		}
	}
}

func getHash(m Map[string], k string, hashes map[string]uint64) (string, bool) {
	h, ok := hashes[k]
	if !ok {
		h = 42
	}
	n := m.root
	for depth := 0; n != nil; depth++ {
		if n.kids == nil {
			for _, e := range n.entries {
				if e.key == k {
					return e.val, true
				}
			}
			return "", false
		}
		n = n.kids[slot(h, depth)]
	}
	return "", false
}

func BenchmarkSet(b *testing.B) {
	for _, size := range []int{1000, 100000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var m Map[int]
			for i := range size {
				m = m.Set(fmt.Sprintf("%016x", i), i)
			}
			b.ResetTimer()
			for i := range b.N {
				_ = m.Set(fmt.Sprintf("new%d", i), i)
			}
		})
	}
}
