// Package admin is a node's admin endpoint: the HTTPS API over mutual TLS
// (cluster CA) that operators and the other members of a group use for
// writes, membership, status, snapshots and the registry's operator
// routes; its client (Client); and its JSON wire types. The endpoint
// knows the node only through the small interfaces it declares (Node,
// Group); package node implements them.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// The admin API's wire types. They are JSON; a field added later is
// ignored by older readers, a field is never renamed or removed. The path
// prefix /v1 versions the API as a whole.

// Stable error codes of the admin API. Scripts and the ops CLI branch on
// them; they never change meaning.
const (
	// CodeNotLeader: this node is not the leader and could not forward
	// (no admin address known for the leader, or the request was
	// already forwarded once). LeaderID names the leader.
	CodeNotLeader = "not_leader"
	// CodeNoLeader: no leader is known (an election is running, or the
	// node is cut off from a majority).
	CodeNoLeader = "no_leader"
	// CodeNoQuorum: the leader could not commit the write in time; it may
	// still commit later.
	CodeNoQuorum = "no_quorum"
	// CodeRejected: the state machine refused the change; Reason says why
	// (the raftfsm rejection reason, e.g. "stale-serial").
	CodeRejected = "rejected"
	// CodeBadRequest: the request is malformed (body, JSON, zone name).
	CodeBadRequest = "bad_request"
	// CodeNotFound: no such zone on this replica, or no such member.
	CodeNotFound = "not_found"
	// CodeUnavailable: the node is starting or stopping, or the leader's
	// admin endpoint could not be reached (a forwarded write may or may
	// not have been committed: read the zone's serial before resending).
	CodeUnavailable = "unavailable"
	// CodeNotHere: the zone is held by another group of the overlay,
	// not by this node's group (a read is not forwarded); Members lists
	// the owning group's overlay addresses. Publish through a member of
	// that group.
	CodeNotHere = "not_here"
	// CodeExistsElsewhere: a CreateZone for a zone another group of the
	// overlay holds; nothing was applied. Members as for not_here.
	CodeExistsElsewhere = "zone_exists_elsewhere"
	// CodeForbidden: the client certificate's scope does not allow this
	// request (a node of another group, an operator of another group);
	// Message says which scope it has.
	CodeForbidden = "forbidden"
	// CodeInternal: anything else; Message says what.
	CodeInternal = "internal"
)

// APIError is the JSON body of every failed admin request, and the error
// AdminClient returns for one. errors.Is matches it against the raftfsm
// sentinels its code stands for (ErrNoLeader, ErrNoQuorum).
type APIError struct {
	// Status is the HTTP status; not part of the JSON body.
	Status int `json:"-"`
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Reason is the rejection reason when Code is "rejected".
	Reason string `json:"reason,omitempty"`
	// Message is for humans.
	Message string `json:"message"`
	// LeaderID and LeaderAdmin name the leader when known (not_leader).
	LeaderID    string `json:"leader_id,omitempty"`
	LeaderAdmin string `json:"leader_admin,omitempty"`
	// Members are the overlay addresses of the group that holds the zone
	// (not_here, zone_exists_elsewhere).
	Members []string `json:"members,omitempty"`
}

func (e *APIError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// As lets callers use errors.As(err, &rej) with rej a
// *raftfsm.RejectedError on a rejection from another node: the reason
// travels as a field, never as text to parse, so a refusal is the same
// typed error on every node it crosses.
func (e *APIError) As(target any) bool {
	rej, ok := target.(**raftfsm.RejectedError)
	if !ok || e.Code != CodeRejected || e.Reason == "" {
		return false
	}
	*rej = &raftfsm.RejectedError{Reason: raftfsm.Reason(e.Reason), Err: errors.New(e.Message)}
	return true
}

// Is lets callers use errors.Is(err, raftfsm.ErrNoQuorum) and
// errors.Is(err, raftfsm.ErrNoLeader) on errors from another node.
func (e *APIError) Is(target error) bool {
	switch e.Code {
	case CodeNoQuorum:
		return target == raftfsm.ErrNoQuorum
	case CodeNoLeader:
		return target == raftfsm.ErrNoLeader
	}
	return false
}

// ErrorOf maps any error of an admin handler (or of the write path
// behind it) to its stable code and HTTP status. It is the one place that
// does so.
func ErrorOf(err error) *APIError {
	var (
		ae  *APIError
		nl  *raftfsm.NotLeaderError
		rej *raftfsm.RejectedError
		ee  *OtherGroupError
		re  *overlay.RPCError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ee):
		return ee.apiError()
	case errors.As(err, &re):
		return remoteAPIError(re)
	case errors.As(err, &rej):
		// The reason is a field; the message is the rejection's detail
		// (RejectedError.Error adds the reason again on the other side).
		return &APIError{Status: http.StatusUnprocessableEntity, Code: CodeRejected, Reason: string(rej.Reason), Message: detail(rej)}
	case errors.As(err, &nl):
		if nl.LeaderID == "" {
			return &APIError{Status: http.StatusServiceUnavailable, Code: CodeNoLeader, Message: err.Error()}
		}
		return &APIError{Status: http.StatusMisdirectedRequest, Code: CodeNotLeader, Message: err.Error(), LeaderID: nl.LeaderID}
	case errors.Is(err, raftfsm.ErrNoLeader):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeNoLeader, Message: err.Error()}
	case errors.Is(err, raftfsm.ErrNoQuorum), errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeNoQuorum, Message: err.Error()}
	case errors.Is(err, raftfsm.ErrNoZone), errors.Is(err, raftfsm.ErrUnknownMember):
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, ErrBadRequest), errors.Is(err, raftfsm.ErrBadSnapshot):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, ErrUnavailable), errors.Is(err, raftfsm.ErrClosed):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: err.Error()}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
}

// Errors the endpoint maps to codes; the node wraps its own errors with
// them (%w) to choose the code.
var (
	// ErrBadRequest marks a malformed request (mapped to bad_request).
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable is returned when another member's admin endpoint
	// (or the other group, or the node itself while it starts or stops)
	// could not be reached (mapped to unavailable).
	ErrUnavailable = errors.New("member unreachable")
)

// ChangeResult is the reply to a committed write.
type ChangeResult struct {
	// Serial is the zone's SOA serial after the change.
	Serial uint32 `json:"serial"`
	// Index is the Raft log index the change was committed at; 0 when
	// Repeat.
	Index uint64 `json:"index"`
	// Repeat is set when the group already held the change's result: an
	// earlier send of the same command (one whose outcome was unknown)
	// committed it, at an index this answer does not know.
	Repeat bool `json:"repeat,omitempty"`
	// Staged is, for a command of a staged upload, how many of the
	// upload's chunks the group holds: an owner resuming an interrupted
	// upload sends the chunks from there.
	Staged uint32 `json:"staged,omitempty"`
	// Members lists the members of the group (Raft server IDs) whose
	// state machine had processed the change when the answer was sent:
	// they serve it. Pending lists the others, asked for up to
	// group.ack_wait (down, slow, or not reached); they serve the change
	// once they catch up. Both are empty when the node that committed
	// the change did not ask (ack_wait 0, or an older node).
	Members []string `json:"members,omitempty"`
	Pending []string `json:"pending,omitempty"`
}

// JoinRequest asks the leader to add a member (POST /v1/group/join).
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	// NonVoter adds a read replica instead of a voter.
	NonVoter bool `json:"non_voter,omitempty"`
}

// RemoveRequest asks the leader to remove a member (POST /v1/group/remove).
type RemoveRequest struct {
	ID string `json:"id"`
}

// TransferRequest asks the leader to hand leadership over (POST
// /v1/group/transfer-leader); an empty ID lets Raft pick the most
// up-to-date voter.
type TransferRequest struct {
	ID string `json:"id,omitempty"`
}

// AnnounceRequest records a member's admin and DNS addresses in the
// group's state (POST /v1/group/announce; a SetMember command). Every
// node announces itself after start, so members find each other's admin
// endpoints for forwarding and status.
type AnnounceRequest struct {
	ID    string `json:"id"`
	Admin string `json:"admin"`
	DNS   string `json:"dns"`
}

// Status is one node's view of itself and its group (GET /v1/group/status).
type Status struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	LastIndex    uint64 `json:"last_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// ProcessedIndex is the last entry the state machine has finished
	// (raftfsm.FSM.Processed): AppliedIndex is Raft's, the entries handed
	// to it. Absent (0) from older nodes.
	ProcessedIndex uint64 `json:"processed_index,omitempty"`
	// LastContactMS is the time since the leader was last heard, in
	// milliseconds; 0 on the leader.
	LastContactMS int64  `json:"last_contact_ms"`
	LeaderID      string `json:"leader_id,omitempty"`
	LeaderRaft    string `json:"leader_raft,omitempty"`
	DNS           string `json:"dns"`
	Admin         string `json:"admin"`
	Raft          string `json:"raft"`
	Zones         int    `json:"zones"`
	Ready         bool   `json:"ready"`
	// Removed says why the node no longer answers for the group's zones
	// as a member: the leader's configuration does not list it (issue 17
	// item 6). Absent while it is a member, and from older nodes.
	Removed string `json:"removed,omitempty"`
}

// MemberStatus is one row of GET /v1/group/members.
type MemberStatus struct {
	ID     string `json:"id"`
	Raft   string `json:"raft"`
	Admin  string `json:"admin,omitempty"`
	DNS    string `json:"dns,omitempty"`
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
	// LastIndex and AppliedIndex come from the member's own status; they
	// are absent when it could not be asked (Error says why).
	LastIndex    uint64 `json:"last_index,omitempty"`
	AppliedIndex uint64 `json:"applied_index,omitempty"`
	// Trails is how many entries the member's applied index is behind
	// the leader's; -1 when unknown.
	Trails int64  `json:"trails"`
	Error  string `json:"error,omitempty"`
}

// ZoneExport is the local replica's copy of a zone (GET /v1/zones/{zone}),
// for the owner's publishing tools.
type ZoneExport struct {
	Zone   string `json:"zone"`
	Serial uint32 `json:"serial"`
	// Head is the signed zone head, a signed note.
	Head string `json:"head"`
	// ZoneFile is the signed zone in BIND master-file format.
	ZoneFile string `json:"zonefile"`
}

// OtherGroupError is returned by admin requests about a zone this node's
// group does not hold but another group of the overlay does: a
// CreateZone (code zone_exists_elsewhere); without Create (code
// not_here), what nodes before FetchZone answered to a read.
type OtherGroupError struct {
	Zone string
	// Members are the overlay addresses (multiaddrs with /p2p/ID) of
	// the owning group's members that provide the zone.
	Members []string
	// Create is set when the request was a CreateZone.
	Create bool
}

func (e *OtherGroupError) Error() string {
	if e.Create {
		return fmt.Sprintf("zone %s already exists in another group of the overlay; not creating a second copy", e.Zone)
	}
	return fmt.Sprintf("zone %s is held by another group of the overlay, not by this node's group", e.Zone)
}

// apiError is the admin API form of e (used by ErrorOf).
func (e *OtherGroupError) apiError() *APIError {
	ae := &APIError{Status: http.StatusMisdirectedRequest, Code: CodeNotHere, Message: e.Error(), Members: e.Members}
	if e.Create {
		ae.Status, ae.Code = http.StatusConflict, CodeExistsElsewhere
	}
	return ae
}

// detail is a rejection's message without the reason.
func detail(rej *raftfsm.RejectedError) string {
	if rej.Err == nil {
		return string(rej.Reason)
	}
	return rej.Err.Error()
}

// remoteAPIError maps an error of a request sent over DDNRS-RPC to the
// admin API's codes; ErrorOf calls it. A rejection keeps its reason.
func remoteAPIError(re *overlay.RPCError) *APIError {
	msg := "the zone's group: " + re.Message
	switch re.Code {
	case overlay.CodeRejected:
		return &APIError{Status: http.StatusUnprocessableEntity, Code: CodeRejected, Reason: re.Reason, Message: msg}
	case overlay.CodeBadRequest:
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg}
	case overlay.CodeNotFound:
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg}
	case overlay.CodeUnavailable, overlay.CodeNotLeader:
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: msg}
	}
	return &APIError{Status: http.StatusBadGateway, Code: CodeInternal, Message: msg}
}
