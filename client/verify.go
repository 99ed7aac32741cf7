package client

// verify.go: the answer verifier. An answer is what a member of the
// zone's group returns for a question (over DDNRS-RPC): its DNS response,
// the zone's signed head and a Merkle proof of every RRset in the
// response, the additional section's included: the addresses of NS, MX
// and SRV targets and a referral's glue, as the owning group answers a
// client itself. Nothing of it is served or cached before VerifyAnswer
// has checked it against the zone owner's key: the RRSIGs (glue is
// unsigned, RFC 4035 §2.2, and vouched for by its Merkle leaf alone), the
// inclusion of every RRset under the head's root, that the response
// answers the question (NSEC denial for negative answers, the NSEC
// covering the query name for wildcard answers, denial.go), that every
// additional RRset is an address of a target the answer or authority
// section names, and that the head's serial is not below the highest one
// already verified for the zone. Prove (response.go) is the other side:
// the proof a member sends with its response.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

var (
	// ErrNoTrustAnchor is returned by VerifyAnswer when no owner key is
	// configured for the zone enclosing the question.
	ErrNoTrustAnchor = errors.New("no trust anchor for the zone")
	// ErrStaleSerial is returned by VerifyAnswer when the head's serial is
	// below the highest serial already verified for the zone (a rollback
	// to an older version of the zone).
	ErrStaleSerial = errors.New("zone serial older than one already seen")
	// ErrExpired is returned by VerifyAnswer when a signature of the
	// answer has expired by the verifier's clock.
	ErrExpired = errors.New("answer signature expired")
	// ErrNotAnswer is returned by VerifyAnswer when the response, though
	// made of genuine records, does not answer the question: wrong
	// owner or type, a missing or non-covering NSEC, a broken CNAME chain.
	ErrNotAnswer = errors.New("response does not answer the question")
	// ErrNSECMissing is returned by VerifyAnswer, beside ErrNotAnswer,
	// when a negative or wildcard answer lacks the NSEC record that
	// proves it.
	ErrNSECMissing = errors.New("NSEC proof missing")
	// ErrUnexpectedAdditional is returned by VerifyAnswer, beside
	// ErrNotAnswer, when the additional section holds an RRset the
	// owning group never puts there: not an A or AAAA RRset, or owned by
	// a name no NS, MX or SRV record of the answer or authority section
	// names as its target.
	ErrUnexpectedAdditional = errors.New("additional record not called for by the answer")
	// ErrBadResponse is returned by VerifyAnswer when the DNS message,
	// head or proof cannot be decoded, or the response is not one the
	// owning group gives (not NOERROR or NXDOMAIN).
	ErrBadResponse = errors.New("malformed response")
)

// VerifyError says why an answer was refused: the zone, the serial
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

// Verifier checks answers and remembers, per zone and owner key, the
// highest serial it has verified (floor.go). It is safe for concurrent
// use.
type Verifier struct {
	anchors Anchors
	// logAnchors are the owner keys learnt from the registry's
	// transparency log, swapped whole; the configured anchors win for a zone
	// both name.
	logAnchors atomic.Pointer[Anchors]
	now        func() time.Time

	mu      sync.Mutex
	highest map[floorKey]uint32 // (zone, owner key) -> highest serial verified
	onRaise func(Floor)         // OnFloorRaised's hook
	// previous are owner keys replaced in the log, still accepted for
	// their zone until they expire or an answer signed by the zone's
	// current anchor is verified (anchors.go); dropped tells the
	// log follower about such a drop.
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
	return &Verifier{anchors: anchors, now: now, highest: make(map[floorKey]uint32)}
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

// Anchored reports whether origin has an anchor of its own (configured,
// or from the log): only then can an answer of a zone by that name be
// verified. The overlay's router asks it to skip DHT lookups of names
// that cannot be such a zone. Any goroutine may call it.
func (v *Verifier) Anchored(origin string) bool { return v.anchor(origin) != nil }

// Highest returns the highest serial verified for zone under its
// current owner key (its anchor) and whether one was; for a zone
// without an anchor, the highest under any key.
func (v *Verifier) Highest(origin string) (uint32, bool) {
	origin = zone.CanonicalName(origin)
	k := v.anchor(origin)
	v.mu.Lock()
	defer v.mu.Unlock()
	if k != nil {
		s, ok := v.highest[floorKey{origin, keyID(k)}]
		return s, ok
	}
	var hi uint32
	found := false
	for fk, s := range v.highest {
		if fk.zone == origin && (!found || zone.SerialAbove(s, hi)) {
			hi, found = s, true
		}
	}
	return hi, found
}

// Verified is an answer that passed VerifyAnswer.
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
	// Head and Proof are the zone's signed head note and the proof
	// (zone.Proof binary form) the answer verified with: what a node
	// passes on in the proofs option (docs/proofs-option.md) so its
	// own clients can verify the answer too.
	Head, Proof []byte
	// Audit is the path the answer took, filled in by the caller of
	// VerifyAnswer (the member that answered first, the verifying node
	// last).
	Audit []AuditHop
}

// VerifyAnswer checks the response msg (DNS wire form) that a member of
// the zone's group returned for (name, t), with the zone's signed head and
// the proof (zone.Proof binary form) of every RRset in its answer,
// authority and additional sections. An additional RRset must lie in the
// zone (zone.ErrWrongZone), be the A or AAAA RRset of an NS, MX or SRV
// target of the answer or authority section (ErrUnexpectedAdditional),
// and be proven like the others: signed by the owner, or glue (unsigned
// addresses) included under the head's root. On success it raises the
// zone's floor under the key that verified it (floor.go). Any error is a
// *VerifyError.
func (v *Verifier) VerifyAnswer(name string, t uint16, msg, head, proof []byte) (*Verified, error) {
	return v.verify(name, t, nil, msg, head, proof)
}

// verify is VerifyAnswer for msg, or for m already unpacked (msg is then
// its wire form, for the hash).
func (v *Verifier) verify(name string, t uint16, m *dns.Msg, msg, head, proof []byte) (*Verified, error) {
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
		if pk := v.Previous(origin); pk != nil {
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
	if err := v.checkFloor(origin, key, h.Serial); err != nil {
		return fail(h.Serial, err)
	}
	if m == nil {
		m = new(dns.Msg)
		if err := m.Unpack(msg); err != nil {
			return fail(h.Serial, fmt.Errorf("%w: %v", ErrBadResponse, err))
		}
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
	sets, err := ResponseRRsets(m)
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
	if err := v.raise(origin, key, h.Serial); err != nil {
		return fail(h.Serial, err)
	}
	if current {
		v.dropPrevious(origin)
	}
	return &Verified{Zone: origin, Serial: h.Serial, Msg: m, TTL: ttl, Hash: AuditHash(head, proof, msg), Head: head, Proof: proof}, nil
}

// AuditHop is one node on an answer's path and the hash of what it
// verified or, for the member that answered, served (AuditHash).
type AuditHop struct {
	Node string // the node's overlay peer id
	Hash [32]byte
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
