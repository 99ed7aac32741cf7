package raftfsm

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// testNodeRequest is a submission of community node nodeID's request
// (CSR bytes csr; a real one is not needed here: the API parses it).
func testNodeRequest(id, nodeID, csr string) *NodeRequest {
	sum := sha256.Sum256([]byte(csr))
	return &NodeRequest{Op: NodeRequestSubmit, ID: id, NodeID: nodeID, Group: "cg", Scope: "community:cg",
		AgreementVersion: "2026-1", AgreementSHA256: strings.Repeat("ab", 32), Uptime: "99.5", BandwidthMbps: 100,
		RequestSHA256: hex.EncodeToString(sum[:]), TokenSHA256: strings.Repeat("cd", 32), CSR: []byte(csr), MaxOpen: 2,
		Actor: "node", Time: time.Unix(1_800_000_000, 0).UTC()}
}

func nodeStep(op, id string) *NodeRequest {
	c := &NodeRequest{Op: op, ID: id, Actor: "00112233aabbccdd", Time: time.Unix(1_800_000_100, 0).UTC()}
	switch op {
	case NodeRequestApprove:
		c.Serial, c.Cert = "5f3a9c01d2", []byte("certificate DER")
	case NodeRequestReject:
		c.Message = "no uptime record"
	}
	return c
}

// TestNodeRequestApply: the steps of a community node's request, each
// checked against the registry's state, which is rebuilt from the log on
// load (registryCase compares memory and disk); and the command's
// encoding round trip.
func TestNodeRequestApply(t *testing.T) {
	const a, b2, c3 = "00000000000000a1", "00000000000000b2", "00000000000000c3"
	sub := testNodeRequest(a, "cg-1", "request one")
	enc := encode(t, sub)
	if CommandType(enc[0]) != TypeNodeRequest || TypeNodeRequest.String() != "node-request" {
		t.Fatalf("header %x (%s), want type 31 node-request", enc[:2], TypeNodeRequest)
	}
	if d, err := DecodeCommand(enc); err != nil || string(encode(t, d)) != string(enc) {
		t.Fatalf("DecodeCommand round trip: %v", err)
	}
	member := testNodeRequest(b2, "cg-2", "request two")
	member.Scope, member.Group = "member:reg", "reg"
	badHash := testNodeRequest(b2, "cg-2", "request two")
	badHash.CSR = []byte("another")
	replay := testNodeRequest(b2, "cg-9", "request one")
	sameNode := testNodeRequest(b2, "cg-1", "request two")
	third := testNodeRequest(c3, "cg-3", "request three")
	for _, tt := range []struct {
		name  string
		setup []Command
		cmd   Command
		want  Reason
		check func(*testing.T, *RegistryState)
	}{
		{"submitted", nil, sub, "", func(t *testing.T, r *RegistryState) {
			if q, ok := r.NodeRequest(a); !ok || q.Status != NodeRequestPending || q.NodeID != "cg-1" || r.OpenNodeRequests() != 1 {
				t.Errorf("NodeRequest(a) = %+v, %v", q, ok)
			}
		}},
		{"approved", []Command{sub}, nodeStep(NodeRequestApprove, a), "", func(t *testing.T, r *RegistryState) {
			if q, _ := r.NodeRequest(a); q.Status != NodeRequestApproved || q.Serial != "5f3a9c01d2" || string(q.Cert) != "certificate DER" || q.Reviewer != "00112233aabbccdd" {
				t.Errorf("after approval %+v", q)
			}
		}},
		{"collected", []Command{sub, nodeStep(NodeRequestApprove, a)}, nodeStep(NodeRequestCollect, a), "", func(t *testing.T, r *RegistryState) {
			if q, _ := r.NodeRequest(a); q.Status != NodeRequestCollected || q.Collected.IsZero() {
				t.Errorf("after collection %+v", q)
			}
		}},
		{"rejected, then another request for the node", []Command{sub, nodeStep(NodeRequestReject, a)}, sameNode, "", nil},
		{"a member scope", nil, member, ReasonMalformed, nil},
		{"a request hash that is not the request's", nil, badHash, ReasonMalformed, nil},
		{"a replay of a submitted request", []Command{sub}, replay, ReasonNodeRequestReplay, nil},
		{"a replay of an approved request", []Command{sub, nodeStep(NodeRequestApprove, a)}, replay, ReasonNodeRequestReplay, nil},
		{"a node id with an open request", []Command{sub}, sameNode, ReasonNodeIDInUse, nil},
		{"a second id of an existing request", []Command{sub}, testNodeRequest(a, "cg-5", "request five"), ReasonDuplicateID, nil},
		{"past the open cap", []Command{sub, testNodeRequest(b2, "cg-2", "request two")}, third, ReasonNodeRequestsFull, nil},
		{"collected before approval", []Command{sub}, nodeStep(NodeRequestCollect, a), ReasonNodeRequestClosed, nil},
		{"collected twice", []Command{sub, nodeStep(NodeRequestApprove, a), nodeStep(NodeRequestCollect, a)}, nodeStep(NodeRequestCollect, a), ReasonCertCollected, nil},
		{"approved after a rejection", []Command{sub, nodeStep(NodeRequestReject, a)}, nodeStep(NodeRequestApprove, a), ReasonNodeRequestClosed, nil},
		{"a rejection without a message", []Command{sub}, &NodeRequest{Op: NodeRequestReject, ID: a, Time: time.Unix(1_800_000_100, 0)}, ReasonMalformed, nil},
		{"an unknown request", nil, nodeStep(NodeRequestApprove, a), ReasonUnknownNodeRequest, nil},
		{"an unknown step", []Command{sub}, &NodeRequest{Op: "grant", ID: a, Time: time.Unix(1_800_000_100, 0)}, ReasonMalformed, nil},
	} {
		t.Run(tt.name, func(t *testing.T) { registryCase(t, tt.setup, tt.cmd, tt.want, tt.check) })
	}
}
