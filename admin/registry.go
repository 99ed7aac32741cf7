package admin

// registry.go: the registry routes of the admin endpoint (mutual
// TLS with the cluster CA, so only nodes and operators holding a
// certificate of the cluster reach them):
//
//	POST /v1/registry/propose    an encoded registry command, forwarded by a member to the leader -> {"index"}
//	POST /v1/registry/heartbeat  a NodeRecord of a node of another group -> proposed as NodeHeartbeat
//	POST /v1/registry/keys       IssueKeyRequest -> IssueKeyResponse (the key, shown once)

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// IssueKeyRequest asks a registry member to issue an API key
// (POST /v1/registry/keys): the operator's way to the first reviewer key.
type IssueKeyRequest struct {
	Name     string   `json:"name"`
	Actions  []string `json:"actions"`  // default ["admin"]
	Suffixes []string `json:"suffixes"` // default ["."]
	Labels   []string `json:"labels,omitempty"`
	Types    []string `json:"types,omitempty"`
	// PerMinute and Burst are the key's token bucket; 0 = the API's
	// defaults.
	PerMinute uint32 `json:"per_minute,omitempty"`
	Burst     uint32 `json:"burst,omitempty"`
	// Expires is when the key stops working; zero: never.
	Expires time.Time `json:"expires,omitzero"`
}

// IssueKeyResponse carries the key string, shown once: the registry
// keeps only its hash.
type IssueKeyResponse struct {
	Key   string `json:"key"`
	KeyID string `json:"key_id"`
}

// ProposeResponse is the answer of POST /v1/registry/propose.
type ProposeResponse struct {
	Index uint64 `json:"index"`
}

// registryRoutes registers the registry routes with bounded.
func (a *Server) registryRoutes(bounded func(pattern string, h http.HandlerFunc)) {
	bounded("POST /v1/registry/propose", a.handlePropose)
	bounded("POST /v1/registry/heartbeat", a.handleHeartbeat)
	bounded("POST /v1/registry/keys", a.handleIssueKey)
	bounded("GET /v1/registry/nodes", a.handleDirectory)
	bounded("POST /v1/zones/{zone}/adopt", a.handleAdopt)
}

// handlePropose applies a registry command a member forwarded: only
// the leader applies; a forwarded request is never forwarded again.
func (a *Server) handlePropose(w http.ResponseWriter, r *http.Request) {
	cmd, err := readBody(r, MaxCommandSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	idx, err := a.Node.ProposeRegistry(r.Context(), cmd, r.Header.Get(HeaderForwarded) != "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ProposeResponse{Index: idx})
}

// Heartbeater is an optional capability of a Node: it takes a heartbeat
// itself (the node commits only changes and lease refreshes, keeping
// liveness in memory: node/liveness.go) instead of proposing each one
// through Register. forwarded is true when another member passed the
// heartbeat on (HeaderForwarded): the receiver must not pass it on again.
type Heartbeater interface {
	Heartbeat(ctx context.Context, rec raftfsm.NodeRecord, forwarded bool) error
}

// handleHeartbeat records a node of another group in the directory.
// Seen is this member's clock, not the sender's.
func (a *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var rec raftfsm.NodeRecord
	if _, err := decodeJSON(r, &rec); err != nil {
		a.fail(w, r, err)
		return
	}
	if !ValidID(rec.ID) || !ValidID(rec.Group) {
		a.fail(w, r, fmt.Errorf("%w: heartbeat needs a valid ID and Group", ErrBadRequest))
		return
	}
	rec.Seen = a.Node.Now()
	var err error
	if h, ok := a.Node.(Heartbeater); ok {
		err = h.Heartbeat(r.Context(), rec, r.Header.Get(HeaderForwarded) != "")
	} else {
		err = a.Node.Register(r.Context(), &raftfsm.NodeHeartbeat{Node: rec})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleIssueKey issues an API key for the operator (actor "operator").
func (a *Server) handleIssueKey(w http.ResponseWriter, r *http.Request) {
	var req IssueKeyRequest
	if _, err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	key, res, err := newIssueKey(req, a.Node.Now())
	if err == nil {
		err = a.Node.Register(r.Context(), &raftfsm.IssueKey{Key: key, Actor: raftfsm.OperatorActor})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.Log.Info("API key issued by the operator", "key_id", key.ID, "name", key.Name, "actions", key.Scope.Actions, "suffixes", key.Scope.Suffixes)
	writeJSON(w, http.StatusOK, res)
}

// newIssueKey makes a fresh key for req: "ddnrs_<16 hex>_<43 base64url>",
// stored as the SHA-256 of the whole string.
func newIssueKey(req IssueKeyRequest, now time.Time) (raftfsm.APIKey, IssueKeyResponse, error) {
	sc := raftfsm.Scope{Actions: req.Actions, Suffixes: req.Suffixes, Labels: req.Labels, Types: req.Types}
	if len(sc.Actions) == 0 {
		sc.Actions = []string{"admin"}
	}
	if len(sc.Suffixes) == 0 {
		sc.Suffixes = []string{"."}
	}
	for _, act := range sc.Actions {
		if !slices.Contains(raftfsm.KeyActions, act) {
			return raftfsm.APIKey{}, IssueKeyResponse{}, fmt.Errorf("%w: action %q, want one of %v", ErrBadRequest, act, raftfsm.KeyActions)
		}
	}
	for i, s := range sc.Suffixes {
		sc.Suffixes[i] = zone.CanonicalName(s)
	}
	if !req.Expires.IsZero() && !req.Expires.After(now) {
		return raftfsm.APIKey{}, IssueKeyResponse{}, fmt.Errorf("%w: expires %v is not in the future", ErrBadRequest, req.Expires)
	}
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return raftfsm.APIKey{}, IssueKeyResponse{}, err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return raftfsm.APIKey{}, IssueKeyResponse{}, err
	}
	id := hex.EncodeToString(idb[:])
	s := "ddnrs_" + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:])
	name := req.Name
	if name == "" {
		name = "operator key"
	}
	k := raftfsm.APIKey{
		ID: id, Hash: sha256.Sum256([]byte(s)), Name: name, Scope: sc,
		Limits:  raftfsm.Limits{PerMinute: req.PerMinute, Burst: req.Burst},
		Created: now, Expires: req.Expires.UTC().Truncate(time.Second),
	}
	return k, IssueKeyResponse{Key: s, KeyID: id}, nil
}

// ProposeRegistry forwards an encoded registry command to the leader's
// admin endpoint at addr and returns its Raft index.
func (c *Client) ProposeRegistry(ctx context.Context, addr string, cmd []byte) (uint64, error) {
	return c.proposeRegistryAt(ctx, addr, cmd, forwardedHeader())
}

// ProposeRegistryAt posts an encoded registry command to the registry
// member at addr, which forwards it once to its leader.
func (c *Client) ProposeRegistryAt(ctx context.Context, addr string, cmd []byte) (uint64, error) {
	return c.proposeRegistryAt(ctx, addr, cmd, nil)
}

// proposeRegistryAt posts an encoded registry command to the registry
// member at addr; without the forwarded header (hdr nil) the member
// forwards it once to its leader.
func (c *Client) proposeRegistryAt(ctx context.Context, addr string, cmd []byte, hdr http.Header) (uint64, error) {
	var res ProposeResponse
	if err := c.do(ctx, http.MethodPost, addr, "/v1/registry/propose", bytes.NewReader(cmd), hdr, &res); err != nil {
		return 0, err
	}
	return res.Index, nil
}

// IssueKey asks the registry member at addr to issue an API key; the
// key string in the answer is shown once.
func (c *Client) IssueKey(ctx context.Context, addr string, req IssueKeyRequest) (*IssueKeyResponse, error) {
	var res IssueKeyResponse
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := c.do(ctx, http.MethodPost, addr, "/v1/registry/keys", bytes.NewReader(b), nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
