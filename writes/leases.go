package writes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Ephemeral zones (issue 12 item 5). Every registry member runs RunLeases;
// only the registry's leader acts. Each LeaseCheck it proposes an
// ExpireZone, with its own clock's time, for each leased claim that is
// due by that time; every member applies it alike, checking the deadline
// against the time in the entry, never against its own clock. The
// release records in the registry's replicated state the drop the
// zone's group owes (raftfsm.OwedDrop). The leader sends DropZone to that
// group (through a member's admin endpoint, as an operator's command
// would be) and, once the group answers that the zone is gone, proposes
// ZoneDropped, which ends the debt; it retries each LeaseCheck until
// then. A drop pending when the leader changes or stops is thus
// finished by the next leader, which reads it from its own replica.

// DefaultLeaseCheck is how often RunLeases looks for due leases when
// given no interval ([registry] lease_check's default).
const DefaultLeaseCheck = 30 * time.Second

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

// expireDue is one round of RunLeases: release what is due, then finish
// every drop the registry owes.
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
	}
	if fsm, _, err = w.running(); err != nil {
		return
	}
	for _, d := range fsm.Registry().OwedDrops() {
		if err := w.dropZone(ctx, d); err != nil {
			w.log.Warn("released ephemeral zone not dropped by its group yet", "zone", d.Zone, "group", d.Group, "released", d.Released, "err", err)
			continue
		}
		cmd, err := raftfsm.EncodeCommand(&raftfsm.ZoneDropped{Zone: d.Zone, Owner: d.Owner, Time: w.now()})
		if err == nil {
			err = w.ProposeRegistry(ctx, cmd)
		}
		var rej *raftfsm.RejectedError
		if err != nil && !(errors.As(err, &rej) && rej.Reason == raftfsm.ReasonNoDrop) {
			w.log.Warn("ephemeral zone dropped, but the registry did not record it yet", "zone", d.Zone, "err", err)
			continue
		}
		w.log.Info("released ephemeral zone dropped by its group", "zone", d.Zone, "group", d.Group)
	}
}

// dropZone has c's group drop the zone of the released claim c; nil
// when it did, holds no such zone, or holds the name under another owner
// key (a zone created since the release).
func (w *Path) dropZone(ctx context.Context, c raftfsm.OwedDrop) error {
	cmd, err := raftfsm.EncodeCommand(&raftfsm.DropZone{Zone: c.Zone, Owner: c.Owner, Reason: "lease ran out"})
	if err != nil {
		return err
	}
	gone := func(err error) bool {
		var rej *raftfsm.RejectedError
		return err == nil || errors.As(err, &rej) && (rej.Reason == raftfsm.ReasonNoZone || rej.Reason == raftfsm.ReasonWrongKey)
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
