package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// Backoff of the background membership loop (join, announce).
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// membership joins the group when configured to and not yet a member,
// then announces this node's addresses, retrying each with backoff until
// it succeeds or ctx ends. It runs on its own goroutine, owned by Start
// and stopped by Close.
func (n *Node) membership(ctx context.Context) {
	delay := retryMin
	joined := len(n.cfg.Group.Join) == 0
	for {
		var err error
		if !joined {
			err = n.join(ctx)
			joined = err == nil
		}
		if joined {
			if err = n.announce(ctx); err == nil {
				return
			}
		}
		n.log.Debug("membership: will retry", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, retryMax)
	}
}

// join asks the configured members in turn to add this node, unless the
// Raft configuration already holds it.
func (n *Node) join(ctx context.Context) error {
	members, err := n.group.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.ID == n.cfg.Group.ID {
			return nil
		}
	}
	req := admin.JoinRequest{ID: n.cfg.Group.ID, RaftAddr: n.group.Addr(), NonVoter: n.cfg.Group.NonVoter}
	var errs []error
	for _, addr := range n.cfg.Group.Join {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.Admin.ForwardTimeout)
		err := n.client.Join(cctx, addr, req)
		cancel()
		if err == nil {
			n.log.Info("joined group", "via", addr, "non_voter", req.NonVoter)
			return nil
		}
		errs = append(errs, fmt.Errorf("join via %s: %w", addr, err))
	}
	return errors.Join(errs...)
}

// announce records this node's admin and DNS addresses in the group's
// state, through the leader, unless they are there already.
func (n *Node) announce(ctx context.Context) error {
	req := admin.AnnounceRequest{ID: n.cfg.Group.ID, Admin: n.AdminAddr(), DNS: n.Addr().String()}
	if m, ok := n.lookupMember(req.ID); ok && m.Admin == req.Admin && m.DNS == req.DNS {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.Group.ApplyTimeout)
	defer cancel()
	err := adminNode{n}.Announce(cctx, req)
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) {
		body, merr := json.Marshal(req)
		if merr != nil {
			return merr
		}
		err = n.writes.Forwarder().To(cctx, nl, func(ctx context.Context, addr string) error {
			return n.client.ForwardJSON(ctx, addr, "/v1/group/announce", body)
		})
	}
	if err != nil {
		return fmt.Errorf("announce addresses: %w", err)
	}
	n.log.Info("addresses announced to the group", "admin", req.Admin, "dns", req.DNS)
	return nil
}

// Publish replaces the group's copy of z's zone with z, a zone signed by
// its owner: a CreateZone command when the group holds none, else a
// PublishChange with the signed difference from the local replica. It
// returns after commit; a z equal to the stored zone is a no-op. The
// state machine refuses a serial not above the stored one.
func (n *Node) Publish(z *zone.Zone) error {
	stored, err := n.Stored(z.Origin)
	switch {
	case errors.Is(err, raftfsm.ErrNoZone):
		stored = nil
	case err != nil:
		return err
	}
	cmd, err := publishCommand(stored, z)
	if err != nil {
		return fmt.Errorf("publish %s serial %d: %w", z.Origin, z.Serial(), err)
	}
	if cmd == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Group.ApplyTimeout+n.cfg.Admin.ForwardTimeout)
	defer cancel()
	if _, err := n.Submit(ctx, z.Origin, cmd); err != nil {
		return fmt.Errorf("publish %s serial %d: %w", z.Origin, z.Serial(), err)
	}
	n.log.Info("zone published", "zone", z.Origin, "serial", z.Serial())
	return nil
}

// publishCommand returns the command that turns the group's copy stored
// (nil when none) into z, or nil when z is what is stored. A new zone is
// bound to its only apex DNSKEY; a zone with several keys must be
// created with raftfsm.ChangeCommand and Submit, naming the owner key.
func publishCommand(stored, z *zone.Zone) ([]byte, error) {
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
		for _, rr := range s.RRs {
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
