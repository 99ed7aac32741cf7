package zone

import "time"

// Head is a signed zone head (SZH): the zone's name, serial, Merkle leaf
// count and root, and the time the owner made it, signed by the owner key
// as a signed note (golang.org/x/mod/sumdb/note).
type Head struct {
	Zone   string    // canonical zone name
	Serial uint32    // SOA serial the tree was built from
	Size   uint64    // number of leaves (RRsets, RRSIGs excluded)
	Root   [32]byte  // RFC 6962 Merkle tree hash
	Time   time.Time // when the owner signed the head, UTC, second precision
	// Note is the signed note's text, signature lines included; it is what
	// travels and what is verified.
	Note []byte
}
