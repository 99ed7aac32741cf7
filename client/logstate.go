package client

// logstate.go: trust anchors from the registry's transparency log. The
// registry logs every zone registration, owner key change, release,
// suspension and unsuspension (package translog). A follower verifies
// each checkpoint's signature, checks that it extends the last one held
// (the leaves fetched, appended to the compact range kept from the
// previous checkpoint, must give the new root: otherwise the log showed
// the follower a split view) and applies the new entries: a registration
// or owner key change makes the zone's owner key its trust anchor, a
// release drops it, a suspension marks the zone suspended. A node keeps
// this state in data_dir/follow.json and polls the log (logfollow);
// ddnrs resolve builds it afresh from the log a node's REST API serves.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// LogStateVersion is the version of LogState's JSON form: 2 adds
// Previous (the previous owner keys of rotated zones), 3 adds Peers (the
// overlay peers the log's node-admission entries admitted), 4 adds
// Revoked (the certificates the log's cert-revocation entries revoked),
// 5 adds Removed (the node ids the log's node-removal entries removed);
// versions 1 to 4 are still read, what they lack rebuilt from the log
// (Extend).
const LogStateVersion = 5

// maxLogBatch is how many entries one request fetches.
const maxLogBatch = 1000

// LogState is what a follower knows from the registry's log, in the JSON
// form a node keeps in follow.json. The zero value is not ready: start
// from NewLogState or ParseLogState.
type LogState struct {
	Version int `json:"version"`
	// Checkpoint is the last signed checkpoint verified and applied.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Size is the checkpoint's tree size; Range the compact range of its
	// first Size leaves (RFC 6962 subtree hashes), which the next
	// checkpoint must extend.
	Size  uint64   `json:"size"`
	Range [][]byte `json:"range,omitempty"`
	// Anchors maps zones to their owner DNSKEY (presentation form).
	Anchors map[string]string `json:"anchors"`
	// Groups maps registered zones to the group they are placed on.
	Groups map[string]string `json:"groups"`
	// Suspended maps suspended zones to the reason.
	Suspended map[string]string `json:"suspended"`
	// Previous maps zones whose owner key changed to the key before,
	// still accepted until its Until (anchors.go).
	Previous map[string]LogPrevious `json:"previous,omitempty"`
	// Peers maps the libp2p peer ids of the node directory (each
	// node-admission entry's "peer=" address) to their node: the overlay
	// admits these peers and no others (node/overlay_admit.go). nil means
	// not known yet: a state read from version 1 or 2 (or with "peers"
	// null) whose entries were applied before peers were kept; the next
	// Extend rebuilds it from the log's first Size entries, checked
	// against Range.
	Peers map[string]LogPeer `json:"peers"`
	// Revoked maps the serial numbers of revoked cluster certificates
	// (lower-case hexadecimal, translog.CanonicalSerial) to their
	// revocation: every node refuses them (node/trust.go). nil means not
	// known yet, as for Peers (a state read from versions 1 to 3).
	Revoked map[string]LogRevoked `json:"revoked"`
	// Removed maps the node ids the registry removed from its node
	// directory for good (node-removal entries) to their removal: a
	// group's admin join refuses them (standing.RemovedIDs). nil means
	// not known yet, as for Peers (a state read from versions 1 to 4).
	Removed map[string]LogRemoved `json:"removed"`
	// SplitView, when set, says why following stopped: two checkpoints
	// that cannot both be true. An operator removes the state (after
	// looking at both) to follow again.
	SplitView string `json:"split_view,omitempty"`
}

// LogPrevious is a zone's previous owner key in a LogState.
type LogPrevious struct {
	Key   string    `json:"key"` // DNSKEY presentation form
	Until time.Time `json:"until"`
}

// LogPeer is a node of the directory in a LogState's Peers.
type LogPeer struct {
	Node  string `json:"node"`
	Group string `json:"group"`
	// Addrs are the overlay multiaddrs its admission entry gave
	// ("overlay=" addresses), for dialling it once admitted.
	Addrs []string `json:"addrs,omitempty"`
}

// LogRevoked is a certificate revocation in a LogState's Revoked.
type LogRevoked struct {
	Name   string    `json:"name,omitempty"`  // the certificate's common name, as the revocation gave it
	Group  string    `json:"group,omitempty"` // informational
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// LogRemoved is a node's removal from the directory in a LogState's
// Removed: the node-removal entry's log index, group, reason and time.
type LogRemoved struct {
	Index  uint64    `json:"index"`
	Group  string    `json:"group,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// NewLogState returns the state of a follower that has read nothing.
func NewLogState() LogState {
	return LogState{Version: LogStateVersion, Anchors: map[string]string{}, Groups: map[string]string{},
		Suspended: map[string]string{}, Previous: map[string]LogPrevious{}, Peers: map[string]LogPeer{},
		Revoked: map[string]LogRevoked{}, Removed: map[string]LogRemoved{}}
}

// ParseLogState reads a LogState's JSON form, version 1, 2 or 3, as
// version 3. A state without peers (versions 1 and 2) that has applied
// entries gets nil Peers: Extend rebuilds them.
func ParseLogState(b []byte) (LogState, error) {
	st := NewLogState()
	st.Peers, st.Revoked, st.Removed = nil, nil, nil
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if st.Version < 1 || st.Version > LogStateVersion {
		return st, fmt.Errorf("version %d, want 1 to %d", st.Version, LogStateVersion)
	}
	if st.Size == 0 {
		if st.Peers == nil {
			st.Peers = map[string]LogPeer{}
		}
		if st.Revoked == nil {
			st.Revoked = map[string]LogRevoked{}
		}
		if st.Removed == nil {
			st.Removed = map[string]LogRemoved{}
		}
	}
	st.Version = LogStateVersion
	if st.Anchors == nil {
		st.Anchors = map[string]string{}
	}
	if st.Suspended == nil {
		st.Suspended = map[string]string{}
	}
	if st.Groups == nil {
		st.Groups = map[string]string{}
	}
	if st.Previous == nil {
		st.Previous = map[string]LogPrevious{}
	}
	return st, nil
}

// Extend reads src's checkpoint, checks its signature (v) and origin, and
// fetches the entries past s.Size; when they extend the tree s holds to
// the checkpoint's root, s takes the new checkpoint, size and compact
// range, and Extend returns the new entries (raw leaves, for Apply) in
// log order. A checkpoint smaller than s.Size (a lagging replica) gives
// nothing. When the leaves do not give the checkpoint's root, s.SplitView
// says why and the error is a *translog.SplitViewError (s.SplitView set
// before: errors.Is translog.ErrSplitView at once). Other errors leave s
// as it was.
func (s *LogState) Extend(ctx context.Context, src translog.Source, v note.Verifier, origin string) ([][]byte, error) {
	if s.SplitView != "" {
		return nil, fmt.Errorf("%w: %s", translog.ErrSplitView, s.SplitView)
	}
	raw, err := src.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := translog.OpenCheckpoint(raw, origin, v)
	if err != nil {
		return nil, err
	}
	if s.Peers == nil || s.Revoked == nil || s.Removed == nil {
		if err := s.rescanPeers(ctx, src); err != nil {
			return nil, err
		}
	}
	if cp.Size < s.Size {
		return nil, nil // a lagging replica: nothing new
	}
	fact := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng, err := fact.NewRange(0, s.Size, s.Range)
	if err != nil {
		return nil, fmt.Errorf("compact range: %w", err)
	}
	var leaves [][]byte
	for start := s.Size; start < cp.Size; {
		end := min(cp.Size, start+maxLogBatch)
		batch, err := src.Entries(ctx, start, end)
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			return nil, fmt.Errorf("log entries %d..%d: empty answer", start, end)
		}
		for _, l := range batch {
			if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
				return nil, err
			}
		}
		leaves = append(leaves, batch...)
		start += uint64(len(batch))
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if rng.End() > 0 {
		if root, err = rng.GetRootHash(nil); err != nil {
			return nil, err
		}
	}
	if rng.End() != cp.Size || !bytes.Equal(root, cp.Root[:]) {
		s.SplitView = fmt.Sprintf("checkpoint of size %d does not extend the one held (size %d); held:\n%s\nnew:\n%s", cp.Size, s.Size, s.Checkpoint, raw)
		return nil, &translog.SplitViewError{A: []byte(s.Checkpoint), B: raw}
	}
	s.Size, s.Range, s.Checkpoint = cp.Size, rng.Hashes(), string(raw)
	return leaves, nil
}

// rescanPeers rebuilds s.Peers, s.Revoked and s.Removed from the log's
// first s.Size entries, for a state written before they were kept: the
// entries must give the compact range s holds (else the log shows a split
// view), and only their node admissions and removals and certificate
// revocations are applied (the rest is in s already).
func (s *LogState) rescanPeers(ctx context.Context, src translog.Source) error {
	fact := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := fact.NewEmptyRange(0)
	peers, revoked, removed := map[string]LogPeer{}, map[string]LogRevoked{}, map[string]LogRemoved{}
	for start := uint64(0); start < s.Size; {
		end := min(s.Size, start+maxLogBatch)
		batch, err := src.Entries(ctx, start, end)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return fmt.Errorf("log entries %d..%d: empty answer", start, end)
		}
		for i, l := range batch {
			if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
				return err
			}
			if e, err := translog.ParseEntry(l); err == nil {
				admitPeer(peers, e)
				revoke(revoked, e)
				removeNode(removed, start+uint64(i), e)
			}
		}
		start += uint64(len(batch))
	}
	if rng.End() != s.Size || !equalHashes(rng.Hashes(), s.Range) {
		s.SplitView = fmt.Sprintf("the log's first %d entries do not give the range held with checkpoint:\n%s", s.Size, s.Checkpoint)
		return fmt.Errorf("%w: %s", translog.ErrSplitView, s.SplitView)
	}
	s.Peers, s.Revoked, s.Removed = peers, revoked, removed
	return nil
}

// removeNode applies the node-removal entry at log index i to removed;
// other entries are ignored. A removal is final: the first one is kept.
func removeNode(removed map[string]LogRemoved, i uint64, e translog.Entry) {
	if e.Kind != translog.KindNodeRemoval || e.NodeID == "" {
		return
	}
	if _, ok := removed[e.NodeID]; !ok {
		removed[e.NodeID] = LogRemoved{Index: i, Group: e.Group, Reason: e.Reason, Time: e.Time.UTC()}
	}
}

// RemovedNode returns the removal of node id when the log removed it.
func (s *LogState) RemovedNode(id string) (LogRemoved, bool) {
	r, ok := s.Removed[id]
	return r, ok
}

// revoke applies a cert-revocation entry to revoked; other entries are
// ignored.
func revoke(revoked map[string]LogRevoked, e translog.Entry) {
	serial, err := translog.RevokedSerial(e)
	if err != nil {
		return
	}
	revoked[serial] = LogRevoked{Name: e.NodeID, Group: e.Group, Reason: e.Reason, Time: e.Time.UTC()}
}

// IsRevoked reports whether the log revoked the certificate with the
// serial number serial (lower-case hexadecimal, as fmt's %x writes a
// big.Int).
func (s *LogState) IsRevoked(serial string) bool {
	_, ok := s.Revoked[serial]
	return ok
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// admitPeer applies a node-admission entry to peers: the node's peer id
// (its "peer=" address) now names it, and any other peer id the same
// node had before is dropped (a node admitted again, in another group or
// with a new overlay key). A node-removal entry drops every peer id of
// its node. Other entries are ignored.
func admitPeer(peers map[string]LogPeer, e translog.Entry) {
	if e.Kind != translog.KindNodeAdmission && e.Kind != translog.KindNodeRemoval {
		return
	}
	for id, p := range peers {
		if p.Node == e.NodeID {
			delete(peers, id)
		}
	}
	if e.Kind == translog.KindNodeRemoval {
		return
	}
	var overlay []string
	for _, a := range e.NodeAddrs {
		if m, ok := strings.CutPrefix(a, "overlay="); ok && m != "" {
			overlay = append(overlay, m)
		}
	}
	for _, a := range e.NodeAddrs {
		if id, ok := strings.CutPrefix(a, "peer="); ok && id != "" {
			peers[id] = LogPeer{Node: e.NodeID, Group: e.Group, Addrs: overlay}
		}
	}
}

// Admits reports whether the log admitted the overlay peer id (a
// node-admission entry named it). A state whose peers are not known yet
// (Peers nil) admits no one.
func (s *LogState) Admits(id string) bool {
	_, ok := s.Peers[id]
	return ok
}

// Apply applies one entry of the log to s; it reports whether the entry
// newly suspended its zone. An owner key change keeps the key before as
// the zone's previous key until the entry's time plus grace (taken from
// the entry's time, so a follower catching up on an old change does not
// take an old key back), unless that is not after now or grace is 0.
// Apply is ApplyAt without the entry's log index: a node removal it
// applies is kept with Index 0.
func (s *LogState) Apply(e translog.Entry, now time.Time, grace time.Duration) bool {
	return s.ApplyAt(0, e, now, grace)
}

// ApplyAt is Apply of the entry at log index i (which a node removal
// keeps, to name it in a refusal).
func (s *LogState) ApplyAt(i uint64, e translog.Entry, now time.Time, grace time.Duration) bool {
	z := zone.CanonicalName(e.Zone)
	switch e.Kind {
	case translog.KindRegistration:
		s.Anchors[z] = e.OwnerKey
		s.Groups[z] = e.Group
		delete(s.Previous, z)
	case translog.KindOwnerKeyChange:
		s.keepPrevious(z, s.Anchors[z], e.OwnerKey, e.Time, now, grace)
		s.Anchors[z] = e.OwnerKey
	case translog.KindRelease:
		delete(s.Previous, z)
		delete(s.Anchors, z)
		delete(s.Groups, z)
		delete(s.Suspended, z)
	case translog.KindSuspension:
		_, was := s.Suspended[z]
		s.Suspended[z] = e.Reason
		return !was
	case translog.KindUnsuspension:
		delete(s.Suspended, z)
	case translog.KindNodeAdmission:
		if s.Peers != nil {
			admitPeer(s.Peers, e)
		}
	case translog.KindZoneMove:
		if _, ok := s.Anchors[z]; ok {
			s.Groups[z] = e.Group
		}
	case translog.KindNodeRemoval:
		if s.Peers != nil {
			admitPeer(s.Peers, e)
		}
		if s.Removed != nil {
			removeNode(s.Removed, i, e)
		}
	case translog.KindCertRevocation:
		if s.Revoked != nil {
			revoke(s.Revoked, e)
		}
	}
	return false
}

// keepPrevious records old, z's owner key before the change to next
// logged at t, as z's previous key until t plus grace.
func (s *LogState) keepPrevious(z, old, next string, t, now time.Time, grace time.Duration) {
	delete(s.Previous, z)
	until := t.Add(grace)
	ok, nk := ParseOwnerKey(old), ParseOwnerKey(next)
	if ok == nil || grace <= 0 || !now.Before(until) || zone.SameKey(ok, nk) {
		return
	}
	s.Previous[z] = LogPrevious{Key: old, Until: until.UTC()}
}

// TrustAnchors returns the owner keys of s as Anchors; bad, when not nil,
// is told of each one that is not a DNSKEY (a signed log carries it: the
// zone then has no anchor).
func (s *LogState) TrustAnchors(bad func(zone string, err error)) Anchors {
	a := Anchors{}
	for z, text := range s.Anchors {
		rr, err := dns.NewRR(text)
		if err != nil {
			if bad != nil {
				bad(z, err)
			}
			continue
		}
		k, ok := rr.(*dns.DNSKEY)
		if !ok {
			continue
		}
		a[z] = &zone.Key{Zone: z, DNSKEY: k}
	}
	return a
}

// PreviousAnchors returns the previous owner keys of s, for
// Verifier.SetPreviousAnchors.
func (s *LogState) PreviousAnchors() map[string]PreviousAnchor {
	out := map[string]PreviousAnchor{}
	for z, p := range s.Previous {
		if k := ParseOwnerKey(p.Key); k != nil {
			out[z] = PreviousAnchor{Key: &zone.Key{Zone: z, DNSKEY: k}, Until: p.Until}
		}
	}
	return out
}

// ParseOwnerKey parses an owner key of the log (a DNSKEY in presentation
// form); nil when it does not parse.
func ParseOwnerKey(text string) *dns.DNSKEY {
	rr, err := dns.NewRR(text)
	if err != nil {
		return nil
	}
	k, _ := rr.(*dns.DNSKEY)
	return k
}
