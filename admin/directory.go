package admin

// directory.go: GET /v1/registry/nodes, the registry's node directory as
// a registry member holds it, for the operator's membership commands
// (ddnrs ops node remove, group replace, zone move: they find a group's
// members there). Only this group's members and operators reach it: it
// is not one of the paths a node of another group may call.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Directory is an optional capability of a Node: the registry's node
// directory, committed (raftfsm.RegistryState.Nodes), and the claim of
// zone when zone is not "" (nil when not claimed). A node outside the
// registry group returns an error wrapping ErrBadRequest.
type Directory interface {
	Directory(zone string) ([]raftfsm.NodeRecord, *raftfsm.Claim, error)
}

// DirectoryResponse is the answer of GET /v1/registry/nodes[?zone=Z].
type DirectoryResponse struct {
	Nodes []raftfsm.NodeRecord `json:"nodes"`
	// Claim is the claim of the zone asked for; absent when it is not
	// claimed or none was asked for.
	Claim *raftfsm.Claim `json:"claim,omitempty"`
}

func (a *Server) handleDirectory(w http.ResponseWriter, r *http.Request) {
	d, ok := a.Node.(Directory)
	if !ok {
		a.fail(w, r, fmt.Errorf("%w: this node keeps no node directory", ErrBadRequest))
		return
	}
	nodes, claim, err := d.Directory(r.URL.Query().Get("zone"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DirectoryResponse{Nodes: nodes, Claim: claim})
}

// Directory asks the registry member at addr for the node directory.
func (c *Client) Directory(ctx context.Context, addr string) ([]raftfsm.NodeRecord, error) {
	res, err := c.DirectoryOf(ctx, addr, "")
	if err != nil {
		return nil, err
	}
	return res.Nodes, nil
}

// DirectoryOf asks the registry member at addr for the node directory
// and the claim of zone.
func (c *Client) DirectoryOf(ctx context.Context, addr, zone string) (*DirectoryResponse, error) {
	var res DirectoryResponse
	path := "/v1/registry/nodes"
	if zone != "" {
		path += "?zone=" + url.QueryEscape(zone)
	}
	if err := c.do(ctx, http.MethodGet, addr, path, nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Adopter is an optional capability of a Node: it applies the
// owner-signed copy of a zone another group holds (a CreateZone, or a
// staged upload's StageBegin, StageChunk and StageCommit for a zone too
// large for one entry), or a change bringing its copy up to the
// other's, when it leads its group,
// with no claim made or checked (writes.Path.Adopt; `ddnrs ops zone
// move`). A *raftfsm.NotLeaderError when it does not lead.
type Adopter interface {
	Adopt(ctx context.Context, origin string, cmd []byte) (*ChangeResult, error)
}

// handleAdopt is POST /v1/zones/{zone}/adopt.
func (a *Server) handleAdopt(w http.ResponseWriter, r *http.Request) {
	ad, ok := a.Node.(Adopter)
	if !ok {
		a.fail(w, r, fmt.Errorf("%w: this node does not adopt zones", ErrBadRequest))
		return
	}
	cmd, err := readBody(r, MaxCommandSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := ad.Adopt(r.Context(), r.PathValue("zone"), cmd)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Adopt posts an encoded CreateZone (PublishChange, or command of a
// staged upload) of zone to the
// group member at addr, which must lead its group (POST
// /v1/zones/{zone}/adopt).
func (c *Client) Adopt(ctx context.Context, addr, zone string, cmd []byte) (*ChangeResult, error) {
	var res ChangeResult
	if err := c.do(ctx, http.MethodPost, addr, "/v1/zones/"+zone+"/adopt", bytes.NewReader(cmd), nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
