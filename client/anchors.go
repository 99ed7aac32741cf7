package client

// anchors.go: the keys a Verifier trusts. Anchors are the zone owners'
// keys, configured (LoadAnchors) or learnt from the registry's
// transparency log (Verifier.SetLogAnchors). When an owner rotates its
// key, the registry's claim changes first and the zone's group later:
// a log follower keeps the previous owner key as an extra anchor for the
// zone for a grace period after the log entry's time
// (Verifier.SetPreviousAnchors), so the answers the group still signs
// with the previous key verify until the rotation reaches the group; the
// Verifier drops the previous key as soon as it verifies an answer signed
// by the new one (the rotation reached the group), so an old, possibly
// compromised, key does not keep serving past the rotation. Serial
// monotonicity is unchanged: once a new-key answer is verified, older
// serials are refused anyway.

import (
	"fmt"
	"os"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// Anchors maps canonical zone origins to their owner keys, the only trust
// a Verifier places in answers.
type Anchors map[string]*zone.Key

// find returns the anchor of the closest enclosing zone of name.
func (a Anchors) find(name string) (string, *zone.Key) {
	for n := name; n != ""; n = zone.Parent(n) {
		if k := a[n]; k != nil {
			return n, k
		}
	}
	return "", nil
}

// LoadAnchors reads a trust anchor file: DNSKEY records in zone-file form
// (the owner's .key files concatenated). Other record types are refused.
func LoadAnchors(path string) (Anchors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := make(Anchors)
	zp := dns.NewZoneParser(f, ".", path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.DNSKEY)
		if !isKey {
			return nil, fmt.Errorf("%s: %s record, want DNSKEY", path, dns.TypeToString[rr.Header().Rrtype])
		}
		name := zone.CanonicalName(k.Hdr.Name)
		a[name] = &zone.Key{Zone: name, DNSKEY: k}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("trust anchors: %w", err)
	}
	return a, nil
}

// PreviousAnchor is a zone's previous owner key, still accepted by the
// Verifier until Until.
type PreviousAnchor struct {
	Key   *zone.Key
	Until time.Time
}

// SetPreviousAnchors replaces the previous owner keys the Verifier still
// accepts (the log follower's); dropped, when not nil, is called (on the
// verifying goroutine, without locks held) once a zone's previous key is
// dropped because an answer signed by its current anchor was verified.
// A key dropped before is not taken back from a set that still lists it
// (the follower learns of the drop after the fact). Any goroutine may
// call it.
func (v *Verifier) SetPreviousAnchors(p map[string]PreviousAnchor, dropped func(origin string, k *zone.Key)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.previous = make(map[string]PreviousAnchor, len(p))
	for z, a := range p {
		if a.Key == nil || a.Key.DNSKEY == nil || zone.SameKey(keyOf(v.droppedKeys[z]), a.Key.DNSKEY) {
			continue
		}
		v.previous[z] = a
	}
	for z, k := range v.droppedKeys {
		if a, ok := p[z]; !ok || !zone.SameKey(keyOf(a.Key), keyOf(k)) {
			delete(v.droppedKeys, z) // the follower has it too
		}
	}
	v.dropped = dropped
}

// Previous returns origin's previous owner key while the Verifier still
// accepts it (SetPreviousAnchors), nil otherwise.
func (v *Verifier) Previous(origin string) *zone.Key {
	v.mu.Lock()
	defer v.mu.Unlock()
	a, ok := v.previous[origin]
	if !ok || !v.now().Before(a.Until) {
		return nil
	}
	return a.Key
}

// dropPrevious forgets origin's previous owner key, an answer signed by
// its current anchor having been verified.
func (v *Verifier) dropPrevious(origin string) {
	v.mu.Lock()
	a, ok := v.previous[origin]
	if !ok {
		v.mu.Unlock()
		return
	}
	delete(v.previous, origin)
	if v.droppedKeys == nil {
		v.droppedKeys = make(map[string]*zone.Key)
	}
	v.droppedKeys[origin] = a.Key
	fn := v.dropped
	v.mu.Unlock()
	if fn != nil {
		fn(origin, a.Key)
	}
}

// keyOf is k's DNSKEY, nil for a nil key.
func keyOf(k *zone.Key) *dns.DNSKEY {
	if k == nil {
		return nil
	}
	return k.DNSKEY
}
