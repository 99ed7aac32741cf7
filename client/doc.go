// Package client is the DDNRS Go SDK: it verifies DNS answers with
// the zone owner's key alone, so a program can use any DDNRS node, or
// several, without trusting them (docs/sdk.md).
//
// The short API:
//
//   - Resolve with verification: a Resolver asks one node (UDP, TCP,
//     DoT or DoH) with the proofs option and returns the answer once
//     verified. NewQuery builds such a query for a program that sends
//     its own.
//   - Verify a response: Verifier.VerifyResponse checks a reply that
//     carries its proofs (docs/proofs-option.md); Verifier.VerifyAnswer
//     the same parts given separately (a reply's wire form, the zone's
//     signed head, the proof), as nodes pass them to each other over
//     DDNRS-RPC; Verifier.VerifyDNSSEC a plain DNS answer, whose serial
//     it cannot check.
//   - Follow the log: LogState.Follow reads the registry's transparency
//     log, checks each checkpoint's signature and that it extends the
//     one kept before, and gives the owner keys (TrustAnchors) to verify
//     with. Anchors pinned in a file: LoadAnchors.
//
// What a verified answer has passed: the RRSIGs of every RRset with the
// owner's key, the inclusion of every RRset under the zone's signed
// head (Merkle proof), that the response answers the question (the NSEC
// records of a denial or a wildcard answer, the CNAME chain), that the
// additional section holds only addresses the answer calls for, and
// that the zone's serial never goes back (the serial floor, floor.go).
// Verified answers may be kept in a Cache until their TTL or their
// signatures run out. Prove is a member's side: the proof it sends with
// its response. VerifyZone checks a whole zone copied from its group.
//
// Resolver and LogState.Follow use the network, LoadAnchors a file;
// the rest is pure. It sits in the resolution layer beside overlay and
// dnsfront and imports only zone and translog of DDNRS
// (docs/architecture.md).
package client
