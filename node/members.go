package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// Backoff of the background membership loop (join, announce).
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// adminDeps wires the admin endpoint to this node.
func (n *Node) adminDeps() adminDeps {
	return adminDeps{
		log:      n.log.With("component", "admin"),
		cfg:      n.cfg.Admin,
		group:    n.group,
		metrics:  n.metrics,
		client:   n.client,
		lookup:   n.lookupMember,
		stored:   n.Stored,
		status:   n.nodeStatus,
		ready:    n.ready,
		snapshot: n.snapshot,
		restore:  n.restore,
		// Set always; they do nothing while the overlay is off.
		holder:       n.holder,
		submitRemote: n.submitElsewhere,
		reg: registryDeps{propose: n.ProposeRegistry, now: n.Now, claim: n.claimForOperator, release: n.releaseForOperator,
			rotate: n.rotateClaimFirst},
		fetchRemote: n.FetchZone,
	}
}

// nodeStatus fills the node-level fields of Status.
func (n *Node) nodeStatus() Status {
	return Status{
		ID:    n.cfg.Group.ID,
		DNS:   n.Addr().String(),
		Admin: n.AdminAddr(),
		Raft:  n.RaftAddr(),
		Zones: len(n.served.Origins()),
		Ready: n.ready() == nil,
	}
}

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
	req := JoinRequest{ID: n.cfg.Group.ID, RaftAddr: n.group.Addr(), NonVoter: n.cfg.Group.NonVoter}
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
	req := AnnounceRequest{ID: n.cfg.Group.ID, Admin: n.AdminAddr(), DNS: n.Addr().String()}
	if m, ok := n.lookupMember(req.ID); ok && m.Admin == req.Admin && m.DNS == req.DNS {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.Group.ApplyTimeout)
	defer cancel()
	if err := n.admin.announce(cctx, req); err != nil {
		return fmt.Errorf("announce addresses: %w", err)
	}
	n.log.Info("addresses announced to the group", "admin", req.Admin, "dns", req.DNS)
	return nil
}

// running returns the admin endpoint while the node runs.
func (n *Node) runningAdmin() (*admin, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running || n.closing {
		return nil, ErrNotRunning
	}
	return n.admin, nil
}

// Submit sends an encoded raftfsm command for the zone origin to the
// group: applied here when this node leads, else forwarded once to the
// leader. It returns after the command is committed and applied on the
// leader, or a typed error (see apiError for the codes). ctx bounds it.
func (n *Node) Submit(ctx context.Context, origin string, cmd []byte) (*ChangeResult, error) {
	a, err := n.runningAdmin()
	if err != nil {
		return nil, err
	}
	return a.submit(ctx, zone.CanonicalName(origin), cmd, true)
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

// setMemberCommand encodes the SetMember command for req.
func setMemberCommand(req AnnounceRequest) ([]byte, error) {
	return raftfsm.EncodeCommand(&raftfsm.SetMember{ID: req.ID, Admin: req.Admin, DNS: req.DNS})
}
