// Package client verifies DDNRS answers: any Go program that holds a
// zone owner's public key (pinned, or taken from the registry's
// transparency log) checks with it that an answer is the owner's, as a
// DDNRS node does for answers it gets from another group.
//
// A member of the zone's group answers a question with its DNS response,
// the zone's signed head and a Merkle proof of every RRset in the
// response (Answer, made by Prove). Verifier.VerifyAnswer checks all of
// it against the owner's key (Anchors): the RRSIGs, the inclusion of
// every RRset under the head's root, that the response answers the
// question (the NSEC records of a denial or a wildcard answer), that the
// additional section holds only addresses the answer calls for, and that
// the zone's serial never goes back. Verified answers may be kept in a
// Cache until their TTL or their signatures run out. VerifyZone does the
// same for a whole zone copied from its group.
//
// The package is pure except for LoadAnchors (reads a file): no network.
// It sits in the resolution layer beside overlay and dnsfront and imports
// only zone of DDNRS (docs/architecture.md).
package client
