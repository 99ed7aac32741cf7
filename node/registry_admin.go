package node

// registry_admin.go: the registry routes of the admin endpoint (mutual
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
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// registryDeps is what the registry admin routes need from the node.
type registryDeps struct {
	// propose is Node.ProposeRegistry (api.ErrNotRegistry off the
	// registry group).
	propose func(ctx context.Context, cmd []byte) error
	now     func() time.Time
	// claim claims a zone an operator creates through this endpoint
	// for its owner key on this node's group (Node.claimForOperator);
	// made says whether it made a claim the caller must release when
	// the create fails. release releases the claim of a zone an operator
	// deleted (Node.releaseForOperator). Both nil in tests that build
	// an admin endpoint without a node.
	claim   func(ctx context.Context, origin string, owner *dns.DNSKEY) (made bool, err error)
	release func(ctx context.Context, origin string) error
	// rotate moves the claim of a zone an operator rotates through this
	// endpoint to the new key before the RotateKey is sent
	// (Node.rotateClaimFirst, rotation.go); nil like claim.
	rotate func(ctx context.Context, origin string, rot *raftfsm.RotateKey, cmd []byte) error
}

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
func (a *admin) registryRoutes(bounded func(pattern string, h http.HandlerFunc)) {
	bounded("POST /v1/registry/propose", a.handlePropose)
	bounded("POST /v1/registry/heartbeat", a.handleHeartbeat)
	bounded("POST /v1/registry/keys", a.handleIssueKey)
}

// handlePropose applies a registry command a member forwarded: only
// the leader applies; a forwarded request is never forwarded again.
func (a *admin) handlePropose(w http.ResponseWriter, r *http.Request) {
	if a.reg.propose == nil {
		a.fail(w, r, fmt.Errorf("%w: %w", errBadRequest, api.ErrNotRegistry))
		return
	}
	cmd, err := readBody(r, MaxCommandSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	idx, err := a.proposeRegistry(r.Context(), cmd, r.Header.Get(headerForwarded) == "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ProposeResponse{Index: idx})
}

// handleHeartbeat records a node of another group in the directory.
// Seen is this member's clock, not the sender's.
func (a *admin) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var rec raftfsm.NodeRecord
	if _, err := decodeJSON(r, &rec); err != nil {
		a.fail(w, r, err)
		return
	}
	if !validID(rec.ID) || !validID(rec.Group) {
		a.fail(w, r, fmt.Errorf("%w: heartbeat needs a valid ID and Group", errBadRequest))
		return
	}
	rec.Seen = a.reg.now()
	cmd, err := raftfsm.EncodeCommand(&raftfsm.NodeHeartbeat{Node: rec})
	if err == nil {
		err = a.reg.propose(r.Context(), cmd)
	}
	if err != nil {
		a.fail(w, r, registryErr(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleIssueKey issues an API key for the operator (actor "operator").
func (a *admin) handleIssueKey(w http.ResponseWriter, r *http.Request) {
	var req IssueKeyRequest
	if _, err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	key, res, err := newIssueKey(req, a.reg.now())
	if err == nil {
		var cmd []byte
		if cmd, err = raftfsm.EncodeCommand(&raftfsm.IssueKey{Key: key, Actor: raftfsm.OperatorActor}); err == nil {
			err = a.reg.propose(r.Context(), cmd)
		}
	}
	if err != nil {
		a.fail(w, r, registryErr(err))
		return
	}
	a.log.Info("API key issued by the operator", "key_id", key.ID, "name", key.Name, "actions", key.Scope.Actions, "suffixes", key.Scope.Suffixes)
	writeJSON(w, http.StatusOK, res)
}

// registryErr maps api.ErrNotRegistry to a bad request: this node is not
// in the registry group.
func registryErr(err error) error {
	if err != nil && errors.Is(err, api.ErrNotRegistry) {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return err
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
			return raftfsm.APIKey{}, IssueKeyResponse{}, fmt.Errorf("%w: action %q, want one of %v", errBadRequest, act, raftfsm.KeyActions)
		}
	}
	for i, s := range sc.Suffixes {
		sc.Suffixes[i] = zone.CanonicalName(s)
	}
	if !req.Expires.IsZero() && !req.Expires.After(now) {
		return raftfsm.APIKey{}, IssueKeyResponse{}, fmt.Errorf("%w: expires %v is not in the future", errBadRequest, req.Expires)
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

// proposeRegistry forwards an encoded registry command to the leader's
// admin endpoint at addr and returns its Raft index.
func (c *AdminClient) proposeRegistry(ctx context.Context, addr string, cmd []byte) (uint64, error) {
	return c.proposeRegistryAt(ctx, addr, cmd, forwardedHeader())
}

// proposeRegistryAt posts an encoded registry command to the registry
// member at addr; without the forwarded header (hdr nil) the member
// forwards it once to its leader.
func (c *AdminClient) proposeRegistryAt(ctx context.Context, addr string, cmd []byte, hdr http.Header) (uint64, error) {
	var res ProposeResponse
	if err := c.do(ctx, http.MethodPost, addr, "/v1/registry/propose", bytes.NewReader(cmd), hdr, &res); err != nil {
		return 0, err
	}
	return res.Index, nil
}

// operatorSubmit is the admin endpoint's write of an operator (a request
// not forwarded by another member): a CreateZone first claims the name
// in the registry for the zone's owner key on this node's group, and the
// claim is released again when the group refuses the create; a
// DeleteZone that the group applied releases the name; a RotateKey
// moves the claim to the new key first (rotation.go). Other commands,
// and every command on a node without [registry], are submitAnywhere.
func (a *admin) operatorSubmit(ctx context.Context, origin string, cmd []byte) (*ChangeResult, error) {
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil || a.reg.claim == nil {
		return a.submitAnywhere(ctx, origin, cmd, true)
	}
	var createOwner *dns.DNSKEY
	switch c := c.(type) {
	case *raftfsm.CreateZone:
		createOwner = c.Owner
	case *raftfsm.StageBegin:
		// An upload of a zone the group does not hold creates it.
		if _, err := a.stored(origin); errors.Is(err, raftfsm.ErrNoZone) {
			createOwner = c.Owner
		}
	}
	switch c := c.(type) {
	case *raftfsm.CreateZone, *raftfsm.StageBegin:
		if createOwner == nil {
			break
		}
		if err := checkCommand(origin, cmd); err != nil {
			a.countRejected(err)
			return nil, err
		}
		made, err := a.reg.claim(ctx, origin, createOwner)
		if err != nil {
			return nil, err
		}
		res, err := a.submitAnywhere(ctx, origin, cmd, true)
		if err != nil && made {
			// Under a fresh deadline: the request's may be what failed.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.RequestTimeout)
			defer cancel()
			if rerr := a.reg.release(uctx, origin); rerr != nil {
				a.log.Error("zone create failed and its claim could not be released", "zone", origin, "err", err, "release_err", rerr)
			}
		}
		return res, err
	case *raftfsm.DeleteZone:
		res, err := a.submitAnywhere(ctx, origin, cmd, true)
		if err != nil {
			return nil, err
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.RequestTimeout)
		defer cancel()
		if rerr := a.reg.release(uctx, origin); rerr != nil {
			// The zone is gone; the name stays claimed until released
			// again (a create with the same key reuses the claim).
			a.log.Warn("zone deleted but its claim could not be released", "zone", origin, "err", rerr)
		}
		return res, nil
	case *raftfsm.RotateKey:
		if a.reg.rotate != nil {
			if err := checkCommand(origin, cmd); err != nil {
				a.countRejected(err)
				return nil, err
			}
			if err := a.reg.rotate(ctx, origin, c, cmd); err != nil {
				return nil, err
			}
		}
	}
	return a.submitAnywhere(ctx, origin, cmd, true)
}

// IssueKey asks the registry member at addr to issue an API key; the
// key string in the answer is shown once.
func (c *AdminClient) IssueKey(ctx context.Context, addr string, req IssueKeyRequest) (*IssueKeyResponse, error) {
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
