package intergroup

// fetch.go: a whole zone from another group. A node whose group does not
// hold a zone asks a member of the group that does (DDNRS-RPC FetchZone)
// for the zone text and its signed head, and uses it only once
// client.Verifier.VerifyZone has checked it against the zone owner's
// key. A copy that fails is counted like a refused answer
// (ddnrs_overlay_refused_answers_total), its sender penalised and the
// next member asked. LocalZone is the other side: what a member hands
// out for a zone its group holds.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/zone"
)

// LocalZone implements overlay.ZoneSource: the text (zone.Write) and
// signed head of a zone this node's group holds.
func (o *Overlay) LocalZone(_ context.Context, origin string) (text, head []byte, err error) {
	origin = zone.CanonicalName(origin)
	z := o.served.Get(origin)
	if z == nil || z.Head == nil {
		return nil, nil, &overlay.RPCError{Code: overlay.CodeNotFound, Message: "zone " + origin + " is not held by this group"}
	}
	var b bytes.Buffer
	if err := zone.Write(&b, z); err != nil {
		return nil, nil, err
	}
	return b.Bytes(), z.Head.Note, nil
}

// FetchZone returns the zone origin as another group of the overlay
// holds it: it finds the group's members in the DHT, asks them best
// scored first for the whole signed zone (DDNRS-RPC FetchZone), and
// returns the first copy that client.Verifier.VerifyZone accepts; a member whose copy
// fails is penalised, counted as a refusal, and the next one asked.
// It never reads the local replica. Errors: ErrNotHosted (wrapped, with
// overlay.ErrNoZone when the DHT knows no group holding origin) when the
// no other group holds the zone; a *client.VerifyError when
// members answered but no copy verified (client.VerifyError); overlay.ErrZoneTooLarge when
// the zone exceeds the size cap; otherwise the members could not be
// reached.
func (o *Overlay) FetchZone(ctx context.Context, origin string) (*zone.Zone, error) {
	origin = zone.CanonicalName(origin)
	// Providers, not FindZone: the zone itself, never an enclosing one.
	provs, err := o.router.Providers(ctx, origin)
	if errors.Is(err, overlay.ErrNoZone) {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotHosted, origin, err)
	}
	if err != nil {
		return nil, fmt.Errorf("looking %s up in the overlay: %w", origin, err)
	}
	var last error
	for {
		resp, p, err := o.client.FetchZone(ctx, provs, origin)
		if err != nil {
			if re, ok := errors.AsType[*overlay.RPCError](err); ok && re.Code == overlay.CodeNotFound {
				err = fmt.Errorf("%w: %s: %w", ErrNotHosted, origin, err)
			}
			if errors.Is(err, overlay.ErrNoProviders) && last != nil {
				// Every member sent a copy that failed verification.
				return nil, last
			}
			return nil, fmt.Errorf("fetching zone %s: %w", origin, errors.Join(err, last))
		}
		z, err := o.verifier.VerifyZone(origin, resp.Zone, resp.Head)
		if err == nil {
			return z, nil
		}
		o.failures.Add(1)
		o.stats.refuse(err)
		o.client.Penalize(p)
		o.log.Warn("zone copy refused", "zone", origin, "peer", p, "err", err)
		last = fmt.Errorf("copy from %s: %w", p, err)
		provs = slices.DeleteFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == p })
	}
}
