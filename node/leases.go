package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Ephemeral zones (issue 12 item 5). Every registry member runs leases;
// only the registry's leader acts. Each LeaseCheck it proposes an
// ExpireZone, with its own clock's time, for each leased claim that is
// due by that time; every member applies it alike, checking the deadline
// against the time in the entry, never against its own clock. Once the
// release is committed, the leader sends DropZone to the zone's group
// (through a member's admin endpoint, as an operator's command), and
// retries each LeaseCheck until the group answers that the zone is gone.
// The drops waiting are in the leader's memory only: a drop pending when
// the leader changes or stops is not retried (the zone then stays in its
// group, unclaimed and unserved by its registry, until an operator
// deletes it); docs/ephemeral-zones.md says so.

// defaultLeaseCheck is RegistryConfig.LeaseCheck's default.
const defaultLeaseCheck = 30 * time.Second

// leaseState is the drops the registry's leader still owes.
type leaseState struct {
	mu      sync.Mutex
	pending map[string]raftfsm.Claim // zone -> the released claim
}

func (n *Node) leases(ctx context.Context) {
	every := n.cfg.Registry.LeaseCheck
	if every <= 0 {
		every = defaultLeaseCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.expireDue(ctx)
		}
	}
}

// expireDue is one round of leases.
func (n *Node) expireDue(ctx context.Context) {
	fsm, grp, _, err := n.runningParts()
	if err != nil || !grp.IsLeader() {
		return
	}
	now := n.Now()
	for _, c := range fsm.Registry().Claims() {
		if !c.Lease.Due(now) {
			continue
		}
		cmd, err := raftfsm.EncodeCommand(&raftfsm.ExpireZone{Zone: c.Zone, Time: now})
		if err == nil {
			err = n.ProposeRegistry(ctx, cmd)
		}
		if err != nil {
			n.log.Warn("ephemeral zone not released", "zone", c.Zone, "deadline", c.Lease.Deadline(), "err", err)
			continue
		}
		n.log.Info("ephemeral zone released: its lease ran out", "zone", c.Zone, "group", c.Group, "deadline", c.Lease.Deadline())
		n.leaseDrops.mu.Lock()
		if n.leaseDrops.pending == nil {
			n.leaseDrops.pending = map[string]raftfsm.Claim{}
		}
		n.leaseDrops.pending[c.Zone] = c
		n.leaseDrops.mu.Unlock()
	}
	n.leaseDrops.mu.Lock()
	pending := make([]raftfsm.Claim, 0, len(n.leaseDrops.pending))
	for _, c := range n.leaseDrops.pending {
		pending = append(pending, c)
	}
	n.leaseDrops.mu.Unlock()
	for _, c := range pending {
		err := n.dropZone(ctx, c)
		if err != nil {
			n.log.Warn("released ephemeral zone not dropped by its group yet", "zone", c.Zone, "group", c.Group, "err", err)
			continue
		}
		n.leaseDrops.mu.Lock()
		delete(n.leaseDrops.pending, c.Zone)
		n.leaseDrops.mu.Unlock()
	}
}

// dropZone has c's group drop the zone of the released claim c; nil
// when it did or holds no such zone.
func (n *Node) dropZone(ctx context.Context, c raftfsm.Claim) error {
	cmd, err := raftfsm.EncodeCommand(&raftfsm.DropZone{Zone: c.Zone, Owner: c.Owner, Reason: "lease ran out"})
	if err != nil {
		return err
	}
	gone := func(err error) bool {
		var rej *raftfsm.RejectedError
		return err == nil || errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNoZone
	}
	if c.Group == n.cfg.Group.Name {
		_, err := n.Submit(ctx, c.Zone, cmd)
		if gone(err) {
			return nil
		}
		return err
	}
	fsm, _, _, err := n.runningParts()
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range fsm.Registry().Nodes() {
		if rec.Group != c.Group || rec.Admin == "" {
			continue
		}
		_, err := n.client.SubmitChange(ctx, rec.Admin, c.Zone, cmd)
		if gone(err) {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", rec.ID, err))
	}
	if len(errs) == 0 {
		return fmt.Errorf("no member of group %s in the node directory", c.Group)
	}
	return errors.Join(errs...)
}
