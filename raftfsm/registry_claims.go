package raftfsm

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/ddnrs/ddnrs/internal/pmap"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// The claims and their indexes (issue 15 item 2). All three are
// persistent maps (internal/pmap): a batch that claims one zone shares
// all but O(log n) nodes with the state before it, so neither a claim nor
// a dry run of one (FSM.Check) copies or scans every claim. Before, the
// claims were a Go map copied on a batch's first write, placement counted
// every claim and the children check scanned every claim: a dry run took
// 10-26 ms at 10,000 claims and 0.4 s at 100,000 (bench/README.md).
//
// The indexes are derived: snapshots and the store hold the claims only,
// and every loader rebuilds the indexes through setClaim.

// claimIndex is the part of RegistryState that holds the claims.
type claimIndex struct {
	claims pmap.Map[Claim] // by zone
	// below maps every name strictly above a claimed zone (but the
	// root, which no claim may take) to the set of claimed zones below
	// it: checkChildren reads the claims below a new claim from here.
	below pmap.Map[pmap.Map[struct{}]]
	// perGroup counts the claims placed on each group, for place.
	perGroup pmap.Map[int]
	// perLeaseKey counts the leased claims by the key that made them
	// (Lease.Key), for the MaxLeases cap (liveLeases).
	perLeaseKey pmap.Map[int]
}

// claim returns the claim of origin, a canonical name.
func (x *claimIndex) claim(origin string) (Claim, bool) { return x.claims.Get(origin) }

// claimCount is the number of claims.
func (x *claimIndex) claimCount() int { return x.claims.Len() }

// claimsBelow returns the set of zones claimed strictly below origin.
func (x *claimIndex) claimsBelow(origin string) pmap.Map[struct{}] {
	s, _ := x.below.Get(origin)
	return s
}

// setClaim records c (its Zone canonical) in a state not yet shared,
// keeping the indexes.
func (x *claimIndex) setClaim(c Claim) {
	old, had := x.claims.Get(c.Zone)
	x.claims = x.claims.Set(c.Zone, c)
	if had {
		x.countLease(old, -1)
	}
	x.countLease(c, 1)
	if had {
		if old.Group != c.Group {
			x.countGroup(old.Group, -1)
			x.countGroup(c.Group, 1)
		}
		return
	}
	x.countGroup(c.Group, 1)
	for _, a := range ancestors(c.Zone) {
		s, _ := x.below.Get(a)
		x.below = x.below.Set(a, s.Set(c.Zone, struct{}{}))
	}
}

// deleteClaim removes the claim of origin (canonical) from a state not
// yet shared, keeping the indexes; a name not claimed is no change.
func (x *claimIndex) deleteClaim(origin string) {
	old, had := x.claims.Get(origin)
	if !had {
		return
	}
	x.claims = x.claims.Delete(origin)
	x.countGroup(old.Group, -1)
	x.countLease(old, -1)
	for _, a := range ancestors(origin) {
		s, _ := x.below.Get(a)
		if s = s.Delete(origin); s.Len() == 0 {
			x.below = x.below.Delete(a)
		} else {
			x.below = x.below.Set(a, s)
		}
	}
}

func (x *claimIndex) countGroup(g string, d int) { x.perGroup = count(x.perGroup, g, d) }

func (x *claimIndex) countLease(c Claim, d int) {
	if !c.Lease.IsZero() {
		x.perLeaseKey = count(x.perLeaseKey, c.Lease.Key, d)
	}
}

// count adds d to m's count of k, leaving out counts of zero.
func count(m pmap.Map[int], k string, d int) pmap.Map[int] {
	n, _ := m.Get(k)
	if n += d; n == 0 {
		return m.Delete(k)
	}
	return m.Set(k, n)
}

// groupClaims is the number of claims placed on group g.
func (x *claimIndex) groupClaims(g string) int {
	n, _ := x.perGroup.Get(g)
	return n
}

// ancestors lists the names strictly above origin (canonical), the root
// left out: "a.b.example." gives "b.example.", "example.".
func ancestors(origin string) []string {
	var out []string
	for off, end := dns.NextLabel(origin, 0); !end; off, end = dns.NextLabel(origin, off) {
		if a := origin[off:]; a != "." && a != "" {
			out = append(out, a)
		}
	}
	return out
}

// otherPublicKey reports, without parsing the RR, that owner (a claim's
// owner key as the state machine stored it: dk.String() of a key
// ParseOwnerKey accepted) holds an Ed25519 public key other than pk: its
// last field decodes to 32 bytes that differ. False means "maybe the
// same": the caller then applies the one key-equality rule, OwnerKeyIs.
// It spares a full RR parse per child in checkChildren.
func otherPublicKey(owner string, pk []byte) bool {
	field := owner[strings.LastIndexAny(owner, " \t")+1:]
	b, err := base64.StdEncoding.DecodeString(field)
	return err == nil && len(b) == ed25519.PublicKeySize && !bytes.Equal(b, pk)
}

// keepFirst inserts name into first (sorted in canonical order, at most
// n long), keeping only the n first names: naming ten of ten thousand
// children costs about one comparison per child, not a sort of them all.
func keepFirst(first []string, name string, n int) []string {
	if len(first) == n && zone.Compare(name, first[n-1]) >= 0 {
		return first
	}
	i, _ := slices.BinarySearchFunc(first, name, zone.Compare)
	first = slices.Insert(first, i, name)
	if len(first) > n {
		first = first[:n]
	}
	return first
}
