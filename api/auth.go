package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// keyPrefix starts every API key: "ddnrs_<16 hex id>_<43 base64url>".
const keyPrefix = "ddnrs_"

// Actions a key's scope may grant.
const (
	ActionRead   = "read"
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionAdmin  = "admin" // reviewer: applications, keys, suspensions; implies the others
)

var allActions = []string{ActionRead, ActionCreate, ActionUpdate, ActionDelete, ActionAdmin}

// newKey returns a fresh key string, its id and the hash the registry
// stores: id = 8 random bytes hex, secret = 32 random bytes base64url
// without padding, hash = SHA-256 of the whole string.
func newKey() (key, id string, hash [32]byte, err error) {
	var idb [8]byte
	var sec [32]byte
	if _, err = rand.Read(idb[:]); err != nil {
		return "", "", hash, err
	}
	if _, err = rand.Read(sec[:]); err != nil {
		return "", "", hash, err
	}
	id = hex.EncodeToString(idb[:])
	key = keyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:])
	return key, id, sha256.Sum256([]byte(key)), nil
}

// newToken returns a random application status token and its hash.
func newToken() (token string, hash [32]byte, err error) {
	var b [32]byte
	if _, err = rand.Read(b[:]); err != nil {
		return "", hash, err
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, sha256.Sum256([]byte(token)), nil
}

// newID returns 8 random bytes, hex: application ids.
func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// parseKey returns the id of a well-formed key string.
func parseKey(key string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 43 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", false
	}
	return id, true
}

// bearer returns the request's credential: the Authorization Bearer value,
// else the web pages' cookie ddnrs_key.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(v)
		}
		return ""
	}
	if c, err := r.Cookie("ddnrs_key"); err == nil {
		return c.Value
	}
	return ""
}

// authenticate returns the request's API key (Bearer header, or cookie
// ddnrs_key for the web pages), checked against the registry by the hash
// of the whole key string in constant time. It returns ErrUnauthenticated,
// ErrKeyRevoked, ErrKeyExpired, or ErrNotRegistry when this node has no
// registry state.
func (s *Server) authenticate(r *http.Request) (raftfsm.APIKey, error) {
	raw := bearer(r)
	if raw == "" {
		return raftfsm.APIKey{}, fmt.Errorf("%w: send Authorization: Bearer ddnrs_...", ErrUnauthenticated)
	}
	id, ok := parseKey(raw)
	if !ok {
		return raftfsm.APIKey{}, fmt.Errorf("%w: malformed key", ErrUnauthenticated)
	}
	if st := stateOf(r.Context()); st != nil {
		st.keyID = id
	}
	reg, err := s.b.Registry()
	if err != nil {
		return raftfsm.APIKey{}, err
	}
	k, found := reg.Key(id)
	sum := sha256.Sum256([]byte(raw))
	if subtle.ConstantTimeCompare(sum[:], k.Hash[:]) != 1 || !found {
		return raftfsm.APIKey{}, fmt.Errorf("%w: unknown key", ErrUnauthenticated)
	}
	if k.Revoked {
		return raftfsm.APIKey{}, fmt.Errorf("%w: key %s was revoked", ErrKeyRevoked, id)
	}
	if !k.Expires.IsZero() && !s.b.Now().Before(k.Expires) {
		return raftfsm.APIKey{}, fmt.Errorf("%w: key %s expired at %s", ErrKeyExpired, id, k.Expires.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if err := checkAncestors(reg, k, s.b.Now()); err != nil {
		return raftfsm.APIKey{}, err
	}
	return k, nil
}

// isAdmin reports whether k is a reviewer key.
func isAdmin(k raftfsm.APIKey) bool { return slices.Contains(k.Scope.Actions, ActionAdmin) }

// requireAdmin fails unless k has the admin action.
func requireAdmin(k raftfsm.APIKey) error {
	if !isAdmin(k) {
		return &ScopeError{What: "action", Detail: "the key lacks the admin action"}
	}
	return nil
}

// allowAction fails unless k grants action (admin grants every action).
func allowAction(k raftfsm.APIKey, action string) error {
	if slices.Contains(k.Scope.Actions, action) || isAdmin(k) {
		return nil
	}
	return &ScopeError{What: "action", Detail: fmt.Sprintf("the key lacks the %s action", action)}
}

// suffixCovers reports whether scope suffix sfx covers the zone name.
func suffixCovers(sfx, name string) bool {
	sfx = zone.CanonicalName(sfx)
	return sfx == "." || zone.IsSubDomain(sfx, zone.CanonicalName(name))
}

// allowZone fails unless k may do action on zone origin: the action, and
// a suffix covering origin.
func allowZone(k raftfsm.APIKey, action, origin string) error {
	if err := allowAction(k, action); err != nil {
		return err
	}
	for _, sfx := range k.Scope.Suffixes {
		if suffixCovers(sfx, origin) {
			return nil
		}
	}
	return &ScopeError{What: "suffix", Detail: fmt.Sprintf("zone %s is under none of the key's suffixes %v", origin, k.Scope.Suffixes)}
}

// relativeName is owner relative to origin: "@" for the apex, else the
// labels before the origin, lower-case.
func relativeName(owner, origin string) string {
	owner, origin = zone.CanonicalName(owner), zone.CanonicalName(origin)
	if owner == origin {
		return "@"
	}
	if origin == "." {
		return strings.TrimSuffix(owner, ".")
	}
	return strings.TrimSuffix(owner, "."+origin)
}

// allowRRset fails unless k's label patterns and types cover the RRset
// (owner, t) of zone origin. Patterns match the name relative to the zone
// label by label (raftfsm.MatchLabels: "*" is one label, "**" one or
// more, "@" the apex).
func allowRRset(k raftfsm.APIKey, origin, owner string, t uint16) error {
	if len(k.Scope.Labels) > 0 {
		rel := relativeName(owner, origin)
		ok := false
		for _, g := range k.Scope.Labels {
			if raftfsm.MatchLabels(g, rel) {
				ok = true
				break
			}
		}
		if !ok {
			return &ScopeError{What: "label", Detail: fmt.Sprintf("%s matches none of the key's label patterns %v", owner, k.Scope.Labels)}
		}
	}
	if len(k.Scope.Types) > 0 {
		name := dns.TypeToString[t]
		ok := false
		for _, ty := range k.Scope.Types {
			if strings.EqualFold(ty, name) {
				ok = true
				break
			}
		}
		if !ok {
			return &ScopeError{What: "type", Detail: fmt.Sprintf("type %s of %s is not among the key's types %v", name, owner, k.Scope.Types)}
		}
	}
	return nil
}

// bookkeeping reports RRsets every signed change touches whatever it
// changes, so label and type scopes do not apply to them: NSEC/NSEC3
// chains (a new name changes its predecessor's NSEC), and a put of the
// apex SOA that changes its serial and nothing else (old holds the SOA it
// is compared with; without old, or with any other field, TTL included,
// changed, the SOA counts as data and the key's scope must cover it).
func bookkeeping(old *zone.Zone, origin string, p *zone.RRset) bool {
	switch p.Type {
	case dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM:
		return true
	case dns.TypeSOA:
		return zone.CanonicalName(p.Name) == zone.CanonicalName(origin) && serialOnly(old, p)
	}
	return false
}

// serialOnly reports whether p, an apex SOA put, equals old's apex SOA
// but for the serial.
func serialOnly(old *zone.Zone, p *zone.RRset) bool {
	if old == nil || p.NumRecords() != 1 {
		return false
	}
	n := old.Node(zone.CanonicalName(p.Name))
	if n == nil {
		return false
	}
	o := n.RRset(dns.TypeSOA)
	if o == nil || o.TTL != p.TTL || o.NumRecords() != 1 {
		return false
	}
	was, ok1 := o.First().(*dns.SOA)
	now, ok2 := p.First().(*dns.SOA)
	if !ok1 || !ok2 {
		return false
	}
	c := *now
	c.Hdr = was.Hdr
	c.Serial = was.Serial
	return dns.IsDuplicate(&c, was)
}

// allowChange checks a change set against k's label and type scope: every
// RRset it puts whose records differ from old's (signature refreshes do
// not count), and every RRset it deletes, bookkeeping RRsets aside. old is
// the group's current zone, nil when unknown (every put then counts).
func allowChange(k raftfsm.APIKey, old *zone.Zone, cs zone.ChangeSet) error {
	if len(k.Scope.Labels) == 0 && len(k.Scope.Types) == 0 {
		return nil
	}
	origin := cs.Zone
	for _, p := range cs.Put {
		if bookkeeping(old, origin, p) || sameData(old, p) {
			continue
		}
		if err := allowRRset(k, origin, p.Name, p.Type); err != nil {
			return err
		}
	}
	for _, d := range cs.Delete {
		if d.Type == dns.TypeNSEC || d.Type == dns.TypeNSEC3 || d.Type == dns.TypeNSEC3PARAM {
			continue // the chain follows the names: bookkeeping
		}
		if err := allowRRset(k, origin, d.Name, d.Type); err != nil {
			return err
		}
	}
	return nil
}

// sameData reports whether old holds p's RRset with the same TTL and
// records (only its signatures may differ).
func sameData(old *zone.Zone, p *zone.RRset) bool {
	if old == nil {
		return false
	}
	n := old.Node(zone.CanonicalName(p.Name))
	if n == nil {
		return false
	}
	o := n.RRset(p.Type)
	if o == nil || o.TTL != p.TTL || o.NumRecords() != p.NumRecords() {
		return false
	}
	for _, rr := range p.Records() {
		found := false
		for _, orr := range o.Records() {
			if dns.IsDuplicate(rr, orr) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
