package raftfsm

import (
	"testing"

	"github.com/ddnrs/ddnrs/zone"
)

// TestPreverify: the preverifier checks the signatures of every command
// that carries signed RRsets before apply, with the key the zone is (or
// will be) bound to; apply skips the cryptography only for a success on
// the very bytes and key it applies, and a forged signature is refused
// whether or not it was preverified.
func TestPreverify(t *testing.T) {
	r := newRejectSetup(t)
	v3 := change(t, r.v2, r.k, putA(t, "new.example.", "192.0.2.9"))
	good := mustCmd(t)(ChangeCommand(r.v2, v3, r.k))
	cs := zone.SignedDiff(r.v2, v3)
	if len(cs.Put) < 2 {
		t.Fatalf("the change puts %d RRsets, want 2 or more", len(cs.Put))
	}
	// Two RRSIGs swapped: well formed, by the owner key, over other data.
	forged := publishCS(t, cs, func(c *zone.ChangeSet) {
		a, b := c.Put[0].Signatures()[0], c.Put[1].Signatures()[0]
		a.Signature, b.Signature = b.Signature, a.Signature
	})
	// The head's signature changed in one base64 digit, its RRSIGs good.
	forgedHead := publishCS(t, cs, func(c *zone.ChangeSet) {
		h := []byte(string(c.Head))
		i := len(h) - 10
		h[i] = map[bool]byte{true: 'B', false: 'A'}[h[i] == 'A']
		c.Head = h
	})
	nk := newKey(t, "example.")
	rotation := mustCmd(t)(RotateCommand(r.v2, resignWith(t, r.v2, nk), r.k, nk))
	other := newKey(t, "other.")
	create := mustCmd(t)(ChangeCommand(nil, ownerZone(t, "other.", 1, other), other))
	del := mustCmd(t)(DeleteCommand(r.v2, r.k))

	pre := r.f.pre
	tests := []struct {
		desc    string
		cmd     []byte
		key     *zone.Key
		started bool
		ok      bool
		head    bool // the verdict carries the checked head
	}{
		{"a change, with the zone's key", good, r.k, true, true, true},
		{"a change, asked with another key", good, nk, true, false, false},
		{"a change with a forged RRSIG", forged, r.k, true, false, false},
		{"a change with a forged head", forgedHead, r.k, true, true, false},
		{"a rotation, with the new key", rotation, nk, true, true, true},
		{"a create, with the key it binds", create, other, true, true, true},
		{"a deletion carries no RRset", del, r.k, false, false, false},
		{"garbage", []byte{byte(TypePublishChange), 1, 2, 3}, r.k, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			v := pre.start(tt.cmd)
			if (v != nil) != tt.started {
				t.Fatalf("start = %v, want started %v", v, tt.started)
			}
			got, head := pre.verifiedChange(tt.cmd, tt.key)
			if got != tt.ok || (head != nil) != tt.head {
				t.Errorf("verifiedChange = %v, head %v; want %v, head %v", got, head != nil, tt.ok, tt.head)
			}
			if pre.verified(tt.cmd, tt.key) {
				t.Error("a verdict was used twice")
			}
		})
	}

	// Through apply: the forged change preverified (a failure) is
	// verified again and refused, so is the forged head whose RRSIGs
	// passed; the good one applies.
	r.f.Preverify(forged)
	if res := r.f.apply(3, forged); !isRejected(res, ReasonBadSignature) {
		t.Fatalf("forged change = %v, want rejected bad-signature", res)
	}
	r.f.Preverify(forgedHead)
	if res := r.f.apply(3, forgedHead); !isRejected(res, ReasonBadSignature) {
		t.Fatalf("change with a forged head = %v, want rejected bad-signature", res)
	}
	r.f.Preverify(good)
	r.f.mustApply(t, 4, good)
	if zs, _ := r.f.Zone("example."); zs.Zone.Serial() != v3.Serial() {
		t.Fatalf("serial %d, want %d", zs.Zone.Serial(), v3.Serial())
	}
}

func isRejected(res any, reason Reason) bool {
	rej, ok := res.(*RejectedError)
	return ok && rej.Reason == reason
}
