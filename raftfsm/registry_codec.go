package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ddnrs/ddnrs/zone"
)

// The registry commands' bodies, version 1, in the primitives of
// EncodeCommand (strings uint16-length, byte strings uint32-length,
// integers big-endian), plus: a time is an int64 of Unix seconds (times
// are whole seconds; sub-second parts are dropped; the zero time is the
// zero time's Unix seconds), a bool one byte 0 or 1, a string list a
// uint32 count and the strings, a hash 32 bytes.
//
//	Application: id, submitted time, domains list, project, usage,
//	             responsible, contact, token hash, status, message,
//	             reviewer, reviewed time, key id
//	APIKey:      id, hash, name, application, scope (suffixes, labels,
//	             types, actions lists), limits (uint32 per minute, uint32
//	             burst), created time, expires time, revoked bool, revoked
//	             time, revoked-by
//	NodeRecord:  id, group, region, DNS, admin, API, peer id, overlay
//	             list, transports list, seen time, leader, uint64 applied,
//	             uint64 last index, uint64 term
//	Claim (store and snapshots only): zone, owner, group, region, created
//	             time, actor, uint32 generation, suspended bool, reason
//
//	SubmitApplication: Application
//	SubmitApplication v2: the version 1 body, then uint32 max open (not 0)
//	ReviewApplication: id, decision, message, reviewer, time, bool has
//	                   key, APIKey when it has
//	IssueKey:          APIKey, actor
//	IssueKey v2:       the version 1 body, then parent key id (a non-empty
//	                   string), then uint32 max children (0: no cap)
//	RevokeKey:         id, actor, time
//	ClaimZone:         zone, owner, region, actor, time, delegation (byte string)
//	ClaimZone v2:      the version 1 body, then group (a non-empty string)
//	ClaimZone v3:      the version 1 body, then group (a string, may be
//	                   empty), then consents: uint32 count (at least 1),
//	                   each zone (string) and signature (byte string),
//	                   sorted by zone in canonical order, no zone twice
//	ReleaseZone:       zone, actor, time
//	ChangeOwnerKey:    zone, new owner, actor, time, proof (byte string)
//	ChangeOwnerKey v2: the version 1 body, then rotate serial (uint32, not 0)
//	RegistrySuspend:   zone, suspend bool, reason, actor, time
//	NodeHeartbeat:     NodeRecord
//	NodeHeartbeat v2:  the version 1 body, then uint8 load band (not 0)
//	RevokeCert:        serial, name, group, reason, actor, time
//	ApproveNode:       approve.go

// ClaimZone has two body versions: 1 without a requested group, 2 with
// one. A claim without a group is still written as version 1, so that
// replicas of builds before version 2 apply every claim the REST API
// makes; a claim with a group (an operator's create on a node's own
// group) needs every registry member to run a build that reads version
// 2, else their state machines halt on it. Version 2 with an empty group
// is malformed: every command has one encoding.
const claimZoneVersion2 = 2

// claimZoneVersion3 adds the consents of children claimed by other keys
// (ClaimZone's doc). A claim without consents is still written as version
// 1 or 2; one with consents needs every registry member to read version
// 3. Version 3 without a consent is malformed.
const claimZoneVersion3 = 3

// ChangeOwnerKey has two body versions too: 1 with a proof over
// OwnerKeyStatement, 2 with a rotation serial (the proof is then over
// RotateStatement, ChangeOwnerKey's doc). Version 1 is still written
// when the serial is 0, for the same reason as ClaimZone's; version 2
// with serial 0 is malformed.
const changeOwnerKeyVersion2 = 2

// IssueKey has two body versions: 1 for a key a reviewer or operator
// issues, 2 for a sub-key (APIKey.Parent set). A sub-key needs every
// registry member to read version 2; version 2 without a parent is
// malformed.
const issueKeyVersion2 = 2

// SubmitApplication has two body versions: 1 without a cap on open
// applications, 2 with one (MaxOpen). Version 2 needs every registry
// member to run a build that reads it; version 2 with a cap of 0 is
// malformed.
const submitApplicationVersion2 = 2

// NodeHeartbeat has two body versions: 1 without a load band, 2 with
// one (NodeRecord.Load). A record without a load is still written as
// version 1; one with a load needs every registry member to read version
// 2. Version 2 with a load of 0, or above 64, is malformed.
const nodeHeartbeatVersion2 = 2

// commandVersion is the body version EncodeCommand writes for c.
func commandVersion(c Command) byte {
	switch c := c.(type) {
	case *ClaimZone:
		if !c.Lease.IsZero() {
			return claimZoneVersion4
		}
		if len(c.Consents) > 0 {
			return claimZoneVersion3
		}
		if c.Group != "" {
			return claimZoneVersion2
		}
	case *ChangeOwnerKey:
		if c.RotateSerial != 0 {
			return changeOwnerKeyVersion2
		}
	case *SubmitApplication:
		if c.App.sealed() {
			return submitApplicationVersion3
		}
		if c.MaxOpen != 0 {
			return submitApplicationVersion2
		}
	case *ReviewApplication:
		if len(c.Sealed) > 0 {
			return reviewApplicationVersion2
		}
	case *IssueKey:
		if c.Key.Parent != "" {
			return issueKeyVersion2
		}
	case *NodeHeartbeat:
		if c.Node.Load != 0 {
			return nodeHeartbeatVersion2
		}
	}
	return commandVersion1
}

// knownVersion reports whether DecodeCommand reads body version v of
// type t.
func knownVersion(t CommandType, v byte) bool {
	return v == commandVersion1 || t == TypeClaimZone && (v == claimZoneVersion2 || v == claimZoneVersion3 || v == claimZoneVersion4) ||
		t == TypeChangeOwnerKey && v == changeOwnerKeyVersion2 ||
		t == TypeSubmitApplication && (v == submitApplicationVersion2 || v == submitApplicationVersion3) ||
		t == TypeReviewApplication && v == reviewApplicationVersion2 ||
		t == TypeIssueKey && v == issueKeyVersion2 ||
		t == TypeNodeHeartbeat && v == nodeHeartbeatVersion2
}

// zeroUnix is the Unix seconds of the zero time.
var zeroUnix = time.Time{}.Unix()

func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }

func (e *encoder) time(t time.Time) { e.u64(uint64(t.Unix())) }

func (e *encoder) boolean(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) hash(h [32]byte) { e.b = append(e.b, h[:]...) }

func (e *encoder) strs(l []string) {
	if uint64(len(l)) > math.MaxUint32 {
		e.fail(fmt.Errorf("list of %d strings", len(l)))
		return
	}
	e.u32(uint32(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

func (d *decoder) time() time.Time {
	sec := int64(d.U64())
	if d.Err != nil || sec == zeroUnix {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func (d *decoder) boolean() bool {
	p := d.Take(1)
	if p == nil {
		return false
	}
	if p[0] > 1 {
		d.Err = fmt.Errorf("bool byte %d", p[0])
		return false
	}
	return p[0] == 1
}

func (d *decoder) hash() (h [32]byte) {
	copy(h[:], d.Take(32))
	return h
}

// consents writes a claim's consents: a count, then zone and signature
// each. The encoder checks the order EncodeCommand's readers require.
func (e *encoder) consents(l []Consent) {
	for i := 1; i < len(l); i++ {
		if zone.Compare(l[i-1].Zone, l[i].Zone) >= 0 {
			e.fail(fmt.Errorf("consents not sorted by zone, or %s twice", l[i].Zone))
			return
		}
	}
	e.u32(uint32(len(l)))
	for _, c := range l {
		e.str(c.Zone)
		e.bytes(c.Signature)
	}
}

// consents reads what encoder.consents wrote, refusing an empty list and
// zones out of order or repeated: every claim has one encoding.
func (d *decoder) consents() []Consent {
	n := d.Count(6) // zone length, at least a root name byte, signature length
	if d.Err == nil && n == 0 {
		d.Err = errors.New("claim-zone version 3 without a consent")
	}
	if d.Err != nil {
		return nil
	}
	out := make([]Consent, 0, n)
	for range n {
		c := Consent{Zone: d.Str16(), Signature: d.bytes()}
		if d.Err != nil {
			return nil
		}
		if k := len(out); k > 0 && zone.Compare(out[k-1].Zone, c.Zone) >= 0 {
			d.Err = fmt.Errorf("claim-zone consents out of order at %q", c.Zone)
			return nil
		}
		out = append(out, c)
	}
	return out
}

func (d *decoder) strs() []string {
	n := d.Count(2)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.Str16())
	}
	if d.Err != nil {
		return nil
	}
	return out
}

func (e *encoder) application(a Application) {
	e.str(a.ID)
	e.time(a.Submitted)
	e.strs(a.Domains)
	e.str(a.Project)
	e.str(a.Usage)
	e.str(a.Responsible)
	e.str(a.Contact)
	e.hash(a.TokenHash)
	e.str(a.Status)
	e.str(a.Message)
	e.str(a.Reviewer)
	e.time(a.Reviewed)
	e.str(a.KeyID)
}

func (d *decoder) application() Application {
	var a Application
	a.ID = d.Str16()
	a.Submitted = d.time()
	a.Domains = d.strs()
	a.Project = d.Str16()
	a.Usage = d.Str16()
	a.Responsible = d.Str16()
	a.Contact = d.Str16()
	a.TokenHash = d.hash()
	a.Status = d.Str16()
	a.Message = d.Str16()
	a.Reviewer = d.Str16()
	a.Reviewed = d.time()
	a.KeyID = d.Str16()
	return a
}

func (e *encoder) apiKey(k APIKey) {
	e.str(k.ID)
	e.hash(k.Hash)
	e.str(k.Name)
	e.str(k.Application)
	e.strs(k.Scope.Suffixes)
	e.strs(k.Scope.Labels)
	e.strs(k.Scope.Types)
	e.strs(k.Scope.Actions)
	e.u32(k.Limits.PerMinute)
	e.u32(k.Limits.Burst)
	e.time(k.Created)
	e.time(k.Expires)
	e.boolean(k.Revoked)
	e.time(k.RevokedAt)
	e.str(k.RevokedBy)
}

func (d *decoder) apiKey() APIKey {
	var k APIKey
	k.ID = d.Str16()
	k.Hash = d.hash()
	k.Name = d.Str16()
	k.Application = d.Str16()
	k.Scope.Suffixes = d.strs()
	k.Scope.Labels = d.strs()
	k.Scope.Types = d.strs()
	k.Scope.Actions = d.strs()
	k.Limits.PerMinute = d.U32()
	k.Limits.Burst = d.U32()
	k.Created = d.time()
	k.Expires = d.time()
	k.Revoked = d.boolean()
	k.RevokedAt = d.time()
	k.RevokedBy = d.Str16()
	return k
}

func (e *encoder) nodeRecord(n NodeRecord) {
	e.str(n.ID)
	e.str(n.Group)
	e.str(n.Region)
	e.str(n.DNS)
	e.str(n.Admin)
	e.str(n.API)
	e.str(n.PeerID)
	e.strs(n.Overlay)
	e.strs(n.Transports)
	e.time(n.Seen)
	e.str(n.Leader)
	e.u64(n.Applied)
	e.u64(n.LastIndex)
	e.u64(n.Term)
}

func (d *decoder) nodeRecord() NodeRecord {
	var n NodeRecord
	n.ID = d.Str16()
	n.Group = d.Str16()
	n.Region = d.Str16()
	n.DNS = d.Str16()
	n.Admin = d.Str16()
	n.API = d.Str16()
	n.PeerID = d.Str16()
	n.Overlay = d.strs()
	n.Transports = d.strs()
	n.Seen = d.time()
	n.Leader = d.Str16()
	n.Applied = d.U64()
	n.LastIndex = d.U64()
	n.Term = d.U64()
	return n
}

func (e *encoder) claim(c Claim) {
	e.str(c.Zone)
	e.str(c.Owner)
	e.str(c.Group)
	e.str(c.Region)
	e.time(c.Created)
	e.str(c.Actor)
	e.u32(c.Generation)
	e.boolean(c.Suspended)
	e.str(c.Reason)
}

func (d *decoder) claim() Claim {
	var c Claim
	c.Zone = d.Str16()
	c.Owner = d.Str16()
	c.Group = d.Str16()
	c.Region = d.Str16()
	c.Created = d.time()
	c.Actor = d.Str16()
	c.Generation = d.U32()
	c.Suspended = d.boolean()
	c.Reason = d.Str16()
	return c
}

// newRegistryCommand returns an empty command of a registry type, or nil.
func newRegistryCommand(t CommandType) Command {
	switch t {
	case TypeSubmitApplication:
		return &SubmitApplication{}
	case TypeReviewApplication:
		return &ReviewApplication{}
	case TypeIssueKey:
		return &IssueKey{}
	case TypeRevokeKey:
		return &RevokeKey{}
	case TypeClaimZone:
		return &ClaimZone{}
	case TypeReleaseZone:
		return &ReleaseZone{}
	case TypeChangeOwnerKey:
		return &ChangeOwnerKey{}
	case TypeRegistrySuspend:
		return &RegistrySuspend{}
	case TypeNodeHeartbeat:
		return &NodeHeartbeat{}
	case TypeRevokeCert:
		return &RevokeCert{}
	case TypeApproveNode:
		return &ApproveNode{}
	}
	return nil
}

// encodeRegistryCommand appends the body of a registry command; false
// when c is not one.
func encodeRegistryCommand(e *encoder, c Command) bool {
	switch c := c.(type) {
	case *SubmitApplication:
		e.application(c.App)
		switch {
		case c.App.sealed():
			e.u32(c.MaxOpen)
			e.hash(c.App.SealTo)
		case c.MaxOpen != 0:
			e.u32(c.MaxOpen)
		}
		if len(c.App.SealedKey) > 0 || !c.App.Collected.IsZero() {
			e.fail(errors.New("a submitted application with a sealed or collected key"))
		}
	case *ReviewApplication:
		e.str(c.ID)
		e.str(c.Decision)
		e.str(c.Message)
		e.str(c.Reviewer)
		e.time(c.Time)
		e.boolean(c.Key != nil)
		if c.Key != nil {
			if c.Key.Parent != "" {
				e.fail(errors.New("an application's key cannot be a sub-key"))
			}
			e.apiKey(*c.Key)
		}
		if len(c.Sealed) > 0 {
			if c.Key == nil {
				e.fail(errors.New("a sealed key without a key"))
			}
			e.bytes(c.Sealed)
		}
	case *IssueKey:
		e.apiKey(c.Key)
		e.str(c.Actor)
		if c.Key.Parent != "" {
			e.str(c.Key.Parent)
			e.u32(c.MaxChildren)
		} else if c.MaxChildren != 0 {
			e.fail(errors.New("max children without a parent"))
		}
	case *RevokeKey:
		e.str(c.ID)
		e.str(c.Actor)
		e.time(c.Time)
	case *ClaimZone:
		e.str(c.Zone)
		e.str(c.Owner)
		e.str(c.Region)
		e.str(c.Actor)
		e.time(c.Time)
		e.bytes(c.Delegation)
		switch {
		case !c.Lease.IsZero():
			e.str(c.Group)
			if len(c.Consents) == 0 {
				e.u32(0)
			} else {
				e.consents(c.Consents)
			}
			e.lease(c.Lease)
			e.u32(c.MaxLeases)
		case len(c.Consents) > 0:
			e.str(c.Group)
			e.consents(c.Consents)
		case c.Group != "":
			e.str(c.Group)
		}
	case *ReleaseZone:
		e.str(c.Zone)
		e.str(c.Actor)
		e.time(c.Time)
	case *ChangeOwnerKey:
		e.str(c.Zone)
		e.str(c.NewOwner)
		e.str(c.Actor)
		e.time(c.Time)
		e.bytes(c.Proof)
		if c.RotateSerial != 0 {
			e.u32(c.RotateSerial)
		}
	case *RegistrySuspend:
		e.str(c.Zone)
		e.boolean(c.Suspend)
		e.str(c.Reason)
		e.str(c.Actor)
		e.time(c.Time)
	case *NodeHeartbeat:
		e.nodeRecord(c.Node)
		if c.Node.Load != 0 {
			e.b = append(e.b, c.Node.Load)
		}
	case *RevokeCert:
		e.str(c.Serial)
		e.str(c.Name)
		e.str(c.Group)
		e.str(c.Reason)
		e.str(c.Actor)
		e.time(c.Time)
	case *ApproveNode:
		c.encode(e)
	default:
		return false
	}
	return true
}

// decodeRegistryCommand reads the body of c, a registry command, of
// body version v (knownVersion).
func decodeRegistryCommand(d *decoder, c Command, v byte) {
	switch c := c.(type) {
	case *SubmitApplication:
		c.App = d.application()
		switch v {
		case submitApplicationVersion2:
			if c.MaxOpen = d.U32(); c.MaxOpen == 0 && d.Err == nil {
				d.Err = errors.New("submit-application version 2 without a cap")
			}
		case submitApplicationVersion3:
			c.MaxOpen = d.U32()
			if c.App.SealTo = d.hash(); !c.App.sealed() && d.Err == nil {
				d.Err = errors.New("submit-application version 3 without a seal key")
			}
		}
	case *ReviewApplication:
		c.ID = d.Str16()
		c.Decision = d.Str16()
		c.Message = d.Str16()
		c.Reviewer = d.Str16()
		c.Time = d.time()
		if d.boolean() {
			k := d.apiKey()
			c.Key = &k
		}
		if v == reviewApplicationVersion2 {
			if c.Sealed = d.bytes(); (len(c.Sealed) == 0 || c.Key == nil) && d.Err == nil {
				d.Err = errors.New("review-application version 2 without a key or a sealed key")
			}
		}
	case *IssueKey:
		c.Key = d.apiKey()
		c.Actor = d.Str16()
		if v == issueKeyVersion2 {
			if c.Key.Parent = d.Str16(); c.Key.Parent == "" && d.Err == nil {
				d.Err = errors.New("issue-key version 2 without a parent")
			}
			c.MaxChildren = d.U32()
		}
	case *RevokeKey:
		c.ID = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
	case *ClaimZone:
		c.Zone = d.Str16()
		c.Owner = d.Str16()
		c.Region = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
		c.Delegation = d.bytes()
		switch v {
		case claimZoneVersion2:
			if c.Group = d.Str16(); c.Group == "" && d.Err == nil {
				d.Err = errors.New("claim-zone version 2 without a group")
			}
		case claimZoneVersion3:
			c.Group = d.Str16()
			c.Consents = d.consents()
		case claimZoneVersion4:
			c.Group = d.Str16()
			if len(d.B) >= 4 && d.B[0]|d.B[1]|d.B[2]|d.B[3] == 0 {
				d.U32() // no consents
			} else {
				c.Consents = d.consents()
			}
			if c.Lease = d.lease(); c.Lease.IsZero() && d.Err == nil {
				d.Err = errors.New("claim-zone version 4 without a lease")
			}
			c.MaxLeases = d.U32()
		}
	case *ReleaseZone:
		c.Zone = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
	case *ChangeOwnerKey:
		c.Zone = d.Str16()
		c.NewOwner = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
		c.Proof = d.bytes()
		if v == changeOwnerKeyVersion2 {
			if c.RotateSerial = d.U32(); c.RotateSerial == 0 && d.Err == nil {
				d.Err = errors.New("change-owner-key version 2 without a rotate serial")
			}
		}
	case *RegistrySuspend:
		c.Zone = d.Str16()
		c.Suspend = d.boolean()
		c.Reason = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
	case *NodeHeartbeat:
		c.Node = d.nodeRecord()
		if v == nodeHeartbeatVersion2 {
			if c.Node.Load = d.U8(); (c.Node.Load == 0 || c.Node.Load > 64) && d.Err == nil {
				d.Err = fmt.Errorf("node-heartbeat version 2 with load band %d", c.Node.Load)
			}
		}
	case *ApproveNode:
		c.decode(d)
	case *RevokeCert:
		c.Serial = d.Str16()
		c.Name = d.Str16()
		c.Group = d.Str16()
		c.Reason = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
	}
}
