package writes

// write.go: the write path, top to bottom (docs/architecture.md, "a
// write"). A command enters a node at one of four doors and is decoded
// there once (raftfsm.Decode); from then on it travels typed
// (raftfsm.Encoded), and the bytes the owner sent are what Raft logs or
// what is forwarded:
//
//   - the admin endpoint (Path.Change, Path.ProposeRegistryAdmin,
//     Path.Register, behind node's admin.Node): an operator's write, or
//     one another member forwarded;
//   - the REST API (Path.SubmitZone, Path.ProposeRegistry, behind
//     node's api.Backend);
//   - DDNRS-RPC SubmitChange from a node of another group (Path.RPC:
//     rpcWrites.Submit; a dry run: rpcWrites.CheckChange);
//   - Go callers (Path.Submit, Path.SubmitRemote; node.Publish).
//
// It then takes one of three routes:
//
//   - to this group's leader (toLeader): applied when this node leads,
//     else forwarded once to the leader's admin endpoint;
//   - to another group (toOtherGroup, toGroup): over DDNRS-RPC
//     SubmitChange to a member of the group that holds the zone, found
//     in the DHT or, by group name, in the registry's node directory;
//   - to the registry group (toRegistry): registry commands, through
//     the registry group's leader, or a registry member's admin endpoint
//     for a node outside that group (proposeOperator).
//
// A dry run (REST ?dry_run=true) is never proposed: it is checked against
// a replica of the zone's group, this one (checkLocal) or a member of the
// other group (checkAtOtherGroup).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// leaderPoll is how often a write looks for a leader again.
const leaderPoll = 50 * time.Millisecond

// maxResendWait bounds the wait between resends of a change whose outcome
// is unknown or whose leader (or other group) was unreachable. Each such
// resend carries the whole command again (a staged chunk is 256 KiB)
// across Raft or the overlay; resending every leaderPoll while the other
// side is overloaded is what kept it overloaded (about 20 resends a
// second per registry member in a loaded run of integration TestAPI).
const maxResendWait = time.Second

// resendWait is the wait before the next try of toLeaderAs: leaderPoll
// while only looking for a leader, doubling from leaderPoll up to
// maxResendWait over consecutive resends.
func resendWait(resends int) time.Duration {
	d := leaderPoll
	for i := 1; i < resends && d < maxResendWait; i++ {
		d *= 2
	}
	return min(d, maxResendWait)
}

// appliedPoll is how often ProposeRegistry looks whether the local
// replica has applied a command committed through another member.
const appliedPoll = 5 * time.Millisecond

// errNotRegistryCommand marks a command given to ProposeRegistry that is
// not a registry command (mapped to bad_request).
var errNotRegistryCommand = fmt.Errorf("%w: not a registry command", admin.ErrBadRequest)

// ---- doors ----

// Change is admin.Node's Change. An operator's write (not forwarded) claims
// the name first (operatorChange); a write another member forwarded goes
// on its way and is never forwarded to a leader again.
func (w *Path) Change(ctx context.Context, origin string, cmd raftfsm.Encoded, forwarded bool) (*admin.ChangeResult, error) {
	if forwarded {
		// The member that forwarded it claimed the name.
		return w.toHolder(ctx, origin, cmd, false)
	}
	return w.operatorChange(ctx, origin, cmd)
}

// ProposeRegistryAdmin is admin.Node's ProposeRegistry (POST
// /v1/registry/propose): a registry command an operator sent, or one
// another member forwarded (never forwarded again).
func (w *Path) ProposeRegistryAdmin(ctx context.Context, cmd []byte, forwarded bool) (uint64, error) {
	enc, err := w.decode(cmd)
	if err != nil {
		return 0, err
	}
	return w.toRegistry(ctx, enc, !forwarded)
}

// Register is admin.Node's Register: a registry command the admin endpoint
// makes (a heartbeat, an operator's API key), proposed as ProposeRegistry
// does.
func (w *Path) Register(ctx context.Context, c raftfsm.Command) error {
	cmd, err := raftfsm.EncodeCommand(c)
	if err == nil {
		err = w.ProposeRegistry(ctx, cmd)
	}
	if errors.Is(err, api.ErrNotRegistry) {
		return fmt.Errorf("%w: %w", admin.ErrBadRequest, err)
	}
	return err
}

// Submit sends an encoded raftfsm command for the zone origin to the
// group: applied here when this node leads, else forwarded once to the
// leader. It returns after the command is committed and applied on the
// leader, or a typed error (admin.ErrorOf gives the codes). ctx bounds it.
func (w *Path) Submit(ctx context.Context, origin string, cmd []byte) (*admin.ChangeResult, error) {
	if _, _, err := w.running(); err != nil {
		return nil, err
	}
	enc, err := w.decode(cmd)
	if err != nil {
		return nil, err
	}
	return w.toLeader(ctx, zone.CanonicalName(origin), enc, true)
}

// ProposeRegistry is api.Backend's ProposeRegistry: cmd is applied by this node
// when it leads the registry group, else forwarded once to the leader's
// admin endpoint (POST /v1/registry/propose); it returns once the local
// replica has applied the command's index too. Rejections are
// *raftfsm.RejectedError, also when the leader rejected a forwarded
// command.
func (w *Path) ProposeRegistry(ctx context.Context, cmd []byte) error {
	if !w.o.RegistryMember {
		return api.ErrNotRegistry
	}
	fsm, _, err := w.running()
	if err != nil {
		return err
	}
	enc, err := w.decode(cmd)
	if err != nil {
		return err
	}
	idx, err := w.toRegistry(ctx, enc, true)
	if err != nil {
		return err
	}
	if err := waitApplied(ctx, fsm, idx); err != nil {
		return err
	}
	if l := w.r.Log(); l != nil {
		l.Nudge() // a suspension takes effect here at once
	}
	return nil
}

// SubmitZone is api.Backend's SubmitZone. The command goes to this node's
// group when group is its name, or group is "" and the local replica
// holds origin; to the group that holds origin in the overlay when group
// is "" and the local replica does not; otherwise to a member of group,
// found in the registry's node directory, over DDNRS-RPC SubmitChange.
// A dry run is checked against the state of a replica of the same
// group ((*raftfsm.FSM).Check), never proposed: the local one, or, for
// another group, a member's over DDNRS-RPC SubmitChange with DryRun set
// (checkAtOtherGroup); a replica may lag its leader by a few entries.
func (w *Path) SubmitZone(ctx context.Context, group, origin string, cmd raftfsm.Encoded, dryRun bool) (uint32, error) {
	fsm, _, err := w.running()
	if err != nil {
		return 0, err
	}
	origin = zone.CanonicalName(origin)
	_, held := fsm.Zone(origin)
	local := group == w.o.Group || (group == "" && held)
	if dryRun {
		if !local {
			serial, asked, err := w.checkAtOtherGroup(ctx, group, origin, cmd)
			if asked {
				if err != nil {
					return 0, backendErr(err)
				}
				return serial, nil
			}
		}
		serial, err := checkLocal(fsm, origin, cmd)
		if err != nil {
			return 0, backendErr(err)
		}
		return serial, nil
	}
	var res *admin.ChangeResult
	switch {
	case local:
		res, err = w.toLeader(ctx, origin, cmd, true)
	case group == "":
		res, err = w.toHolder(ctx, origin, cmd, true)
	default:
		if err := checkCommand(origin, cmd); err != nil {
			return 0, backendErr(err)
		}
		res, err = w.toGroup(ctx, group, origin, cmd)
	}
	if err != nil {
		return 0, backendErr(err)
	}
	return res.Serial, nil
}

// RPC returns what serves DDNRS-RPC SubmitChange for the overlay.
func (w *Path) RPC() intergroup.Writes { return rpcWrites{w} }

// rpcWrites serves DDNRS-RPC SubmitChange (overlay.Submitter and
// overlay.ChangeChecker): changes from nodes of other groups to the
// zones this node's group holds, or a CreateZone the registry placed on
// it.
type rpcWrites struct{ w *Path }

// Submit implements overlay.Submitter: a change forwarded from a node of
// another group, sent to the leader. Errors carry the admin API's
// stable codes mapped to the overlay's.
func (rw rpcWrites) Submit(ctx context.Context, zoneName string, raw []byte) (uint32, uint64, error) {
	origin := zone.CanonicalName(zoneName)
	cmd, derr := raftfsm.Decode(raw)
	if !rw.w.r.Held(origin) && (derr != nil || !rw.w.placedHere(ctx, origin, cmd)) {
		return 0, 0, &overlay.RPCError{Code: overlay.CodeNotFound, Message: "zone " + origin + " is not held by this group"}
	}
	if derr != nil {
		rw.w.countRejected(derr)
		return 0, 0, remoteRefusal(derr)
	}
	if !ownerSigned(cmd) {
		// Operator commands (suspend, unsuspend, drop-zone, membership)
		// carry no owner signature: they are taken from the group's
		// operators and members over the mutually authenticated admin
		// endpoint only. Over the overlay any admitted node of any group
		// could send them.
		return 0, 0, remoteRefusal(&raftfsm.RejectedError{Reason: raftfsm.ReasonMalformed,
			Err: fmt.Errorf("%s is taken from the group's operators over its admin endpoint only, not over DDNRS-RPC", cmd.Cmd.Type())})
	}
	if _, _, err := rw.w.running(); err != nil {
		return 0, 0, remoteRefusal(err)
	}
	r, err := rw.w.toLeader(ctx, origin, cmd, true)
	if err != nil {
		return 0, 0, remoteRefusal(err)
	}
	return r.Serial, r.Index, nil
}

// ownerSigned reports whether cmd is one the zone's owner signed, which
// is all a node of another group may send over DDNRS-RPC: a create (the
// registry placed the zone here, placedHere), a change, a key rotation,
// a deletion, and the three commands of a staged upload (the chunks are
// checked against the owner-signed head the commit carries).
func ownerSigned(cmd raftfsm.Encoded) bool {
	switch cmd.Cmd.(type) {
	case *raftfsm.CreateZone, *raftfsm.PublishChange, *raftfsm.RotateKey, *raftfsm.DeleteZone,
		*raftfsm.StageBegin, *raftfsm.StageChunk, *raftfsm.StageCommit:
		return true
	}
	return false
}

// decode is raftfsm.Decode, counting a command that does not decode as
// rejected (malformed).
func (w *Path) decode(b []byte) (raftfsm.Encoded, error) {
	enc, err := raftfsm.Decode(b)
	if err != nil {
		w.countRejected(err)
	}
	return enc, err
}

// operatorChange is the write of an operator through the admin endpoint:
// a CreateZone (or the StageBegin of an upload of a zone the group does
// not hold, which creates it) first claims the name in the registry for
// the zone's owner key on this node's group, and the claim is released
// again when the group refuses the create; a DeleteZone that the group
// applied releases the name; a RotateKey moves the claim to the new key
// first (claims.go). Other commands, and every command on a node
// without [registry] (the claim functions do nothing there), go to
// toHolder.
func (w *Path) operatorChange(ctx context.Context, origin string, cmd raftfsm.Encoded) (*admin.ChangeResult, error) {
	var createOwner *dns.DNSKEY
	switch c := cmd.Cmd.(type) {
	case *raftfsm.CreateZone:
		createOwner = c.Owner
	case *raftfsm.StageBegin:
		if _, err := w.r.Stored(origin); errors.Is(err, raftfsm.ErrNoZone) {
			createOwner = c.Owner
		}
	}
	switch c := cmd.Cmd.(type) {
	case *raftfsm.CreateZone, *raftfsm.StageBegin:
		if createOwner == nil {
			break
		}
		if err := w.checkCommand(origin, cmd); err != nil {
			return nil, err
		}
		made, err := w.claimForOperator(ctx, origin, createOwner)
		if err != nil {
			return nil, err
		}
		res, err := w.toHolder(ctx, origin, cmd, true)
		if err != nil && made {
			// Under a fresh deadline: the request's may be what failed.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.RequestTimeout)
			defer cancel()
			if rerr := w.releaseForOperator(uctx, origin); rerr != nil {
				w.log.Error("zone create failed and its claim could not be released", "zone", origin, "err", err, "release_err", rerr)
			}
		}
		return res, err
	case *raftfsm.DeleteZone:
		res, err := w.toHolder(ctx, origin, cmd, true)
		if err != nil {
			return nil, err
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.RequestTimeout)
		defer cancel()
		if rerr := w.releaseForOperator(uctx, origin); rerr != nil {
			// The zone is gone; the name stays claimed until released
			// again (a create with the same key reuses the claim).
			w.log.Warn("zone deleted but its claim could not be released", "zone", origin, "err", rerr)
		}
		return res, nil
	case *raftfsm.RotateKey:
		if err := w.checkCommand(origin, cmd); err != nil {
			return nil, err
		}
		if err := w.rotateClaimFirst(ctx, origin, c, cmd.Bytes); err != nil {
			return nil, err
		}
	}
	return w.toHolder(ctx, origin, cmd, true)
}

// ---- checks ----

// checkCommand checks cmd before it is proposed: it must be a zone
// command about the zone origin named in the request.
func checkCommand(origin string, cmd raftfsm.Encoded) error {
	z := cmd.Zone()
	if z == "" {
		return fmt.Errorf("%w: a %v command does not go to a zone's changes (use /v1/group/announce)", admin.ErrBadRequest, cmd.Cmd.Type())
	}
	if zone.CanonicalName(z) != origin {
		return fmt.Errorf("%w: command is about zone %q, path names %q", admin.ErrBadRequest, z, origin)
	}
	return nil
}

// checkCommand is checkCommand counting a rejection.
func (w *Path) checkCommand(origin string, cmd raftfsm.Encoded) error {
	err := checkCommand(origin, cmd)
	w.countRejected(err)
	return err
}

// checkLocal is a dry run of cmd against this replica: the command must
// be about origin and pass (*raftfsm.FSM).Check; it returns the serial
// the change would leave.
func checkLocal(fsm *raftfsm.FSM, origin string, cmd raftfsm.Encoded) (uint32, error) {
	if err := checkCommand(origin, cmd); err != nil {
		return 0, err
	}
	if err := fsm.Check(cmd.Bytes); err != nil {
		return 0, err
	}
	return dryRunSerial(fsm, origin, cmd), nil
}

// dryRunSerial is the serial a checked command would leave: the
// serial of its change set's SOA, else the stored one.
func dryRunSerial(fsm *raftfsm.FSM, origin string, cmd raftfsm.Encoded) uint32 {
	var cs *zone.ChangeSet
	switch c := cmd.Cmd.(type) {
	case *raftfsm.CreateZone:
		cs = &c.Change
	case *raftfsm.PublishChange:
		cs = &c.Change
	case *raftfsm.RotateKey:
		cs = &c.Change
	}
	if cs != nil {
		if serial, ok := cs.Serial(); ok {
			return serial
		}
	}
	if st, ok := fsm.Zone(origin); ok && st.Zone != nil {
		return st.Zone.Serial()
	}
	return 0
}

// CheckChange implements overlay.ChangeChecker: a dry run against the
// local replica, never proposed. Refusals carry the same codes and
// "reason: message" text as Submit's.
func (rw rpcWrites) CheckChange(ctx context.Context, zoneName string, raw []byte) (uint32, error) {
	fsm, _, err := rw.w.running()
	if err != nil {
		return 0, &overlay.RPCError{Code: overlay.CodeUnavailable, Message: err.Error()}
	}
	origin := zone.CanonicalName(zoneName)
	cmd, derr := raftfsm.Decode(raw)
	if _, held := fsm.Zone(origin); !held && (derr != nil || !rw.w.placedHere(ctx, origin, cmd)) {
		return 0, &overlay.RPCError{Code: overlay.CodeNotFound, Message: "zone " + origin + " is not held by this group"}
	}
	if derr != nil {
		return 0, remoteRefusal(derr)
	}
	if !ownerSigned(cmd) {
		return 0, remoteRefusal(&raftfsm.RejectedError{Reason: raftfsm.ReasonMalformed,
			Err: fmt.Errorf("%s is taken from the group's operators over its admin endpoint only, not over DDNRS-RPC", cmd.Cmd.Type())})
	}
	serial, err := checkLocal(fsm, origin, cmd)
	if err != nil {
		return 0, remoteRefusal(err)
	}
	return serial, nil
}

// ---- route 1: this group's leader ----

// toHolder is toLeader for a zone this node's group may not hold: when
// the local replica has no such zone and another group of the overlay
// holds it, a CreateZone is refused (admin.OtherGroupError) and any
// other command goes to that group (toOtherGroup), bounded by the
// forward timeout.
func (w *Path) toHolder(ctx context.Context, origin string, cmd raftfsm.Encoded, mayForward bool) (*admin.ChangeResult, error) {
	members, err := w.OtherGroup(ctx, origin)
	if err != nil {
		return nil, err
	}
	if members == nil {
		return w.toLeader(ctx, origin, cmd, mayForward)
	}
	if err := w.checkCommand(origin, cmd); err != nil {
		return nil, err
	}
	if _, create := cmd.Cmd.(*raftfsm.CreateZone); create {
		return nil, &admin.OtherGroupError{Zone: origin, Members: members, Create: true}
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.ForwardTimeout)
	defer cancel()
	res, err := w.toOtherGroup(ctx, origin, cmd)
	if err != nil && !refusedForGood(err) {
		// No member reached: the change may or may not have been
		// committed.
		err = fmt.Errorf("%w: %w", admin.ErrUnavailable, err)
	}
	result := "ok"
	if err != nil {
		result = admin.ErrorOf(err).Code
	}
	w.o.Forwarded.WithLabelValues(result).Inc()
	if err == nil {
		w.log.Debug("change committed by the zone's group", "zone", origin, "serial", res.Serial, "index", res.Index)
	}
	return res, err
}

// toLeader applies cmd when this node leads; otherwise, when mayForward,
// forwards it once to the leader. While no leader is known (or its admin
// address is not), or the leader this node knows cannot be reached (it
// just died: this node learns of the next one after an election
// timeout), it retries for up to LeaderWait; a node that may not
// forward and knows another member leads returns its *NotLeaderError at
// once (leadsElsewhere). When the outcome of a
// send is unknown (leadership lost while committing), it sends the same
// command again, which is safe: a create or change the group already
// holds is answered as a repeat (raftfsm ApplyResult.Repeat), and a
// deletion resent after the zone is gone is done. It returns after
// commit.
func (w *Path) toLeader(ctx context.Context, origin string, cmd raftfsm.Encoded, mayForward bool) (*admin.ChangeResult, error) {
	return w.toLeaderAs(ctx, origin, cmd, mayForward, false)
}

// toLeaderAs is toLeader; with adopting (Adopt: a zone move's copy), a
// change is applied here even when the registry's claim names another
// group (movedTo): the copy is made before the claim moves.
func (w *Path) toLeaderAs(ctx context.Context, origin string, cmd raftfsm.Encoded, mayForward, adopting bool) (*admin.ChangeResult, error) {
	wait := time.NewTimer(w.o.LeaderWait)
	defer wait.Stop()
	resent, resends := false, 0
	for {
		res, err := w.toLeaderOnce(ctx, origin, cmd, mayForward, adopting)
		if _, del := cmd.Cmd.(*raftfsm.DeleteZone); resent && del && err != nil && goneAlready(err) {
			w.log.Info("deletion resent after an unknown outcome: the zone is gone", "zone", origin)
			return &admin.ChangeResult{Repeat: true}, nil
		}
		if err == nil || !(leaderUnknown(err) || outcomeUnknown(err) || mayForward && leaderUnreachable(err)) || !mayForward && leadsElsewhere(err) {
			return res, err
		}
		if outcomeUnknown(err) || leaderUnreachable(err) {
			// An unreachable leader may have taken the command before
			// its connection broke: the resend is answered as a repeat.
			resends++
			w.log.Info("change outcome unknown; sending it again", "zone", origin, "err", err, "resend", resends)
			resent = true
		} else {
			resends = 0 // looking for a leader: nothing was sent
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-wait.C:
			return nil, err
		case <-time.After(resendWait(resends)):
		}
	}
}

func (w *Path) toLeaderOnce(ctx context.Context, origin string, cmd raftfsm.Encoded, mayForward, adopting bool) (*admin.ChangeResult, error) {
	if err := w.checkCommand(origin, cmd); err != nil {
		return nil, err
	}
	if g, ok := w.movedTo(origin, cmd); ok && !adopting {
		// `ddnrs ops zone move` moved the claim; this group still holds
		// its copy until the move's drop. A change committed here now
		// would be lost with that copy: it goes to the new group.
		w.log.Info("zone moved to another group: the change goes there", "zone", origin, "group", g)
		return w.toGroup(ctx, g, origin, cmd)
	}
	stored := func() int {
		if z, err := w.r.Stored(origin); err == nil {
			return int(z.Tree().Size()) // no copy of a 1M-RRset list per write
		}
		return 0
	}
	if err := w.o.Limits.check(cmd, stored); err != nil {
		w.countRejected(err)
		return nil, err
	}
	res, err := w.Apply(ctx, cmd.Bytes)
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) && mayForward {
		var out *admin.ChangeResult
		err = w.Forwarder().To(ctx, nl, func(ctx context.Context, addr string) error {
			var ferr error
			out, ferr = w.r.Client().SubmitChangeForwarded(ctx, addr, origin, cmd.Bytes)
			return ferr
		})
		return out, err
	}
	if err != nil {
		return nil, err
	}
	if res.Repeat {
		// Committed earlier, at an index this send does not know.
		w.log.Info("change was already committed", "zone", origin, "serial", res.Serial)
		out := &admin.ChangeResult{Serial: res.Serial, Repeat: true, Staged: res.Staged}
		w.committed(ctx, cmd, 0, out)
		return out, nil
	}
	w.log.Debug("change committed", "zone", origin, "serial", res.Serial, "index", res.Index)
	out := &admin.ChangeResult{Serial: res.Serial, Index: res.Index, Staged: res.Staged}
	w.committed(ctx, cmd, res.Index, out)
	return out, nil
}

// committed is called with a change this node committed as leader
// (index 0: a repeat, committed earlier) before it is answered: it waits
// for the members to process it (read-your-writes, ack.go) and lists them
// in res.
func (w *Path) committed(ctx context.Context, cmd raftfsm.Encoded, index uint64, res *admin.ChangeResult) {
	w.awaitMembers(ctx, cmd, index, res)
}

// Apply hands an encoded command to Raft and records latency and
// rejections.
func (w *Path) Apply(ctx context.Context, cmd []byte) (*raftfsm.ApplyResult, error) {
	_, grp, err := w.running()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := grp.Apply(ctx, cmd)
	var rej *raftfsm.RejectedError
	switch {
	case err == nil:
		w.o.Apply.Observe(time.Since(start).Seconds())
	case errors.As(err, &rej):
		w.o.Apply.Observe(time.Since(start).Seconds())
		w.countRejected(err)
	}
	return res, err
}

// Forwarder forwards to the leader's admin endpoint, bounded by the
// forward timeout.
func (w *Path) Forwarder() admin.Forwarder {
	return admin.Forwarder{Client: w.r.Client(), Members: w.r.Member, Timeout: w.o.ForwardTimeout, Count: w.o.Forwarded}
}

// countRejected counts a rejection by reason (nil and other errors are
// not counted).
func (w *Path) countRejected(err error) {
	var rej *raftfsm.RejectedError
	if errors.As(err, &rej) {
		w.o.Rejected.WithLabelValues(string(rej.Reason)).Inc()
	}
}

// leaderUnknown reports whether err says the write reached no leader, so
// it was not applied and may be sent again.
func leaderUnknown(err error) bool {
	ae := admin.ErrorOf(err)
	return ae.Code == admin.CodeNoLeader || ae.Code == admin.CodeNotLeader
}

// leadsElsewhere reports whether err is this node's own refusal naming
// another member as leader. A node that may not forward (the write was
// forwarded to it) returns that at once: the sender, which may forward,
// then sends the write to the leader named. Waiting here for a leader
// instead would spend LeaderWait on a member that cannot commit, and the
// sender's own LeaderWait, running meanwhile, with it: under load, a
// leader change while a write was being forwarded then failed the write
// with not_leader although a new leader was known all along.
func leadsElsewhere(err error) bool {
	var nl *raftfsm.NotLeaderError
	return errors.As(err, &nl) && nl.LeaderID != ""
}

// leaderUnreachable reports whether err says the leader a write was
// forwarded to could not be reached (refused, reset, timed out).
func leaderUnreachable(err error) bool { return admin.ErrorOf(err).Code == admin.CodeUnavailable }

// outcomeUnknown reports whether err says a write may or may not have
// been committed (ErrNoQuorum: leadership lost while committing, or no
// commit in time).
func outcomeUnknown(err error) bool { return admin.ErrorOf(err).Code == admin.CodeNoQuorum }

// goneAlready reports whether err is the group's refusal of a command for
// a zone it does not hold.
func goneAlready(err error) bool {
	ae := admin.ErrorOf(err)
	return ae.Code == admin.CodeRejected && ae.Reason == string(raftfsm.ReasonNoZone)
}

// ---- route 2: another group ----
//
// A write sent to a node whose group does not hold the zone is forwarded
// over DDNRS-RPC SubmitChange to a member of the owning group, which
// hands it to its leader; a CreateZone of such a zone is refused
// (zone_exists_elsewhere) instead of creating a second copy in this
// group. A dry run for a zone of another group goes to a member of that
// group with DryRun set, which checks it against its own replica
// ((*raftfsm.FSM).Check) without proposing it; that member may be a
// follower whose state lags the leader's by a few entries, so a dry run
// can pass a change the leader then refuses (or the reverse) when
// changes to the zone are in flight. A follower that has not yet applied
// a zone its own group just created sees its leader as a provider and
// forwards over DDNRS-RPC too, which lands in the same group; a create
// sent to it is refused as zone_exists_elsewhere, where the leader says
// rejected (zone-exists).

// OtherGroup returns the overlay addresses of the members of another
// group that provide origin, when this node's replica has no such zone;
// nil when the replica has it, the overlay is off or no other group
// holds origin itself (an enclosing zone does not count). A failed DHT
// lookup is an error (unavailable): the caller cannot tell whether the
// zone exists in another group. The router caches the answer, negative
// ones too, so a zone another group created moments ago may not be seen
// yet. The overlay is asked only when the local replica has no such
// zone, so writes to the group's own zones never touch the DHT.
func (w *Path) OtherGroup(ctx context.Context, origin string) ([]string, error) {
	if _, err := w.r.Stored(origin); !errors.Is(err, raftfsm.ErrNoZone) {
		return nil, nil
	}
	o := w.r.Overlay()
	if o == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.ForwardTimeout)
	defer cancel()
	origin = zone.CanonicalName(origin)
	provs, err := o.Providers(ctx, origin)
	if errors.Is(err, overlay.ErrNoZone) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: looking %s up in the overlay: %w", admin.ErrUnavailable, origin, err)
	}
	var addrs []string
	for _, p := range provs {
		if p.ID == o.ID() {
			continue
		}
		if len(p.Addrs) == 0 {
			addrs = append(addrs, "/p2p/"+p.ID.String())
		}
		for _, a := range p.Addrs {
			addrs = append(addrs, a.String()+"/p2p/"+p.ID.String())
		}
	}
	return addrs, nil
}

// SubmitRemote sends an encoded raftfsm command for a zone another group
// holds to a member of that group (found in the DHT), trying each member
// until one accepts or refuses it for good. It returns intergroup.ErrNotHosted
// (wrapped) when the overlay is off or no group holds the zone.
func (w *Path) SubmitRemote(ctx context.Context, origin string, cmd []byte) (*admin.ChangeResult, error) {
	enc, err := w.decode(cmd)
	if err != nil {
		return nil, err
	}
	return w.toOtherGroup(ctx, zone.CanonicalName(origin), enc)
}

// toOtherGroup is SubmitRemote's route: to the members of the group the
// DHT names for origin, one at a time.
func (w *Path) toOtherGroup(ctx context.Context, origin string, cmd raftfsm.Encoded) (*admin.ChangeResult, error) {
	o := w.r.Overlay()
	if o == nil {
		return nil, fmt.Errorf("%w: %s (overlay off)", intergroup.ErrNotHosted, origin)
	}
	// Providers, not FindZone: FindZone may answer at once with a cached
	// parent zone while it looks origin itself up in the background.
	provs, err := o.Providers(ctx, origin)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", intergroup.ErrNotHosted, origin, err)
	}
	res, err := w.submitTo(ctx, provs, origin, cmd, false)
	if err != nil {
		return nil, fmt.Errorf("submit to the group of %s: %w", origin, err)
	}
	return res, nil
}

// toGroup sends cmd to a member of group by name over DDNRS-RPC, trying
// each member the registry's node directory lists until one accepts it
// or the group refuses it for good.
func (w *Path) toGroup(ctx context.Context, group, origin string, cmd raftfsm.Encoded) (*admin.ChangeResult, error) {
	if w.r.Overlay() == nil {
		return nil, fmt.Errorf("%w: group %s: the overlay is off on this node", api.ErrNoGroupMember, group)
	}
	peers, err := w.groupPeers(group)
	if err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: the node directory lists no member of group %q", api.ErrNoGroupMember, group)
	}
	res, err := w.submitTo(ctx, peers, origin, cmd, false)
	if err != nil && !refusedForGood(err) {
		return nil, fmt.Errorf("%w: group %s: %w", api.ErrNoGroupMember, group, err)
	}
	return res, err
}

// submitTo sends cmd (a dry run when dryRun) to peers over DDNRS-RPC
// SubmitChange, one at a time, skipping this node, until one answers or
// refuses it for good (a rejection, returned as the *raftfsm.RejectedError
// it is, or a malformed command: every member would say the same); else
// the errors of the members not reached, joined.
func (w *Path) submitTo(ctx context.Context, peers []peer.AddrInfo, origin string, cmd raftfsm.Encoded, dryRun bool) (*admin.ChangeResult, error) {
	o := w.r.Overlay()
	if o == nil {
		return nil, fmt.Errorf("%w: the overlay is off on this node", api.ErrNoGroupMember)
	}
	var errs []error
	for _, p := range peers {
		if p.ID == o.ID() {
			continue
		}
		res, err := o.SubmitChange(ctx, p, &overlay.SubmitChangeRequest{Zone: origin, Cmd: cmd.Bytes, DryRun: dryRun})
		if err == nil {
			return &admin.ChangeResult{Serial: res.Serial, Index: res.Index}, nil
		}
		var re *overlay.RPCError
		switch {
		case errors.As(err, &re) && re.Code == overlay.CodeRejected:
			return nil, groupRejection(re) // another member would refuse it too
		case errors.As(err, &re) && re.Code == overlay.CodeBadRequest:
			return nil, re
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.ID, err))
	}
	if len(errs) == 0 {
		return nil, errNoPeer
	}
	return nil, errors.Join(errs...)
}

// refusedForGood reports whether err is another group's refusal of a
// change (submitTo): a rejection or a malformed command.
func refusedForGood(err error) bool {
	var (
		rej *raftfsm.RejectedError
		re  *overlay.RPCError
	)
	return errors.As(err, &rej) || errors.As(err, &re) && re.Code == overlay.CodeBadRequest
}

// errNoPeer is submitTo's error when no member but this node was listed.
var errNoPeer = errors.New("no member listed")

// reasonUnknown is the reason of a rejection by a member that speaks
// only DDNRS-RPC version 1, whose replies carry no reason field.
const reasonUnknown = raftfsm.Reason("remote")

// groupRejection is another group's rejection (CodeRejected) as the state
// machine's typed error: its reason is a field of the reply (DDNRS-RPC
// version 2), reasonUnknown from a version-1 member, which sends none.
func groupRejection(re *overlay.RPCError) *raftfsm.RejectedError {
	reason := raftfsm.Reason(re.Reason)
	if reason == "" {
		reason = reasonUnknown
	}
	return &raftfsm.RejectedError{Reason: reason, Err: errors.New(re.Message)}
}

// checkAtOtherGroup is a dry run of cmd at the group that holds origin:
// group by name (members from the registry's node directory), or, when
// group is "", the other group the overlay finds providing origin. It
// asks one member at a time until one answers or refuses for good.
// asked is false when group is "" and no other group holds origin (or
// the overlay is off): the change would be applied here, so the caller
// checks it here.
func (w *Path) checkAtOtherGroup(ctx context.Context, group, origin string, cmd raftfsm.Encoded) (serial uint32, asked bool, err error) {
	o := w.r.Overlay()
	var peers []peer.AddrInfo
	switch {
	case group != "" && o == nil:
		return 0, true, fmt.Errorf("%w: group %s: the overlay is off on this node", api.ErrNoGroupMember, group)
	case group != "":
		if peers, err = w.groupPeers(group); err != nil {
			return 0, true, err
		}
	case o == nil:
		return 0, false, nil
	default:
		provs, err := o.Providers(ctx, origin)
		if errors.Is(err, overlay.ErrNoZone) {
			return 0, false, nil
		}
		if err != nil {
			return 0, true, fmt.Errorf("%w: looking %s up in the overlay: %w", admin.ErrUnavailable, origin, err)
		}
		for _, p := range provs {
			if p.ID != o.ID() {
				peers = append(peers, p)
			}
		}
		if len(peers) == 0 {
			return 0, false, nil
		}
		group = "of " + origin
	}
	if err := checkCommand(origin, cmd); err != nil {
		return 0, true, err
	}
	res, err := w.submitTo(ctx, peers, origin, cmd, true)
	switch {
	case err == nil:
		return res.Serial, true, nil
	case refusedForGood(err):
		return 0, true, err
	case errors.Is(err, errNoPeer):
		return 0, true, fmt.Errorf("%w: the node directory lists no member of group %q", api.ErrNoGroupMember, group)
	}
	return 0, true, fmt.Errorf("%w: group %s: dry run: %w", api.ErrNoGroupMember, group, err)
}

// groupPeers returns the overlay addresses of group's members as the
// registry's node directory lists them (registry members only; others
// have no directory).
func (w *Path) groupPeers(group string) ([]peer.AddrInfo, error) {
	reg, err := w.r.Registry()
	if err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for _, r := range reg.Nodes() {
		if r.Group != group || r.PeerID == "" {
			continue
		}
		id, err := peer.Decode(r.PeerID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range r.Overlay {
			if a, err := ma.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		out = append(out, ai)
	}
	return out, nil
}

// ---- route 3: the registry group ----

// isRegistryCommand reports whether c is one of the registry commands.
func isRegistryCommand(c raftfsm.Command) bool {
	switch c.(type) {
	case *raftfsm.SubmitApplication, *raftfsm.ReviewApplication, *raftfsm.IssueKey, *raftfsm.RevokeKey,
		*raftfsm.ClaimZone, *raftfsm.ReleaseZone, *raftfsm.ChangeOwnerKey, *raftfsm.RegistrySuspend, *raftfsm.NodeHeartbeat,
		*raftfsm.LeaseChange, *raftfsm.ExpireZone, *raftfsm.RevokeCert, *raftfsm.RemoveNode, *raftfsm.MoveZone,
		*raftfsm.CollectKey, *raftfsm.ZoneDropped, *raftfsm.ApproveNode, *raftfsm.NodeRequest:
		return true
	}
	return false
}

// toRegistry applies a registry command, forwarding it to the leader
// once when this node does not lead and mayForward; it returns the
// command's Raft index. While no leader is known it retries for up to
// LeaderWait; a node that may not forward and knows another member
// leads returns its *NotLeaderError at once (leadsElsewhere).
func (w *Path) toRegistry(ctx context.Context, cmd raftfsm.Encoded, mayForward bool) (uint64, error) {
	if !isRegistryCommand(cmd.Cmd) {
		return 0, fmt.Errorf("%w (%v)", errNotRegistryCommand, cmd.Cmd.Type())
	}
	wait := time.NewTimer(w.o.LeaderWait)
	defer wait.Stop()
	for {
		idx, err := w.toRegistryOnce(ctx, cmd, mayForward)
		if err == nil || !leaderUnknown(err) || !mayForward && leadsElsewhere(err) {
			return idx, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-wait.C:
			return 0, err
		case <-time.After(leaderPoll):
		}
	}
}

func (w *Path) toRegistryOnce(ctx context.Context, cmd raftfsm.Encoded, mayForward bool) (uint64, error) {
	res, err := w.Apply(ctx, cmd.Bytes)
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) && mayForward {
		var idx uint64
		err = w.Forwarder().To(ctx, nl, func(ctx context.Context, addr string) error {
			var ferr error
			idx, ferr = w.r.Client().ProposeRegistry(ctx, addr, cmd.Bytes)
			return ferr
		})
		// The leader's rejection is an *admin.APIError that errors.As
		// finds as the state machine's typed error.
		return idx, err
	}
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// waitApplied returns once fsm has applied index idx. Raft's own applied
// index runs ahead of the state machine (it counts entries handed to it),
// so the state machine's is the one read.
func waitApplied(ctx context.Context, fsm *raftfsm.FSM, idx uint64) error {
	if fsm.AppliedIndex() >= idx {
		return nil
	}
	t := time.NewTicker(appliedPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for index %d to be applied here: %w", idx, ctx.Err())
		case <-t.C:
		}
		if fsm.AppliedIndex() >= idx {
			return nil
		}
	}
}

// proposeOperator proposes a registry command a node makes for an
// operator: through the registry group on a member, else through the
// first registry admin endpoint that answers (it forwards the command
// to its leader). A refusal is a *raftfsm.RejectedError and ends the
// tries: another member would refuse it too.
func (w *Path) proposeOperator(ctx context.Context, cmd []byte) error {
	if w.o.RegistryMember {
		return w.ProposeRegistry(ctx, cmd)
	}
	if _, _, err := w.running(); err != nil {
		return err
	}
	var errs []error
	for _, addr := range w.o.RegistryAdmin {
		cctx, cancel := context.WithTimeout(ctx, w.o.ForwardTimeout)
		_, err := w.r.Client().ProposeRegistryAt(cctx, addr, cmd)
		cancel()
		if err == nil {
			return nil
		}
		var ae *admin.APIError
		if errors.As(err, &ae) && (ae.Code == admin.CodeRejected || ae.Code == admin.CodeBadRequest) {
			return err
		}
		errs = append(errs, fmt.Errorf("registry admin %s: %w", addr, err))
	}
	return fmt.Errorf("%w: %w", admin.ErrUnavailable, errors.Join(errs...))
}

// ---- errors on the way back ----

// backendErr turns the write path's errors into the ones the API maps
// (api errorCode): a create of a zone another group holds becomes a
// rejection naming it, a zone no group holds api.ErrNoZone, and a command
// a node refuses as malformed an invalid "command" field. Rejections need
// nothing: they are *raftfsm.RejectedError on every route (errors.As
// finds one in an *admin.APIError too).
func backendErr(err error) error {
	var (
		ae *admin.APIError
		re *overlay.RPCError
		ee *admin.OtherGroupError
	)
	switch {
	case errors.As(err, &ee):
		return &raftfsm.RejectedError{Reason: raftfsm.Reason(admin.CodeExistsElsewhere), Err: err}
	case errors.As(err, &ae) && ae.Code == admin.CodeNotFound,
		errors.As(err, &re) && re.Code == overlay.CodeNotFound, errors.Is(err, intergroup.ErrNotHosted), errors.Is(err, raftfsm.ErrNoZone):
		return fmt.Errorf("%w: %w", api.ErrNoZone, err)
	case errors.Is(err, admin.ErrBadRequest), errors.As(err, &ae) && ae.Code == admin.CodeBadRequest,
		errors.As(err, &re) && re.Code == overlay.CodeBadRequest:
		return &api.FieldError{Field: "command", Err: err}
	case errors.As(err, &ae) && (ae.Code == admin.CodeNotLeader || ae.Code == admin.CodeNoLeader):
		// The leader a write was forwarded to lost its leadership
		// meanwhile: temporary (503 no_leader), not internal.
		return fmt.Errorf("%w: %w", raftfsm.ErrNoLeader, err)
	case errors.As(err, &ae) && ae.Code == admin.CodeNoQuorum:
		return fmt.Errorf("%w: %w", raftfsm.ErrNoQuorum, err)
	}
	return err
}

// remoteRefusal maps an error of this node's write path to the reply
// DDNRS-RPC sends (the server folds the reason into the message for a
// version-1 peer).
func remoteRefusal(err error) *overlay.RPCError {
	ae := admin.ErrorOf(err)
	code := overlay.CodeInternal
	switch ae.Code {
	case admin.CodeRejected:
		code = overlay.CodeRejected
	case admin.CodeNotFound:
		code = overlay.CodeNotFound
	case admin.CodeBadRequest:
		code = overlay.CodeBadRequest
	case admin.CodeNoLeader, admin.CodeNoQuorum, admin.CodeUnavailable:
		code = overlay.CodeUnavailable
	}
	return &overlay.RPCError{Code: code, Reason: ae.Reason, Message: ae.Message}
}

// movedTo reports the group origin's claim names when it is another
// group than this node's and cmd changes the zone's data (a change, a
// key rotation, a staged upload): the zone was moved (`ddnrs ops zone
// move`, zone_move.go) and this group holds only the copy it drops once
// the move's drain is over. As far as this node knows (its registry
// replica, else the log it follows, not synced here); a node that has
// not read the move yet applies the change locally, which the move's
// --drain (at least the follow interval) is there to rule out.
func (w *Path) movedTo(origin string, cmd raftfsm.Encoded) (string, bool) {
	switch cmd.Cmd.(type) {
	case *raftfsm.PublishChange, *raftfsm.RotateKey, *raftfsm.StageBegin, *raftfsm.StageChunk, *raftfsm.StageCommit:
	default:
		return "", false
	}
	group := ""
	if reg, err := w.r.Registry(); err == nil {
		cl, ok := reg.Claim(origin)
		if !ok {
			return "", false
		}
		group = cl.Group
	} else if l := w.r.Log(); l != nil {
		g, _, ok := l.Claim(origin)
		if !ok {
			return "", false
		}
		group = g
	}
	if group == "" || group == w.o.Group || w.o.Group == "" {
		return "", false
	}
	return group, true
}
