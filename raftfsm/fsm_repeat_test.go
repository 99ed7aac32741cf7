package raftfsm

import (
	"errors"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
)

// TestFSMRepeats: a create or change whose resulting zone (signed head and
// owner key) the group already holds is answered as done without writing
// anything, so a resend after an unknown outcome learns it committed;
// anything else that is not new stays a rejection.
func TestFSMRepeats(t *testing.T) {
	must := mustCmd(t)
	tests := []struct {
		desc   string
		cmd    func(t *testing.T, r *rejectSetup) []byte
		repeat bool   // else rejected with reason
		reason Reason // when not a repeat
	}{
		{"the last change again", func(t *testing.T, r *rejectSetup) []byte {
			return must(ChangeCommand(r.v1, r.v2, r.k))
		}, true, ""},
		{"a create of the zone as it is", func(t *testing.T, r *rejectSetup) []byte {
			return must(ChangeCommand(nil, r.v2, r.k))
		}, true, ""},
		{"the first create again", func(t *testing.T, r *rejectSetup) []byte {
			return must(ChangeCommand(nil, r.v1, r.k))
		}, false, ReasonZoneExists},
		{"an earlier change", func(t *testing.T, r *rejectSetup) []byte {
			return must(ChangeCommand(r.v2, r.v1, r.k))
		}, false, ReasonStaleSerial},
		{"another change at the current serial", func(t *testing.T, r *rejectSetup) []byte {
			same := ownerZone(t, "example.", r.v2.Serial(), r.k, "other 3600 IN A 192.0.2.9")
			return publishCS(t, zone.SignedDiff(r.v2, same), nil)
		}, false, ReasonStaleSerial},
		{"a create of the zone as it is under another key", func(t *testing.T, r *rejectSetup) []byte {
			other := newKey(t, "example.")
			return must(ChangeCommand(nil, resignWith(t, r.v2, other), other))
		}, false, ReasonZoneExists},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := newRejectSetup(t)
			cmd := tt.cmd(t, r)
			before := r.f.dump(t)
			events := len(r.f.events.calls)
			res := r.f.apply(3, cmd)
			if tt.repeat {
				a, ok := res.(*ApplyResult)
				if !ok || !a.Repeat || a.Serial != r.v2.Serial() || a.Index != 3 {
					t.Fatalf("Apply = %v, want a repeat at serial %d, index 3", res, r.v2.Serial())
				}
			} else {
				var rej *RejectedError
				if err, _ := res.(error); !errors.As(err, &rej) || rej.Reason != tt.reason {
					t.Fatalf("Apply = %v, want rejected %s", res, tt.reason)
				}
			}
			if after := r.f.dump(t); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
			if len(r.f.events.calls) != events {
				t.Errorf("events %v after a command that changed nothing", r.f.events.calls[events:])
			}
		})
	}
}

// TestFSMRotateRepeat: a rotation sent twice is done once; the second is
// a repeat under the new key.
func TestFSMRotateRepeat(t *testing.T) {
	r := newRejectSetup(t)
	nk := newKey(t, "example.")
	v3 := resignWith(t, r.v2, nk)
	cmd := mustCmd(t)(RotateCommand(r.v2, v3, r.k, nk))
	r.f.mustApply(t, 3, cmd)
	res := r.f.apply(4, cmd)
	if a, ok := res.(*ApplyResult); !ok || !a.Repeat || a.Serial != v3.Serial() {
		t.Fatalf("rotation again = %v, want a repeat at serial %d", res, v3.Serial())
	}
}
