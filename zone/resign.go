package zone

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// ErrChange is returned when a Change cannot be applied: an RRset that is
// empty, inconsistent, outside the zone or of a type only signing makes,
// or the deletion of the SOA.
var ErrChange = errors.New("invalid change")

// RRKey names one RRset of a zone: a canonical owner name and a type.
type RRKey struct {
	Name string
	Type uint16
}

// Change is an owner's edit to a zone: RRsets to put (replacing any RRset
// of the same name and type) and RRsets to delete. The RRsets are
// unsigned; RRSIG and NSEC records are never part of a Change, signing
// makes them.
type Change struct {
	Put    []*RRset
	Delete []RRKey
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool { return len(c.Put) == 0 && len(c.Delete) == 0 }

// Diff returns the Change that turns old into new, RRsets in canonical
// order. RRSIG and NSEC/NSEC3 records are ignored, and so is the SOA
// serial (Apply sets it). When new has no DNSKEY RRset at the apex (an
// unsigned zone file edited by hand) old's DNSKEY RRset is kept.
func Diff(old, new *Zone) Change {
	var c Change
	keepKeys := new.Apex() == nil || new.Apex().RRset(dns.TypeDNSKEY) == nil
	skip := func(s *RRset) bool {
		return isDNSSECType(s.Type) || (keepKeys && s.Type == dns.TypeDNSKEY && s.Name == old.Origin)
	}
	for _, s := range new.RRsets() {
		if skip(s) {
			continue
		}
		var o *RRset
		if n := old.Node(s.Name); n != nil {
			o = n.RRset(s.Type)
		}
		if o == nil || !sameRRset(o, s) {
			c.Put = append(c.Put, NewRRset(s.Name, s.Type, s.TTL, s.Records(), nil))
		}
	}
	for _, s := range old.RRsets() {
		if skip(s) {
			continue
		}
		if n := new.Node(s.Name); n == nil || n.RRset(s.Type) == nil {
			c.Delete = append(c.Delete, RRKey{s.Name, s.Type})
		}
	}
	return c
}

// sameRRset reports whether a and b hold the same records with the same
// TTL, compared in canonical wire form (so two spellings of one name are
// equal), the SOA serial aside.
func sameRRset(a, b *RRset) bool {
	if a.Name != b.Name || a.Type != b.Type || a.TTL != b.TTL {
		return false
	}
	if a.Type == dns.TypeSOA && a.NumRecords() == 1 && b.NumRecords() == 1 {
		soa := *b.First().(*dns.SOA)
		soa.Serial = a.First().(*dns.SOA).Serial
		b = NewRRset(b.Name, b.Type, b.TTL, []dns.RR{&soa}, nil)
	}
	da, db := LeafData(a), LeafData(b)
	return len(da) > 0 && bytes.Equal(da, db)
}

// Apply returns z with c applied and signed again incrementally: the SOA
// serial goes up by one (RFC 1982 arithmetic, whatever serial a Put SOA
// carries), and only the changed RRsets, the SOA, and the NSEC records
// whose next name or type bitmap changed (the neighbours of added and
// removed names) get new RRSIGs; every other RRSIG is carried over as it
// is, so z must be signed by k (RRSIGs by another key are replaced).
// Names that move under or out from under a zone cut lose or gain
// signatures as a full Sign would give them. The result equals Sign of the
// changed zone except for the carried-over signatures. A Delete of an
// RRset z lacks is ignored. z is not modified.
func (z *Zone) Apply(c Change, k *Key, opt SignOptions) (*Zone, error) {
	if err := checkSigner(k, z.Origin, opt); err != nil {
		return nil, err
	}
	if nz, ok, err := z.applyReplaced(c, k, opt); ok { // incremental.go
		return nz, err
	}
	if nz, ok, err := z.applyChanged(c, k, opt); ok { // incremental.go
		return nz, err
	}
	return z.applyFull(c, k, opt)
}

// applyFull is Apply rebuilding the zone: any change.
func (z *Zone) applyFull(c Change, k *Key, opt SignOptions) (*Zone, error) {
	sets := make(map[RRKey]*RRset, z.Len()*2)
	for _, s := range z.RRsets() {
		if !isDNSSECType(s.Type) {
			sets[RRKey{s.Name, s.Type}] = s
		}
	}
	changed := make(map[RRKey]bool)
	var errs []error
	for _, d := range c.Delete {
		key := RRKey{CanonicalName(d.Name), d.Type}
		if key == (RRKey{z.Origin, dns.TypeSOA}) {
			errs = append(errs, &RecordError{key.Name, key.Type, fmt.Errorf("%w: the SOA cannot be deleted", ErrChange)})
			continue
		}
		if _, ok := sets[key]; ok {
			delete(sets, key)
			changed[key] = true
		}
	}
	for _, p := range c.Put {
		s, err := z.checkPut(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := RRKey{s.Name, s.Type}
		sets[key] = s
		changed[key] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	soaKey := RRKey{z.Origin, dns.TypeSOA}
	oldSOA := sets[soaKey]
	soa := dns.Copy(oldSOA.First()).(*dns.SOA)
	soa.Serial = z.Serial() + 1
	sets[soaKey] = NewRRset(z.Origin, dns.TypeSOA, oldSOA.TTL, []dns.RR{soa}, nil)
	changed[soaKey] = true

	list := make([]*RRset, 0, len(sets))
	for _, s := range sets {
		c := *s
		c.SetSignatures(nil)
		list = append(list, &c)
	}
	list, keyAdded := withOwnerKey(z.Origin, list, soa, k)
	if keyAdded {
		changed[RRKey{z.Origin, dns.TypeDNSKEY}] = true
	}

	// The CNAME rule can only break at a name the change put data at;
	// the types there are the old ones and the ones put.
	reported := make(map[string]bool)
	for _, p := range c.Put {
		name := CanonicalName(p.Name)
		if reported[name] || sets[RRKey{name, dns.TypeCNAME}] == nil {
			continue
		}
		var types []uint16
		if n := z.Node(name); n != nil {
			for _, s := range n.RRsets {
				types = append(types, s.Type)
			}
		}
		for _, q := range c.Put {
			if CanonicalName(q.Name) == name {
				types = append(types, q.Type)
			}
		}
		for _, t := range types {
			if t != dns.TypeCNAME && !isDNSSECType(t) && sets[RRKey{name, t}] != nil {
				reported[name] = true
				errs = append(errs, &RecordError{name, dns.TypeCNAME, ErrCNAMEAndOther})
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	tag := k.Tag()
	reuse := func(s *RRset) []*dns.RRSIG {
		if changed[RRKey{s.Name, s.Type}] {
			return nil
		}
		n := z.Node(s.Name)
		if n == nil {
			return nil
		}
		old := n.RRset(s.Type)
		if old == nil || old.NumSignatures() == 0 || old.TTL != s.TTL {
			return nil
		}
		if s.Type == dns.TypeNSEC && !sameNSEC(old.First().(*dns.NSEC), s.First().(*dns.NSEC)) {
			return nil
		}
		for _, sig := range old.Signatures() {
			if sig.KeyTag != tag || sig.Algorithm != dns.ED25519 || CanonicalName(sig.SignerName) != z.Origin || sig.OrigTtl != s.TTL {
				return nil
			}
		}
		return old.Signatures()
	}
	return assemble(z.Origin, list, k, opt, reuse)
}

// checkPut checks one RRset of a Change and returns a canonical copy.
func (z *Zone) checkPut(p *RRset) (*RRset, error) {
	if p == nil || p.NumRecords() == 0 {
		name, t := "", uint16(0)
		if p != nil {
			name, t = p.Name, p.Type
		}
		return nil, &RecordError{name, t, fmt.Errorf("%w: an RRset to put has no records", ErrChange)}
	}
	name := CanonicalName(p.Name)
	bad := func(err error) error { return &RecordError{name, p.Type, err} }
	switch {
	case isDNSSECType(p.Type):
		return nil, bad(fmt.Errorf("%w: %s records are made by signing", ErrChange, dns.TypeToString[p.Type]))
	case !dns.IsSubDomain(z.Origin, name):
		return nil, bad(ErrOutOfZone)
	case p.Type == dns.TypeSOA && name != z.Origin:
		return nil, bad(fmt.Errorf("%w: an SOA below the apex", ErrChange))
	case p.Type == dns.TypeSOA && p.NumRecords() != 1:
		return nil, bad(ErrNoSOA)
	}
	s := NewRRset(name, p.Type, p.TTL, make([]dns.RR, 0, p.NumRecords()), nil)
	for _, rr := range p.Records() {
		h := rr.Header()
		switch {
		case h.Class != dns.ClassINET:
			return nil, bad(ErrClass)
		case h.Rrtype != p.Type || CanonicalName(h.Name) != name:
			return nil, bad(fmt.Errorf("%w: record %s %s in the RRset of %s %s", ErrChange,
				h.Name, dns.TypeToString[h.Rrtype], name, dns.TypeToString[p.Type]))
		case h.Ttl != p.TTL:
			return nil, bad(ErrTTLMismatch)
		}
		c := dns.Copy(rr)
		c.Header().Name = name
		if !containsRR(s.Records(), c) {
			s.AddRecord(c)
		}
	}
	return s, nil
}
