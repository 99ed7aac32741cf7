package client_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// TestVerifierPreviousAnchor: with the zone's anchor changed to the new
// key and the old one kept as previous, an answer signed by the old key
// verifies (the rotation has not reached the group), one signed by the
// new key verifies and drops the old key (reported once), after which
// the old key's answers are refused; a previous key past its time is
// refused; a set that still lists a dropped key does not bring it back.
func TestVerifierPreviousAnchor(t *testing.T) {
	r1, _, k1 := signedExample(t, "2024010101")
	u := dnstest.Parse(t, "example.", strings.Replace(string(mustRead(t, dnstest.FixturePath())), "2024010101 ; serial", "2024010102 ; serial", 1)+dnstest.Extra)
	k2, err := zone.GenerateKey("example.", true, bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := zone.Sign(u, k2, zone.DefaultSignOptions(dnstest.SignTime))
	if err != nil {
		t.Fatal(err)
	}
	r2 := new(served)
	r2.Set(s2)
	answer := func(r *served) *localAnswer {
		la, err := answerLocal(r, "www.example.", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		return la
	}
	old, fresh := answer(r1), answer(r2)
	verify := func(v *client.Verifier, la *localAnswer) error {
		_, err := v.VerifyAnswer("www.example.", dns.TypeA, la.Msg, la.Head, la.Proof)
		return err
	}
	var drops []string
	v := client.NewVerifier(nil, verifyClock)
	v.SetLogAnchors(client.Anchors{"example.": k2})
	prev := map[string]client.PreviousAnchor{"example.": {Key: k1, Until: verifyClock().Add(time.Minute)}}
	v.SetPreviousAnchors(prev, func(z string, k *zone.Key) { drops = append(drops, fmt.Sprintf("%s/%d", z, k.Tag())) })

	steps := []struct {
		desc  string
		la    *localAnswer
		ok    bool
		drops int
	}{
		{"old key's answer before the group rotated", old, true, 0},
		{"old key's answer again", old, true, 0},
		{"new key's answer", fresh, true, 1},
		{"old key's answer after a new-key answer", old, false, 1},
	}
	for _, s := range steps {
		if err := verify(v, s.la); (err == nil) != s.ok || len(drops) != s.drops {
			t.Errorf("%s: %v, %d drops %v; want ok %v, %d drops", s.desc, err, len(drops), drops, s.ok, s.drops)
		}
	}
	if want := fmt.Sprintf("example./%d", k1.Tag()); len(drops) != 1 || drops[0] != want {
		t.Errorf("drops = %v, want [%s]", drops, want)
	}
	// The follower has not heard of the drop yet and publishes the same
	// set: the key stays dropped.
	v.SetPreviousAnchors(prev, nil)
	if v.Previous("example.") != nil {
		t.Error("a dropped previous key came back with the follower's next set")
	}

	// A previous key past its time verifies nothing.
	v2 := client.NewVerifier(nil, verifyClock)
	v2.SetLogAnchors(client.Anchors{"example.": k2})
	v2.SetPreviousAnchors(map[string]client.PreviousAnchor{"example.": {Key: k1, Until: verifyClock()}}, nil)
	if err := verify(v2, old); err == nil {
		t.Error("an expired previous key verified an answer")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
