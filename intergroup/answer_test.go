package intergroup

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// zoneSet is a Zones over a fixed set of zones (the node's is
// node.Served, which this package cannot import).
type zoneSet map[string]*zone.Zone

func (s zoneSet) Zone(name string) *zone.Zone {
	for n := zone.CanonicalName(name); ; {
		if z := s[n]; z != nil {
			return z
		}
		if n == "." {
			return nil
		}
		_, parent, _ := strings.Cut(n, ".")
		if n = parent; n == "" {
			n = "."
		}
	}
}

func (s zoneSet) Get(origin string) *zone.Zone { return s[zone.CanonicalName(origin)] }

func (s zoneSet) Origins() []string { return slices.Collect(maps.Keys(s)) }

// signedExample returns the shared fixture zone with serial, signed with
// dnstest's fixed key, in a zone set.
func signedExample(t testing.TB, serial string) (zoneSet, *zone.Zone, *zone.Key) {
	t.Helper()
	text, err := os.ReadFile(dnstest.FixturePath())
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("2024010101 ; serial"), []byte(serial+" ; serial"), 1)
	z := dnstest.Parse(t, "example.", string(text)+dnstest.Extra)
	s, k := dnstest.Sign(t, z)
	return zoneSet{s.Origin: s}, s, k
}

// verifyClock is a time at which dnstest's signatures are valid.
func verifyClock() time.Time { return dnstest.SignTime.Add(time.Hour) }

// TestAnswerLocal: a member's answer to a question about a zone its
// group holds verifies with the owner's key (client's own tests cover
// the verifier, client/verify_group_test.go); its hash is the audit hash
// of what it sent; a name no zone here encloses is ErrNotHosted.
func TestAnswerLocal(t *testing.T) {
	r, _, k := signedExample(t, "2024010101")
	for _, q := range []struct {
		name string
		t    uint16
	}{
		{"www.example.", dns.TypeA}, {"nothere.example.", dns.TypeA}, {"foo.wild.example.", dns.TypeA},
		{"example.", dns.TypeMX}, {"host.sub.example.", dns.TypeA}, {"alias.example.", dns.TypeA},
	} {
		la, err := AnswerLocal(r, q.name, q.t)
		if err != nil {
			t.Fatalf("AnswerLocal(%q, %s) = %v", q.name, dns.TypeToString[q.t], err)
		}
		got, err := client.NewVerifier(client.Anchors{"example.": k}, verifyClock).VerifyAnswer(q.name, q.t, la.Msg, la.Head, la.Proof)
		if err != nil || got.Hash != la.Hash || la.Hash != client.AuditHash(la.Head, la.Proof, la.Msg) {
			t.Errorf("AnswerLocal(%q, %s) = hash %x; VerifyAnswer = %v, %v", q.name, dns.TypeToString[q.t], la.Hash[:4], got, err)
		}
	}
	if _, err := AnswerLocal(r, "www.example.net.", dns.TypeA); !errors.Is(err, ErrNotHosted) {
		t.Errorf("AnswerLocal(out of zone) = %v, want ErrNotHosted", err)
	}
}
