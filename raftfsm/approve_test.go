package raftfsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
)

func testApproval() *ApproveNode {
	return &ApproveNode{NodeID: "eu-4", Group: "eu", Scope: "member:eu", Serial: "5f3a9c01d2",
		AgreementVersion: "2026-1", AgreementSHA256: strings.Repeat("ab", 32), Uptime: "99.5", BandwidthMbps: 100,
		RequestSHA256: strings.Repeat("0c", 32), Actor: OperatorActor, Time: regAt(14)}
}

// TestApproveNode: an approval is pinned by a golden encoding (type 30,
// body version 1), decodes to itself, and appends a node-approval entry
// carrying the agreement, uptime and bandwidth; a malformed approval is
// rejected and logs nothing.
func TestApproveNode(t *testing.T) {
	b := encode(t, testApproval())
	checkGolden(t, "cmd_approve_node.hex", b)
	if CommandType(b[0]) != TypeApproveNode || b[1] != commandVersion1 || TypeApproveNode.String() != "approve-node" {
		t.Fatalf("header %x (%s), want type 30 version 1 approve-node", b[:2], TypeApproveNode)
	}
	c, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if again := encode(t, c); !bytes.Equal(again, b) {
		t.Fatalf("EncodeCommand(DecodeCommand(b)) differs from b")
	}
	f := newTestFSM(t)
	idx := uint64(1)
	apply := func(c Command) any {
		t.Helper()
		r := f.apply(idx, encode(t, c))
		idx++
		return r
	}
	if r, ok := apply(testApproval()).(*ApplyResult); !ok {
		t.Fatalf("Apply(ApproveNode) = %v, want accepted", r)
	}
	if f.Registry().LogSize() != 1 {
		t.Fatalf("log size %d, want 1", f.Registry().LogSize())
	}
	lb, err := f.Registry().LogEntry(0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := translog.ParseEntry(lb)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"scope=member:eu", "serial=5f3a9c01d2", "agreement=2026-1", "agreement-sha256=" + strings.Repeat("ab", 32),
		"uptime=99.5", "bandwidth-mbps=100", "request-sha256=" + strings.Repeat("0c", 32)}
	if e.Kind != translog.KindNodeApproval || e.NodeID != "eu-4" || e.Group != "eu" || strings.Join(e.NodeAddrs, " ") != strings.Join(want, " ") {
		t.Errorf("logged %+v, want the node-approval of eu-4 with %v", e, want)
	}
	bad := []struct {
		desc string
		mod  func(*ApproveNode)
	}{
		{"no node", func(a *ApproveNode) { a.NodeID = "" }},
		{"scope of another group", func(a *ApproveNode) { a.Scope = "member:us" }},
		{"operator scope", func(a *ApproveNode) { a.Scope = "operator:eu" }},
		{"scope without role", func(a *ApproveNode) { a.Scope = "eu" }},
		{"serial with leading zero", func(a *ApproveNode) { a.Serial = "05f" }},
		{"no agreement version", func(a *ApproveNode) { a.AgreementVersion = "" }},
		{"agreement hash short", func(a *ApproveNode) { a.AgreementSHA256 = "abcd" }},
		{"agreement hash upper case", func(a *ApproveNode) { a.AgreementSHA256 = strings.Repeat("AB", 32) }},
		{"no request hash", func(a *ApproveNode) { a.RequestSHA256 = "" }},
		{"uptime 0", func(a *ApproveNode) { a.Uptime = "0" }},
		{"uptime text", func(a *ApproveNode) { a.Uptime = "always" }},
		{"no bandwidth", func(a *ApproveNode) { a.BandwidthMbps = 0 }},
	}
	for _, tt := range bad {
		a := testApproval()
		tt.mod(a)
		r := apply(a)
		var rej *RejectedError
		if err, ok := r.(error); !ok || !errors.As(err, &rej) || rej.Reason != ReasonMalformed {
			t.Errorf("Apply(ApproveNode %s) = %v, want rejected as malformed", tt.desc, r)
		}
	}
	if n := f.Registry().LogSize(); n != 1 {
		t.Errorf("log size %d after refused approvals, want 1", n)
	}
}
