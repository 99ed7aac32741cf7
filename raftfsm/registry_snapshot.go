package raftfsm

import (
	"fmt"
	"sort"

	"github.com/ddnrs/ddnrs/zone"
)

// writeRegistry appends the registry section of a version 2 snapshot:
//
//	uint32  application count, each an Application (registry_codec.go), by id
//	uint32  key count, each an APIKey, by id
//	uint32  claim count, each a Claim, in canonical order of the zones
//	uint32  node count, each a NodeRecord, by id
//	uint64  log size, then each leaf as a byte string, in order
func writeRegistry(e *encoder, r *RegistryState) {
	apps := r.Applications()
	sort.Slice(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID })
	e.u32(uint32(len(apps)))
	for _, a := range apps {
		e.application(a)
	}
	keys := r.Keys()
	e.u32(uint32(len(keys)))
	for _, k := range keys {
		e.apiKey(k)
	}
	claims := r.Claims()
	e.u32(uint32(len(claims)))
	for _, c := range claims {
		e.claim(c)
	}
	nodes := r.Nodes()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	e.u32(uint32(len(nodes)))
	for _, n := range nodes {
		e.nodeRecord(n)
	}
	e.u64(r.size)
	for _, l := range r.leaves[:r.size] {
		e.bytes(l)
	}
}

// readRegistry reads the section writeRegistry writes and rebuilds the
// log's tree.
func readRegistry(d *decoder) (*RegistryState, error) {
	r := newRegistryState()
	n := d.Count(2)
	for range n {
		a := d.application()
		if d.Err != nil {
			return nil, d.Err
		}
		if _, dup := r.apps.Get(a.ID); dup {
			return nil, fmt.Errorf("application %q twice", a.ID)
		}
		r.setApp(a)
	}
	n = d.Count(2)
	for range n {
		k := d.apiKey()
		if d.Err != nil {
			return nil, d.Err
		}
		if _, dup := r.keys[k.ID]; dup {
			return nil, fmt.Errorf("key %q twice", k.ID)
		}
		r.keys[k.ID] = k
	}
	n = d.Count(2)
	for range n {
		c := d.claim()
		if d.Err != nil {
			return nil, d.Err
		}
		if c.Zone == "" || zone.CanonicalName(c.Zone) != c.Zone {
			return nil, fmt.Errorf("claim of %q: not canonical", c.Zone)
		}
		if _, dup := r.claim(c.Zone); dup {
			return nil, fmt.Errorf("claim of %s twice", c.Zone)
		}
		r.setClaim(c)
	}
	n = d.Count(2)
	for range n {
		nr := d.nodeRecord()
		if d.Err != nil {
			return nil, d.Err
		}
		if _, dup := r.nodes[nr.ID]; dup {
			return nil, fmt.Errorf("node %q twice", nr.ID)
		}
		r.nodes[nr.ID] = nr
	}
	size := d.U64()
	if d.Err == nil && size > uint64(len(d.B))/4 {
		return nil, fmt.Errorf("log of %d leaves does not fit in %d bytes", size, len(d.B))
	}
	for range size {
		leaf := d.bytes()
		if d.Err != nil {
			return nil, d.Err
		}
		if err := r.appendLoaded(leaf); err != nil {
			return nil, err
		}
	}
	return r, d.Err
}

// hasExtra reports whether r holds what only snapshot format 4 carries:
// a sub-key or a leased claim.
func (r *RegistryState) hasExtra() bool {
	for _, k := range r.keys {
		if k.Parent != "" {
			return true
		}
	}
	for _, c := range r.claims.All() {
		if !c.Lease.IsZero() {
			return true
		}
	}
	return false
}

// writeRegistryExtra appends the section of snapshot format 4:
//
//	uint32  sub-key count, each: key id, parent key id, by key id
//	uint32  lease count, each: zone, then the Lease (encoder.lease), in
//	        canonical order of the zones
func writeRegistryExtra(e *encoder, r *RegistryState) {
	var subs []APIKey
	for _, k := range r.Keys() {
		if k.Parent != "" {
			subs = append(subs, k)
		}
	}
	e.u32(uint32(len(subs)))
	for _, k := range subs {
		e.str(k.ID)
		e.str(k.Parent)
	}
	var leased []Claim
	for _, c := range r.Claims() {
		if !c.Lease.IsZero() {
			leased = append(leased, c)
		}
	}
	e.u32(uint32(len(leased)))
	for _, c := range leased {
		e.str(c.Zone)
		e.lease(c.Lease)
	}
}

// readRegistryExtra reads what writeRegistryExtra wrote into r, whose
// keys and claims readRegistry has read.
func readRegistryExtra(d *decoder, r *RegistryState) error {
	n := d.Count(4)
	for range n {
		id, parent := d.Str16(), d.Str16()
		if d.Err != nil {
			return d.Err
		}
		k, ok := r.keys[id]
		if !ok || parent == "" || k.Parent != "" {
			return fmt.Errorf("sub-key %q: unknown, twice, or without a parent", id)
		}
		k.Parent = parent
		r.keys[id] = k
	}
	n = d.Count(2 + 8 + 4 + 8 + 2)
	for range n {
		origin := d.Str16()
		l := d.lease()
		if d.Err != nil {
			return d.Err
		}
		c, ok := r.claim(origin)
		if !ok || !c.Lease.IsZero() || l.IsZero() {
			return fmt.Errorf("lease of %q: no such claim, twice, or empty", origin)
		}
		c.Lease = l
		r.setClaim(c)
	}
	return d.Err
}
