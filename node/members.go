package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
// its owner (writes.Path.Publish), bounded by the apply and forward
// timeouts.
func (n *Node) Publish(z *zone.Zone) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Group.ApplyTimeout+n.cfg.Admin.ForwardTimeout)
	defer cancel()
	return n.writes.Publish(ctx, z)
}
