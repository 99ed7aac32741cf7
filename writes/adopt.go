package writes

// adopt.go: a zone copied into this group by `ddnrs ops zone move`
// while another group still holds it (issue 14 item 4). The usual doors
// refuse a create of a zone another group holds (admin.OtherGroupError),
// so that no name is created twice by accident; a move creates the
// second copy on purpose, for the time the claim moves and the routes
// follow, and drops the first after.

import (
	"context"
	"fmt"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// Adopt applies cmd, the owner-signed copy of origin another group holds
// (a CreateZone), or a change bringing this group's copy up to the
// other's (a PublishChange), or one command of a staged upload of the
// whole zone (StageBegin, StageChunk, StageCommit: a zone too large for
// one Raft entry, docs/large-zones.md), on this group, when this node
// leads (else a *raftfsm.NotLeaderError: the caller sends it to the
// leader). No claim is made or checked, and the command is applied here
// even when the registry's claim names another group: the claim moves
// after the copy (MoveZone), and a change the move brings over after
// that names this group anyway. The state machine checks every
// signature against the owner key as for any create or upload. Called
// by the admin endpoint (POST /v1/zones/{zone}/adopt), which only the
// group's members and operators reach.
func (w *Path) Adopt(ctx context.Context, origin string, b []byte) (*admin.ChangeResult, error) {
	cmd, err := w.decode(b)
	if err != nil {
		return nil, err
	}
	origin = zone.CanonicalName(origin)
	switch cmd.Cmd.(type) {
	case *raftfsm.CreateZone, *raftfsm.PublishChange,
		*raftfsm.StageBegin, *raftfsm.StageChunk, *raftfsm.StageCommit:
		if zone.CanonicalName(cmd.Zone()) != origin {
			return nil, fmt.Errorf("%w: the %s is not of %s", admin.ErrBadRequest, cmd.Cmd.Type(), origin)
		}
	default:
		return nil, fmt.Errorf("%w: a zone is adopted by a create, a change or a staged upload, not a %s", admin.ErrBadRequest, cmd.Cmd.Type())
	}
	return w.toLeaderAs(ctx, origin, cmd, false, true)
}
