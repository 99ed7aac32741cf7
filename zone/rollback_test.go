package zone

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

// A rollback statement parses back with the owner key, covers exactly
// the version it names, and is refused when forged, for another zone, by
// another key, or when its serials do not go back.
func TestRollback(t *testing.T) {
	z, k := mkTestZone(t)
	other := mkKey(t, "example.", 2)
	h := z.Head
	r, err := NewRollback(k, h.Serial+5, h.Serial, h.Root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRollback(r.Note, k)
	if err != nil {
		t.Fatalf("ParseRollback(own statement) = %v", err)
	}
	if got.Zone != "example." || got.From != h.Serial+5 || got.To != h.Serial || got.Root != h.Root {
		t.Errorf("ParseRollback = %+v, want example. %d -> %d", got, h.Serial+5, h.Serial)
	}
	if !got.Covers(h) {
		t.Errorf("Covers(the head it names) = false")
	}
	h2 := *h
	h2.Root[0] ^= 1
	if got.Covers(&h2) {
		t.Errorf("Covers(a head with another root) = true")
	}
	forged := bytes.Replace(r.Note, []byte("\n"+itoa(h.Serial)+"\n"), []byte("\n"+itoa(h.Serial-1)+"\n"), 1)
	for _, c := range []struct {
		what string
		msg  []byte
		key  *Key
		want error
	}{
		{"another key of the zone", r.Note, other, ErrBadSignature},
		{"another zone's key", r.Note, mkKey(t, "example.org.", 3), ErrWrongZone},
		{"text changed", forged, k, ErrBadSignature},
		{"a zone head, not a statement", h.Note, k, ErrBadRollback},
		{"empty", nil, k, ErrBadHead},
	} {
		if _, err := ParseRollback(c.msg, c.key); !errors.Is(err, c.want) {
			t.Errorf("ParseRollback(%s) = %v, want %v", c.what, err, c.want)
		}
	}
	for _, c := range []struct{ from, to uint32 }{{5, 5}, {5, 6}, {1, 1<<31 + 1}} {
		if _, err := NewRollback(k, c.from, c.to, h.Root); !errors.Is(err, ErrBadRollback) {
			t.Errorf("NewRollback(from %d, to %d) = %v, want ErrBadRollback", c.from, c.to, err)
		}
	}
	if _, err := NewRollback(&Key{Zone: "example.", DNSKEY: k.DNSKEY}, 6, 5, h.Root); !errors.Is(err, ErrNoPrivateKey) {
		t.Errorf("NewRollback(public key only) = %v, want ErrNoPrivateKey", err)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func FuzzParseRollback(f *testing.F) {
	z, k := mkTestZone(f)
	r, err := NewRollback(k, z.Head.Serial+1, z.Head.Serial, z.Head.Root)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Note)
	f.Add([]byte("ddnrs-rollback/v1\nexample.\n2\n1\nAAAA\n\n— example. AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := ParseRollback(msg, k)
		if err != nil {
			return
		}
		if r.Zone != "example." || !SerialAbove(r.From, r.To) {
			t.Fatalf("ParseRollback accepted %+v", r)
		}
		if !bytes.HasPrefix(msg, []byte(r.text())) {
			t.Fatalf("ParseRollback(%q) = %+v, whose text is not the note's", msg, r)
		}
	})
}
