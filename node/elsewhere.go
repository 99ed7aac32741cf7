package node

// elsewhere.go: admin requests about a zone another group of the overlay
// holds. A write (POST /v1/zones/{zone}/changes) sent to a node whose
// group does not hold the zone is forwarded over DDNRS-RPC
// (SubmitChange) to a member of the owning group, which hands it to its
// leader; a CreateZone of such a zone is refused (zone_exists_elsewhere)
// instead of creating a second copy in this group. A read (GET
// /v1/zones/{zone}) exports the owning group's copy, fetched with
// DDNRS-RPC FetchZone and verified against the owner key (fetch.go), so
// `ddnrs zone publish` works through a node of any group. The overlay is
// asked only when the local replica has no such zone, so requests for
// the group's own zones never touch the DHT.
// A dry run (api POST .../changes?dry_run=true) for a zone of another
// group goes over DDNRS-RPC SubmitChange with DryRun set to a member of
// that group, which checks it against its own replica
// ((*raftfsm.FSM).Check) and answers without proposing it; that member
// may be a follower whose state lags the leader's by a few entries, so
// a dry run can pass a change the leader then refuses (or the reverse)
// when changes to the zone are in flight.
// A follower that has not yet applied a zone its own group just created
// sees its leader as a provider and forwards over DDNRS-RPC too, which
// lands in the same group; a create sent to it is refused as
// zone_exists_elsewhere, where the leader says rejected (zone-exists).

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// ElsewhereError is returned by admin requests about a zone this node's
// group does not hold but another group of the overlay does: a
// CreateZone (code zone_exists_elsewhere); without Create (code
// not_here), what nodes before FetchZone answered to a read.
type ElsewhereError struct {
	Zone string
	// Members are the overlay addresses (multiaddrs with /p2p/ID) of
	// the owning group's members that provide the zone.
	Members []string
	// Create is set when the request was a CreateZone.
	Create bool
}

func (e *ElsewhereError) Error() string {
	if e.Create {
		return fmt.Sprintf("zone %s already exists in another group of the overlay; not creating a second copy", e.Zone)
	}
	return fmt.Sprintf("zone %s is held by another group of the overlay, not by this node's group", e.Zone)
}

// apiError is the admin API form of e (used by apiError).
func (e *ElsewhereError) apiError() *APIError {
	ae := &APIError{Status: http.StatusMisdirectedRequest, Code: CodeNotHere, Message: e.Error(), Members: e.Members}
	if e.Create {
		ae.Status, ae.Code = http.StatusConflict, CodeExistsElsewhere
	}
	return ae
}

// remoteAPIError maps an error of a change forwarded over DDNRS-RPC to
// the admin API's codes; apiError calls it. The remote message keeps the
// owning group's reason.
func remoteAPIError(re *overlay.RemoteError) *APIError {
	msg := "the zone's group: " + re.Message
	switch re.Code {
	case overlay.CodeRejected:
		return &APIError{Status: http.StatusUnprocessableEntity, Code: CodeRejected, Message: msg}
	case overlay.CodeBadRequest:
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg}
	case overlay.CodeNotFound:
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg}
	case overlay.CodeUnavailable, overlay.CodeNotLeader:
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: msg}
	}
	return &APIError{Status: http.StatusBadGateway, Code: CodeInternal, Message: msg}
}

// holder returns the overlay addresses of the members of another group
// that provide origin, or nil when the overlay is off or no other group
// holds origin itself (an enclosing zone does not count). A failed DHT
// lookup is an error (unavailable): the caller cannot tell whether the
// zone exists elsewhere. The router caches the answer, negative ones
// too, so a zone another group created moments ago may not be seen yet.
func (n *Node) holder(ctx context.Context, origin string) ([]string, error) {
	o := n.ov.Load()
	if o == nil {
		return nil, nil
	}
	origin = zone.CanonicalName(origin)
	provs, err := o.router.Providers(ctx, origin)
	if errors.Is(err, overlay.ErrNoZone) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: looking %s up in the overlay: %w", errUnreachable, origin, err)
	}
	var addrs []string
	for _, p := range provs {
		if p.ID == o.host.ID() {
			continue
		}
		if len(p.Addrs) == 0 {
			addrs = append(addrs, "/p2p/"+p.ID.String())
		}
		for _, a := range p.Addrs {
			addrs = append(addrs, a.String()+"/p2p/"+p.ID.String())
		}
	}
	return addrs, nil
}

// submitElsewhere forwards cmd to the zone's group over DDNRS-RPC. An
// error without a remote code (no member reached) is unavailable: the
// change may or may not have been committed.
func (n *Node) submitElsewhere(ctx context.Context, origin string, cmd []byte) (*ChangeResult, error) {
	res, err := n.SubmitRemote(ctx, origin, cmd)
	var re *overlay.RemoteError
	if err != nil && !errors.As(err, &re) {
		return nil, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	return res, err
}

// checkLocal is a dry run of cmd against this replica: the command must
// be about origin and pass (*raftfsm.FSM).Check; it returns the serial
// the change would leave.
func checkLocal(fsm *raftfsm.FSM, origin string, cmd []byte) (uint32, error) {
	if err := checkCommand(origin, cmd); err != nil {
		return 0, err
	}
	if err := fsm.Check(cmd); err != nil {
		return 0, err
	}
	return dryRunSerial(fsm, origin, cmd), nil
}

// changeChecker serves DDNRS-RPC dry runs (overlay.ChangeChecker) of
// changes to the zones this node's group holds, or a CreateZone the
// registry placed on it, against the local replica, never proposing.
type changeChecker struct{ n *Node }

// CheckChange implements overlay.ChangeChecker; refusals carry the same
// codes and "reason: message" text as overlayNode.Submit's.
func (c changeChecker) CheckChange(ctx context.Context, zoneName string, cmd []byte) (uint32, error) {
	fsm, _, _, err := c.n.runningParts()
	if err != nil {
		return 0, &overlay.RemoteError{Code: overlay.CodeUnavailable, Message: err.Error()}
	}
	origin := zone.CanonicalName(zoneName)
	if _, held := fsm.Zone(origin); !held && !c.n.placedHere(ctx, origin, cmd) {
		return 0, &overlay.RemoteError{Code: overlay.CodeNotFound, Message: "zone " + origin + " is not held by this group"}
	}
	serial, err := checkLocal(fsm, origin, cmd)
	if err != nil {
		return 0, remoteRefusal(err)
	}
	return serial, nil
}

// remoteRefusal maps an error of this node's admin path to the overlay's
// codes, the rejection's reason leading the message.
func remoteRefusal(err error) *overlay.RemoteError {
	ae := apiError(err)
	code := overlay.CodeInternal
	switch ae.Code {
	case CodeRejected:
		code = overlay.CodeRejected
	case CodeNotFound:
		code = overlay.CodeNotFound
	case CodeBadRequest:
		code = overlay.CodeBadRequest
	case CodeNoLeader, CodeNoQuorum, CodeUnavailable:
		code = overlay.CodeUnavailable
	}
	msg := ae.Message
	if ae.Reason != "" {
		msg = ae.Reason + ": " + msg
	}
	return &overlay.RemoteError{Code: code, Message: msg}
}

// checkElsewhere is a dry run of cmd at the group that holds origin:
// group by name (members from the registry's node directory), or, when
// group is "", the other group the overlay finds providing origin. It
// asks one member at a time until one answers or refuses for good (a
// rejection or a malformed command: every member would say the same).
// asked is false when group is "" and no other group holds origin (or
// the overlay is off): the change would be applied here, so the caller
// checks it here.
func (n *Node) checkElsewhere(ctx context.Context, group, origin string, cmd []byte) (serial uint32, asked bool, err error) {
	o := n.ov.Load()
	var peers []peer.AddrInfo
	switch {
	case group != "" && o == nil:
		return 0, true, fmt.Errorf("%w: group %s: the overlay is off on this node", ErrNoGroupMember, group)
	case group != "":
		if peers, err = n.groupPeers(group); err != nil {
			return 0, true, err
		}
	case o == nil:
		return 0, false, nil
	default:
		provs, err := o.router.Providers(ctx, origin)
		if errors.Is(err, overlay.ErrNoZone) {
			return 0, false, nil
		}
		if err != nil {
			return 0, true, fmt.Errorf("%w: looking %s up in the overlay: %w", errUnreachable, origin, err)
		}
		for _, p := range provs {
			if p.ID != o.host.ID() {
				peers = append(peers, p)
			}
		}
		if len(peers) == 0 {
			return 0, false, nil
		}
		group = "of " + origin
	}
	if err := checkCommand(origin, cmd); err != nil {
		return 0, true, err
	}
	var errs []error
	for _, p := range peers {
		if p.ID == o.host.ID() {
			continue
		}
		res, err := o.client.SubmitChange(ctx, p, &overlay.SubmitChangeRequest{Zone: origin, Cmd: cmd, DryRun: true})
		if err == nil {
			return res.Serial, true, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.ID, err))
		var re *overlay.RemoteError
		if errors.As(err, &re) && (re.Code == overlay.CodeRejected || re.Code == overlay.CodeBadRequest) {
			return 0, true, re
		}
	}
	if len(errs) == 0 {
		return 0, true, fmt.Errorf("%w: the node directory lists no member of group %q", ErrNoGroupMember, group)
	}
	return 0, true, fmt.Errorf("%w: group %s: dry run: %w", ErrNoGroupMember, group, errors.Join(errs...))
}
