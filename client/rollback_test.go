package client_test

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// TestAcceptRollback: the owner's statement lowers the floor to exactly
// the version it names, once the floor is refused there; a statement by
// another key, for another version, or from a serial below the floor is
// refused and leaves the floor; the hook reports the lowered floor.
func TestAcceptRollback(t *testing.T) {
	r1, k1 := signedExampleWith(t, "2024010101", 7)
	r5, _ := signedExampleWith(t, "2024010105", 7)
	_, other := signedExampleWith(t, "2024010101", 9)
	la := func(r *served) *localAnswer {
		t.Helper()
		a, err := answerLocal(r, "www.example.", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	old, newer := la(r1), la(r5)
	oldHead := r1.Zone("example.").Head
	v := client.NewVerifier(client.Anchors{"example.": k1}, verifyClock)
	var lowered []client.Floor
	v.OnFloorRaised(func(f client.Floor) { lowered = append(lowered, f) })
	verify := func(a *localAnswer) error {
		_, err := v.VerifyAnswer("www.example.", dns.TypeA, a.Msg, a.Head, a.Proof)
		return err
	}
	if err := verify(newer); err != nil {
		t.Fatal(err)
	}
	if err := verify(old); !errors.Is(err, client.ErrStaleSerial) {
		t.Fatalf("older serial = %v, want ErrStaleSerial", err)
	}
	stmt := func(k *zone.Key, from uint32, root [32]byte) []byte {
		r, err := zone.NewRollback(k, from, 2024010101, root)
		if err != nil {
			t.Fatal(err)
		}
		return r.Note
	}
	otherRoot := r5.Zone("example.").Head.Root
	for _, c := range []struct {
		what string
		stmt []byte
		want error
	}{
		{"another key", stmt(other, 2024010105, oldHead.Root), zone.ErrBadSignature},
		{"another version", stmt(k1, 2024010105, otherRoot), client.ErrNotAnswer},
		{"from below the floor", stmt(k1, 2024010104, oldHead.Root), client.ErrStaleSerial},
	} {
		if err := v.AcceptRollback("example.", c.stmt, old.Head); !errors.Is(err, c.want) {
			t.Errorf("AcceptRollback(%s) = %v, want %v", c.what, err, c.want)
		}
	}
	if err := verify(old); !errors.Is(err, client.ErrStaleSerial) {
		t.Fatalf("older serial after refused statements = %v, want still refused", err)
	}
	n := len(lowered)
	if err := v.AcceptRollback("example.", stmt(k1, 2024010105, oldHead.Root), old.Head); err != nil {
		t.Fatalf("AcceptRollback(the owner's) = %v", err)
	}
	if err := verify(old); err != nil {
		t.Fatalf("rolled-back version after the statement = %v, want verified", err)
	}
	if len(lowered) != n+1 || lowered[n].Serial != 2024010101 {
		t.Errorf("hook saw %+v, want the floor lowered to 2024010101", lowered[n:])
	}
	// Once a serial above the statement's from was seen, replaying the
	// statement does not lower the floor again.
	if err := verify(newer); err != nil {
		t.Fatal(err)
	}
	r6, _ := signedExampleWith(t, "2024010106", 7)
	if err := verify(la(r6)); err != nil {
		t.Fatal(err)
	}
	if err := v.AcceptRollback("example.", stmt(k1, 2024010105, oldHead.Root), old.Head); !errors.Is(err, client.ErrStaleSerial) {
		t.Errorf("replayed statement after serial 2024010106 = %v, want ErrStaleSerial", err)
	}
}
