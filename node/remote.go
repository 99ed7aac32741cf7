package node

// remote.go: answers that cross groups. A node answering a zone another
// group holds asks a member of that group (over DDNRS-RPC) and receives
// the member's DNS response, the zone's signed head and a Merkle proof of
// every RRset in the response, the additional section's included: the
// addresses of NS, MX and SRV targets and a referral's glue, as the
// owning group answers a client itself (dnsfront/additional.go). Nothing
// of it is served or cached before VerifyRemote has checked it against
// the zone owner's key: the RRSIGs (glue is unsigned, RFC 4035 §2.2, and
// vouched for by its Merkle leaf alone), the inclusion of every RRset
// under the head's root, that the response answers the question (NSEC
// denial for negative answers, the NSEC covering the query name for
// wildcard answers), that every additional RRset is an address of a
// target the answer or authority section names, and that the head's
// serial is not below the highest one already verified for the zone.
// AnswerLocal is the other side: what a member returns for a zone it
// holds.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/zone"
)

var (
	// ErrNoTrustAnchor is returned by VerifyRemote when no owner key is
	// configured for the zone enclosing the question.
	ErrNoTrustAnchor = errors.New("no trust anchor for the zone")
	// ErrStaleSerial is returned by VerifyRemote when the head's serial is
	// below the highest serial already verified for the zone (a rollback
	// to an older version of the zone).
	ErrStaleSerial = errors.New("zone serial older than one already seen")
	// ErrExpired is returned by VerifyRemote when a signature of the
	// answer has expired by the verifier's clock.
	ErrExpired = errors.New("answer signature expired")
	// ErrNotAnswer is returned by VerifyRemote when the response, though
	// made of genuine records, does not answer the question: wrong
	// owner or type, a missing or non-covering NSEC, a broken CNAME chain.
	ErrNotAnswer = errors.New("response does not answer the question")
	// ErrNSECMissing is returned by VerifyRemote, beside ErrNotAnswer,
	// when a negative or wildcard answer lacks the NSEC record that
	// proves it.
	ErrNSECMissing = errors.New("NSEC proof missing")
	// ErrUnexpectedAdditional is returned by VerifyRemote, beside
	// ErrNotAnswer, when the additional section holds an RRset the
	// owning group never puts there: not an A or AAAA RRset, or owned by
	// a name no NS, MX or SRV record of the answer or authority section
	// names as its target.
	ErrUnexpectedAdditional = errors.New("additional record not called for by the answer")
	// ErrBadResponse is returned by VerifyRemote when the DNS message,
	// head or proof cannot be decoded, or the response is not one the
	// owning group gives (not NOERROR or NXDOMAIN).
	ErrBadResponse = errors.New("malformed remote response")
	// ErrNotHosted is returned by AnswerLocal when the node holds no
	// signed zone enclosing the name.
	ErrNotHosted = errors.New("zone not held here")
)

// VerifyError says why a remote answer was refused: the zone, the serial
// of the head it came with (0 when unreadable), and the cause, which
// wraps one of the sentinels above or of package zone.
type VerifyError struct {
	Zone   string
	Serial uint32
	Err    error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("answer for %s (serial %d) refused: %v", e.Zone, e.Serial, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// EDE returns the Extended DNS Error (RFC 8914) info code that describes
// e to a client: Signature Expired, DNSKEY Missing, NSEC Missing, or
// DNSSEC Bogus for everything else.
func (e *VerifyError) EDE() uint16 {
	switch {
	case errors.Is(e.Err, ErrExpired), errors.Is(e.Err, zone.ErrSignatureWindow):
		return dns.ExtendedErrorCodeSignatureExpired
	case errors.Is(e.Err, ErrNoTrustAnchor):
		return dns.ExtendedErrorCodeDNSKEYMissing
	case errors.Is(e.Err, ErrNSECMissing):
		return dns.ExtendedErrorCodeNSECMissing
	}
	return dns.ExtendedErrorCodeDNSBogus
}

// Anchors maps canonical zone origins to their owner keys, the only trust
// a node places in answers from other groups.
type Anchors map[string]*zone.Key

// find returns the anchor of the closest enclosing zone of name.
func (a Anchors) find(name string) (string, *zone.Key) {
	for n := name; n != ""; n = zone.Parent(n) {
		if k := a[n]; k != nil {
			return n, k
		}
	}
	return "", nil
}

// Verifier checks remote answers and remembers, per zone, the highest
// serial it has verified. It is safe for concurrent use.
type Verifier struct {
	anchors Anchors
	// logAnchors are the owner keys learnt from the registry's log
	// (follow.go), swapped whole; the configured anchors win for a zone
	// both name.
	logAnchors atomic.Pointer[Anchors]
	now        func() time.Time

	mu      sync.Mutex
	highest map[string]uint32 // zone -> highest serial verified
	// previous are owner keys replaced in the log, still accepted for
	// their zone until they expire or an answer signed by the zone's
	// current anchor is verified (rotation.go); dropped tells the
	// follower about such a drop.
	previous    map[string]PreviousAnchor
	droppedKeys map[string]*zone.Key // dropped, still listed by the follower
	dropped     func(origin string, k *zone.Key)

	// heads keeps, per zone, the last head whose signature verified:
	// every answer of a zone at one serial carries the same head, and its
	// Ed25519 check was two of the three a warm answer cost.
	headMu sync.Mutex
	heads  map[string]verifiedHead
}

// verifiedHead is a head note that verified under a key.
type verifiedHead struct {
	sum [32]byte // SHA-256 of the note
	key string   // the key's public key, base64 as in the DNSKEY
	h   *zone.Head
}

// parseHead is zone.ParseHead for origin's answers, remembering the last
// head that verified per zone: the same bytes under the same key verify
// the same way.
func (v *Verifier) parseHead(origin string, head []byte, k *zone.Key) (*zone.Head, error) {
	sum := sha256.Sum256(head)
	v.headMu.Lock()
	c, ok := v.heads[origin]
	v.headMu.Unlock()
	if ok && c.sum == sum && c.key == k.DNSKEY.PublicKey {
		return c.h, nil
	}
	h, err := zone.ParseHead(head, k)
	if err != nil {
		return nil, err
	}
	v.headMu.Lock()
	if v.heads == nil {
		v.heads = make(map[string]verifiedHead)
	}
	v.heads[origin] = verifiedHead{sum: sum, key: k.DNSKEY.PublicKey, h: h}
	v.headMu.Unlock()
	return h, nil
}

// NewVerifier returns a Verifier trusting anchors. now is the clock for
// signature expiry; nil means time.Now.
func NewVerifier(anchors Anchors, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{anchors: anchors, now: now, highest: make(map[string]uint32)}
}

// SetLogAnchors replaces the anchors learnt from the registry's log.
// Any goroutine may call it.
func (v *Verifier) SetLogAnchors(a Anchors) { v.logAnchors.Store(&a) }

// find returns the anchor of the closest enclosing zone of name, from
// the configured anchors or the registry's log.
func (v *Verifier) find(name string) (string, *zone.Key) {
	la := v.logAnchors.Load()
	if la == nil || len(*la) == 0 {
		return v.anchors.find(name)
	}
	for n := name; n != ""; n = zone.Parent(n) {
		if k := v.anchors[n]; k != nil {
			return n, k
		}
		if k := (*la)[n]; k != nil {
			return n, k
		}
	}
	return "", nil
}

// anchor returns origin's own anchor (configured, else from the log).
func (v *Verifier) anchor(origin string) *zone.Key {
	if k := v.anchors[origin]; k != nil {
		return k
	}
	if la := v.logAnchors.Load(); la != nil {
		return (*la)[origin]
	}
	return nil
}

// Highest returns the highest serial verified for zone and whether one was.
func (v *Verifier) Highest(origin string) (uint32, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.highest[origin]
	return s, ok
}

// Verified is a remote answer that passed VerifyRemote.
type Verified struct {
	Zone   string
	Serial uint32
	// Msg is the response as the member sent it, every section whole:
	// the additional section's addresses verified like the rest.
	Msg *dns.Msg
	// TTL is how long the answer may be served: the smallest TTL of its
	// records (for a negative answer the SOA's, bounded by its MINIMUM,
	// RFC 2308 §5) and the time left before its first signature expires.
	TTL time.Duration
	// Hash identifies what was verified (AuditHash).
	Hash [32]byte
	// Audit is the path the answer took, filled in by the caller of
	// VerifyRemote (the member that answered first, this node last).
	Audit []dnsfront.AuditHop
}

// VerifyRemote checks the response msg (DNS wire form) that a member of
// another group returned for (name, t), with the zone's signed head and
// the proof (zone.Proof binary form) of every RRset in its answer,
// authority and additional sections. An additional RRset must lie in the
// zone (zone.ErrWrongZone), be the A or AAAA RRset of an NS, MX or SRV
// target of the answer or authority section (ErrUnexpectedAdditional),
// and be proven like the others: signed by the owner, or glue (unsigned
// addresses) included under the head's root. On success it raises the
// zone's highest serial. Any error is a *VerifyError.
func (v *Verifier) VerifyRemote(name string, t uint16, msg, head, proof []byte) (*Verified, error) {
	name = zone.CanonicalName(name)
	origin, key := v.find(name)
	if key == nil {
		return nil, &VerifyError{Zone: name, Err: ErrNoTrustAnchor}
	}
	fail := func(serial uint32, err error) (*Verified, error) {
		return nil, &VerifyError{Zone: origin, Serial: serial, Err: err}
	}
	h, err := v.parseHead(origin, head, key)
	current := true
	if err != nil {
		if pk := v.previousKey(origin); pk != nil {
			if ph, perr := v.parseHead(origin, head, pk); perr == nil {
				h, err, key, current = ph, nil, pk, false
			}
		}
	}
	if err != nil {
		return fail(0, err)
	}
	if h.Zone != origin {
		return fail(h.Serial, zone.ErrWrongZone)
	}
	if hi, ok := v.Highest(origin); ok && serialLess(h.Serial, hi) {
		return fail(h.Serial, fmt.Errorf("%w: %d < %d", ErrStaleSerial, h.Serial, hi))
	}
	m := new(dns.Msg)
	if err := m.Unpack(msg); err != nil {
		return fail(h.Serial, fmt.Errorf("%w: %v", ErrBadResponse, err))
	}
	if len(m.Question) != 1 || zone.CanonicalName(m.Question[0].Name) != name || m.Question[0].Qtype != t {
		return fail(h.Serial, fmt.Errorf("%w: question differs", ErrNotAnswer))
	}
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return fail(h.Serial, fmt.Errorf("%w: rcode %s", ErrBadResponse, dns.RcodeToString[m.Rcode]))
	}
	if err := checkAdditional(m, origin); err != nil {
		return fail(h.Serial, err)
	}
	sets, err := responseRRsets(m)
	if err != nil {
		return fail(h.Serial, err)
	}
	if len(sets) == 0 {
		return fail(h.Serial, fmt.Errorf("%w: empty response", ErrNotAnswer))
	}
	p := new(zone.Proof)
	if err := p.UnmarshalBinary(proof); err != nil {
		return fail(h.Serial, err)
	}
	a := zone.Answer{Name: sets[0].Name, Type: sets[0].Type, RRsets: sets}
	if err := zone.VerifyParsed(a, p, h, key); err != nil {
		return fail(h.Serial, err)
	}
	if err := answers(m, name, t, origin); err != nil {
		return fail(h.Serial, err)
	}
	now := v.now()
	ttl, err := answerTTL(m, now)
	if err != nil {
		return fail(h.Serial, err)
	}
	v.mu.Lock()
	if hi, ok := v.highest[origin]; ok && serialLess(h.Serial, hi) {
		v.mu.Unlock()
		return fail(h.Serial, fmt.Errorf("%w: %d < %d", ErrStaleSerial, h.Serial, hi))
	}
	v.highest[origin] = h.Serial
	v.mu.Unlock()
	if current {
		v.dropPrevious(origin)
	}
	return &Verified{Zone: origin, Serial: h.Serial, Msg: m, TTL: ttl, Hash: AuditHash(head, proof, msg)}, nil
}

// AuditHash is the hash an audit hop carries: SHA-256 over a version
// byte (1) and the head, proof and DNS message, each prefixed with its
// length as a big-endian uint32 (docs/audit-option.md).
func AuditHash(head, proof, msg []byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	h.Write([]byte{1})
	for _, b := range [][]byte{head, proof, msg} {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// checkAdditional checks that every record of m's additional section
// (the OPT aside) is one the owning group puts there (dnsfront's
// additional): an A or AAAA record, or its RRSIG, inside zone origin and
// owned by the target of an NS, MX or SRV record of the answer or
// authority section. Whether the records are genuine is zone.Verify's
// job, with the rest of the response.
func checkAdditional(m *dns.Msg, origin string) error {
	var targets map[string]bool
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			target, ok := dnsfront.AdditionalTarget(rr)
			if !ok {
				continue
			}
			if targets == nil {
				targets = make(map[string]bool)
			}
			targets[zone.CanonicalName(target)] = true
		}
	}
	for _, rr := range m.Extra {
		h := rr.Header()
		t := h.Rrtype
		switch t {
		case dns.TypeOPT:
			continue
		case dns.TypeRRSIG:
			t = rr.(*dns.RRSIG).TypeCovered
		}
		owner := zone.CanonicalName(h.Name)
		switch {
		case !zone.IsSubDomain(origin, owner):
			return &zone.RecordError{Name: owner, Type: t, Err: fmt.Errorf("%w: additional record outside %s", zone.ErrWrongZone, origin)}
		case t != dns.TypeA && t != dns.TypeAAAA:
			return fmt.Errorf("%w: %w: %s %s", ErrNotAnswer, ErrUnexpectedAdditional, owner, dns.TypeToString[t])
		case !targets[owner]:
			return fmt.Errorf("%w: %w: %s %s is no NS, MX or SRV target of the response", ErrNotAnswer, ErrUnexpectedAdditional, owner, dns.TypeToString[t])
		}
	}
	return nil
}

// responseRRsets groups the records of m's answer, authority and
// additional sections (OPT aside) into RRsets, in order of first
// appearance per section, with their RRSIGs. A wildcard expansion (an
// RRSIG whose Labels is below the owner's label count, RFC 4035 §5.3.2)
// gets back its stored "*" owner, so the RRset is the one the zone's tree
// holds. Both AnswerLocal (to prove) and VerifyRemote (to check) use it.
func responseRRsets(m *dns.Msg) ([]*zone.RRset, error) {
	var out []*zone.RRset
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		type key struct {
			name string
			t    uint16
		}
		idx := make(map[key]*zone.RRset)
		var order []*zone.RRset
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			t := h.Rrtype
			sig, isSig := rr.(*dns.RRSIG)
			if isSig {
				t = sig.TypeCovered
			}
			k := key{zone.CanonicalName(h.Name), t}
			s := idx[k]
			if s == nil {
				s = &zone.RRset{Name: k.name, Type: t, TTL: h.Ttl}
				idx[k] = s
				order = append(order, s)
			}
			if isSig {
				s.Sigs = append(s.Sigs, sig)
			} else {
				s.RRs = append(s.RRs, rr)
			}
		}
		for _, s := range order {
			if len(s.RRs) == 0 {
				return nil, fmt.Errorf("%w: RRSIG without records at %s %s", ErrNotAnswer, s.Name, dns.TypeToString[s.Type])
			}
			if w := wildcardOwner(s); w != "" {
				s = unexpand(s, w)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// wildcardOwner returns the wildcard name s was expanded from, or "".
func wildcardOwner(s *zone.RRset) string {
	if len(s.Sigs) == 0 {
		return ""
	}
	labels := dns.CountLabel(s.Name)
	l := int(s.Sigs[0].Labels)
	if l >= labels {
		return ""
	}
	idx := dns.Split(s.Name)
	return "*." + s.Name[idx[labels-l]:]
}

// unexpand returns a copy of s owned by w.
func unexpand(s *zone.RRset, w string) *zone.RRset {
	c := &zone.RRset{Name: w, Type: s.Type, TTL: s.TTL}
	for _, sig := range s.Sigs {
		sig = dns.Copy(sig).(*dns.RRSIG)
		sig.Hdr.Name = w
		c.Sigs = append(c.Sigs, sig)
	}
	for _, rr := range s.RRs {
		rr = dns.Copy(rr)
		rr.Header().Name = w
		c.RRs = append(c.RRs, rr)
	}
	return c
}

// answers checks that m, whose records are genuine, answers (name, t) of
// zone origin: the first answer RRset is at name (or a CNAME there), a
// CNAME chain links up, wildcard expansions come with the NSEC covering
// the expanded name, and a negative answer carries the NSEC records that
// deny the name or type (RFC 4035 §3.1.3).
func answers(m *dns.Msg, name string, t uint16, origin string) error {
	var nsecs []*dns.NSEC
	hasSOA := false
	for _, rr := range m.Ns {
		switch r := rr.(type) {
		case *dns.NSEC:
			nsecs = append(nsecs, r)
		case *dns.SOA:
			hasSOA = zone.CanonicalName(r.Hdr.Name) == origin
		}
	}
	// Follow the answer section from name.
	cur := name
	found := false
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG {
			if sig := rr.(*dns.RRSIG); int(sig.Labels) < dns.CountLabel(h.Name) {
				if !covered(nsecs, zone.CanonicalName(h.Name)) {
					return fmt.Errorf("%w: %w: wildcard answer for %s without a covering NSEC", ErrNotAnswer, ErrNSECMissing, h.Name)
				}
			}
			continue
		}
		owner := zone.CanonicalName(h.Name)
		if owner != cur {
			return fmt.Errorf("%w: answer record %s is not at %s", ErrNotAnswer, owner, cur)
		}
		switch {
		case h.Rrtype == t || t == dns.TypeANY:
			found = true
		case h.Rrtype == dns.TypeCNAME:
			cur = zone.CanonicalName(rr.(*dns.CNAME).Target)
		default:
			return fmt.Errorf("%w: answer record %s %s for type %s", ErrNotAnswer, owner, dns.TypeToString[h.Rrtype], dns.TypeToString[t])
		}
	}
	if found && m.Rcode == dns.RcodeSuccess {
		return nil
	}
	if !zone.IsSubDomain(origin, cur) {
		// A chain that leaves the zone ends here; the client follows it.
		if m.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%w: NXDOMAIN for a name outside the zone", ErrNotAnswer)
		}
		return nil
	}
	if m.Rcode == dns.RcodeSuccess && !hasSOA {
		// A referral: NS records at a cut above cur, no SOA.
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNS {
				cut := zone.CanonicalName(rr.Header().Name)
				if cut != origin && zone.IsSubDomain(cut, cur) {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: no answer, SOA or referral for %s", ErrNotAnswer, cur)
	}
	if !hasSOA {
		return fmt.Errorf("%w: negative answer without the zone's SOA", ErrNotAnswer)
	}
	if m.Rcode == dns.RcodeNameError {
		return denyName(nsecs, cur)
	}
	return denyType(nsecs, cur, t)
}

// denyName checks the NSEC proof of NXDOMAIN for name: an NSEC covers name
// and one covers the wildcard at its closest encloser.
func denyName(nsecs []*dns.NSEC, name string) error {
	var n *dns.NSEC
	for _, r := range nsecs {
		if nsecCovers(r, name) {
			n = r
			break
		}
	}
	if n == nil {
		return fmt.Errorf("%w: %w: no NSEC covers %s", ErrNotAnswer, ErrNSECMissing, name)
	}
	ce := closestEncloser(name, n)
	if !covered(nsecs, "*."+ce) {
		return fmt.Errorf("%w: %w: no NSEC denies the wildcard *.%s", ErrNotAnswer, ErrNSECMissing, ce)
	}
	return nil
}

// denyType checks the NSEC proof of NODATA for (name, t): the NSEC at name
// without t or CNAME; or, for an empty non-terminal, the NSEC covering name
// whose next name is below it; or a wildcard NODATA (the NSEC covering
// name and the NSEC at the wildcard without t).
func denyType(nsecs []*dns.NSEC, name string, t uint16) error {
	for _, r := range nsecs {
		owner := zone.CanonicalName(r.Hdr.Name)
		if owner == name {
			if hasType(r, t) || hasType(r, dns.TypeCNAME) {
				return fmt.Errorf("%w: NSEC at %s lists the type denied", ErrNotAnswer, name)
			}
			return nil
		}
	}
	for _, r := range nsecs {
		if !nsecCovers(r, name) {
			continue
		}
		if next := zone.CanonicalName(r.NextDomain); zone.IsSubDomain(name, next) && next != name {
			return nil // empty non-terminal
		}
		w := "*." + closestEncloser(name, r)
		for _, x := range nsecs {
			if zone.CanonicalName(x.Hdr.Name) == w && !hasType(x, t) && !hasType(x, dns.TypeCNAME) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %w: no NSEC denies %s %s", ErrNotAnswer, ErrNSECMissing, name, dns.TypeToString[t])
}

func hasType(r *dns.NSEC, t uint16) bool {
	for _, x := range r.TypeBitMap {
		if x == t {
			return true
		}
	}
	return false
}

func covered(nsecs []*dns.NSEC, name string) bool {
	for _, r := range nsecs {
		if nsecCovers(r, name) {
			return true
		}
	}
	return false
}

// nsecCovers reports whether name sorts strictly between r's owner and
// next name, the last NSEC of the chain (next name before the owner)
// covering everything after its owner.
func nsecCovers(r *dns.NSEC, name string) bool {
	owner, next := zone.CanonicalName(r.Hdr.Name), zone.CanonicalName(r.NextDomain)
	if zone.Compare(owner, name) >= 0 {
		return false
	}
	if zone.Compare(owner, next) >= 0 { // last in the chain
		return zone.IsSubDomain(next, name)
	}
	return zone.Compare(name, next) < 0
}

// closestEncloser is the longest ancestor of name that exists, judged from
// the NSEC covering name: the longer of the common suffixes of name with
// its owner and with its next name (RFC 4592 §3.3.1).
func closestEncloser(name string, r *dns.NSEC) string {
	a := commonSuffix(name, zone.CanonicalName(r.Hdr.Name))
	b := commonSuffix(name, zone.CanonicalName(r.NextDomain))
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

func commonSuffix(a, b string) string {
	n := dns.CompareDomainName(a, b)
	if n == 0 {
		return "."
	}
	idx := dns.Split(a)
	return a[idx[len(idx)-n]:]
}

// answerTTL is how long m may be cached at now: the smallest TTL of its
// records in every section, the additional addresses included (the SOA's
// bounded by its MINIMUM for a negative answer, RFC 2308 §5), and no
// later than the first expiry of any of its signatures.
func answerTTL(m *dns.Msg, now time.Time) (time.Duration, error) {
	ttl := uint32(1<<31 - 1)
	expire := int64(1<<62 - 1)
	negative := m.Rcode == dns.RcodeNameError
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue // its TTL field holds flags, not a TTL
			}
			ttl = min(ttl, rr.Header().Ttl)
			switch r := rr.(type) {
			case *dns.RRSIG:
				exp := sigTime(r.Expiration, now)
				if exp <= now.Unix() {
					return 0, fmt.Errorf("%w: RRSIG %s %s at %s", ErrExpired, r.Hdr.Name, dns.TypeToString[r.TypeCovered], time.Unix(exp, 0).UTC())
				}
				expire = min(expire, exp)
			case *dns.SOA:
				if negative || len(m.Answer) == 0 {
					ttl = min(ttl, r.Minttl)
				}
			}
		}
	}
	d := time.Duration(ttl) * time.Second
	if left := time.Unix(expire, 0).Sub(now); left < d {
		d = left
	}
	return d, nil
}

// sigTime turns an RRSIG's 32-bit time into Unix seconds, in the window
// of 68 years around now (RFC 4034 §3.1.5).
func sigTime(t uint32, now time.Time) int64 {
	n := now.Unix()
	d := int64(int32(t - uint32(n)))
	return n + d
}

// LocalAnswer is what a member returns for a zone its group holds.
type LocalAnswer struct {
	Msg   []byte // DNS response, as the node's handler gives it with DO set
	Head  []byte // the zone's signed head note
	Proof []byte // zone.Proof of every RRset in Msg (responseRRsets)
	Hash  [32]byte
}

// oneZone is a dnsfront.Reader over one zone snapshot, so the answer and
// its proof are computed from the same version.
type oneZone struct{ z *zone.Zone }

func (o oneZone) Zone(name string) *zone.Zone {
	if zone.IsSubDomain(o.z.Origin, name) {
		return o.z
	}
	return nil
}

// AnswerLocal answers (name, t) from the signed zone zones holds for it,
// with the DO bit set, and proves every RRset of the response against the
// zone's head, the additional section's addresses included (asked over
// TCP, the response is whole; the node relaying it to a client shrinks or
// truncates it for the client's transport, as for a zone it holds). It returns ErrNotHosted when zones has no signed zone
// enclosing name. It is safe for concurrent use; the RPC server calls it
// from its stream goroutines.
func AnswerLocal(zones dnsfront.Reader, name string, t uint16) (*LocalAnswer, error) {
	name = zone.CanonicalName(name)
	z := zones.Zone(name)
	if z == nil || z.Head == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotHosted, name)
	}
	h := dnsfront.NewHandler(oneZone{z}, dnsfront.Options{PadBlock: -1, TCPKeepalive: -1})
	req := new(dns.Msg)
	req.SetQuestion(name, t)
	req.RecursionDesired = false
	req.SetEdns0(dns.MaxMsgSize, true)
	resp := new(dns.Msg)
	h.Answer(req, resp, dnsfront.TCP)
	msg, err := resp.Pack()
	if err != nil {
		return nil, err
	}
	sets, err := responseRRsets(resp)
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: %s %s has an empty response", ErrNotHosted, name, dns.TypeToString[t])
	}
	p, err := z.ProveAnswer(zone.Answer{Name: sets[0].Name, Type: sets[0].Type, RRsets: sets})
	if err != nil {
		return nil, err
	}
	proof, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	head := z.Head.Note
	return &LocalAnswer{Msg: msg, Head: head, Proof: proof, Hash: AuditHash(head, proof, msg)}, nil
}
