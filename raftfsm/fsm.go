package raftfsm

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
	"github.com/miekg/dns"
)

// Reason says why the state machine rejected a command. The values are
// stable: the admin API returns them as "rejected:<reason>" and metrics
// label rejections with them.
type Reason string

// The reasons of a *RejectedError.
const (
	ReasonBadSignature = Reason(zone.ReasonBadSignature) // an RRSIG, the head or a proof does not verify
	ReasonWrongKey     = Reason(zone.ReasonWrongKey)     // signed by a key other than the owner's
	ReasonStaleSerial  = Reason(zone.ReasonStaleSerial)  // serial not above the current one (RFC 1982), or a deletion naming another serial
	ReasonRootMismatch = Reason(zone.ReasonRootMismatch) // head does not describe the zone the change gives
	ReasonMalformed    = Reason(zone.ReasonMalformed)    // command or change does not parse or apply
	ReasonZoneExists   = Reason("zone-exists")           // CreateZone of a zone the group has
	ReasonNoZone       = Reason("no-zone")               // a command for a zone the group does not have
	ReasonNoStaging    = Reason("no-staging")            // a StageChunk or StageCommit for an upload the group does not hold open (begin it again)
	ReasonChunkOrder   = Reason("chunk-order")           // a StageChunk out of sequence or out of canonical order, or a commit before every chunk
	ReasonTooLarge     = Reason("too-large")             // a command above MaxEntryBytes, or an upload above what its StageBegin announced or a configured limit
)

// RejectedError is the result of a command the state machine refused.
// The state is unchanged, in memory and on disk, and every replica
// refuses it alike.
type RejectedError struct {
	Reason Reason
	Err    error
}

func (e *RejectedError) Error() string { return fmt.Sprintf("rejected (%s): %v", e.Reason, e.Err) }

func (e *RejectedError) Unwrap() error { return e.Err }

// ErrHalted is returned (as the Apply result) for every log entry once
// the state machine has halted: it met a command of a type or version it
// does not know and that is not marked IgnoreUnknown, or its store failed
// to write. Applying past such an entry could make this replica diverge
// from the others, so it stops instead; it logs why at error level.
// Upgrading the binary (or fixing the disk) and restarting it resumes
// from the last applied index.
var ErrHalted = errors.New("state machine halted")

// ErrStoreFailed is wrapped, beside ErrHalted, in the error of every
// entry once the state machine halted because its zone store failed to
// write (a full disk): the member's own fault, not the log's, so the
// group's other members can go on (Group.Apply hands leadership over).
var ErrStoreFailed = errors.New("writing to the zone store")

// ApplyResult is the result of a command the state machine applied.
type ApplyResult struct {
	Index  uint64 // the Raft log index of the command
	Serial uint32 // the zone's SOA serial after the command; 0 for SetMember
	// Skipped is true when the entry changed nothing because it was at or
	// below the applied index (Raft replaying its log after a restart) or
	// an unknown command marked IgnoreUnknown.
	Skipped bool
	// Repeat is true when the command was a create or change whose
	// resulting zone (same signed head, same owner key) the group already
	// holds: it changed nothing and is reported as done, so a client
	// that resends a change whose first attempt had an unknown outcome
	// (leadership lost while committing) learns it committed.
	Repeat bool
	// Staged is, for the commands of a staged upload, how many of its
	// chunks the group holds after the command: where an owner resumes.
	Staged uint32
}

// ZoneState is what the state machine holds about one zone. Zone is
// immutable and may be shared freely.
type ZoneState struct {
	Zone      *zone.Zone
	Owner     *zone.Key // verify-only owner key; nil for a zone stored without one (Store.Put)
	Suspended bool
	Reason    string // the reason of the last Suspend or Unsuspend
	// Rollback is the owner's consent to the zone's current version,
	// older than one the group held (RecordRollback, rollback.go); nil
	// once the zone changed again, and for most zones.
	Rollback *zone.Rollback
}

// served returns the zone as it should be served: nil when suspended.
func (s ZoneState) served() *zone.Zone {
	if s.Suspended {
		return nil
	}
	return s.Zone
}

// MemberInfo is what SetMember records about a group member.
type MemberInfo struct {
	ID    string // Raft server ID
	Admin string // admin endpoint host:port
	DNS   string // DNS host:port
}

// fsmState is the whole replicated state.
type fsmState struct {
	zones   map[string]ZoneState
	members map[string]MemberInfo
	reg     *RegistryState      // immutable; replaced when a batch changes it
	staging map[string]*Staging // open uploads by zone; values immutable
	applied uint64
}

func newFSMState() *fsmState {
	return &fsmState{zones: map[string]ZoneState{}, members: map[string]MemberInfo{}, reg: newRegistryState(), staging: map[string]*Staging{}}
}

func (st *fsmState) sortedStaging() []*Staging {
	out := make([]*Staging, 0, len(st.staging))
	for _, s := range st.staging {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return zone.Compare(out[i].Zone, out[j].Zone) < 0 })
	return out
}

func (st *fsmState) sortedZones() []string {
	names := make([]string, 0, len(st.zones))
	for n := range st.zones {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return zone.Compare(names[i], names[j]) < 0 })
	return names
}

func (st *fsmState) sortedMembers() []MemberInfo {
	out := make([]MemberInfo, 0, len(st.members))
	for _, m := range st.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FSMOptions configure an FSM.
type FSMOptions struct {
	// Logger receives halts and skipped commands; default: discard.
	Logger *slog.Logger
	// OnZone is called after a zone changed, from the goroutine that
	// applies (Raft's FSM goroutine; NewFSM's caller for the initial
	// zones), with the zone to serve, or nil when the zone was deleted or
	// is suspended. It must return quickly and must not call into the FSM's
	// Apply, ApplyBatch or Restore. Default: none.
	OnZone func(origin string, z *zone.Zone)
}

// FSM is the Raft state machine of a group: zones bound to their owner
// keys, suspensions and member addresses, kept in a Store. It implements
// raft.FSM and raft.BatchingFSM.
//
// Raft calls Apply, ApplyBatch, Snapshot and Restore from one goroutine;
// the read methods (Zone, Zones, Members, AppliedIndex, Halted) may be
// called from any goroutine at any time.
type FSM struct {
	store  *Store
	log    *slog.Logger
	onZone func(string, *zone.Zone)
	pre    *preverifier

	mu     sync.RWMutex
	state  *fsmState // replaced or merged under mu; ZoneState values are immutable
	halted error     // non-nil once halted; wraps ErrHalted

	proc processedIndex // Processed (processed.go)
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// NewFSM loads the state from store and calls OnZone for every zone to
// serve. The FSM becomes store's only writer; the caller closes store
// after Raft has shut down.
func NewFSM(store *Store, opts FSMOptions) (*FSM, error) {
	st, err := store.loadState()
	if err != nil {
		return nil, err
	}
	store.Release()        // what loading read is held in st (docs/large-zones.md, "Memory")
	returnMemory(st.zones) // and what decoding it took (memory.go)
	f := &FSM{store: store, log: opts.Logger, onZone: opts.OnZone, state: st}
	f.proc.index = st.applied
	f.pre = newPreverifier(f.stagingOwner, f.zoneOwner)
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.onZone != nil {
		for _, origin := range st.sortedZones() {
			if z := st.zones[origin].served(); z != nil {
				f.onZone(origin, z)
			}
		}
	}
	return f, nil
}

// Zone returns the state of one zone (suspended zones included).
func (f *FSM) Zone(origin string) (ZoneState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.state.zones[zone.CanonicalName(origin)]
	return s, ok
}

// Zones returns every zone's state in canonical order of the names.
func (f *FSM) Zones() []ZoneState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	names := f.state.sortedZones()
	out := make([]ZoneState, len(names))
	for i, n := range names {
		out[i] = f.state.zones[n]
	}
	return out
}

// Members returns the recorded members, sorted by ID.
func (f *FSM) Members() []MemberInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.sortedMembers()
}

// Member returns the recorded addresses of one member.
func (f *FSM) Member(id string) (MemberInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.state.members[id]
	return m, ok
}

// AppliedIndex returns the index of the last log entry that changed the
// state (rejected entries do not count).
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.applied
}

// Halted returns nil, or why the FSM halted (wrapping ErrHalted).
func (f *FSM) Halted() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.halted
}

// Apply applies one committed log entry; see ApplyBatch.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed log entries in order and returns one
// result per entry: *ApplyResult, *RejectedError, an error wrapping
// ErrHalted, or nil for entries that are not commands (configuration
// changes). All accepted commands of the batch are written to the store
// in one transaction together with the last accepted index.
//
// Apply is deterministic (no clock, no randomness, no network): every
// signature is checked against the zone's owner key, RRSIGs
// cryptographically only, not against their validity window (a clock
// would let replicas disagree; the owner keeps signatures fresh). An entry
// at or below the stored applied index is skipped, so Raft replaying its
// log after a restart changes nothing. A rejected command leaves the state
// exactly as it was.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	results := make([]interface{}, len(logs))
	f.mu.RLock()
	base, halted := f.state, f.halted
	f.mu.RUnlock()
	w := &work{store: f.store, base: base, zones: map[string]*ZoneState{}, members: map[string]*MemberInfo{}, stagings: map[string]*Staging{}, pre: f.pre}
	var ops []func(kvTx) error
	var accepted []int
	last := base.applied
	committed := false
	bulk := false // a staged commit: let the store's pages go afterwards
	// flush writes the batch's store writes so far in one transaction.
	flush := func() {
		if len(ops) == 0 || halted != nil {
			return
		}
		if err := f.store.commit(last, ops); err != nil {
			halted = fmt.Errorf("%w: %w: %w", ErrHalted, ErrStoreFailed, err)
			f.log.Error("state machine halted: the zone store failed; restart after fixing it", "index", last, "err", err)
			for _, i := range accepted {
				results[i] = halted
			}
		} else {
			committed = true
		}
		ops, accepted = nil, nil
	}
	for i, l := range logs {
		if halted != nil {
			results[i] = halted
			continue
		}
		if l.Type != raft.LogCommand {
			continue
		}
		if l.Index <= base.applied {
			results[i] = &ApplyResult{Index: l.Index, Skipped: true}
			continue
		}
		if len(l.Data) > 0 && CommandType(l.Data[0]) == TypeStageCommit {
			// The commit moves the staging bucket (bbolt MoveBucket),
			// which must see the chunks' writes committed.
			flush()
			bulk = true
			if halted != nil {
				results[i] = halted
				continue
			}
		}
		if eops := w.expireStagings(l.Index, f.log); len(eops) > 0 {
			// Whatever becomes of the entry, the uploads it ends are gone.
			ops = append(ops, eops...)
			last = l.Index
		}
		res, op, err := w.apply(l, f.log)
		switch {
		case errors.Is(err, ErrHalted):
			halted = err
			f.log.Error("state machine halted: upgrade this node's binary, then restart it", "index", l.Index, "err", err)
			results[i] = err
		case err != nil:
			results[i] = err
		case op == nil:
			results[i] = res
		default:
			results[i] = res
			ops = append(ops, op...)
			accepted = append(accepted, i)
			last = l.Index
		}
	}
	flush()
	if bulk && committed {
		// The upload's pages were read to write it; the zone is in
		// memory once, as the state (docs/large-zones.md, "Memory").
		f.store.Release()
		returnMemory(w.zones)
	}
	f.mu.Lock()
	if committed {
		next := &fsmState{zones: make(map[string]ZoneState, len(base.zones)), members: make(map[string]MemberInfo, len(base.members)), reg: base.reg, staging: base.staging, applied: last}
		if len(w.stagings) > 0 {
			next.staging = make(map[string]*Staging, len(base.staging)+len(w.stagings))
			for k, v := range base.staging {
				next.staging[k] = v
			}
			for k, v := range w.stagings {
				if v == nil {
					delete(next.staging, k)
				} else {
					next.staging[k] = v
				}
			}
		}
		if w.reg != nil {
			next.reg = w.reg.commit()
		}
		for k, v := range base.zones {
			next.zones[k] = v
		}
		for k, v := range base.members {
			next.members[k] = v
		}
		for k, v := range w.zones {
			if v == nil {
				delete(next.zones, k)
			} else {
				next.zones[k] = *v
			}
		}
		for k, v := range w.members {
			if v == nil {
				delete(next.members, k)
			} else {
				next.members[k] = *v
			}
		}
		f.state = next
	}
	f.halted = halted
	f.mu.Unlock()
	if f.onZone != nil && committed {
		names := make([]string, 0, len(w.zones))
		for n := range w.zones {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			var z *zone.Zone
			if s := w.zones[n]; s != nil {
				z = s.served()
			}
			f.onZone(n, z)
		}
	}
	if len(logs) > 0 && halted == nil {
		f.proc.advance(logs[len(logs)-1].Index)
	}
	return results
}

// work is the state of a batch being applied: base with the batch's
// changes so far on top (a nil entry is a deletion).
type work struct {
	store   *Store
	base    *fsmState
	zones   map[string]*ZoneState
	members map[string]*MemberInfo
	reg     *regWork // nil until the batch's first registry command
	// stagings holds the batch's changes to open uploads (nil: dropped).
	stagings map[string]*Staging
	pre      *preverifier
}

func (w *work) zone(origin string) (ZoneState, bool) {
	if s, ok := w.zones[origin]; ok {
		if s == nil {
			return ZoneState{}, false
		}
		return *s, true
	}
	s, ok := w.base.zones[origin]
	return s, ok
}

func reject(r Reason, format string, args ...any) error {
	return &RejectedError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// isRepeat reports whether the zone s already is what a create or change
// with the signed head note head and owner key owner would make it: the
// head commits to the serial and the Merkle root of every RRset, and the
// group accepted it under owner's signature before.
func isRepeat(s *ZoneState, head []byte, owner *dns.DNSKEY) bool {
	if s == nil || s.Zone == nil || s.Zone.Head == nil || s.Owner == nil || owner == nil || len(head) == 0 {
		return false
	}
	return bytes.Equal(s.Zone.Head.Note, head) && zone.SameKey(s.Owner.DNSKEY, owner)
}

// repeated is the result of a repeated create or change: nothing to
// write, the zone's serial.
func (w *work) repeated(res *ApplyResult, s *ZoneState, log *slog.Logger) *ApplyResult {
	log.Info("change repeats the zone's current state; nothing to apply", "zone", s.Zone.Origin, "serial", s.Zone.Serial(), "index", res.Index)
	res.Serial, res.Repeat = s.Zone.Serial(), true
	return res
}

func rejectChange(err error) error {
	var ce *zone.ChangeError
	if errors.As(err, &ce) {
		return &RejectedError{Reason: Reason(ce.Reason), Err: ce.Err}
	}
	return &RejectedError{Reason: ReasonMalformed, Err: err}
}

// apply checks one command against w and, when it is accepted, records
// its effect in w and returns the store writes. A nil op with a nil error
// means the entry was skipped.
func (w *work) apply(l *raft.Log, log *slog.Logger) (*ApplyResult, []func(kvTx) error, error) {
	c, err := DecodeCommand(l.Data)
	var unknown *UnknownCommandError
	switch {
	case errors.As(err, &unknown) && unknown.Ignorable:
		log.Warn("skipping a command of unknown type marked ignore-if-unknown", "index", l.Index, "type", uint8(unknown.Type))
		return &ApplyResult{Index: l.Index, Skipped: true}, nil, nil
	case errors.As(err, &unknown), errors.Is(err, ErrCommandVersion):
		return nil, nil, fmt.Errorf("%w: log index %d: %w", ErrHalted, l.Index, err)
	case err != nil:
		return nil, nil, &RejectedError{Reason: ReasonMalformed, Err: err}
	}
	res := &ApplyResult{Index: l.Index}
	var ops []func(kvTx) error
	switch c := c.(type) {
	case *StageBegin:
		sops, err := w.applyStageBegin(c, res, l.Index, log)
		if err != nil {
			return nil, nil, err
		}
		if sops == nil {
			return res, ops, nil
		}
		ops = append(ops, sops...)
	case *StageChunk:
		sops, err := w.applyStageChunk(c, l.Data, res, w.pre)
		if err != nil {
			return nil, nil, err
		}
		if sops == nil {
			return res, ops, nil
		}
		ops = append(ops, sops...)
	case *StageCommit:
		sops, err := w.applyStageCommit(c, res)
		if err != nil {
			return nil, nil, err
		}
		if sops == nil {
			return res, ops, nil
		}
		ops = append(ops, sops...)
	case *CreateZone:
		origin := zone.CanonicalName(c.Change.Zone)
		if cur, ok := w.zone(origin); ok && isRepeat(&cur, c.Change.Head, c.Owner) {
			return w.repeated(res, &cur, log), nil, nil
		}
		if _, ok := w.zone(origin); ok {
			return nil, nil, reject(ReasonZoneExists, "zone %s exists", origin)
		}
		owner, err := ownerKey(origin, c.Owner)
		if err != nil {
			return nil, nil, reject(ReasonMalformed, "zone %s: %v", origin, err)
		}
		z, err := w.verifyChange(nil, c.Change, owner, l.Data)
		if err != nil {
			return nil, nil, rejectChange(err)
		}
		w.zones[origin] = &ZoneState{Zone: z, Owner: owner}
		ops = append(ops, func(tx kvTx) error {
			if err := deleteZoneTx(tx, origin); err != nil {
				return err
			}
			return setOwnerTx(tx, origin, owner.DNSKEY)
		}, func(tx kvTx) error {
			_, err := w.store.putTx(tx, z)
			return err
		})
		res.Serial = z.Serial()
	case *PublishChange:
		origin := zone.CanonicalName(c.Change.Zone)
		s, err := w.owned(origin)
		if err != nil {
			return nil, nil, err
		}
		if isRepeat(&s, c.Change.Head, s.Owner.DNSKEY) {
			return w.repeated(res, &s, log), nil, nil
		}
		z, err := w.verifyChange(s.Zone, c.Change, s.Owner, l.Data)
		if err != nil {
			return nil, nil, rejectChange(err)
		}
		drop, err := afterRollback(&s, z.Serial())
		if err != nil {
			return nil, nil, err
		}
		if drop != nil {
			ops = append(ops, drop)
		}
		s.Zone = z
		w.zones[origin] = &s
		ops = append(ops, w.putChangeOp(z, c.Change))
		res.Serial = z.Serial()
	case *RotateKey:
		origin := zone.CanonicalName(c.Change.Zone)
		s, err := w.owned(origin)
		if err != nil {
			return nil, nil, err
		}
		if isRepeat(&s, c.Change.Head, c.NewKey) {
			return w.repeated(res, &s, log), nil, nil
		}
		newKey, err := ownerKey(origin, c.NewKey)
		if err != nil {
			return nil, nil, reject(ReasonMalformed, "zone %s new key: %v", origin, err)
		}
		z, err := w.verifyChange(s.Zone, c.Change, newKey, l.Data)
		if err != nil {
			return nil, nil, rejectChange(err)
		}
		if !ed25519.Verify(s.Owner.Public(), RotateStatement(origin, c.NewKey, z.Serial()), c.Proof) {
			return nil, nil, reject(ReasonBadSignature, "zone %s: the rotation is not signed by the owner key (tag %d)", origin, s.Owner.Tag())
		}
		for _, set := range z.RRsets() {
			for _, sig := range set.Signatures() {
				if sig.KeyTag != newKey.Tag() {
					return nil, nil, reject(ReasonWrongKey, "zone %s: %s keeps an RRSIG by key tag %d after rotating to %d", origin, set.Name, sig.KeyTag, newKey.Tag())
				}
			}
		}
		drop, err := afterRollback(&s, z.Serial())
		if err != nil {
			return nil, nil, err
		}
		if drop != nil {
			ops = append(ops, drop)
		}
		s.Zone, s.Owner = z, newKey
		w.zones[origin] = &s
		ops = append(ops, w.dropStaging(origin)...)
		ops = append(ops, w.putChangeOp(z, c.Change), func(tx kvTx) error { return setOwnerTx(tx, origin, newKey.DNSKEY) })
		res.Serial = z.Serial()
	case *DeleteZone:
		origin := zone.CanonicalName(c.Zone)
		s, err := w.owned(origin)
		if err != nil {
			return nil, nil, err
		}
		if c.Serial != s.Zone.Serial() {
			return nil, nil, reject(ReasonStaleSerial, "zone %s: deletion of serial %d, zone is at %d", origin, c.Serial, s.Zone.Serial())
		}
		if !ed25519.Verify(s.Owner.Public(), DeleteStatement(origin, c.Serial), c.Proof) {
			return nil, nil, reject(ReasonBadSignature, "zone %s: the deletion is not signed by the owner key (tag %d)", origin, s.Owner.Tag())
		}
		w.zones[origin] = nil
		ops = append(ops, w.dropStaging(origin)...)
		ops = append(ops, func(tx kvTx) error { return deleteZoneTx(tx, origin) })
		res.Serial = s.Zone.Serial()
	case *Suspend, *Unsuspend:
		origin, reason, on := "", "", false
		if s, ok := c.(*Suspend); ok {
			origin, reason, on = s.Zone, s.Reason, true
		} else {
			u := c.(*Unsuspend)
			origin, reason = u.Zone, u.Reason
		}
		origin = zone.CanonicalName(origin)
		s, ok := w.zone(origin)
		if !ok {
			return nil, nil, reject(ReasonNoZone, "no zone %s", origin)
		}
		s.Suspended, s.Reason = on, reason
		w.zones[origin] = &s
		ops = append(ops, func(tx kvTx) error { return setSuspendedTx(tx, origin, on, reason) })
		res.Serial = s.Zone.Serial()
	case *SetMember:
		if c.ID == "" {
			return nil, nil, reject(ReasonMalformed, "member without an ID")
		}
		m := MemberInfo{ID: c.ID, Admin: c.Admin, DNS: c.DNS}
		if m.Admin == "" && m.DNS == "" {
			w.members[m.ID] = nil
		} else {
			w.members[m.ID] = &m
		}
		ops = append(ops, func(tx kvTx) error { return setMemberTx(tx, m) })
	case *RecordRollback:
		rops, err := w.applyRollback(c, res)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, rops...)
	case *DropZone:
		dops, err := w.applyDrop(c, res)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, dops...)
	default:
		rops, err := w.applyRegistry(c)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, rops...)
	}
	return res, ops, nil
}

// verifyChange is zone.VerifyChange, without the RRSIG and head
// cryptography when this member's preverifier checked the entry's bytes
// with owner already (preverify.go).
func (w *work) verifyChange(old *zone.Zone, cs zone.ChangeSet, owner *zone.Key, entry []byte) (*zone.Zone, error) {
	if ok, head := w.pre.verifiedChange(entry, owner); ok {
		return zone.VerifyChangePreverified(old, cs, owner, head)
	}
	return zone.VerifyChange(old, cs, owner)
}

// owned returns the state of a zone that has an owner key.
func (w *work) owned(origin string) (ZoneState, error) {
	s, ok := w.zone(origin)
	if !ok {
		return s, reject(ReasonNoZone, "no zone %s", origin)
	}
	if s.Owner == nil {
		return s, reject(ReasonWrongKey, "zone %s has no owner key in the group", origin)
	}
	return s, nil
}

// putChangeOp returns the store write of z, the result of cs.
func (w *work) putChangeOp(z *zone.Zone, cs zone.ChangeSet) func(kvTx) error {
	return func(tx kvTx) error { return w.store.putChangeTx(tx, z, cs) }
}
