package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// TestSubmitZoneDryRunRemote: a dry run sent to b for a zone group a
// holds is checked by a's replica over DDNRS-RPC: a valid change answers
// its serial and is not applied; a change signed with another key is
// rejected with the reason (wrong-key) and not applied either; the same
// valid change then really applies.
func TestSubmitZoneDryRunRemote(t *testing.T) {
	a, b, _, k := overlayPairAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := a.Stored(demo.Origin)
	if err != nil {
		t.Fatal(err)
	}
	change := func(k *zone.Key) []byte {
		t.Helper()
		z := demoWith(t, stored, k, "dry."+demo.Origin+" 300 IN TXT \"dry run\"")
		cmd, err := writes.PublishCommand(stored, z)
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	good := change(k)
	other, err := zone.GenerateKey(demo.Origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrong := change(other)

	// b's DHT must see a's zone first; until then b would check locally
	// and answer no-zone.
	var serial uint32
	waitFor(t, "b checks the change at group a", func() error {
		var err error
		serial, err = apiBackend{b}.SubmitZone(ctx, "", demo.Origin, mustDecode(t, good), true)
		return err
	})
	if serial <= stored.Serial() {
		t.Errorf("dry run serial = %d, want above the stored %d", serial, stored.Serial())
	}
	_, err = apiBackend{b}.SubmitZone(ctx, "", demo.Origin, mustDecode(t, wrong), true)
	var rej *raftfsm.RejectedError
	if !errors.As(err, &rej) || rej.Reason != raftfsm.ReasonWrongKey {
		t.Errorf("dry run of a change signed by another key = %v, want rejected (%s)", err, raftfsm.ReasonWrongKey)
	}
	if got := a.Served().Get(demo.Origin); got == nil || got.Serial() != stored.Serial() {
		t.Fatalf("a holds %v after dry runs, want serial %d unchanged", got, stored.Serial())
	}
	if _, err := b.Stored(demo.Origin); err == nil {
		t.Errorf("b's group holds a copy of %s after dry runs", demo.Origin)
	}
	if got, err := (apiBackend{b}).SubmitZone(ctx, "", demo.Origin, mustDecode(t, good), false); err != nil || got != serial {
		t.Errorf("real change after the dry run = %d, %v, want %d", got, err, serial)
	}
	if got := a.Served().Get(demo.Origin); got == nil || got.Serial() != serial {
		t.Errorf("a holds %v after the change, want serial %d", got, serial)
	}
}

// TestStaleNXDOMAINDropped: b caches a's NXDOMAIN for a name at serial
// S1; a publishes the name at S2; as soon as b verifies any answer of
// the zone at S2 (another name), the NXDOMAIN is gone and b answers the
// new name at once, not after the negative TTL.
func TestStaleNXDOMAINDropped(t *testing.T) {
	a, b, _, k := overlayPairAdmin(t)
	newName := "fresh." + demo.Origin
	waitFor(t, "b caches the NXDOMAIN", func() error {
		r := queryNode(t, b, dnstest.Query(newName, dns.TypeTXT, true))
		if r.Rcode != dns.RcodeNameError {
			return fmt.Errorf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
		if _, _, _, ok := b.ov.Load().Cache().Get(newName, dns.TypeTXT); !ok {
			return errors.New("not cached")
		}
		return nil
	})
	stored, err := a.Stored(demo.Origin)
	if err != nil {
		t.Fatal(err)
	}
	z := demoWith(t, stored, k, newName+" 300 IN TXT \"now here\"")
	if err := a.Publish(z); err != nil {
		t.Fatal(err)
	}
	// Another name, a type b never asked: verified at the new serial.
	if r := queryNode(t, b, dnstest.Query("www."+demo.Origin, dns.TypeAAAA, true)); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("www AAAA via b: rcode %s", dns.RcodeToString[r.Rcode])
	}
	if hi, ok := b.ov.Load().Verifier().Highest(demo.Origin); !ok || hi != z.Serial() {
		t.Fatalf("b's highest verified serial = %d, %v; want %d", hi, ok, z.Serial())
	}
	if _, _, _, ok := b.ov.Load().Cache().Get(newName, dns.TypeTXT); ok {
		t.Error("the NXDOMAIN of serial 1 is still cached after b verified the newer serial")
	}
	r := queryNode(t, b, dnstest.Query(newName, dns.TypeTXT, true))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("%s TXT via b after the newer serial: rcode %s, %d answers; want the new record", newName, dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}
