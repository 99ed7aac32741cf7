package raftfsm

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/internal/pmap"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// The registry command types (issue 6). They are proposed to the registry
// group only, but every group's FSM knows them.
const (
	TypeSubmitApplication CommandType = 8
	TypeReviewApplication CommandType = 9
	TypeIssueKey          CommandType = 10
	TypeRevokeKey         CommandType = 11
	TypeClaimZone         CommandType = 12
	TypeReleaseZone       CommandType = 13
	TypeChangeOwnerKey    CommandType = 14
	TypeRegistrySuspend   CommandType = 15
	TypeNodeHeartbeat     CommandType = 16
	TypeRevokeCert        CommandType = 25 // issue 14: a cluster certificate revoked (revocation.go)
)

// registryTypeNames names the registry command types for CommandType.String.
var registryTypeNames = map[CommandType]string{
	TypeSubmitApplication: "submit-application", TypeReviewApplication: "review-application",
	TypeIssueKey: "issue-key", TypeRevokeKey: "revoke-key", TypeClaimZone: "claim-zone",
	TypeReleaseZone: "release-zone", TypeChangeOwnerKey: "change-owner-key",
	TypeRegistrySuspend: "registry-suspend", TypeNodeHeartbeat: "node-heartbeat",
	TypeRevokeCert: "revoke-cert", TypeRemoveNode: "remove-node", TypeMoveZone: "move-zone",
	TypeApproveNode: "approve-node", TypeNodeRequest: "node-request",
}

// The reasons of registry rejections.
const (
	ReasonNameClaimed        = Reason("name-claimed")        // ClaimZone of a claimed name
	ReasonDelegationRequired = Reason("delegation-required") // an enclosing claim by another owner key exists and the claim carries no delegation
	ReasonDelegationInvalid  = Reason("delegation-invalid")  // the delegation is not the enclosing owner's signature
	ReasonChildrenClaimed    = Reason("children-claimed")    // ClaimZone above zones claimed by other owner keys, without each one's consent
	ReasonConsentInvalid     = Reason("consent-invalid")     // a child's consent is not its owner's signature over ParentConsentStatement
	ReasonNoGroups           = Reason("no-groups")           // ClaimZone with an empty node directory
	ReasonUnknownGroup       = Reason("unknown-group")       // ClaimZone asking for a group no node of the directory is in
	ReasonUnknownApplication = Reason("unknown-application") // ReviewApplication of an unknown id
	ReasonApplicationClosed  = Reason("application-closed")  // ReviewApplication of an approved or rejected application
	ReasonUnknownKey         = Reason("unknown-key")         // RevokeKey of an unknown key id
	ReasonKeyExists          = Reason("key-exists")          // a key with the same hash (the same key string) exists
	ReasonNoClaim            = Reason("no-claim")            // release, owner change or suspension of an unclaimed zone
	ReasonBadProof           = Reason("bad-proof")           // ChangeOwnerKey proof not signed by the current owner key
	ReasonDuplicateID        = Reason("duplicate-id")        // an application or key id in use
	ReasonApplicationsFull   = Reason("applications-full")   // SubmitApplication while MaxOpen applications are open
	ReasonDropPending        = Reason("drop-pending")        // ClaimZone by the owner key of an expired claim of the name whose drop is still owed (teardown.go)
)

// MaxApplicationBytes bounds the text of an application (domains,
// project, usage, responsible, contact, in bytes) that carries a MaxOpen
// (SubmitApplication body version 2); a longer one is malformed.
const MaxApplicationBytes = 16 << 10

// applicationBytes is the size of a's text, as MaxApplicationBytes counts it.
func applicationBytes(a Application) int {
	n := len(a.Project) + len(a.Usage) + len(a.Responsible) + len(a.Contact)
	for _, d := range a.Domains {
		n += len(d)
	}
	return n
}

// Application statuses.
const (
	StatusPending  = "pending"
	StatusMoreInfo = "more_info"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// Review decisions.
const (
	DecisionApprove  = "approve"
	DecisionMoreInfo = "more_info"
	DecisionReject   = "reject"
)

// KeyActions are the actions a Scope may grant.
var KeyActions = []string{"read", "create", "update", "delete", "admin"}

// OperatorActor is the Actor of registry commands an operator sends
// through the admin endpoint rather than with an API key. A node that
// claims a zone for an operator's create on its admin endpoint uses
// NodeOperatorActor(node id) instead.
const OperatorActor = "operator"

// NodeOperatorActor is the Actor of a claim or release a node makes for
// an operator's create or delete through its admin endpoint:
// "operator:<node id>".
func NodeOperatorActor(nodeID string) string { return OperatorActor + ":" + nodeID }

// Scope says what an API key may act on.
type Scope struct {
	Suffixes []string // zone suffixes the key may act on, canonical ("example.org."); "." = everything
	Labels   []string // optional label patterns on the owner name relative to the zone (scope.go: "_acme-challenge", "_acme-challenge.**"); empty = any
	Types    []string // RR type mnemonics ("TXT"); empty = any
	Actions  []string // subset of KeyActions
}

// Limits is an API key's token bucket; zeros mean the API's defaults
// (60 per minute, burst 20).
type Limits struct {
	PerMinute uint32
	Burst     uint32
}

// APIKey is an issued API key. The key string itself is never stored,
// only its SHA-256.
type APIKey struct {
	ID          string   // 16 lower-case hex digits
	Hash        [32]byte // SHA-256 of the whole key string "ddnrs_<id>_<secret>"
	Name        string
	Application string // the application it was issued for, or ""
	Scope       Scope
	Limits      Limits
	Created     time.Time
	Expires     time.Time // zero: never
	Revoked     bool
	RevokedAt   time.Time
	RevokedBy   string // the actor, or CascadeActor(id) when a key above it was revoked
	// Parent is the key that issued this one as a sub-key (subkey.go),
	// "" for a key a reviewer or operator issued. Encoded only in
	// IssueKey body version 2, key store values version 2 and snapshot
	// format 4.
	Parent string
}

// Application is a request for an API key.
type Application struct {
	ID          string
	Submitted   time.Time
	Domains     []string
	Project     string
	Usage       string
	Responsible string
	Contact     string
	TokenHash   [32]byte // SHA-256 of the applicant's status token
	Status      string   // StatusPending, StatusMoreInfo, StatusApproved, StatusRejected
	Message     string   // the reviewer's message
	Reviewer    string
	Reviewed    time.Time
	KeyID       string // the key issued on approval
	// SealTo is the applicant's X25519 public key, derived from the
	// status token (api/keyseal.go), to which the approval seals the key
	// so the applicant collects it once from the status page
	// (keyseal.go); zero for an application made before (the reviewer
	// hands the key over). SealedKey is the sealed key while it waits,
	// nil before the approval and after the collection; Collected is
	// when the applicant collected it. Encoded only in SubmitApplication
	// body version 3, ReviewApplication body version 2, application
	// store values version 2 and snapshot format 5.
	SealTo    [32]byte
	SealedKey []byte
	Collected time.Time
}

// Claim is a registered zone: its name bound to an owner key and placed
// on a group.
type Claim struct {
	Zone       string // canonical
	Owner      string // the owner DNSKEY RR in presentation form (canonical name)
	Group      string
	Region     string // the region asked for, or ""
	Created    time.Time
	Actor      string
	Generation uint32 // +1 per owner key change
	Suspended  bool
	Reason     string // of the last suspension or unsuspension
	// Lease makes the claim ephemeral (lease.go); the zero Lease is a
	// permanent claim. Encoded only in ClaimZone body version 4, claim
	// store values version 2 and snapshot format 4.
	Lease Lease
}

// NodeRecord is a node of the directory, as its last heartbeat said.
type NodeRecord struct {
	ID         string
	Group      string
	Region     string
	DNS        string
	Admin      string
	API        string
	PeerID     string
	Overlay    []string // overlay (libp2p) addresses
	Transports []string // "udp","tcp","dot","doh","doq"
	Seen       time.Time
	Leader     string // the node's group leader as it sees it
	Applied    uint64
	LastIndex  uint64
	Term       uint64
	// Load is the RRsets the node's replica holds, as a band (LoadBand):
	// 0 for none, else b with 2^(b-1) <= RRsets < 2^b. Coarse on
	// purpose: a heartbeat commits when it changes (HeartbeatNeedsCommit),
	// so a band changes once per doubling, not at every write. Carried
	// by NodeHeartbeat (body version 2 when not 0) and held in memory;
	// neither the zone store nor snapshots keep it (soft state: a member
	// restarted or restored learns it again from the node's next
	// committed heartbeat, at most one heartbeat lease later). Placement
	// weighs it (Place).
	Load uint8 `json:",omitempty"`
}

// LoadBand is NodeRecord.Load for a replica holding rrsets RRsets: 0 for
// none, else the bit length of rrsets (a power-of-two band, at most 64).
func LoadBand(rrsets uint64) uint8 { return uint8(bits.Len64(rrsets)) }

// SubmitApplication records a new application; App.Status must be
// "pending" and App.ID unused. With MaxOpen set, it is refused
// (ReasonApplicationsFull) while MaxOpen applications are open (pending
// or more_info), and its text must fit MaxApplicationBytes. The cap
// travels in the command, not in the state machine's configuration, so
// every replica applies the same rule to the same entry, and entries
// written before it existed (without one) replay as they applied.
// A command with MaxOpen is encoded as body version 2
// (registry_codec.go); without, as version 1.
//
// With App.SealTo set (the applicant's public key, keyseal.go), it is
// encoded as body version 3, whatever MaxOpen.
type SubmitApplication struct {
	App     Application
	MaxOpen uint32 // 0: no cap
}

// ReviewApplication decides on an open ("pending" or "more_info")
// application. Decision "approve" needs Key, which is issued with it.
// Sealed is the key string sealed to the application's SealTo
// (keyseal.go), kept until the applicant collects it (CollectKey);
// only with an approval of an application that has a SealTo. A review
// with Sealed is encoded as body version 2.
type ReviewApplication struct {
	ID, Decision, Message, Reviewer string
	Time                            time.Time
	Key                             *APIKey
	Sealed                          []byte
}

// IssueKey issues a key directly (operator or admin), or, with
// Key.Parent set, a sub-key under that key (subkey.go; encoded as body
// version 2). MaxChildren caps the parent's live sub-keys (0: no cap);
// it travels in the command so every replica applies the same rule.
type IssueKey struct {
	Key         APIKey
	Actor       string
	MaxChildren uint32
}

// RevokeKey revokes a key.
type RevokeKey struct {
	ID, Actor string
	Time      time.Time
}

// ClaimZone registers a zone for an owner key. The state machine places
// it on a group: Group when set, else the group with the fewest claims
// (among those with a node in Region, when given). Delegation is needed
// when an enclosing zone is claimed by another owner key: that key's
// Ed25519 signature over DelegationStatement(Zone, Owner).
//
// Group is an operator's override, set by a node claiming a zone an
// operator creates through its admin endpoint on its own group. It must
// name a group the node directory lists (some node's heartbeat named
// it), else the claim is rejected with ReasonUnknownGroup, also when the
// directory is empty: a zone placed on a group no node reports could be
// reached by no one (the API and the overlay find a group's members in
// the directory). The claiming node sends its own heartbeat first when
// the directory does not list it yet. A claim with Group is encoded as
// body version 2 (registry_codec.go); without, as version 1.
//
// Consents are needed when zones below Zone are claimed by other owner
// keys: one per such child, its owner key's Ed25519 signature over
// ParentConsentStatement(Zone, Owner, child). Without them the claim is
// rejected with ReasonChildrenClaimed, naming the children: a parent
// claimed above another owner's zone could publish a delegation to its
// own name servers and take the child's resolution (the mirror of the
// delegation a child below a claimed parent needs). Children of the same
// owner key need none; a consent for a name with no such child is
// ignored. A claim with consents is encoded as body version 3.
type ClaimZone struct {
	Zone, Owner, Region, Actor string
	Group                      string // "" = the registry places it
	Time                       time.Time
	Delegation                 []byte
	Consents                   []Consent // sorted by zone, one per zone; nil when none
	// Lease makes the claim ephemeral (lease.go): Expires and Idle as
	// asked; the state machine sets Active to Time and Key to Actor.
	// MaxLeases caps the live leased claims of the Actor's key (0: no
	// cap; carried in the command like SubmitApplication.MaxOpen). A
	// claim with a lease is encoded as body version 4.
	Lease     Lease
	MaxLeases uint32
}

// Consent is a child zone owner's consent to a claim of an enclosing
// name: Signature is the child's owner key's Ed25519 signature over
// ParentConsentStatement(parent, parent owner, Zone).
type Consent struct {
	Zone      string
	Signature []byte
}

// ReleaseZone deletes a claim and releases the name.
type ReleaseZone struct {
	Zone, Actor string
	Time        time.Time
}

// ChangeOwnerKey binds a claim to a new owner key. Proof is the current
// owner's Ed25519 signature over OwnerKeyStatement(Zone, NewOwner,
// claim's Generation), or, when RotateSerial is set, over
// RotateStatement(Zone, NewOwner, RotateSerial): the proof of the
// RotateKey command that hands the zone itself to NewOwner at serial
// RotateSerial, so one signature of the old key moves both the claim and
// the zone (the REST API and the admin endpoint change the claim first,
// then send the RotateKey to the zone's group).
//
// Replay limit: a rotation statement carries no claim generation (the
// zone's group knows none), so the registry cannot tell a fresh one from
// an old one. An old statement verifies only against the key that signed
// it, so it can be replayed only while that key owns the claim again:
// after ownership went A→B→...→A, whoever kept A's statement handing the
// zone to B can hand the claim back to B, a key A itself once chose.
// So an owner should not go back to a key it gave up; a fresh key has
// signed no statement.
// The zone itself is not affected: the group refuses a RotateKey whose
// change does not apply to its current copy.
//
// A change with RotateSerial is encoded as body version 2
// (registry_codec.go); without, as version 1.
type ChangeOwnerKey struct {
	Zone, NewOwner, Actor string
	Time                  time.Time
	Proof                 []byte
	RotateSerial          uint32 // 0: Proof is over OwnerKeyStatement
}

// RegistrySuspend suspends (Suspend true) or unsuspends a claimed zone
// everywhere (nodes follow the log).
type RegistrySuspend struct {
	Zone    string
	Suspend bool
	Reason  string
	Actor   string
	Time    time.Time
}

// RevokeCert revokes a cluster certificate by its serial number: the
// registry appends a cert-revocation entry to its transparency log, and
// every node that follows the log refuses the certificate from then on
// (node/revocation.go). Serial is lower-case hexadecimal without leading
// zeros (translog.CanonicalSerial); Name (the certificate's common name)
// and Group are informational. The registry keeps no other state for it,
// so revoking a serial twice logs it twice. Body version 1:
// serial, name, group, reason, actor, time.
type RevokeCert struct {
	Serial, Name, Group, Reason, Actor string
	Time                               time.Time
}

// NodeHeartbeat upserts a node of the directory.
type NodeHeartbeat struct {
	Node NodeRecord
}

func (*SubmitApplication) Type() CommandType { return TypeSubmitApplication }
func (*ReviewApplication) Type() CommandType { return TypeReviewApplication }
func (*IssueKey) Type() CommandType          { return TypeIssueKey }
func (*RevokeKey) Type() CommandType         { return TypeRevokeKey }
func (*ClaimZone) Type() CommandType         { return TypeClaimZone }
func (*ReleaseZone) Type() CommandType       { return TypeReleaseZone }
func (*ChangeOwnerKey) Type() CommandType    { return TypeChangeOwnerKey }
func (*RegistrySuspend) Type() CommandType   { return TypeRegistrySuspend }
func (*NodeHeartbeat) Type() CommandType     { return TypeNodeHeartbeat }
func (*RevokeCert) Type() CommandType        { return TypeRevokeCert }

// ErrBadOwnerKey is returned by ParseOwnerKey when the text is not a
// DNSKEY RR of algorithm 15 (Ed25519) with the zone flag set, or (when a
// zone is given) its owner name is not the zone.
var ErrBadOwnerKey = errors.New("not an Ed25519 zone DNSKEY")

// ParseOwnerKey parses a DNSKEY RR in presentation form and checks that
// it can own zone ("" = any zone): algorithm 15, zone flag, a 32-byte
// public key, owner name the zone. It returns the key with its owner name
// canonical.
func ParseOwnerKey(text, origin string) (*dns.DNSKEY, error) {
	rr, err := dns.NewRR(text)
	if err != nil || rr == nil {
		return nil, fmt.Errorf("%w: %q does not parse: %v", ErrBadOwnerKey, text, err)
	}
	dk, ok := rr.(*dns.DNSKEY)
	if !ok {
		return nil, fmt.Errorf("%w: a %s record", ErrBadOwnerKey, dns.TypeToString[rr.Header().Rrtype])
	}
	dk.Hdr.Name = zone.CanonicalName(dk.Hdr.Name)
	if dk.Algorithm != dns.ED25519 || dk.Flags&dns.ZONE == 0 || dk.Protocol != 3 {
		return nil, fmt.Errorf("%w: flags %d protocol %d algorithm %d", ErrBadOwnerKey, dk.Flags, dk.Protocol, dk.Algorithm)
	}
	if pk, err := base64.StdEncoding.DecodeString(dk.PublicKey); err != nil || len(pk) != 32 {
		return nil, fmt.Errorf("%w: public key is not 32 bytes", ErrBadOwnerKey)
	}
	if origin != "" && dk.Hdr.Name != zone.CanonicalName(origin) {
		return nil, fmt.Errorf("%w: key of %s, not %s", ErrBadOwnerKey, dk.Hdr.Name, zone.CanonicalName(origin))
	}
	return dk, nil
}

// statementKey is the form of an owner key inside signed statements:
// presentation form with canonical name and TTL 0, so the TTL of the file
// it was read from does not matter. Text that does not parse is used as
// it is (the signature then fails to verify against a parsed one).
func statementKey(text string) string {
	rr, err := dns.NewRR(text)
	if err != nil || rr == nil {
		return strings.TrimSpace(text)
	}
	dk, ok := rr.(*dns.DNSKEY)
	if !ok {
		return strings.TrimSpace(text)
	}
	c := *dk
	c.Hdr.Name = zone.CanonicalName(c.Hdr.Name)
	c.Hdr.Ttl = 0
	return c.String()
}

// DelegationStatement is the text the owner key of an enclosing claim
// signs to let another key claim child: "ddnrs-delegation/1\n<child>\n<child
// DNSKEY presentation, canonical name, TTL 0>\n".
func DelegationStatement(child, childOwner string) []byte {
	return fmt.Appendf(nil, "ddnrs-delegation/1\n%s\n%s\n", zone.CanonicalName(child), statementKey(childOwner))
}

// ParentConsentStatement is the text the owner key of a claimed child
// zone signs to let parentOwner claim parent, a name above it:
// "ddnrs-parent-consent/1\n<parent>\n<parent owner key presentation,
// canonical name, TTL 0>\n<child>\n". Naming the parent's key binds the
// consent to that owner: it cannot be reused by another claimant.
func ParentConsentStatement(parent, parentOwner, child string) []byte {
	return fmt.Appendf(nil, "ddnrs-parent-consent/1\n%s\n%s\n%s\n", zone.CanonicalName(parent), statementKey(parentOwner), zone.CanonicalName(child))
}

// OwnerKeyStatement is the text a claim's owner key signs to hand the
// claim to newOwner: "ddnrs-owner-key/1\n<zone>\n<new key presentation,
// canonical name, TTL 0>\n<generation>\n", generation the claim's current
// one.
func OwnerKeyStatement(origin, newOwner string, generation uint32) []byte {
	return fmt.Appendf(nil, "ddnrs-owner-key/1\n%s\n%s\n%d\n", zone.CanonicalName(origin), statementKey(newOwner), generation)
}

// RegistryState is an immutable snapshot of the registry: applications,
// keys, claims, the node directory and the transparency log. Every method
// may be called from any goroutine; returned values are copies.
type RegistryState struct {
	// apps is persistent: a write shares all but one path with the
	// state before it, so a submission costs the same whatever the
	// number of applications (no copy per batch, as the other maps have).
	apps       pmap.Map[Application]
	open       int // applications pending or more_info
	keys       map[string]APIKey
	claimIndex // claims, persistent and indexed (registry_claims.go)
	nodes      map[string]NodeRecord
	removed    map[string]bool             // node ids removed for good (membership.go), from the log
	nodeReqs   map[string]CommunityRequest // community node requests by id (noderequest.go), from the log
	drops      map[string]OwedDrop         // dropKey(zone, owner) -> the drop the registry owes (teardown.go)
	tree       *translog.Tree              // shared, append-only; this state covers its first size leaves
	leaves     [][]byte                    // shared, append-only; this state reads leaves[:size]
	size       uint64
}

func newRegistryState() *RegistryState {
	return &RegistryState{keys: map[string]APIKey{},
		nodes: map[string]NodeRecord{}, removed: map[string]bool{}, nodeReqs: map[string]CommunityRequest{}, drops: map[string]OwedDrop{}, tree: translog.NewTree()}
}

// empty reports whether r holds nothing (snapshots then keep format 1).
func (r *RegistryState) empty() bool {
	return r.apps.Len() == 0 && len(r.keys) == 0 && r.claimCount() == 0 && len(r.nodes) == 0 && r.size == 0 && len(r.drops) == 0
}

func (a Application) clone() Application {
	a.Domains = slices.Clone(a.Domains)
	a.SealedKey = slices.Clone(a.SealedKey)
	return a
}

func (s Scope) clone() Scope {
	return Scope{Suffixes: slices.Clone(s.Suffixes), Labels: slices.Clone(s.Labels), Types: slices.Clone(s.Types), Actions: slices.Clone(s.Actions)}
}

func (k APIKey) clone() APIKey {
	k.Scope = k.Scope.clone()
	return k
}

func (n NodeRecord) clone() NodeRecord {
	n.Overlay = slices.Clone(n.Overlay)
	n.Transports = slices.Clone(n.Transports)
	return n
}

// Application returns one application.
func (r *RegistryState) Application(id string) (Application, bool) {
	a, ok := r.apps.Get(id)
	return a.clone(), ok
}

// Applications returns every application, by Submitted then ID.
func (r *RegistryState) Applications() []Application {
	return r.ApplicationsPage(ApplicationQuery{})
}

// OpenApplications is the number of applications pending or waiting
// for more information: what SubmitApplication.MaxOpen caps.
func (r *RegistryState) OpenApplications() int { return r.open }

// ApplicationQuery selects a page of applications.
type ApplicationQuery struct {
	Status string // only applications in this status; "" = all
	// After is the ID of the last application of the previous page
	// ("" = from the start); an ID not in the registry starts from the
	// start.
	After string
	// Newest lists newest first (the review console), else oldest first.
	Newest bool
	Limit  int // at most this many; 0 = all
}

// ApplicationsPage returns the applications q selects, ordered by
// Submitted then ID (reversed with Newest).
func (r *RegistryState) ApplicationsPage(q ApplicationQuery) []Application {
	var out []Application
	for _, a := range r.apps.All() {
		if q.Status == "" || a.Status == q.Status {
			out = append(out, a)
		}
	}
	less := func(a, b Application) bool {
		if !a.Submitted.Equal(b.Submitted) {
			return a.Submitted.Before(b.Submitted)
		}
		return a.ID < b.ID
	}
	if q.Newest {
		sort.Slice(out, func(i, j int) bool { return less(out[j], out[i]) })
	} else {
		sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	}
	if after, ok := r.apps.Get(q.After); ok && q.After != "" {
		i := sort.Search(len(out), func(i int) bool {
			if q.Newest {
				return less(out[i], after)
			}
			return less(after, out[i])
		})
		out = out[i:]
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	res := make([]Application, len(out))
	for i, a := range out {
		res[i] = a.clone()
	}
	return res
}

// isOpen reports whether an application in status s counts as open.
func isOpen(s string) bool { return s == StatusPending || s == StatusMoreInfo }

// setApp records a in r (a new state's registry, not yet shared),
// keeping the open count.
func (r *RegistryState) setApp(a Application) {
	if old, ok := r.apps.Get(a.ID); ok && isOpen(old.Status) {
		r.open--
	}
	if isOpen(a.Status) {
		r.open++
	}
	r.apps = r.apps.Set(a.ID, a)
}

// Key returns one API key.
func (r *RegistryState) Key(id string) (APIKey, bool) {
	k, ok := r.keys[id]
	return k.clone(), ok
}

// Keys returns every API key (revoked ones too), by ID.
func (r *RegistryState) Keys() []APIKey {
	out := make([]APIKey, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Claim returns the claim of a zone.
func (r *RegistryState) Claim(origin string) (Claim, bool) {
	return r.claim(zone.CanonicalName(origin))
}

// Claims returns every claim in canonical order of the zone names.
func (r *RegistryState) Claims() []Claim {
	out := make([]Claim, 0, r.claimCount())
	for _, c := range r.claims.All() {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return zone.Compare(out[i].Zone, out[j].Zone) < 0 })
	return out
}

// EnclosingClaim returns the claim of the longest claimed suffix of name,
// name itself included.
func (r *RegistryState) EnclosingClaim(name string) (Claim, bool) {
	return enclosingClaim(name, r.claim)
}

func enclosingClaim(name string, get func(string) (Claim, bool)) (Claim, bool) {
	name = zone.CanonicalName(name)
	for {
		if c, ok := get(name); ok {
			return c, true
		}
		if name == "." {
			return Claim{}, false
		}
		next, end := dns.NextLabel(name, 0)
		if end {
			name = "."
		} else {
			name = name[next:]
		}
	}
}

// Node returns the directory record of node id.
func (r *RegistryState) Node(id string) (NodeRecord, bool) {
	n, ok := r.nodes[id]
	return n.clone(), ok
}

// Nodes returns the node directory, by Group then ID.
func (r *RegistryState) Nodes() []NodeRecord {
	out := make([]NodeRecord, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, n.clone())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// LogSize returns the number of transparency log leaves in this state.
func (r *RegistryState) LogSize() uint64 { return r.size }

// Log returns the log's Merkle tree; it may hold more leaves than this
// state (later applies), so read it only up to LogSize.
func (r *RegistryState) Log() *translog.Tree { return r.tree }

// ErrNoLogEntry is returned by LogEntry for an index at or past LogSize.
var ErrNoLogEntry = errors.New("no such log entry")

// LogEntry returns the leaf data (translog.Entry.MarshalBinary) of entry i.
func (r *RegistryState) LogEntry(i uint64) ([]byte, error) {
	if i >= r.size {
		return nil, fmt.Errorf("%w: %d, log size %d", ErrNoLogEntry, i, r.size)
	}
	return slices.Clone(r.leaves[i]), nil
}
