package writes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Ephemeral zones (issue 12 item 5). Every registry member runs RunLeases;
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

// DefaultLeaseCheck is how often RunLeases looks for due leases when
// given no interval ([registry] lease_check's default).
const DefaultLeaseCheck = 30 * time.Second

// leaseState is the drops the registry's leader still owes.
type leaseState struct {
	mu      sync.Mutex
	pending map[string]raftfsm.Claim // zone -> the released claim
}

// RunLeases releases due leases and drops their zones every interval
// (DefaultLeaseCheck when not positive) until ctx ends; it acts only while
// this node leads the registry group. Run it on a registry member.
func (w *Path) RunLeases(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultLeaseCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.expireDue(ctx)
		}
	}
}

// expireDue is one round of RunLeases.
func (w *Path) expireDue(ctx context.Context) {
	fsm, grp, err := w.running()
	if err != nil || !grp.IsLeader() {
		return
	}
	now := w.now()
	for _, c := range fsm.Registry().Claims() {
		if !c.Lease.Due(now) {
			continue
		}
		cmd, err := raftfsm.EncodeCommand(&raftfsm.ExpireZone{Zone: c.Zone, Time: now})
		if err == nil {
			err = w.ProposeRegistry(ctx, cmd)
		}
		if err != nil {
			w.log.Warn("ephemeral zone not released", "zone", c.Zone, "deadline", c.Lease.Deadline(), "err", err)
			continue
		}
		w.log.Info("ephemeral zone released: its lease ran out", "zone", c.Zone, "group", c.Group, "deadline", c.Lease.Deadline())
		w.drops.mu.Lock()
		if w.drops.pending == nil {
			w.drops.pending = map[string]raftfsm.Claim{}
		}
		w.drops.pending[c.Zone] = c
		w.drops.mu.Unlock()
	}
	w.drops.mu.Lock()
	pending := make([]raftfsm.Claim, 0, len(w.drops.pending))
	for _, c := range w.drops.pending {
		pending = append(pending, c)
	}
	w.drops.mu.Unlock()
	for _, c := range pending {
		err := w.dropZone(ctx, c)
		if err != nil {
			w.log.Warn("released ephemeral zone not dropped by its group yet", "zone", c.Zone, "group", c.Group, "err", err)
			continue
		}
		w.drops.mu.Lock()
		delete(w.drops.pending, c.Zone)
		w.drops.mu.Unlock()
	}
}

// dropZone has c's group drop the zone of the released claim c; nil
// when it did or holds no such zone.
func (w *Path) dropZone(ctx context.Context, c raftfsm.Claim) error {
	cmd, err := raftfsm.EncodeCommand(&raftfsm.DropZone{Zone: c.Zone, Owner: c.Owner, Reason: "lease ran out"})
	if err != nil {
		return err
	}
	gone := func(err error) bool {
		var rej *raftfsm.RejectedError
		return err == nil || errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNoZone
	}
	if c.Group == w.o.Group {
		_, err := w.Submit(ctx, c.Zone, cmd)
		if gone(err) {
			return nil
		}
		return err
	}
	fsm, _, err := w.running()
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range fsm.Registry().Nodes() {
		if rec.Group != c.Group || rec.Admin == "" {
			continue
		}
		_, err := w.r.Client().SubmitChange(ctx, rec.Admin, c.Zone, cmd)
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
