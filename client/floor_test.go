package client_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// signedExampleWith is signedExample signed by a key made from seed.
func signedExampleWith(t *testing.T, serial string, seed byte) (*served, *zone.Key) {
	t.Helper()
	u := dnstest.Parse(t, "example.", strings.Replace(string(mustRead(t, dnstest.FixturePath())), "2024010101 ; serial", serial+" ; serial", 1)+dnstest.Extra)
	k, err := zone.GenerateKey("example.", true, bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := zone.Sign(u, k, zone.DefaultSignOptions(dnstest.SignTime))
	if err != nil {
		t.Fatal(err)
	}
	r := new(served)
	r.Set(s)
	return r, k
}

// TestFloorsSurviveRestore: the floors a Verifier reports, written and
// read back, refuse an older serial in a fresh Verifier (a restart); a
// zone registered again under a new owner key is not blocked by the old
// key's floor, while the old key's older answers still are; the hook
// reports each raise once, not a repeat at the same serial.
func TestFloorsSurviveRestore(t *testing.T) {
	r1, k1 := signedExampleWith(t, "2024010101", 7)
	r5, _ := signedExampleWith(t, "2024010105", 7)
	rNew, k2 := signedExampleWith(t, "1", 9) // a new owner, starting at 1
	answer := func(r *served) *localAnswer {
		t.Helper()
		la, err := answerLocal(r, "www.example.", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		return la
	}
	verify := func(v *client.Verifier, la *localAnswer) error {
		_, err := v.VerifyAnswer("www.example.", dns.TypeA, la.Msg, la.Head, la.Proof)
		return err
	}
	old, newer, other := answer(r1), answer(r5), answer(rNew)

	var mu sync.Mutex
	var raised []client.Floor
	v := client.NewVerifier(client.Anchors{"example.": k1}, verifyClock)
	v.OnFloorRaised(func(f client.Floor) { mu.Lock(); raised = append(raised, f); mu.Unlock() })
	for _, la := range []*localAnswer{old, newer, newer} {
		if err := verify(v, la); err != nil {
			t.Fatalf("VerifyAnswer = %v, want success", err)
		}
	}
	if len(raised) != 2 || raised[1].Serial != 2024010105 || raised[1].Key != k1.DNSKEY.PublicKey {
		t.Fatalf("hook saw %+v, want two raises ending at 2024010105 under the owner key", raised)
	}
	b, err := client.MarshalFloors(v.Floors())
	if err != nil {
		t.Fatal(err)
	}
	fs, err := client.ParseFloors(b)
	if err != nil {
		t.Fatalf("ParseFloors(%s) = %v", b, err)
	}

	// A restart: a fresh Verifier with the saved floors.
	w := client.NewVerifier(client.Anchors{"example.": k1}, verifyClock)
	if err := verify(w, old); err != nil {
		t.Fatalf("without floors the old serial verifies: %v", err)
	}
	w = client.NewVerifier(client.Anchors{"example.": k1}, verifyClock)
	w.RestoreFloors(fs)
	if err := verify(w, old); !errors.Is(err, client.ErrStaleSerial) {
		t.Fatalf("old serial after restore: %v, want ErrStaleSerial", err)
	}
	if hi, ok := w.Highest("example."); !ok || hi != 2024010105 {
		t.Fatalf("Highest = %d, %v; want 2024010105", hi, ok)
	}
	if err := verify(w, newer); err != nil {
		t.Fatalf("current serial after restore: %v", err)
	}

	// Re-registered by a new owner at serial 1: not blocked.
	n := client.NewVerifier(client.Anchors{"example.": k2}, verifyClock)
	n.RestoreFloors(fs)
	if err := verify(n, other); err != nil {
		t.Fatalf("new owner's serial 1 after the old owner's floor: %v, want success", err)
	}
	// The old key's floor stays: with the old key back as a previous
	// anchor, its older answer is still refused.
	n.SetPreviousAnchors(map[string]client.PreviousAnchor{"example.": {Key: k1, Until: verifyClock().Add(1e12)}}, nil)
	if err := verify(n, old); !errors.Is(err, client.ErrStaleSerial) {
		t.Fatalf("old owner's older answer: %v, want refused", err)
	}
	// RestoreFloors never lowers a floor.
	n.RestoreFloors([]client.Floor{{Zone: "example.", Key: k2.DNSKEY.PublicKey, Serial: 0}})
	if hi, _ := n.Highest("example."); hi != 1 {
		t.Fatalf("Highest after restoring a lower floor = %d, want 1", hi)
	}
}

func TestParseFloors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int // floors, or -1 for an error
	}{
		{`{"version":1,"floors":[{"zone":"Example.","key":"AAA=","serial":3}]}`, 1},
		{`{"version":1,"floors":[]}`, 0},
		{`{"version":1}`, 0},
		{`{"version":2,"floors":[]}`, -1},
		{`{"floors":[]}`, -1},
		{`{"version":1,"floors":[{"zone":"example","key":"AAA=","serial":3}]}`, -1},
		{`{"version":1,"floors":[{"zone":"example.","serial":3}]}`, -1},
		{`{"version":1,"floors":[{"zone":"..","key":"A","serial":3}]}`, -1},
		{`not json`, -1},
		{``, -1},
	} {
		fs, err := client.ParseFloors([]byte(c.in))
		if c.want < 0 {
			if !errors.Is(err, client.ErrBadFloors) {
				t.Errorf("ParseFloors(%s) = %v, want ErrBadFloors", c.in, err)
			}
			continue
		}
		if err != nil || len(fs) != c.want {
			t.Errorf("ParseFloors(%s) = %v, %v; want %d floors", c.in, fs, err, c.want)
		}
		for _, f := range fs {
			if f.Zone != zone.CanonicalName(f.Zone) {
				t.Errorf("ParseFloors(%s) zone %q not canonical", c.in, f.Zone)
			}
		}
	}
}

// FuzzParseFloors: the floors file is read from disk at start; whatever
// it holds, ParseFloors returns floors or ErrBadFloors, and what it
// returns writes and reads back the same.
func FuzzParseFloors(f *testing.F) {
	f.Add([]byte(`{"version":1,"floors":[{"zone":"example.","key":"AAA=","serial":3}]}`))
	f.Add([]byte(`{"version":1,"floors":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := client.ParseFloors(b)
		if err != nil {
			if !errors.Is(err, client.ErrBadFloors) {
				t.Fatalf("error %v does not wrap ErrBadFloors", err)
			}
			return
		}
		out, err := client.MarshalFloors(fs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := client.ParseFloors(out)
		if err != nil || len(again) != len(fs) {
			t.Fatalf("round trip: %v, %d floors, want %d", err, len(again), len(fs))
		}
	})
}
