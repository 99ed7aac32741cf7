package raftfsm

// approve.go: a node admitted by request (issue 14 item 2). A node makes
// its own key and a certificate request stating the operator agreement
// it accepts and the uptime and bandwidth it commits to (pki.Request);
// the group's operator approves it (`ddnrs ops node approve`), issuing
// its certificate, and proposes ApproveNode to the registry group, which
// logs a node-approval entry (translog kind 9) with the statement: the
// public record of who admitted which node on which terms. The node's
// node-admission entry (kind 5) follows at its first heartbeat.
// docs/architecture.md, "Joining by request".

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/ddnrs/ddnrs/translog"
)

// TypeApproveNode is a node's request approved (issue 14 item 2).
const TypeApproveNode CommandType = 30

// ApproveNode records that an operator approved a node's certificate
// request. The registry keeps no state for it: it appends a
// node-approval entry to the log. Body version 1: node id, group, scope,
// serial, agreement version, agreement sha256, uptime, uint32 bandwidth
// (Mbit/s), request sha256, actor, time.
type ApproveNode struct {
	NodeID string
	// Group is the group the node joins; Scope the certificate's scope
	// (member:GROUP or registry:GROUP), naming the same group.
	Group, Scope string
	// Serial is the issued certificate's serial: lower-case hexadecimal
	// without leading zeros (translog.CanonicalSerial).
	Serial string
	// AgreementVersion and AgreementSHA256 identify the operator
	// agreement the node's request signed; Uptime (percent, as the
	// request wrote it) and BandwidthMbps what it committed to.
	AgreementVersion, AgreementSHA256 string
	Uptime                            string
	BandwidthMbps                     uint32
	// RequestSHA256 is the SHA-256 of the request (DER), hex: the signed
	// statement itself, which the operator keeps.
	RequestSHA256 string
	Actor         string
	Time          time.Time
}

func (*ApproveNode) Type() CommandType { return TypeApproveNode }

func (c *ApproveNode) encode(e *encoder) {
	e.str(c.NodeID)
	e.str(c.Group)
	e.str(c.Scope)
	e.str(c.Serial)
	e.str(c.AgreementVersion)
	e.str(c.AgreementSHA256)
	e.str(c.Uptime)
	e.u32(c.BandwidthMbps)
	e.str(c.RequestSHA256)
	e.str(c.Actor)
	e.time(c.Time)
}

func (c *ApproveNode) decode(d *decoder) {
	c.NodeID = d.Str16()
	c.Group = d.Str16()
	c.Scope = d.Str16()
	c.Serial = d.Str16()
	c.AgreementVersion = d.Str16()
	c.AgreementSHA256 = d.Str16()
	c.Uptime = d.Str16()
	c.BandwidthMbps = d.U32()
	c.RequestSHA256 = d.Str16()
	c.Actor = d.Str16()
	c.Time = d.time()
}

// sha256Hex reports whether s is 64 lower-case hex digits.
func sha256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == s
}

// check refuses a malformed approval; it is deterministic (Apply's).
func (c *ApproveNode) check() error {
	role, group, ok := cutScope(c.Scope)
	switch {
	case c.NodeID == "" || len(c.NodeID) > 64:
		return reject(ReasonMalformed, "approval of node %q: want an id of 1 to 64 characters", c.NodeID)
	case !ok || role != "member" && role != "registry" || group != c.Group || c.Group == "":
		return reject(ReasonMalformed, "approval of %q: scope %q must be member:GROUP or registry:GROUP of its group %q", c.NodeID, c.Scope, c.Group)
	case !translog.CanonicalSerial(c.Serial):
		return reject(ReasonMalformed, "approval of %q: serial %q: want lower-case hexadecimal without leading zeros", c.NodeID, c.Serial)
	case c.AgreementVersion == "" || len(c.AgreementVersion) > 32 || !sha256Hex(c.AgreementSHA256):
		return reject(ReasonMalformed, "approval of %q: the agreement needs a version (1 to 32 characters) and its SHA-256", c.NodeID)
	case !sha256Hex(c.RequestSHA256):
		return reject(ReasonMalformed, "approval of %q: request hash %q: want its SHA-256", c.NodeID, c.RequestSHA256)
	case c.BandwidthMbps == 0:
		return reject(ReasonMalformed, "approval of %q: no bandwidth", c.NodeID)
	}
	if u, err := strconv.ParseFloat(c.Uptime, 64); err != nil || !(u > 0 && u <= 100) {
		return reject(ReasonMalformed, "approval of %q: uptime %q: want a percentage above 0, at most 100", c.NodeID, c.Uptime)
	}
	return nil
}

// cutScope splits "ROLE:GROUP".
func cutScope(s string) (role, group string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// entry is the node-approval log entry of c.
func (c *ApproveNode) entry() translog.Entry {
	return translog.Entry{Kind: translog.KindNodeApproval, Time: c.Time, Group: c.Group, Actor: c.Actor, NodeID: c.NodeID,
		NodeAddrs: []string{
			"scope=" + c.Scope,
			"serial=" + c.Serial,
			"agreement=" + c.AgreementVersion,
			"agreement-sha256=" + c.AgreementSHA256,
			"uptime=" + c.Uptime,
			"bandwidth-mbps=" + strconv.FormatUint(uint64(c.BandwidthMbps), 10),
			"request-sha256=" + c.RequestSHA256,
		}}
}
