package raftfsm

import (
	"errors"
	"testing"
)

// registryCase applies setup to a fresh FSM on the registry's base
// state, then cmd, and checks the outcome: accepted (want "") with
// memory and disk agreeing and check passing, or rejected with reason
// want and no change to the state. The table tests of the registry's
// newer commands (leases, sealed keys) share it.
func registryCase(t *testing.T, setup []Command, cmd Command, want Reason, check func(*testing.T, *RegistryState)) {
	t.Helper()
	f := newTestFSM(t)
	next := f.applyAll(t, 1, append(regBase(t), setup...)...)
	before := f.regDump(t)
	res := f.apply(next, encode(t, cmd))
	if want == "" {
		if _, ok := res.(*ApplyResult); !ok {
			t.Fatalf("Apply = %v, want accepted", res)
		}
		f.regDump(t) // memory and disk agree
		if check != nil {
			check(t, f.Registry())
		}
		return
	}
	var rej *RejectedError
	if err, ok := res.(error); !ok || !errors.As(err, &rej) || rej.Reason != want {
		t.Errorf("Apply = %v, want rejected (%s)", res, want)
	}
	if after := f.regDump(t); after != before {
		t.Errorf("state changed by a rejected command")
	}
}
