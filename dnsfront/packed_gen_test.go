package dnsfront

import (
	"strconv"
	"testing"
)

// TestPackedCacheGenerations: a hot set of max/2 questions, once seen,
// is answered from the cache for good while max/2 other questions come
// and go between two askings of each (a hit in the old generation moves
// it to the new one; emptying the cache when full, as it did before,
// loses the hot set each time), and the cache never holds more than
// 2*max replies.
func TestPackedCacheGenerations(t *testing.T) {
	const max = 64
	c := newPackedCache(max)
	hot := func(i int) string { return "hot" + strconv.Itoa(i) }
	e := &packedReply{wire: make([]byte, 100)}
	for i := range max / 2 {
		c.store(hot(i), e)
	}
	for round := range 20 {
		// A passing crowd of questions asked once each...
		for j := range max / 2 {
			c.store("cold"+strconv.Itoa(round)+"-"+strconv.Itoa(j), e)
		}
		// ...does not push the hot set out.
		for i := range max / 2 {
			if _, ok := c.load(hot(i)); !ok {
				t.Fatalf("round %d: hot question %d missed", round, i)
			}
		}
		if n := c.cur.Load().len() + c.old.Load().len(); n > 2*max {
			t.Fatalf("round %d: cache holds %d replies, want at most %d", round, n, 2*max)
		}
	}
	if _, ok := c.load("never"); ok {
		t.Error("a question never stored was found")
	}
}
