package zone

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestNameIndex: the persistent index agrees with a Go map after every
// step of random puts and removals, and every earlier version still
// holds exactly what it held (path copying never writes a shared node).
// It runs with the real hash and with weak ones that collide often (a
// hash of 4 distinct values, one with all 64 bits equal) so that deep
// paths, full-hash collision lists and folding are reached.
func TestNameIndex(t *testing.T) {
	real := indexHash
	t.Cleanup(func() { indexHash = real })
	for _, tc := range []struct {
		name string
		hash func(string) uint64
	}{
		{"maphash", real},
		{"4 values", func(s string) uint64 { return real(s) & 3 }},
		{"one value", func(string) uint64 { return 0x5555 }},
		{"top bits", func(s string) uint64 { return real(s) & (0xF << 58) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			indexHash = tc.hash
			rng := rand.New(rand.NewPCG(3, 4))
			type version struct {
				x    nameIndex
				want map[string]*Node
			}
			var versions []version
			cur, want := nameIndex{}, map[string]*Node{}
			for step := range 600 {
				name := fmt.Sprintf("n%d.example.", rng.IntN(150))
				next := make(map[string]*Node, len(want))
				for k, v := range want {
					next[k] = v
				}
				if rng.IntN(3) == 0 {
					cur = cur.without(name)
					delete(next, name)
				} else {
					n := &Node{Name: name}
					cur = cur.with(n)
					next[name] = n
				}
				want = next
				versions = append(versions, version{cur, want})
				if step%50 == 49 {
					for i, v := range versions {
						checkIndex(t, fmt.Sprintf("step %d, version %d", step, i), v.x, v.want)
					}
				}
			}
			// Built in place (set), as New builds it.
			var built nameIndex
			for _, n := range want {
				built.set(n)
			}
			checkIndex(t, "built", built, want)
		})
	}
}

func checkIndex(t *testing.T, what string, x nameIndex, want map[string]*Node) {
	t.Helper()
	if x.len() != len(want) {
		t.Fatalf("%s: len %d, want %d", what, x.len(), len(want))
	}
	seen := 0
	x.each(func(n *Node) {
		seen++
		if want[n.Name] != n {
			t.Fatalf("%s: each gives %s, not in the map", what, n.Name)
		}
	})
	if seen != len(want) {
		t.Fatalf("%s: each gave %d nodes, want %d", what, seen, len(want))
	}
	for i := range 150 {
		name := fmt.Sprintf("n%d.example.", i)
		if got := x.get(name); got != want[name] {
			t.Fatalf("%s: get(%s) = %p, want %p", what, name, got, want[name])
		}
	}
}
