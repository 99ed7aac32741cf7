package raftfsm

import (
	"errors"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
)

// TestRevokeCert: a revocation appends a cert-revocation entry to the
// transparency log naming the serial; a serial not in the one canonical
// form is rejected (malformed) and logs nothing.
func TestRevokeCert(t *testing.T) {
	f := newTestFSM(t)
	idx := uint64(1)
	apply := func(c Command) any {
		t.Helper()
		r := f.apply(idx, encode(t, c))
		idx++
		return r
	}
	if r, ok := apply(&RevokeCert{Serial: "5f3a9c01d2", Name: "eu-ops", Group: "eu", Reason: "laptop stolen", Actor: OperatorActor, Time: regAt(1)}).(*ApplyResult); !ok {
		t.Fatalf("Apply(RevokeCert) = %v, want accepted", r)
	}
	reg := f.Registry()
	if reg.LogSize() != 1 {
		t.Fatalf("log size %d after a revocation, want 1", reg.LogSize())
	}
	b, err := reg.LogEntry(0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := translog.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := translog.RevokedSerial(e); err != nil || s != "5f3a9c01d2" || e.NodeID != "eu-ops" || e.Reason != "laptop stolen" || e.Group != "eu" {
		t.Errorf("logged %+v (serial %q, %v), want the revocation of 5f3a9c01d2", e, s, err)
	}
	for _, bad := range []string{"", "0", "05f", "5F", "xyz", "f123456789abcdef0123456789abcdef012345678"} {
		r := apply(&RevokeCert{Serial: bad, Actor: OperatorActor, Time: regAt(2)})
		var rej *RejectedError
		if err, ok := r.(error); !ok || !errors.As(err, &rej) || rej.Reason != ReasonMalformed {
			t.Errorf("Apply(RevokeCert serial %q) = %v, want rejected as malformed", bad, r)
		}
	}
	if reg := f.Registry(); reg.LogSize() != 1 {
		t.Errorf("log size %d after refused revocations, want 1", reg.LogSize())
	}
}
