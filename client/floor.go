package client

// floor.go: the serial floor, the highest serial a Verifier has verified
// per zone, which an answer's serial may not go below (anti-rollback).
// It is kept per zone AND owner key: a zone released and registered
// again by a new owner (a new key) starts over at any serial, while a
// replay of an older version signed by any key the Verifier still
// accepts (the current anchor, or the previous one during a rotation's
// grace) is refused by that key's floor. The floor lives in memory; a
// program that must keep it across restarts (a node, the stub resolver)
// saves Floors in the JSON form MarshalFloors writes whenever the hook
// set with OnFloorRaised reports a raise, and hands what it saved to
// RestoreFloors before it verifies anything.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// FloorsVersion is the version of the floors' JSON form.
const FloorsVersion = 1

// ErrBadFloors is returned by ParseFloors when the JSON form is not one
// it reads: not JSON, another version, or an entry without a valid zone
// or key.
var ErrBadFloors = errors.New("bad serial floors")

// Floor is the highest serial verified for a zone under one owner key.
type Floor struct {
	Zone string `json:"zone"` // canonical, with the final dot
	// Key is the owner key's public key, base64 as in its DNSKEY.
	Key    string `json:"key"`
	Serial uint32 `json:"serial"`
}

// floorKey indexes Verifier.highest.
type floorKey struct{ zone, key string }

// floorsFile is the JSON form of a set of floors.
type floorsFile struct {
	Version int     `json:"version"`
	Floors  []Floor `json:"floors"`
}

// MarshalFloors returns the JSON form of fs, version FloorsVersion:
// {"version":1,"floors":[{"zone":"example.","key":"base64","serial":7}]}.
func MarshalFloors(fs []Floor) ([]byte, error) {
	if fs == nil {
		fs = []Floor{}
	}
	return json.MarshalIndent(floorsFile{Version: FloorsVersion, Floors: fs}, "", "  ")
}

// ParseFloors reads MarshalFloors's form. Any error wraps ErrBadFloors.
func ParseFloors(b []byte) ([]Floor, error) {
	var f floorsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFloors, err)
	}
	if f.Version != FloorsVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadFloors, f.Version, FloorsVersion)
	}
	for i, fl := range f.Floors {
		if _, ok := dns.IsDomainName(fl.Zone); !ok || !strings.HasSuffix(fl.Zone, ".") {
			return nil, fmt.Errorf("%w: floor %d: zone %q is not a fully qualified name", ErrBadFloors, i, fl.Zone)
		}
		if fl.Key == "" {
			return nil, fmt.Errorf("%w: floor %d (%s): no key", ErrBadFloors, i, fl.Zone)
		}
		f.Floors[i].Zone = zone.CanonicalName(fl.Zone)
	}
	return f.Floors, nil
}

// Floors returns every floor the Verifier holds, sorted by zone and key.
// Any goroutine may call it.
func (v *Verifier) Floors() []Floor {
	v.mu.Lock()
	out := make([]Floor, 0, len(v.highest))
	for k, s := range v.highest {
		out = append(out, Floor{Zone: k.zone, Key: k.key, Serial: s})
	}
	v.mu.Unlock()
	slices.SortFunc(out, func(a, b Floor) int {
		if c := strings.Compare(a.Zone, b.Zone); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// RestoreFloors raises the Verifier's floors to fs (a floor is never
// lowered), without calling the hook. Call it before verifying.
func (v *Verifier) RestoreFloors(fs []Floor) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range fs {
		k := floorKey{zone.CanonicalName(f.Zone), f.Key}
		if hi, ok := v.highest[k]; !ok || zone.SerialAbove(f.Serial, hi) {
			v.highest[k] = f.Serial
		}
	}
}

// OnFloorRaised sets fn, called after each raise of a floor (a zone
// verified at a serial above its floor, or for the first time under a
// key), with the new floor. fn runs on the verifying goroutine, outside
// the Verifier's locks, possibly from several goroutines at once; it must
// not block for long (a node writes a small file). Set it before
// verifying; nil clears it.
func (v *Verifier) OnFloorRaised(fn func(Floor)) {
	v.mu.Lock()
	v.onRaise = fn
	v.mu.Unlock()
}

// keyID is how a floor names an owner key.
func keyID(k *zone.Key) string { return k.DNSKEY.PublicKey }

// checkFloor returns ErrStaleSerial (wrapped) when serial is below
// origin's floor under k.
func (v *Verifier) checkFloor(origin string, k *zone.Key, serial uint32) error {
	v.mu.Lock()
	hi, ok := v.highest[floorKey{origin, keyID(k)}]
	v.mu.Unlock()
	if ok && zone.SerialAbove(hi, serial) {
		return fmt.Errorf("%w: %d < %d", ErrStaleSerial, serial, hi)
	}
	return nil
}

// raise checks serial against origin's floor under k once more (another
// goroutine may have raised it since checkFloor) and raises the floor,
// calling the hook when it rose.
func (v *Verifier) raise(origin string, k *zone.Key, serial uint32) error {
	fk := floorKey{origin, keyID(k)}
	v.mu.Lock()
	hi, ok := v.highest[fk]
	if ok && zone.SerialAbove(hi, serial) {
		v.mu.Unlock()
		return fmt.Errorf("%w: %d < %d", ErrStaleSerial, serial, hi)
	}
	rose := !ok || hi != serial
	v.highest[fk] = serial
	fn := v.onRaise
	v.mu.Unlock()
	if rose && fn != nil {
		fn(Floor{Zone: origin, Key: fk.key, Serial: serial})
	}
	return nil
}
