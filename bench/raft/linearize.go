package raftbench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The model the group's write history is checked against.
//
// Each zone is a register: its SOA serial and the value of its register
// TXT RRset. A write is a compare-and-set: computed by the owner against
// serial Base, it sets (Serial, Value) when the zone is at Base, and the
// state machine refuses it (stale serial, root mismatch) otherwise. The
// group also orders every write in one Raft log, so an acknowledged
// write's log index is above that of every write acknowledged before it
// was sent, whatever the zone: the state carries the highest index.
//
// Outcomes: OK (committed; index 0 when not known), Rejected (no effect), Unknown
// (no verdict: no quorum, no leader, a member gone). An Unknown write
// gets an infinite return time, so porcupine may place it anywhere after
// its call, including after everything else, where it has no effect.
//
// Reads are honest about what the system promises: members answer DNS
// from local state, which may trail the leader by design, so reads during
// the faults are not linearizable and are not in the history. The only
// reads are taken after the faults ended, every member restarted and
// every member has applied the leader's commit index: each member's
// serial and register value, which must be the state some
// linearization of the writes ends in.

// regState is the model's state: every zone's register plus the highest
// Raft index acknowledged.
type regState struct {
	zones map[string]regValue
	index uint64
}

type regValue struct {
	Serial uint32
	Value  string
}

type regInput struct {
	Read   bool
	Zone   string
	Base   uint32
	Serial uint32
	Value  string
}

type regOutput struct {
	Outcome Outcome
	Index   uint64
	// Read result.
	Serial uint32
	Value  string
}

func (s regState) with(zone string, v regValue, index uint64) regState {
	n := regState{zones: make(map[string]regValue, len(s.zones)+1), index: s.index}
	for k, x := range s.zones {
		n.zones[k] = x
	}
	n.zones[zone] = v
	if index > n.index {
		n.index = index
	}
	return n
}

// RegisterModel is the model above, for porcupine.
var RegisterModel = porcupine.Model{
	Init: func() interface{} { return regState{zones: map[string]regValue{}} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s := state.(regState)
		in := input.(regInput)
		out := output.(regOutput)
		cur := s.zones[in.Zone]
		if in.Read {
			return cur.Serial == out.Serial && cur.Value == out.Value, s
		}
		applies := cur.Serial == in.Base
		switch out.Outcome {
		case OK: // Index 0: committed, index not known
			if !applies || (out.Index != 0 && out.Index <= s.index) {
				return false, s
			}
			return true, s.with(in.Zone, regValue{in.Serial, in.Value}, out.Index)
		case Rejected:
			return !applies, s
		default: // Unknown: applied if it could be, else refused
			if applies {
				return true, s.with(in.Zone, regValue{in.Serial, in.Value}, 0)
			}
			return true, s
		}
	},
	Equal: func(a, b interface{}) bool {
		x, y := a.(regState), b.(regState)
		if x.index != y.index || len(x.zones) != len(y.zones) {
			return false
		}
		for k, v := range x.zones {
			if y.zones[k] != v {
				return false
			}
		}
		return true
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(regInput), output.(regOutput)
		if in.Read {
			return fmt.Sprintf("read %s -> %d %q", in.Zone, out.Serial, out.Value)
		}
		return fmt.Sprintf("cas %s %d->%d %q: %s @%d", in.Zone, in.Base, in.Serial, in.Value, out.Outcome, out.Index)
	},
	DescribeState: func(state interface{}) string {
		s := state.(regState)
		var b strings.Builder
		fmt.Fprintf(&b, "index %d", s.index)
		for k, v := range s.zones {
			fmt.Fprintf(&b, " %s=%d/%q", k, v.Serial, v.Value)
		}
		return b.String()
	},
}

// HistoryOps turns the writes' records into porcupine operations, times
// in nanoseconds since t0.
//
// The sends of one change (an owner resends a change until it gets a
// verdict) become one operation: identical commands computed against the
// same base apply at most once, so "applied at most once, somewhere
// between the first send and the verdict" is exactly what they allow.
// Its outcome is the verdict: OK with the index when a send was
// acknowledged; committed with the index unknown (OK, index 0) when a
// resend was refused with stale-serial, which proves an earlier send
// committed; Unknown when no send got a verdict. Without this, every
// unanswered send would be an operation open to the end of time and the
// search would explode.
func HistoryOps(t0 time.Time, recs []Record) []porcupine.Operation {
	type key struct {
		client int
		zone   string
		seq    int
	}
	byChange := map[key][]Record{}
	var order []key
	for _, r := range recs {
		k := key{r.Client, r.Zone, r.Seq}
		if _, ok := byChange[k]; !ok {
			order = append(order, k)
		}
		byChange[k] = append(byChange[k], r)
	}
	ops := make([]porcupine.Operation, 0, len(order))
	for _, k := range order {
		sends := byChange[k]
		first, last := sends[0], sends[len(sends)-1]
		out := regOutput{Outcome: Unknown}
		ret := int64(math.MaxInt64)
		for _, r := range sends {
			if r.Outcome == OK {
				out, ret = regOutput{Outcome: OK, Index: r.Index}, r.Return.Sub(t0).Nanoseconds()
				break
			}
		}
		if out.Outcome == Unknown && last.Outcome == Rejected {
			out, ret = regOutput{Outcome: Rejected}, last.Return.Sub(t0).Nanoseconds()
			if len(sends) > 1 {
				out.Outcome = OK // a resend refused: an earlier send committed
			}
		}
		ops = append(ops, porcupine.Operation{
			ClientId: first.Client,
			Input:    regInput{Zone: first.Zone, Base: first.Base, Serial: first.Serial, Value: first.Value},
			Call:     first.Call.Sub(t0).Nanoseconds(),
			Output:   out,
			Return:   ret,
		})
	}
	return ops
}

// ReadOp is a read of zone's register taken between call and ret.
func ReadOp(client int, zone string, call, ret int64, serial uint32, value string) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: regInput{Read: true, Zone: zone}, Call: call,
		Output: regOutput{Serial: serial, Value: value}, Return: ret}
}

// Verdict is what CheckLinearizable found.
type Verdict struct {
	Result porcupine.CheckResult
	// Summary counts the sends, changes and reads checked.
	Summary string
	// Partial is porcupine's longest partial linearizations, for a
	// failure's message.
	Partial [][][]int
}

// CheckLinearizable adds a read of every owner's zone on every member of
// ms (all running and caught up, no write in flight) to the write
// history recs (times since t0) and checks it against RegisterModel
// with porcupine, giving up after timeout.
func CheckLinearizable(ctx context.Context, ms []*Member, owners []*Owner, recs []Record, t0 time.Time, timeout time.Duration) (Verdict, error) {
	ops := HistoryOps(t0, recs)
	changes := len(ops)
	counts := map[Outcome]int{}
	for _, r := range recs {
		counts[r.Outcome]++
	}
	for i, m := range ms {
		for _, o := range owners {
			call := time.Since(t0).Nanoseconds()
			serial, err := SOASerial(ctx, m.DNS, o.Origin)
			if err != nil {
				return Verdict{}, fmt.Errorf("%s: %w", m.ID, err)
			}
			value, _, err := TXT(ctx, m.DNS, RegisterName+"."+o.Origin)
			if err != nil {
				return Verdict{}, fmt.Errorf("%s: %w", m.ID, err)
			}
			ops = append(ops, ReadOp(len(owners)+i, o.Origin, call, time.Since(t0).Nanoseconds(), serial, value))
		}
	}
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, ops, timeout)
	v := Verdict{Result: res, Summary: fmt.Sprintf("%d sends (%d ok, %d rejected, %d unknown) of %d changes, and %d final reads: %v",
		len(recs), counts[OK], counts[Rejected], counts[Unknown], changes, len(ops)-changes, res)}
	if res == porcupine.Illegal {
		v.Partial = info.PartialLinearizations()
	}
	return v, nil
}
