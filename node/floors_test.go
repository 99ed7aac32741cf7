package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/internal/demo"
)

// TestSerialFloorSurvivesRestart: b verifies a's zone at a newer serial
// through the overlay, is stopped and started again on the same data
// directory; the restarted b refuses the zone's older version, genuinely
// signed (a replay), with ErrStaleSerial, and still serves the newer one.
// A serials.json that cannot be read stops the start with an error that
// names the file.
func TestSerialFloorSurvivesRestart(t *testing.T) {
	ca := groupConfig(t, nil, "a")
	ca.Overlay.Enabled = true
	a := runNode(t, ca)
	k := publishDemoTB(t, a)
	old := a.Served().Get(demo.Origin)
	_, addrs := a.OverlayID()
	cb := groupConfig(t, nil, "b")
	cb.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs, TrustAnchors: "anchors"}
	if err := os.WriteFile(filepath.Join(cb.DataDir, "anchors"), []byte(k.DNSKEY.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := runNode(t, cb)

	z2 := demoWith(t, old, k, "v2."+demo.Origin+" 300 IN TXT \"second version\"")
	if err := a.Publish(z2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b verifies the new serial", func() error {
		r := queryNode(t, b, dnstest.Query("v2."+demo.Origin, dns.TypeTXT, true))
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("v2 TXT = %v", r)
		}
		return nil
	})
	closeNode(t, b)
	b2 := runNode(t, cb)
	if hi, ok := b2.ov.Load().Verifier().Highest(demo.Origin); !ok || hi != z2.Serial() {
		t.Fatalf("restarted b: Highest(%s) = %d, %v; want %d", demo.Origin, hi, ok, z2.Serial())
	}
	oldZones := new(Served)
	oldZones.Set(old)
	la, err := intergroup.AnswerLocal(oldZones, demo.Origin, dns.TypeSOA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.ov.Load().Verifier().VerifyAnswer(demo.Origin, dns.TypeSOA, la.Msg, la.Head, la.Proof); !errors.Is(err, client.ErrStaleSerial) {
		t.Fatalf("restarted b verifies the older serial %d: %v, want ErrStaleSerial", old.Serial(), err)
	}
	r := queryNode(t, b2, dnstest.Query(demo.Origin, dns.TypeSOA, true))
	if len(r.Answer) == 0 || r.Answer[0].(*dns.SOA).Serial != z2.Serial() {
		t.Fatalf("restarted b: SOA = %v, want serial %d", r, z2.Serial())
	}

	closeNode(t, b2)
	path := filepath.Join(cb.DataDir, intergroup.FloorsFile)
	if err := os.WriteFile(path, []byte(`{"version":9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New(cb, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := n.Start(ctx); !errors.Is(err, client.ErrBadFloors) {
		n.Close(ctx)
		t.Fatalf("Start with a bad %s = %v, want ErrBadFloors", intergroup.FloorsFile, err)
	}
}
