package writes

// publish.go: the Go door for a whole signed zone (node.Publish): the
// command that turns the group's copy into it, sent as Submit sends one.

import (
	"context"
	"errors"
	"fmt"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Publish replaces the group's copy of z's zone with z, a zone signed by
// its owner: a CreateZone command when the group holds none, else a
// PublishChange with the signed difference from the local replica. It
// returns after commit; a z equal to the stored zone is a no-op. The
// state machine refuses a serial not above the stored one. ctx bounds it.
func (w *Path) Publish(ctx context.Context, z *zone.Zone) error {
	stored, err := w.r.Stored(z.Origin)
	switch {
	case errors.Is(err, raftfsm.ErrNoZone):
		stored = nil
	case err != nil:
		return err
	}
	cmd, err := PublishCommand(stored, z)
	if err != nil {
		return fmt.Errorf("publish %s serial %d: %w", z.Origin, z.Serial(), err)
	}
	if cmd == nil {
		return nil
	}
	if _, err := w.Submit(ctx, z.Origin, cmd); err != nil {
		return fmt.Errorf("publish %s serial %d: %w", z.Origin, z.Serial(), err)
	}
	w.log.Info("zone published", "zone", z.Origin, "serial", z.Serial())
	return nil
}

// PublishCommand returns the command that turns the group's copy stored
// (nil when none) into z, or nil when z is what is stored. A new zone is
// bound to its only apex DNSKEY; a zone with several keys must be
// created with raftfsm.ChangeCommand and Submit, naming the owner key.
func PublishCommand(stored, z *zone.Zone) ([]byte, error) {
	if z.Head == nil {
		return nil, errors.New("zone is not signed")
	}
	if stored != nil {
		cs := zone.SignedDiff(stored, z)
		if len(cs.Put) == 0 && len(cs.Delete) == 0 && stored.Serial() == z.Serial() {
			return nil, nil
		}
		return raftfsm.EncodeCommand(&raftfsm.PublishChange{Change: cs})
	}
	var keys []*dns.DNSKEY
	if s := z.Apex().RRset(dns.TypeDNSKEY); s != nil {
		for _, rr := range s.Records() {
			if k, ok := rr.(*dns.DNSKEY); ok {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("zone has %d DNSKEYs, want 1 to know its owner key; create it with raftfsm.ChangeCommand", len(keys))
	}
	return raftfsm.EncodeCommand(&raftfsm.CreateZone{Change: zone.SignedDiff(nil, z), Owner: keys[0]})
}
