package admin

// removed.go: a member removed from the group is told (issue 17 item 6,
// standing/removed.go). Raft never sends the removed member the entry
// that removes it, so the leader that committed the removal tells it
// over its admin endpoint and waits (bounded) for its answer; the removed
// member does not take the notice's word for it but asks the leader's
// configuration (Options.CheckRemoved) and answers with what it found.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// RemovedNotice tells a member that the leader removed it from the
// group's configuration (POST /v1/group/removed). It is a prompt only:
// the receiver asks the leader's configuration itself.
type RemovedNotice struct {
	ID string `json:"id"`
}

// RemovedAnswer is a member's answer to a RemovedNotice: whether it found
// itself removed (and so stopped answering for the group's zones as a
// member), or why it could not tell.
type RemovedAnswer struct {
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// TellRemoved sends a RemovedNotice for id to the member at addr and
// returns its answer.
func (c *Client) TellRemoved(ctx context.Context, addr, id string) (*RemovedAnswer, error) {
	b, err := json.Marshal(RemovedNotice{ID: id})
	if err != nil {
		return nil, err
	}
	var res RemovedAnswer
	if err := c.do(ctx, http.MethodPost, addr, "/v1/group/removed", bytes.NewReader(b), nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// handleRemoved answers a RemovedNotice: the node checks its standing
// with the leader (Options.CheckRemoved) and says what it found.
func (a *Server) handleRemoved(w http.ResponseWriter, r *http.Request) {
	var req RemovedNotice
	_, err := decodeJSON(r, &req)
	switch {
	case err != nil:
	case req.ID != a.Node.Status().ID:
		err = fmt.Errorf("%w: notice for %q sent to %q", ErrBadRequest, req.ID, a.Node.Status().ID)
	case a.CheckRemoved == nil:
		err = fmt.Errorf("%w: this node does not check its membership", ErrBadRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	removed, cerr := a.CheckRemoved(r.Context())
	ans := RemovedAnswer{Removed: removed}
	if cerr != nil {
		ans.Error = cerr.Error()
	}
	writeJSON(w, http.StatusOK, ans)
}

// tellRemoved tells member id, whose admin address was addr before the
// leader removed it, and logs what it answered. It never fails the
// removal: a member that cannot be told finds out on its own once it
// has heard from no leader for its [group] removed_check.
func (a *Server) tellRemoved(ctx context.Context, id, addr string) {
	if addr == "" {
		a.Log.Warn("removed member could not be told: its admin address is not known; it finds out once it hears from no leader for its group.removed_check", "id", id)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, a.ForwardTimeout)
	defer cancel()
	ans, err := a.Client.TellRemoved(ctx, addr, id)
	switch {
	case err != nil:
		a.Log.Warn("removed member could not be told; it finds out once it hears from no leader for its group.removed_check", "id", id, "admin", addr, "err", err)
	case !ans.Removed:
		a.Log.Warn("removed member told, but it does not find itself removed yet", "id", id, "admin", addr, "err", ans.Error)
	default:
		a.Log.Info("removed member told: it no longer answers for the group's zones as a member", "id", id, "admin", addr)
	}
}
