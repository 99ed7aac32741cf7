package admin

// directory.go: GET /v1/registry/nodes, the registry's node directory as
// a registry member holds it, for the operator's membership commands
// (ddnrs ops node remove, group replace, zone move: they find a group's
// members there). Only this group's members and operators reach it: it
// is not one of the paths a node of another group may call.

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Directory is an optional capability of a Node: the registry's node
// directory, committed (raftfsm.RegistryState.Nodes). A node outside the
// registry group returns an error wrapping ErrBadRequest.
type Directory interface {
	Directory() ([]raftfsm.NodeRecord, error)
}

// DirectoryResponse is the answer of GET /v1/registry/nodes.
type DirectoryResponse struct {
	Nodes []raftfsm.NodeRecord `json:"nodes"`
}

func (a *Server) handleDirectory(w http.ResponseWriter, r *http.Request) {
	d, ok := a.Node.(Directory)
	if !ok {
		a.fail(w, r, fmt.Errorf("%w: this node keeps no node directory", ErrBadRequest))
		return
	}
	nodes, err := d.Directory()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DirectoryResponse{Nodes: nodes})
}

// Directory asks the registry member at addr for the node directory.
func (c *Client) Directory(ctx context.Context, addr string) ([]raftfsm.NodeRecord, error) {
	var res DirectoryResponse
	if err := c.do(ctx, http.MethodGet, addr, "/v1/registry/nodes", nil, nil, &res); err != nil {
		return nil, err
	}
	return res.Nodes, nil
}
