package node

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// Served is the set of zones a node serves, by origin (not the registry:
// that word means the registry group). It implements
// dnsfront.Reader: readers see an immutable snapshot (an atomic pointer to
// a map that is never modified after it is published), so the query path
// takes no lock and allocates nothing. Writers (Set, Delete) copy the map
// under a mutex and swap the pointer; a query in flight keeps the snapshot
// it started with.
//
// The zero value is an empty set ready for use.
type Served struct {
	mu   sync.Mutex // serialises writers only
	snap atomic.Pointer[map[string]*zone.Zone]
	// off: the member was removed from its group (Withdraw): readers see
	// no zone while the writers keep the set current.
	off atomic.Bool
}

// Withdraw hides every zone from readers (Zone, Get, Origins) while off
// is true, and shows them again, as the writers kept them, when false.
func (s *Served) Withdraw(off bool) { s.off.Store(off) }

// Zone returns the closest enclosing hosted zone of name, or nil. name must
// be canonical (lower-case, fully qualified), as dnsfront passes it. It
// walks the suffixes of name longest first by slicing, without allocating.
// It is safe for concurrent use with itself and with writers.
func (s *Served) Zone(name string) *zone.Zone {
	p := s.snap.Load()
	if p == nil || s.off.Load() {
		return nil
	}
	m := *p
	if name == "" {
		return nil
	}
	off := 0
	for {
		if z := m[name[off:]]; z != nil {
			return z
		}
		var end bool
		off, end = dns.NextLabel(name, off)
		if end {
			break
		}
	}
	return m["."]
}

// Get returns the zone whose origin is exactly the canonical name origin,
// or nil.
func (s *Served) Get(origin string) *zone.Zone {
	p := s.snap.Load()
	if p == nil || s.off.Load() {
		return nil
	}
	return (*p)[origin]
}

// Set publishes z, replacing any zone with the same origin. Queries that
// start after Set returns see z.
func (s *Served) Set(z *zone.Zone) {
	s.update(func(m map[string]*zone.Zone) { m[z.Origin] = z })
}

// Delete stops serving the zone at origin (canonical). Deleting a zone
// that is not served does nothing.
func (s *Served) Delete(origin string) {
	s.update(func(m map[string]*zone.Zone) { delete(m, origin) })
}

// Origins returns the origins served, in canonical order.
func (s *Served) Origins() []string {
	p := s.snap.Load()
	if p == nil || s.off.Load() {
		return nil
	}
	out := make([]string, 0, len(*p))
	for o := range *p {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return zone.Compare(out[i], out[j]) < 0 })
	return out
}

func (s *Served) update(f func(map[string]*zone.Zone)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old map[string]*zone.Zone
	if p := s.snap.Load(); p != nil {
		old = *p
	}
	m := make(map[string]*zone.Zone, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	f(m)
	s.snap.Store(&m)
}
