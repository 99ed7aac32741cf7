package zone

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/miekg/dns"
)

// Errors returned when a set of records cannot form a zone.
var (
	// ErrOutOfZone is returned when a record's owner is not at or below the
	// zone's origin.
	ErrOutOfZone = errors.New("record is outside the zone")
	// ErrCNAMEAndOther is returned when a name holds a CNAME beside other
	// data (RFC 1034 §3.6.2; RRSIG and NSEC excepted, RFC 4035 §2.5).
	ErrCNAMEAndOther = errors.New("CNAME beside other data")
	// ErrNoSOA is returned when the apex lacks exactly one SOA record.
	ErrNoSOA = errors.New("zone apex needs exactly one SOA record")
	// ErrClass is returned for records of a class other than IN.
	ErrClass = errors.New("only class IN is supported")
	// ErrTTLMismatch is returned when the records of one RRset carry
	// different TTLs (RFC 2181 §5.2).
	ErrTTLMismatch = errors.New("records of one RRset have different TTLs")
)

// RecordError says which record broke a rule. It wraps one of the errors
// above.
type RecordError struct {
	Name string // owner name of the offending record
	Type uint16 // its type
	Err  error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Name, dns.TypeToString[e.Type], e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Node is one owner name of a zone with its RRsets, sorted by type. An
// empty non-terminal is a Node with no RRsets (RFC 8020: it exists).
type Node struct {
	Name   string // canonical name
	RRsets []*RRset
}

// RRset returns the RRset of type t at n, or nil.
func (n *Node) RRset(t uint16) *RRset {
	for _, s := range n.RRsets {
		if s.Type == t {
			return s
		}
	}
	return nil
}

// Empty reports whether n is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.RRsets) == 0 }

// Zone is an immutable, indexed view of one zone, signed or not. It is safe
// for concurrent readers; changes produce a new Zone.
type Zone struct {
	Origin string // canonical apex name
	// names holds every node, empty non-terminals included, by canonical
	// name (nameindex.go: persistent, shared with the zones made from
	// this one by a change).
	names nameIndex
	// order lists the nodes that own records, in canonical order; an NSEC
	// chain, when present, links exactly these (minus glue-only names
	// below cuts). A zone made by withReplaced makes it on first use
	// (Nodes), from its tree; count is its length in any case.
	order     []*Node
	orderOnce sync.Once
	count     int
	// Head is the signed zone head of a signed zone, nil otherwise.
	Head *Head
	// tree caches the Merkle tree (merkle.go); a Zone must not be copied
	// by value.
	tree treeCache
	// incremental is set on a zone withReplaced made: the same names and
	// types as the zone it was made from (so the same zone cuts), its
	// tree already built.
	incremental bool
}

// New builds a Zone from records. It checks that every record lies at or
// below origin, that the apex has one SOA, that no CNAME shares its name
// with other data, and that each RRset has one TTL. RRSIG records are
// attached to the RRset they cover. Every problem found is returned, joined.
func New(origin string, rrs []dns.RR) (*Zone, error) {
	origin = CanonicalName(origin)
	z := &Zone{Origin: origin}
	var errs []error
	type key struct {
		name string
		t    uint16
	}
	sets := make(map[key]*RRset)
	type ownedSig struct {
		name string
		sig  *dns.RRSIG
	}
	var sigs []ownedSig
	// The RRsets come from slabs, so that the zone's RRset values sit
	// together and not between the load's garbage: the heap pages
	// freed after a load can then go back to the OS (raftfsm/memory.go).
	var slab []RRset
	for _, rr := range rrs {
		h := rr.Header()
		name := CanonicalName(h.Name)
		if h.Class != dns.ClassINET {
			errs = append(errs, &RecordError{name, h.Rrtype, ErrClass})
			continue
		}
		if !dns.IsSubDomain(origin, name) {
			errs = append(errs, &RecordError{name, h.Rrtype, ErrOutOfZone})
			continue
		}
		// The caller's records are only read: packing (packed.go)
		// takes their RDATA, the owner name and TTL come from the
		// RRset. No copy is made.
		if sig, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, ownedSig{name, sig})
			continue
		}
		k := key{name, h.Rrtype}
		s := sets[k]
		if s == nil {
			if len(slab) == cap(slab) {
				slab = make([]RRset, 0, 4096)
			}
			slab = append(slab, RRset{Name: name, Type: h.Rrtype, TTL: h.Ttl})
			s = &slab[len(slab)-1]
			sets[k] = s
			z.node(name).RRsets = append(z.node(name).RRsets, s)
		} else if s.TTL != h.Ttl {
			errs = append(errs, &RecordError{name, h.Rrtype, ErrTTLMismatch})
			continue
		}
		if !containsRR(s.Records(), rr) {
			s.AddRecord(rr)
		}
	}
	for _, o := range sigs {
		s := sets[key{o.name, o.sig.TypeCovered}]
		if s == nil {
			// A signature over nothing we hold: keep nothing, it can
			// only mislead a validator.
			continue
		}
		s.AddSignature(o.sig)
	}
	if apex := z.names.get(origin); apex == nil || apex.RRset(dns.TypeSOA) == nil || apex.RRset(dns.TypeSOA).NumRecords() != 1 {
		errs = append(errs, &RecordError{origin, dns.TypeSOA, ErrNoSOA})
	}
	z.names.each(func(n *Node) {
		if n.RRset(dns.TypeCNAME) != nil {
			for _, s := range n.RRsets {
				if s.Type != dns.TypeCNAME && s.Type != dns.TypeRRSIG && s.Type != dns.TypeNSEC {
					errs = append(errs, &RecordError{n.Name, dns.TypeCNAME, ErrCNAMEAndOther})
					break
				}
			}
		}
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	z.index()
	z.shareNames() // the records are New's own copies (compact.go)
	if err := z.packAll(); err != nil {
		return nil, err
	}
	return z, nil
}

// node returns the node for name, creating it and the empty non-terminals
// between it and the apex.
func (z *Zone) node(name string) *Node {
	if n := z.names.get(name); n != nil {
		return n
	}
	n := &Node{Name: name}
	z.names.set(n)
	for p := parent(name); p != "" && dns.IsSubDomain(z.Origin, p); p = parent(p) {
		if z.names.get(p) != nil {
			break
		}
		z.names.set(&Node{Name: p})
	}
	return n
}

// index sorts RRsets by type and the nodes in canonical order.
func (z *Zone) index() {
	z.order = z.order[:0]
	z.names.each(func(n *Node) {
		sort.Slice(n.RRsets, func(i, j int) bool { return n.RRsets[i].Type < n.RRsets[j].Type })
		if !n.Empty() {
			z.order = append(z.order, n)
		}
	})
	sort.Slice(z.order, func(i, j int) bool { return Compare(z.order[i].Name, z.order[j].Name) < 0 })
	z.count = len(z.order)
	z.orderOnce.Do(func() {}) // order is made
}

// parent returns name without its leftmost label, or "" for the root.
func parent(name string) string {
	if name == "." {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// Parent returns name without its leftmost label ("" for the root).
func Parent(name string) string { return parent(name) }

func containsRR(rrs []dns.RR, rr dns.RR) bool {
	for _, r := range rrs {
		if dns.IsDuplicate(r, rr) {
			return true
		}
	}
	return false
}

// Node returns the node at the canonical name, or nil when the name does
// not exist in the zone. Empty non-terminals exist.
func (z *Zone) Node(name string) *Node { return z.names.get(name) }

// Apex returns the node at the origin.
func (z *Zone) Apex() *Node { return z.names.get(z.Origin) }

// SOA returns the zone's SOA record.
func (z *Zone) SOA() *dns.SOA {
	return z.Apex().RRset(dns.TypeSOA).First().(*dns.SOA)
}

// Serial returns the SOA serial.
func (z *Zone) Serial() uint32 { return z.SOA().Serial }

// Nodes returns the nodes that own records, in canonical order. The slice
// is shared: do not modify it.
func (z *Zone) Nodes() []*Node {
	z.orderOnce.Do(func() { // a zone withReplaced made: from its tree
		z.order = make([]*Node, 0, z.count)
		z.Tree().each(func(_ int, s *RRset, _ [32]byte) bool {
			if k := len(z.order); k == 0 || z.order[k-1].Name != s.Name {
				z.order = append(z.order, z.names.get(s.Name))
			}
			return true
		})
	})
	return z.order
}

// Len returns the number of names that own records.
func (z *Zone) Len() int { return z.count }

// Predecessor returns the last node that owns an NSEC record and sorts
// before name in canonical order, wrapping to the last such node when name
// sorts before them all (RFC 4034 §4.1.1). Its NSEC covers name when name
// does not exist. It returns nil when the zone has no NSEC chain.
func (z *Zone) Predecessor(name string) *Node {
	if z.incremental {
		return z.treePredecessor(name)
	}
	i := sort.Search(len(z.order), func(i int) bool { return Compare(z.order[i].Name, name) >= 0 })
	for k := 0; k < len(z.order); k++ {
		i--
		if i < 0 {
			i = len(z.order) - 1
		}
		if z.order[i].RRset(dns.TypeNSEC) != nil {
			return z.order[i]
		}
	}
	return nil
}

// RRsets returns every RRset of the zone in canonical (name, type) order,
// the order of the Merkle leaves.
func (z *Zone) RRsets() []*RRset {
	if z.incremental {
		out := make([]*RRset, 0, z.Tree().Size())
		z.Tree().each(func(_ int, s *RRset, _ [32]byte) bool {
			out = append(out, s)
			return true
		})
		return out
	}
	var out []*RRset
	for _, n := range z.order {
		out = append(out, n.RRsets...)
	}
	return out
}

// Records returns every record, RRSIGs included, in canonical order, as a
// zone file lists them.
func (z *Zone) Records() []dns.RR {
	var out []dns.RR
	for _, s := range z.RRsets() {
		out = append(out, s.Records()...)
		for _, sig := range s.Signatures() {
			out = append(out, sig)
		}
	}
	return out
}

// Delegation returns the topmost node strictly below the apex, at or above
// name, that holds an NS RRset: the zone cut that name is at or below. It
// returns nil when name is authoritative data of this zone.
func (z *Zone) Delegation(name string) *Node {
	var cut *Node
	for p := name; p != "" && p != z.Origin && IsSubDomain(z.Origin, p); p = parent(p) {
		if n := z.names.get(p); n != nil && n.RRset(dns.TypeNS) != nil {
			cut = n
		}
	}
	return cut
}

// AdditionalTarget returns the name whose addresses an answer carries in
// its additional section for rr (RFC 1034 §4.3.2, RFC 2782): the target of
// an NS, MX or SRV record; ok is false for any other record. The
// answer builder (dnsfront) and the answer verifier (client) follow this
// one rule.
func AdditionalTarget(rr dns.RR) (target string, ok bool) {
	switch v := rr.(type) {
	case *dns.NS:
		return v.Ns, true
	case *dns.MX:
		return v.Mx, true
	case *dns.SRV:
		return v.Target, true
	}
	return "", false
}
