package api

import (
	"crypto/rand"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// rotation returns a RotateKey taking tz's zone to a new key (the new
// zone and key too); signer signs the hand-over (tz.key for a genuine
// one).
func rotation(t *testing.T, tz *testZone, signer *zone.Key) ([]byte, *zone.Zone, *zone.Key) {
	t.Helper()
	nk, err := zone.GenerateKey(tz.origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	next, err := zone.Sign(unsignedZone(t, tz.origin, tz.z.Serial()+1, "rotated"), nk, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		signer = nk
	}
	cmd, err := raftfsm.RotateCommand(tz.z, next, signer, nk)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, next, nk
}

// TestRotateKeyMovesClaim: a rotate-key sent to a registered zone's
// changes moves the claim to the new key (an owner-key-change entry)
// before the zone rotates; a dry run changes neither; a forged rotation
// changes neither; a resend after the zone's group failed finds the
// claim moved and only rotates the zone; the new key then rotates again.
func TestRotateKeyMovesClaim(t *testing.T) {
	f := newFixture(t)
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	createZone(t, f, user, tz)
	path := "/v1/zones/example.org./changes"
	owner := func() (raftfsm.Claim, *zone.Zone) {
		t.Helper()
		reg, _ := f.b.Registry()
		cl, _ := reg.Claim(tz.origin)
		z, err := f.b.Zone(t.Context(), tz.origin)
		if err != nil {
			t.Fatal(err)
		}
		return cl, z
	}
	ownedBy := func(what string, k *zone.Key, gen uint32, serial uint32) {
		t.Helper()
		cl, z := owner()
		if o, err := raftfsm.ParseOwnerKey(cl.Owner, ""); err != nil || o.PublicKey != k.DNSKEY.PublicKey || cl.Generation != gen {
			t.Errorf("%s: claim %+v, want owner key tag %d generation %d", what, cl, k.Tag(), gen)
		}
		if z.Serial() != serial {
			t.Errorf("%s: zone serial %d, want %d", what, z.Serial(), serial)
		}
	}

	forged, _, _ := rotation(t, tz, nil) // the new key signs its own hand-over
	r := f.do("POST", path, user, map[string]any{"command": forged})
	want(t, "forged rotation", r, http.StatusUnprocessableEntity, "rejected")
	ownedBy("after a forged rotation", tz.key, 0, 1)

	cmd, next, nk := rotation(t, tz, tz.key)
	want(t, "rotation dry run", f.do("POST", path+"?dry_run=true", user, map[string]any{"command": cmd}), http.StatusOK, "")
	ownedBy("after a dry run", tz.key, 0, 1)

	// The group fails after the claim moved: the claim holds the new key,
	// the zone the old one; the resend rotates the zone only.
	f.b.mu.Lock()
	f.b.submitErr = errors.New("group down")
	f.b.mu.Unlock()
	// The dry run fails too with the group down: nothing moves.
	if r := f.do("POST", path, user, map[string]any{"command": cmd}); r.status < 500 {
		t.Errorf("rotation with the group down = %d %s, want a 5xx", r.status, r.body)
	}
	ownedBy("with the group down", tz.key, 0, 1)
	// The claim moved by an earlier try whose RotateKey failed.
	f.b.mustApply(&raftfsm.ChangeOwnerKey{Zone: tz.origin, NewOwner: nk.DNSKEY.String(), Actor: "test", Time: f.b.Now(),
		Proof: rotateProof(t, cmd), RotateSerial: next.Serial()})
	f.b.mu.Lock()
	f.b.submitErr = nil
	f.b.mu.Unlock()
	reg, _ := f.b.Registry()
	size := reg.LogSize()
	want(t, "rotation resent", f.do("POST", path, user, map[string]any{"command": cmd}), http.StatusOK, "")
	ownedBy("after the resend", nk, 1, next.Serial())
	if reg, _ := f.b.Registry(); reg.LogSize() != size {
		t.Errorf("the resend appended %d log entries, want none (the claim had moved)", reg.LogSize()-size)
	}

	// The new key rotates again, in one request: claim then zone.
	tz2 := &testZone{origin: tz.origin, key: nk, z: next}
	cmd2, next2, nk2 := rotation(t, tz2, nk)
	r = f.do("POST", path, user, map[string]any{"command": cmd2})
	want(t, "second rotation", r, http.StatusOK, "")
	ownedBy("after the second rotation", nk2, 2, next2.Serial())
	reg, _ = f.b.Registry()
	leaf, err := reg.LogEntry(reg.LogSize() - 1)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := translog.ParseEntry(leaf); err != nil || e.Kind != translog.KindOwnerKeyChange || e.Actor == "" {
		t.Errorf("last log entry = %+v, %v; want an owner-key-change", e, err)
	}
}

// rotateProof is the proof of an encoded RotateKey.
func rotateProof(t *testing.T, cmd []byte) []byte {
	t.Helper()
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*raftfsm.RotateKey).Proof
}
