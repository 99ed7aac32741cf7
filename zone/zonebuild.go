package zone

// build makes a Zone from RRsets that already obey New's rules: canonical
// owner names at or below origin, one TTL per RRset, one SOA at the apex,
// no CNAME beside other data. It takes ownership of sets and their
// records (they are neither copied nor checked); RRSIGs stay in each
// RRset's Sigs. Signing and incremental changes use it to make the new,
// immutable Zone they return.
func build(origin string, sets []*RRset) *Zone {
	z := &Zone{Origin: origin}
	for _, s := range sets {
		n := z.node(s.Name)
		n.RRsets = append(n.RRsets, s)
	}
	z.index()
	return z
}
