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
// A follower that has not yet applied a zone its own group just created
// sees its leader as a provider and forwards over DDNRS-RPC too, which
// lands in the same group; a create sent to it is refused as
// zone_exists_elsewhere, where the leader says rejected (zone-exists).

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ddnrs/ddnrs/overlay"
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
