package zone

// compact.go: a served zone is held once per member (docs/large-zones.md,
// "Memory"). Its RRsets are packed (packed.go): the records' own owner,
// signer and target names are wire bytes inside each RRset's packed
// form, and what is left as strings is each RRset's Name, which points
// at the one string the zone's index holds for the name.

// shareNames points the name of every RRset of z at its node's. z's
// RRsets must be owned by the caller and not yet shared (New, Assemble).
func (z *Zone) shareNames() {
	z.names.each(func(n *Node) {
		for _, s := range n.RRsets {
			s.Name = n.Name
		}
	})
}
