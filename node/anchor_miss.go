package node

// anchor_miss.go: which refusals of another group's answer a fresh poll
// of the registry's log may lift (logfollow/anchor_miss.go says how the
// poll on a miss is made).

import (
	"errors"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// anchorMiss reports whether err is a refusal that the anchors of a
// later checkpoint of the log may lift: no anchor for the zone, or a
// head whose signature the known keys do not verify (a rotation this
// node has not read yet).
func anchorMiss(err error) bool {
	return errors.Is(err, client.ErrNoTrustAnchor) || errors.Is(err, zone.ErrBadSignature)
}
