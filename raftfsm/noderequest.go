package raftfsm

// noderequest.go: the registry's review of community nodes' certificate
// requests (issue 14 item 2). A community node submits the request it
// made (`ddnrs node request --submit`, REST POST /v1/node-requests); the
// registry's reviewers (admin API keys, as for access applications)
// approve it with a certificate the community CA's holder issued (`ddnrs
// ops registry node-requests approve --ca-dir`), or reject it; the node
// collects the certificate once with its status token. Every step is one
// NodeRequest command (type 31) and one log entry: a node-request entry
// (kind 13) at submission, a node-request-decision entry (kind 14) at
// approval, rejection and collection. The registry's state of the
// requests is rebuilt from those entries whenever it is loaded (as the
// removed node ids are), so neither the store nor the snapshot format
// changed. docs/architecture.md, "Joining by request".

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/translog"
)

// TypeNodeRequest is a step of a community node's request (issue 14 item 2).
const TypeNodeRequest CommandType = 31

// The steps of a NodeRequest.
const (
	NodeRequestSubmit  = "submit"
	NodeRequestApprove = "approve"
	NodeRequestReject  = "reject"
	NodeRequestCollect = "collect"
)

// The statuses of a community node's request.
const (
	NodeRequestPending   = "pending"
	NodeRequestApproved  = "approved"
	NodeRequestRejected  = "rejected"
	NodeRequestCollected = "collected"
)

// The reasons of NodeRequest rejections.
const (
	ReasonUnknownNodeRequest = Reason("unknown-node-request") // a step for a request id never submitted
	ReasonNodeRequestClosed  = Reason("node-request-closed")  // a decision on a request decided before, or a collection of one not approved
	ReasonNodeRequestReplay  = Reason("node-request-replay")  // a submission of a request (same SHA-256) submitted before
	ReasonNodeIDInUse        = Reason("node-id-in-use")       // a submission for a node id in the directory or in another open or approved request
	ReasonCertCollected      = Reason("cert-collected")       // a second collection
	ReasonNodeRequestsFull   = Reason("node-requests-full")   // a submission while MaxOpen requests wait
)

// CommunityRole is the role of a community node's scope
// (community:GROUP, pki.RoleCommunity).
const CommunityRole = "community"

// NodeRequest is one step of a community node's request. Body version 1:
// op, id, node id, group, scope, agreement version, agreement sha256,
// uptime, uint32 bandwidth, request sha256, token sha256, request (DER),
// uint32 max open, serial, certificate (DER), message, actor, time.
type NodeRequest struct {
	Op string // NodeRequestSubmit, ...Approve, ...Reject, ...Collect
	ID string // the request's id (16 lower-case hex digits)

	// Submit: the request as the API checked it (pki.ParseRequest).
	NodeID, Group, Scope              string // Scope is community:Group
	AgreementVersion, AgreementSHA256 string
	Uptime                            string
	BandwidthMbps                     uint32
	RequestSHA256                     string // of CSR
	TokenSHA256                       string // of the status token, hex
	CSR                               []byte // DER
	MaxOpen                           uint32 // 0: no limit

	// Approve: the certificate the community CA issued for the request.
	Serial string
	Cert   []byte // DER
	// Reject: why (shown to the node's operator).
	Message string

	Actor string // reviewer's key id; "node" for submit and collect
	Time  time.Time
}

func (*NodeRequest) Type() CommandType { return TypeNodeRequest }

func (c *NodeRequest) encode(e *encoder) {
	for _, s := range []string{c.Op, c.ID, c.NodeID, c.Group, c.Scope, c.AgreementVersion, c.AgreementSHA256, c.Uptime} {
		e.str(s)
	}
	e.u32(c.BandwidthMbps)
	e.str(c.RequestSHA256)
	e.str(c.TokenSHA256)
	e.bytes(c.CSR)
	e.u32(c.MaxOpen)
	e.str(c.Serial)
	e.bytes(c.Cert)
	e.str(c.Message)
	e.str(c.Actor)
	e.time(c.Time)
}

func (c *NodeRequest) decode(d *decoder) {
	for _, p := range []*string{&c.Op, &c.ID, &c.NodeID, &c.Group, &c.Scope, &c.AgreementVersion, &c.AgreementSHA256, &c.Uptime} {
		*p = d.Str16()
	}
	c.BandwidthMbps = d.U32()
	c.RequestSHA256 = d.Str16()
	c.TokenSHA256 = d.Str16()
	c.CSR = d.bytes()
	c.MaxOpen = d.U32()
	c.Serial = d.Str16()
	c.Cert = d.bytes()
	c.Message = d.Str16()
	c.Actor = d.Str16()
	c.Time = d.time()
}

// CommunityRequest is a community node's request as the registry holds
// it (RegistryState.NodeRequest), rebuilt from the log.
type CommunityRequest struct {
	ID, NodeID, Group, Scope          string
	AgreementVersion, AgreementSHA256 string
	Uptime                            string
	BandwidthMbps                     uint32
	RequestSHA256, TokenSHA256        string
	CSR                               []byte // DER
	Status                            string // NodeRequestPending, ...
	Submitted, Decided, Collected     time.Time
	Reviewer, Message                 string
	Serial                            string
	Cert                              []byte // DER, once approved
}

// open reports whether the request waits for a decision.
func (r CommunityRequest) open() bool { return r.Status == NodeRequestPending }

// NodeRequest returns the community node request id.
func (r *RegistryState) NodeRequest(id string) (CommunityRequest, bool) {
	q, ok := r.nodeReqs[id]
	return q, ok
}

// NodeRequests returns the community node requests, oldest first.
func (r *RegistryState) NodeRequests() []CommunityRequest {
	out := slices.Collect(maps.Values(r.nodeReqs))
	slices.SortFunc(out, func(a, b CommunityRequest) int {
		if c := a.Submitted.Compare(b.Submitted); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// OpenNodeRequests counts the requests waiting for a decision.
func (r *RegistryState) OpenNodeRequests() int {
	n := 0
	for _, q := range r.nodeReqs {
		if q.open() {
			n++
		}
	}
	return n
}

func (r *regWork) nodeRequests() map[string]CommunityRequest { return own(r, 4, &r.st.nodeReqs) }

// check refuses a malformed step; deterministic (Apply's).
func (c *NodeRequest) check() error {
	if b, err := hex.DecodeString(c.ID); err != nil || len(b) != 8 || hex.EncodeToString(b) != c.ID {
		return reject(ReasonMalformed, "node request id %q: want 16 lower-case hex digits", c.ID)
	}
	switch c.Op {
	case NodeRequestSubmit:
		role, group, ok := cutScope(c.Scope)
		switch {
		case c.NodeID == "" || len(c.NodeID) > 64:
			return reject(ReasonMalformed, "node request %s: want a node id of 1 to 64 characters", c.ID)
		case !ok || role != CommunityRole || group != c.Group || c.Group == "":
			return reject(ReasonMalformed, "node request %s: scope %q must be community:GROUP of its group %q: the registry's review grants community scopes only", c.ID, c.Scope, c.Group)
		case c.AgreementVersion == "" || len(c.AgreementVersion) > 32 || !sha256Hex(c.AgreementSHA256):
			return reject(ReasonMalformed, "node request %s: the agreement needs a version and its SHA-256", c.ID)
		case !sha256Hex(c.RequestSHA256) || !sha256Hex(c.TokenSHA256) || len(c.CSR) == 0:
			return reject(ReasonMalformed, "node request %s: want the request, its SHA-256 and the status token's", c.ID)
		case c.BandwidthMbps == 0:
			return reject(ReasonMalformed, "node request %s: no bandwidth", c.ID)
		}
		if sum := sha256.Sum256(c.CSR); hex.EncodeToString(sum[:]) != c.RequestSHA256 {
			return reject(ReasonMalformed, "node request %s: the request's SHA-256 is not %s", c.ID, c.RequestSHA256)
		}
		if u, err := strconv.ParseFloat(c.Uptime, 64); err != nil || !(u > 0 && u <= 100) {
			return reject(ReasonMalformed, "node request %s: uptime %q: want a percentage above 0, at most 100", c.ID, c.Uptime)
		}
	case NodeRequestApprove:
		if !translog.CanonicalSerial(c.Serial) || len(c.Cert) == 0 {
			return reject(ReasonMalformed, "approval of node request %s: want the certificate and its serial", c.ID)
		}
	case NodeRequestReject:
		if strings.TrimSpace(c.Message) == "" {
			return reject(ReasonMalformed, "rejection of node request %s: give a message", c.ID)
		}
	case NodeRequestCollect:
	default:
		return reject(ReasonMalformed, "node request %s: unknown step %q", c.ID, c.Op)
	}
	return nil
}

// applyNodeRequest applies c: checks it against the state, logs its
// entry and updates the requests from that entry (as a load does).
func (w *work) applyNodeRequest(c *NodeRequest, logEntry func(translog.Entry) error) error {
	if err := c.check(); err != nil {
		return err
	}
	r := w.registry()
	st := r.st
	cur, known := st.nodeReqs[c.ID]
	var e translog.Entry
	switch c.Op {
	case NodeRequestSubmit:
		if known {
			return reject(ReasonDuplicateID, "node request %s exists", c.ID)
		}
		for _, q := range st.nodeReqs {
			if q.RequestSHA256 == c.RequestSHA256 {
				return reject(ReasonNodeRequestReplay, "this request (sha256 %s) was submitted before as %s (%s): make a new one", c.RequestSHA256, q.ID, q.Status)
			}
			if q.NodeID == c.NodeID && q.Status != NodeRequestRejected {
				return reject(ReasonNodeIDInUse, "node id %s is in request %s (%s): choose another id", c.NodeID, q.ID, q.Status)
			}
		}
		if st.removed[c.NodeID] {
			return reject(ReasonNodeRemoved, "node %s was removed from the directory for good; choose another id", c.NodeID)
		}
		if _, ok := st.nodes[c.NodeID]; ok {
			return reject(ReasonNodeIDInUse, "node id %s is in the node directory: choose another id", c.NodeID)
		}
		if c.MaxOpen != 0 && st.OpenNodeRequests() >= int(c.MaxOpen) {
			return reject(ReasonNodeRequestsFull, "%d node requests wait for review, the limit %d", st.OpenNodeRequests(), c.MaxOpen)
		}
		e = translog.Entry{Kind: translog.KindNodeRequest, Time: c.Time, Group: c.Group, Actor: c.Actor, NodeID: c.NodeID,
			NodeAddrs: []string{"id=" + c.ID, "scope=" + c.Scope, "agreement=" + c.AgreementVersion, "agreement-sha256=" + c.AgreementSHA256,
				"uptime=" + c.Uptime, "bandwidth-mbps=" + strconv.FormatUint(uint64(c.BandwidthMbps), 10),
				"request-sha256=" + c.RequestSHA256, "token-sha256=" + c.TokenSHA256, "csr=" + base64.StdEncoding.EncodeToString(c.CSR)}}
	default:
		if !known {
			return reject(ReasonUnknownNodeRequest, "no node request %s", c.ID)
		}
		status := map[string]string{NodeRequestApprove: NodeRequestApproved, NodeRequestReject: NodeRequestRejected, NodeRequestCollect: NodeRequestCollected}[c.Op]
		switch {
		case c.Op == NodeRequestCollect && cur.Status == NodeRequestCollected:
			return reject(ReasonCertCollected, "the certificate of node request %s was collected at %s; it is handed out once", c.ID, cur.Collected.UTC().Format(time.RFC3339))
		case c.Op == NodeRequestCollect && cur.Status != NodeRequestApproved:
			return reject(ReasonNodeRequestClosed, "node request %s is %s: nothing to collect", c.ID, cur.Status)
		case c.Op != NodeRequestCollect && cur.Status != NodeRequestPending:
			return reject(ReasonNodeRequestClosed, "node request %s was %s already", c.ID, cur.Status)
		}
		addrs := []string{"id=" + c.ID, "status=" + status}
		if c.Op == NodeRequestApprove {
			addrs = append(addrs, "scope="+cur.Scope, "serial="+c.Serial, "agreement="+cur.AgreementVersion,
				"agreement-sha256="+cur.AgreementSHA256, "uptime="+cur.Uptime,
				"bandwidth-mbps="+strconv.FormatUint(uint64(cur.BandwidthMbps), 10), "request-sha256="+cur.RequestSHA256,
				"cert="+base64.StdEncoding.EncodeToString(c.Cert))
		}
		e = translog.Entry{Kind: translog.KindNodeRequestDecision, Time: c.Time, Group: cur.Group, Actor: c.Actor, NodeID: cur.NodeID,
			Reason: c.Message, NodeAddrs: addrs}
	}
	if err := logEntry(e); err != nil {
		return err
	}
	e.Time = e.Time.Truncate(time.Second).UTC()
	noteNodeRequest(r.nodeRequests(), e)
	return nil
}

// noteNodeRequest applies a node-request or node-request-decision entry
// to reqs (Apply and a load both call it); other entries are ignored.
func noteNodeRequest(reqs map[string]CommunityRequest, e translog.Entry) {
	if e.Kind != translog.KindNodeRequest && e.Kind != translog.KindNodeRequestDecision {
		return
	}
	f := map[string]string{}
	for _, a := range e.NodeAddrs {
		if k, v, ok := strings.Cut(a, "="); ok {
			f[k] = v
		}
	}
	id := f["id"]
	if e.Kind == translog.KindNodeRequest {
		bw, _ := strconv.ParseUint(f["bandwidth-mbps"], 10, 32)
		csr, _ := base64.StdEncoding.DecodeString(f["csr"])
		reqs[id] = CommunityRequest{ID: id, NodeID: e.NodeID, Group: e.Group, Scope: f["scope"],
			AgreementVersion: f["agreement"], AgreementSHA256: f["agreement-sha256"], Uptime: f["uptime"], BandwidthMbps: uint32(bw),
			RequestSHA256: f["request-sha256"], TokenSHA256: f["token-sha256"], CSR: csr, Status: NodeRequestPending, Submitted: e.Time}
		return
	}
	q, ok := reqs[id]
	if !ok {
		return
	}
	switch f["status"] {
	case NodeRequestApproved:
		q.Cert, _ = base64.StdEncoding.DecodeString(f["cert"])
		q.Serial, q.Reviewer, q.Decided = f["serial"], e.Actor, e.Time
	case NodeRequestRejected:
		q.Reviewer, q.Decided, q.Message = e.Actor, e.Time, e.Reason
	case NodeRequestCollected:
		q.Collected = e.Time
	default:
		return
	}
	q.Status = f["status"]
	reqs[id] = q
}
