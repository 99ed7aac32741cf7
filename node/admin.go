package node

// admin.go: the node as its admin endpoint (package admin) sees it. The
// endpoint's writes go through the write path (write.go); everything
// else it asks is read here.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// adminNode implements admin.Node for n.
type adminNode struct{ n *Node }

var _ admin.Node = adminNode{}

// adminOptions wires the admin endpoint to this node.
func (n *Node) adminOptions() admin.Options {
	return admin.Options{
		Log:            n.log.With("component", "admin"),
		RequestTimeout: n.cfg.Admin.RequestTimeout,
		ForwardTimeout: n.cfg.Admin.ForwardTimeout,
		Group:          n.group,
		Node:           adminNode{n},
		Client:         n.client,
		Metrics:        n.metrics.Registry(),
		Forwarded:      n.metrics.Forwarded,
		Rejected:       n.metrics.Rejected,
		Authorize:      n.trust.Authorize,      // clustertls
		CheckRemoved:   n.standing.Check,       // standing/removed.go
		CheckJoin:      n.removedIDs.CheckJoin, // standing/removed_ids.go
	}
}

// Directory implements admin.Directory: the registry's committed node
// directory and a zone's claim (issue 14 item 4's membership commands).
func (a adminNode) Directory(origin string) ([]raftfsm.NodeRecord, *raftfsm.Claim, error) {
	reg, err := a.n.Registry()
	if errors.Is(err, api.ErrNotRegistry) {
		return nil, nil, fmt.Errorf("%w: %w", admin.ErrBadRequest, err)
	}
	if err != nil {
		return nil, nil, err
	}
	if cl, ok := reg.Claim(origin); ok && origin != "" {
		return reg.Nodes(), &cl, nil
	}
	return reg.Nodes(), nil, nil
}

// Adopt implements admin.Adopter (ddnrs ops zone move).
func (a adminNode) Adopt(ctx context.Context, origin string, cmd []byte) (*admin.ChangeResult, error) {
	return a.n.writes.Adopt(ctx, origin, cmd)
}

// Announce implements admin.Node: a SetMember command for req, applied
// when this node leads.
func (a adminNode) Announce(ctx context.Context, req admin.AnnounceRequest) error {
	cmd, err := raftfsm.EncodeCommand(&raftfsm.SetMember{ID: req.ID, Admin: req.Admin, DNS: req.DNS})
	if err != nil {
		return fmt.Errorf("%w: %w", admin.ErrBadRequest, err)
	}
	_, err = a.n.writes.Apply(ctx, cmd)
	return err
}

// ZoneCopy implements admin.Node: the local replica of origin, else the
// copy of the other group that holds it, fetched over DDNRS-RPC and
// verified against the owner key (intergroup/fetch.go), bounded by the forward
// timeout. When the other group's copy cannot be had it is unavailable,
// never not_found, which a publisher takes for "create it".
func (a adminNode) ZoneCopy(ctx context.Context, origin string) (*zone.Zone, error) {
	n := a.n
	z, err := n.Stored(origin)
	if !errors.Is(err, raftfsm.ErrNoZone) {
		return z, err
	}
	members, herr := n.writes.OtherGroup(ctx, origin)
	if herr != nil {
		return nil, herr
	}
	if members == nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Admin.ForwardTimeout)
	defer cancel()
	z, err = n.fetchZone(ctx, origin)
	switch {
	case err == nil:
		return z, nil
	case errors.Is(err, ErrNotHosted):
		// Gone since the lookup: as for any zone no group holds.
		return nil, fmt.Errorf("%w: %w", raftfsm.ErrNoZone, err)
	case errors.As(err, new(*overlay.RPCError)):
		return nil, err
	}
	return nil, fmt.Errorf("%w: no verified copy of %s from its group: %w", admin.ErrUnavailable, origin, err)
}

// Member implements admin.Node.
func (a adminNode) Member(id string) (admin.MemberAddrs, bool) { return a.n.lookupMember(id) }

// Status implements admin.Node: the node-level fields of Status.
func (a adminNode) Status() admin.Status {
	n := a.n
	return admin.Status{
		ID:    n.cfg.Group.ID,
		DNS:   n.Addr().String(),
		Admin: n.AdminAddr(),
		Raft:  n.RaftAddr(),
		Zones: len(n.served.Origins()),
		Ready: n.ready() == nil,

		ProcessedIndex: n.processed(),
		Removed:        errText(n.standing.Removed()),
	}
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Ready implements admin.Node.
func (a adminNode) Ready() error { return a.n.ready() }

// Snapshot implements admin.Node.
func (a adminNode) Snapshot(ctx context.Context, w io.Writer) error { return a.n.snapshot(ctx, w) }

// Restore implements admin.Node.
func (a adminNode) Restore(ctx context.Context, r io.Reader, rollbacks [][]byte) error {
	return a.n.restore(ctx, r, rollbacks)
}

// Now implements admin.Node.
func (a adminNode) Now() time.Time { return a.n.Now() }
