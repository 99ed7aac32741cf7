package raftbench

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func write(client int, zone string, base, serial uint32, value string, call, ret int64, o Outcome, index uint64) porcupine.Operation {
	if o == Unknown {
		ret = math.MaxInt64
	}
	return porcupine.Operation{ClientId: client, Input: regInput{Zone: zone, Base: base, Serial: serial, Value: value},
		Call: call, Output: regOutput{Outcome: o, Index: index}, Return: ret}
}

// TestRegisterModel proves the checker can fail: porcupine must accept
// the linearizable histories and reject the others.
func TestRegisterModel(t *testing.T) {
	const ok, rej, unk = OK, Rejected, Unknown
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"sequential writes then read", []porcupine.Operation{
			write(0, "a.", 0, 1, "v1", 0, 10, ok, 1),
			write(0, "a.", 1, 2, "v2", 11, 20, ok, 2),
			ReadOp(1, "a.", 21, 22, 2, "v2"),
		}, true},
		{"read of an overwritten value after the overwrite returned", []porcupine.Operation{
			write(0, "a.", 0, 1, "v1", 0, 10, ok, 1),
			write(0, "a.", 1, 2, "v2", 11, 20, ok, 2),
			ReadOp(1, "a.", 21, 22, 1, "v1"),
		}, false},
		{"lost acknowledged write", []porcupine.Operation{
			write(0, "a.", 0, 1, "v1", 0, 10, ok, 1),
			ReadOp(1, "a.", 21, 22, 0, ""),
		}, false},
		{"two acknowledged writes from one base", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, ok, 1),
			write(1, "a.", 0, 1, "y", 0, 10, ok, 2),
		}, false},
		{"concurrent CAS, one rejected", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, ok, 1),
			write(1, "a.", 0, 1, "y", 0, 10, rej, 0),
			ReadOp(2, "a.", 11, 12, 1, "x"),
		}, true},
		{"rejected although it applied", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, rej, 0),
		}, false},
		{"unknown write that committed", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, unk, 0),
			ReadOp(1, "a.", 100, 101, 1, "x"),
		}, true},
		{"unknown write that did not commit", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, unk, 0),
			ReadOp(1, "a.", 100, 101, 0, ""),
		}, true},
		{"retry rejected proves the unknown send committed", []porcupine.Operation{
			write(0, "a.", 0, 1, "x", 0, 10, unk, 0),
			write(0, "a.", 0, 1, "x", 20, 30, rej, 0),
			write(0, "a.", 1, 2, "y", 40, 50, ok, 5),
			ReadOp(1, "a.", 60, 61, 2, "y"),
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
			res, info := porcupine.CheckOperationsVerbose(RegisterModel, tt.ops, 10*time.Second)
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
	rec := func(seq, call, ret int, o Outcome, index uint64) Record {
		return Record{Client: 0, Zone: "a.", Base: uint32(seq - 1), Serial: uint32(seq), Value: fmt.Sprint(seq),
			Seq: seq, Call: at(call), Return: at(ret), Outcome: o, Index: index}
	}
	recs := []Record{
		rec(1, 0, 10, OK, 3),
		rec(2, 20, 30, Unknown, 0),
		rec(2, 40, 50, Unknown, 0),
		rec(2, 60, 70, Rejected, 0), // proves a send of 2 committed
		rec(3, 80, 90, Unknown, 0),
		rec(3, 100, 110, OK, 9),
		rec(4, 120, 130, Unknown, 0),
	}
	ms := func(n int) int64 { return (time.Duration(n) * time.Millisecond).Nanoseconds() }
	want := []struct {
		call, ret int64
		out       regOutput
	}{
		{ms(0), ms(10), regOutput{Outcome: OK, Index: 3}},
		{ms(20), ms(70), regOutput{Outcome: OK}},
		{ms(80), ms(110), regOutput{Outcome: OK, Index: 9}},
		{ms(120), math.MaxInt64, regOutput{Outcome: Unknown}},
	}
	ops := HistoryOps(t0, recs)
	if len(ops) != len(want) {
		t.Fatalf("%d operations, want %d: %+v", len(ops), len(want), ops)
	}
	for i, w := range want {
		if ops[i].Call != w.call || ops[i].Return != w.ret || ops[i].Output != w.out {
			t.Errorf("op %d = [%d, %d] %+v, want [%d, %d] %+v", i, ops[i].Call, ops[i].Return, ops[i].Output, w.call, w.ret, w.out)
		}
	}
	if !porcupine.CheckOperations(RegisterModel, append(ops, ReadOp(1, "a.", ms(200), ms(201), 3, "3"))) {
		t.Error("the compressed history with a read of serial 3 is not linearizable")
	}
	if porcupine.CheckOperations(RegisterModel, append(ops, ReadOp(1, "a.", ms(200), ms(201), 1, "1"))) {
		t.Error("a read of serial 1 after 3 was acknowledged passed")
	}
}
