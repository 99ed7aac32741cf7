package raftfsm

import (
	"fmt"
	"sort"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// The drops the registry owes (issue 12 item 5, durable teardown). An
// ExpireZone releases a leased claim and records, in the replicated
// registry state, that the zone's group must drop the zone (an
// OwedDrop). Whichever member leads the registry sends DropZone to that
// group (writes/leases.go) and, once the group answered that the zone
// is gone, proposes ZoneDropped, which ends the debt. A registry leader
// change between the release and the drop therefore loses nothing: the
// next leader finds the debt in its own replica and finishes it.

// TypeZoneDropped is the zone-dropped command (registry).
const TypeZoneDropped CommandType = 24

// ReasonNoDrop is the rejection of a ZoneDropped the registry owes no
// such drop for (finished already, or never owed).
const ReasonNoDrop = Reason("no-drop")

// OwedDrop is a zone whose claim ran out and which its group has not
// been seen to drop yet.
type OwedDrop struct {
	Zone     string // canonical
	Owner    string // the released claim's owner DNSKEY (presentation form)
	Group    string // the group that held the zone
	Released time.Time
}

// ZoneDropped ends the debt of the drop of Zone under Owner: the zone's
// group answered that it holds no such zone any more. Body version 1:
// zone, owner, time.
type ZoneDropped struct {
	Zone, Owner string
	Time        time.Time
}

func (*ZoneDropped) Type() CommandType { return TypeZoneDropped }

// dropKey is the map and store key of an owed drop: the zone, a zero
// byte, the owner key. Keyed by both, so a name released twice under two
// keys before either drop is done owes both.
func dropKey(origin, owner string) string { return origin + "\x00" + owner }

// OwedDrops returns the drops the registry owes, in canonical order of
// the zones (then by owner).
func (r *RegistryState) OwedDrops() []OwedDrop {
	out := make([]OwedDrop, 0, len(r.drops))
	for _, d := range r.drops {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := zone.Compare(out[i].Zone, out[j].Zone); c != 0 {
			return c < 0
		}
		return out[i].Owner < out[j].Owner
	})
	return out
}

func (r *regWork) drops() map[string]OwedDrop { return own(r, 0, &r.st.drops) }

// owedDropOf returns the drop owed for origin under owner key dk, if
// any. A claim of origin under dk is refused while one is owed (ClaimZone,
// ReasonDropPending): the group that held the released zone drops the
// zone of that name and key when it is back, which would delete the new
// zone if it were placed there. Another key's claim is not affected.
func (r *RegistryState) owedDropOf(origin string, dk *dns.DNSKEY) (OwedDrop, bool) {
	for _, d := range r.drops {
		if d.Zone == origin && OwnerKeyIs(d.Owner, dk) {
			return d, true
		}
	}
	return OwedDrop{}, false
}

// oweDrop records the drop a released claim cl owes (ExpireZone).
func (r *regWork) oweDrop(cl Claim, at time.Time) func(kvTx) error {
	d := OwedDrop{Zone: cl.Zone, Owner: cl.Owner, Group: cl.Group, Released: at}
	r.drops()[dropKey(d.Zone, d.Owner)] = d
	return func(tx kvTx) error { return putDropTx(tx, d) }
}

// applyDropped applies ZoneDropped.
func (w *work) applyDropped(c *ZoneDropped) ([]func(kvTx) error, error) {
	r := w.registry()
	origin := zone.CanonicalName(c.Zone)
	k := dropKey(origin, c.Owner)
	if _, ok := r.st.drops[k]; !ok {
		return nil, reject(ReasonNoDrop, "no drop of %s under that owner key is owed", origin)
	}
	delete(r.drops(), k)
	return []func(kvTx) error{func(tx kvTx) error { return deleteDropTx(tx, k) }}, nil
}

// regDropsBucket holds the owed drops: reg-drops/<dropKey> version 1,
// zone, owner, group, released time.
var regDropsBucket = []byte("reg-drops")

func (e *encoder) owedDrop(d OwedDrop) {
	e.str(d.Zone)
	e.str(d.Owner)
	e.str(d.Group)
	e.time(d.Released)
}

func (d *decoder) owedDrop() OwedDrop {
	return OwedDrop{Zone: d.Str16(), Owner: d.Str16(), Group: d.Str16(), Released: d.time()}
}

func putDropTx(tx kvTx, d OwedDrop) error {
	return putRegValueTx(tx, regDropsBucket, dropKey(d.Zone, d.Owner), func(e *encoder) { e.owedDrop(d) })
}

func deleteDropTx(tx kvTx, key string) error {
	b, err := fsmSub(tx, regDropsBucket)
	if err != nil {
		return err
	}
	return b.Delete([]byte(key))
}

// loadDrops reads the owed drops from the fsm bucket fb into r.
func loadDrops(fb kvBucket, r *RegistryState) error {
	b := fb.Bucket(regDropsBucket)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		d, _, err := regValue(regDropsBucket, k, v)
		if err != nil {
			return err
		}
		od := d.owedDrop()
		if err := regDone(d, regDropsBucket, k); err != nil {
			return err
		}
		if dropKey(od.Zone, od.Owner) != string(k) || zone.CanonicalName(od.Zone) != od.Zone {
			return fmt.Errorf("owed drop of %q under key %q", od.Zone, k)
		}
		r.drops[string(k)] = od
		return nil
	})
}

// writeRegistrySeals appends the section of snapshot format 5, after
// writeRegistryExtra's:
//
//	uint32  count of applications with a seal key, each: id, seal key
//	        (32 bytes), sealed key (byte string), collected time, by id
//	uint32  owed drop count, each: zone, owner, group, released time,
//	        by zone (canonical order) then owner
func writeRegistrySeals(e *encoder, r *RegistryState) {
	var sealed []Application
	for _, a := range r.apps.All() {
		if a.sealed() {
			sealed = append(sealed, a)
		}
	}
	sort.Slice(sealed, func(i, j int) bool { return sealed[i].ID < sealed[j].ID })
	e.u32(uint32(len(sealed)))
	for _, a := range sealed {
		e.str(a.ID)
		e.sealFields(a)
	}
	drops := r.OwedDrops()
	e.u32(uint32(len(drops)))
	for _, d := range drops {
		e.owedDrop(d)
	}
}

// readRegistrySeals reads what writeRegistrySeals wrote into r, whose
// applications readRegistry has read.
func readRegistrySeals(d *decoder, r *RegistryState) error {
	n := d.Count(2 + 32 + 4 + 8)
	for range n {
		id := d.Str16()
		var s Application
		d.sealFields(&s)
		if d.Err != nil {
			return d.Err
		}
		a, ok := r.apps.Get(id)
		if !ok || a.sealed() {
			return fmt.Errorf("sealed key of application %q: unknown or twice", id)
		}
		a.SealTo, a.SealedKey, a.Collected = s.SealTo, s.SealedKey, s.Collected
		r.setApp(a)
	}
	n = d.Count(2 + 2 + 2 + 8)
	for range n {
		od := d.owedDrop()
		if d.Err != nil {
			return d.Err
		}
		k := dropKey(od.Zone, od.Owner)
		if _, dup := r.drops[k]; dup || od.Zone == "" || zone.CanonicalName(od.Zone) != od.Zone {
			return fmt.Errorf("owed drop of %q: twice or not canonical", od.Zone)
		}
		r.drops[k] = od
	}
	return d.Err
}

// hasSeals reports whether r holds what only snapshot format 5 carries:
// an application with a seal key, or an owed drop.
func (r *RegistryState) hasSeals() bool {
	if len(r.drops) > 0 {
		return true
	}
	for _, a := range r.apps.All() {
		if a.sealed() {
			return true
		}
	}
	return false
}

func newOwnerCommand(t CommandType) Command {
	switch t {
	case TypeCollectKey:
		return &CollectKey{}
	case TypeZoneDropped:
		return &ZoneDropped{}
	}
	return nil
}

func encodeOwnerCommand(e *encoder, c Command) bool {
	switch c := c.(type) {
	case *CollectKey:
		e.str(c.ID)
		e.time(c.Time)
	case *ZoneDropped:
		e.str(c.Zone)
		e.str(c.Owner)
		e.time(c.Time)
	default:
		return false
	}
	return true
}

func decodeOwnerCommand(d *decoder, c Command) bool {
	switch c := c.(type) {
	case *CollectKey:
		c.ID = d.Str16()
		c.Time = d.time()
	case *ZoneDropped:
		c.Zone = d.Str16()
		c.Owner = d.Str16()
		c.Time = d.time()
	default:
		return false
	}
	return true
}
