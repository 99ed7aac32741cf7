// Package zone is the DDNRS data model: owner keys, zone files, DNSSEC
// signing (algorithm 15, RFC 8080), the NSEC chain, the Merkle tree over a
// zone's RRsets, the signed zone head and the pure Verify function.
//
// The package is pure: it performs no network and no disk I/O. Callers hand
// it bytes or readers and write what it returns themselves.
package zone
