package integration

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
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
	Outcome raftbench.Outcome
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

var registerModel = porcupine.Model{
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
		case raftbench.OK: // Index 0: committed, index not known
			if !applies || (out.Index != 0 && out.Index <= s.index) {
				return false, s
			}
			return true, s.with(in.Zone, regValue{in.Serial, in.Value}, out.Index)
		case raftbench.Rejected:
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

// historyOps turns the writes' records into porcupine operations, times
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
func historyOps(t0 time.Time, recs []raftbench.Record) []porcupine.Operation {
	type key struct {
		client int
		zone   string
		seq    int
	}
	byChange := map[key][]raftbench.Record{}
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
		out := regOutput{Outcome: raftbench.Unknown}
		ret := int64(math.MaxInt64)
		for _, r := range sends {
			if r.Outcome == raftbench.OK {
				out, ret = regOutput{Outcome: raftbench.OK, Index: r.Index}, r.Return.Sub(t0).Nanoseconds()
				break
			}
		}
		if out.Outcome == raftbench.Unknown && last.Outcome == raftbench.Rejected {
			out, ret = regOutput{Outcome: raftbench.Rejected}, last.Return.Sub(t0).Nanoseconds()
			if len(sends) > 1 {
				out.Outcome = raftbench.OK // a resend refused: an earlier send committed
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

// readOp is a read of zone's register taken between call and ret.
func readOp(client int, zone string, call, ret int64, serial uint32, value string) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: regInput{Read: true, Zone: zone}, Call: call,
		Output: regOutput{Serial: serial, Value: value}, Return: ret}
}

func write(client int, zone string, base, serial uint32, value string, call, ret int64, o raftbench.Outcome, index uint64) porcupine.Operation {
	if o == raftbench.Unknown {
		ret = math.MaxInt64
	}
	return porcupine.Operation{ClientId: client, Input: regInput{Zone: zone, Base: base, Serial: serial, Value: value},
		Call: call, Output: regOutput{Outcome: o, Index: index}, Return: ret}
}

// TestRegisterModel proves the checker can fail: porcupine must accept
// the linearizable histories and reject the others.
func TestRegisterModel(t *testing.T) {
	const ok, rej, unk = raftbench.OK, raftbench.Rejected, raftbench.Unknown
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"sequential writes then read", []porcupine.Operation{
			write(0, "a.", 0, 1, "v1", 0, 10, ok, 1),
			write(0, "a.", 1, 2, "v2", 11, 20, ok, 2),
			readOp(1, "a.", 21, 22, 2, "v2"),
		}, true},
		{"read of an overwritten value after the overwrite returned", []porcupine.Operation{
			write(0, "a.", 0, 1, "v1", 0, 10, ok, 1),
			write(0, "a.", 1, 2, "v2", 11, 20, ok, 2),
			readOp(1, "a.", 21, 22, 1, "v1"),
		}, false},
		{"lost acknowledged write", []porcupine.Operation{
			write(0, "a.", 0, 1, "v1", 0, 10, ok, 1),
			readOp(1, "a.", 21, 22, 0, ""),
		}, false},
		{"two acknowledged writes from one base", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, ok, 1),
			write(1, "a.", 0, 1, "y", 0, 10, ok, 2),
		}, false},
		{"concurrent CAS, one rejected", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, ok, 1),
			write(1, "a.", 0, 1, "y", 0, 10, rej, 0),
			readOp(2, "a.", 11, 12, 1, "x"),
		}, true},
		{"rejected although it applied", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, rej, 0),
		}, false},
		{"unknown write that committed", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, unk, 0),
			readOp(1, "a.", 100, 101, 1, "x"),
		}, true},
		{"unknown write that did not commit", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, unk, 0),
			readOp(1, "a.", 100, 101, 0, ""),
		}, true},
		{"retry rejected proves the unknown send committed", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, unk, 0),
			write(0, "a.", 0, 1, "x", 20, 30, rej, 0),
			write(0, "a.", 1, 2, "y", 40, 50, ok, 5),
			readOp(1, "a.", 60, 61, 2, "y"),
		}, true},
		{"log index going backwards across zones", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, ok, 7),
			write(1, "b.", 0, 1, "y", 20, 30, ok, 3),
		}, false},
		{"concurrent writes to two zones, any index order", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 30, ok, 7),
			write(1, "b.", 0, 1, "y", 20, 40, ok, 3),
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, info := porcupine.CheckOperationsVerbose(registerModel, tt.ops, 10*time.Second)
			if res == porcupine.Unknown {
				t.Fatal("checker timed out")
			}
			if got := res == porcupine.Ok; got != tt.want {
				t.Errorf("linearizable = %v, want %v; partial linearizations %v", got, tt.want, info.PartialLinearizations())
			}
		})
	}
}

// TestHistoryOps checks how the sends of one change become one
// operation.
func TestHistoryOps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	rec := func(seq, call, ret int, o raftbench.Outcome, index uint64) raftbench.Record {
		return raftbench.Record{Client: 0, Zone: "a.", Base: uint32(seq - 1), Serial: uint32(seq), Value: fmt.Sprint(seq),
			Seq: seq, Call: at(call), Return: at(ret), Outcome: o, Index: index}
	}
	recs := []raftbench.Record{
		rec(1, 0, 10, raftbench.OK, 3),
		rec(2, 20, 30, raftbench.Unknown, 0),
		rec(2, 40, 50, raftbench.Unknown, 0),
		rec(2, 60, 70, raftbench.Rejected, 0), // proves a send of 2 committed
		rec(3, 80, 90, raftbench.Unknown, 0),
		rec(3, 100, 110, raftbench.OK, 9),
		rec(4, 120, 130, raftbench.Unknown, 0),
	}
	ms := func(n int) int64 { return (time.Duration(n) * time.Millisecond).Nanoseconds() }
	want := []struct {
		call, ret int64
		out       regOutput
	}{
		{ms(0), ms(10), regOutput{Outcome: raftbench.OK, Index: 3}},
		{ms(20), ms(70), regOutput{Outcome: raftbench.OK}},
		{ms(80), ms(110), regOutput{Outcome: raftbench.OK, Index: 9}},
		{ms(120), math.MaxInt64, regOutput{Outcome: raftbench.Unknown}},
	}
	ops := historyOps(t0, recs)
	if len(ops) != len(want) {
		t.Fatalf("%d operations, want %d: %+v", len(ops), len(want), ops)
	}
	for i, w := range want {
		if ops[i].Call != w.call || ops[i].Return != w.ret || ops[i].Output != w.out {
			t.Errorf("op %d = [%d, %d] %+v, want [%d, %d] %+v", i, ops[i].Call, ops[i].Return, ops[i].Output, w.call, w.ret, w.out)
		}
	}
	if !porcupine.CheckOperations(registerModel, append(ops, readOp(1, "a.", ms(200), ms(201), 3, "3"))) {
		t.Error("the compressed history with a read of serial 3 is not linearizable")
	}
	if porcupine.CheckOperations(registerModel, append(ops, readOp(1, "a.", ms(200), ms(201), 1, "1"))) {
		t.Error("a read of serial 1 after 3 was acknowledged passed")
	}
}
