package writes

import (
	"context"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// SubmitUpload sends one command of a staged upload (StageBegin,
// StageChunk, StageCommit) through the REST API (api.Uploader), routed as
// SubmitZone routes a change (this group's leader, the group holding
// origin, or group by name over DDNRS-RPC). The answer carries the
// upload's progress (how many chunks the group holds) when this node's
// group holds the upload; DDNRS-RPC does not carry it, so for another
// group StagedKnown is false and the owner sends every chunk (the group
// answers the ones it holds as repeats).
func (w *Path) SubmitUpload(ctx context.Context, group, origin string, cmd raftfsm.Encoded) (api.UploadResult, error) {
	fsm, _, err := w.running()
	if err != nil {
		return api.UploadResult{}, err
	}
	origin = zone.CanonicalName(origin)
	_, held := fsm.Zone(origin)
	local := group == w.o.Group || (group == "" && held)
	var res *admin.ChangeResult
	switch {
	case local:
		res, err = w.toLeader(ctx, origin, cmd, true)
	case group == "":
		res, err = w.toHolder(ctx, origin, cmd, true)
	default:
		if err := checkCommand(origin, cmd); err != nil {
			return api.UploadResult{}, backendErr(err)
		}
		res, err = w.toGroup(ctx, group, origin, cmd)
	}
	if err != nil {
		return api.UploadResult{}, backendErr(err)
	}
	return api.UploadResult{Serial: res.Serial, Staged: res.Staged, StagedKnown: local, Repeat: res.Repeat}, nil
}

// uploadOpen reports whether this replica holds an open staged upload of
// origin: a group takes the chunks and commit of a staged create from
// another group's node (DDNRS-RPC) while it does not serve the zone yet.
func (w *Path) uploadOpen(origin string) bool {
	fsm, _, err := w.running()
	if err != nil {
		return false
	}
	_, ok := fsm.Staging(origin)
	return ok
}
