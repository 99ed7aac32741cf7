package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// overlayPairAdmin is overlayPair with admin endpoints: a (group a)
// holds the demo zone, b (group b) joins the DHT through a. It returns
// an admin client and the demo key.
func overlayPairAdmin(t *testing.T) (a, b *Node, ac *admin.Client, k *zone.Key) {
	t.Helper()
	p := newTestPKI(t)
	ca := groupConfig(t, p, "a")
	ca.Overlay.Enabled = true
	a = runNode(t, ca)
	k = publishDemoTB(t, a)
	_, addrs := a.OverlayID()
	cb := groupConfig(t, p, "b")
	cb.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs, TrustAnchors: "anchors"}
	if err := os.WriteFile(filepath.Join(cb.DataDir, "anchors"), []byte(k.DNSKEY.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = runNode(t, cb)
	return a, b, p.client(t, "owner"), k
}

// TestAdminWriteThroughOtherGroup: a change to group a's zone sent to
// b's admin endpoint is committed by group a and served by both; a
// create of a's zone through b is refused; b's group never holds a copy;
// reading the zone from b gives a's copy, so a publisher can sign its
// change against it and publish through b.
func TestAdminWriteThroughOtherGroup(t *testing.T) {
	a, b, ac, k := overlayPairAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := a.Stored(demo.Origin)
	if err != nil {
		t.Fatal(err)
	}

	// A read through b: group a's copy, fetched over DDNRS-RPC and
	// verified by b, once b's DHT sees a's zone.
	var exp *admin.ZoneExport
	waitFor(t, "b exports a's zone", func() error {
		var err error
		exp, err = ac.Zone(ctx, b.AdminAddr(), demo.Origin)
		return err
	})
	var want strings.Builder
	if err := zone.Write(&want, stored); err != nil {
		t.Fatal(err)
	}
	if exp.Zone != demo.Origin || exp.Serial != stored.Serial() || exp.ZoneFile != want.String() || exp.Head != string(stored.Head.Note) {
		t.Fatalf("Zone via b = %s serial %d head %q, want a's copy at serial %d", exp.Zone, exp.Serial, exp.Head, stored.Serial())
	}
	// What a publisher does with it (ops fetchZone): parse it, check the
	// head, and sign the change against it.
	fetched, err := zone.ParseFile(strings.NewReader(exp.ZoneFile), demo.Origin, "export via b")
	if err != nil {
		t.Fatal(err)
	}
	if fetched.Head, err = zone.ParseHead([]byte(exp.Head), k); err != nil {
		t.Fatal(err)
	}

	// A create of a's zone through b is refused.
	create, err := writes.PublishCommand(nil, stored)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ac.SubmitChange(ctx, b.AdminAddr(), demo.Origin, create)
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Code != admin.CodeExistsElsewhere {
		t.Errorf("create via b = %v, want %s", err, admin.CodeExistsElsewhere)
	}

	// A change through b commits in a.
	z := demoWith(t, fetched, k, "via-b."+demo.Origin+" 300 IN TXT \"published through group b\"")
	cmd, err := writes.PublishCommand(fetched, z)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ac.SubmitChange(ctx, b.AdminAddr(), demo.Origin, cmd)
	if err != nil || res.Serial != z.Serial() || res.Index == 0 {
		t.Fatalf("change via b = %+v, %v, want serial %d and an index", res, err, z.Serial())
	}
	if got := a.Served().Get(demo.Origin); got == nil || got.Serial() != z.Serial() {
		t.Errorf("a holds %v after the change via b, want serial %d", got, z.Serial())
	}
	// The same change again: the owning group answers a repeat.
	if again, err := ac.SubmitChange(ctx, b.AdminAddr(), demo.Origin, cmd); err != nil || again.Serial != z.Serial() {
		t.Errorf("same change via b again = %+v, %v; want done at serial %d", again, err, z.Serial())
	}
	// A change back to the older zone: the owning group's rejection,
	// as rejected.
	back, err := writes.PublishCommand(z, fetched)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ac.SubmitChange(ctx, b.AdminAddr(), demo.Origin, back)
	if !errors.As(err, &ae) || ae.Code != admin.CodeRejected {
		t.Errorf("stale change via b = %v, want %s", err, admin.CodeRejected)
	}
	// An operator command straight over DDNRS-RPC from b's overlay host
	// (what any admitted node of any group can send): refused, and a's
	// zone stays served. Suspensions come from a's operators over a's
	// admin endpoint only.
	for _, op := range []raftfsm.Command{
		&raftfsm.Suspend{Zone: demo.Origin, Reason: "sent over the overlay"},
		&raftfsm.Unsuspend{Zone: demo.Origin, Reason: "sent over the overlay"},
		&raftfsm.DropZone{Zone: demo.Origin},
	} {
		raw, err := raftfsm.EncodeCommand(op)
		if err != nil {
			t.Fatal(err)
		}
		ai, err := peer.AddrInfoFromString(a.ov.Load().Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, dry := range []bool{false, true} {
			_, err = b.ov.Load().Client().SubmitChange(ctx, *ai, &overlay.SubmitChangeRequest{Zone: demo.Origin, Cmd: raw, DryRun: dry})
			var re *overlay.RPCError
			if !errors.As(err, &re) || re.Code != overlay.CodeRejected {
				t.Errorf("%s over DDNRS-RPC (dry run %t) = %v, want rejected", op.Type(), dry, err)
			}
		}
	}
	if a.Served().Get(demo.Origin) == nil {
		t.Fatalf("a no longer serves %s after operator commands over the overlay", demo.Origin)
	}

	// Served by both: a from its replica, b through the overlay.
	for _, n := range []*Node{a, b} {
		waitFor(t, n.ID()+" serves the new record", func() error {
			r := queryNode(t, n, dnstest.Query("via-b."+demo.Origin, dns.TypeTXT, true))
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				return fmt.Errorf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			return nil
		})
	}
	if _, err := b.Stored(demo.Origin); err == nil {
		t.Errorf("b's group holds a copy of %s, want none", demo.Origin)
	}
}

// TestAdminCreateWithOverlay: a zone no group holds is created in the
// group of the node it is sent to, overlay on: with a peer in the DHT,
// and alone (the first node of an overlay).
func TestAdminCreateWithOverlay(t *testing.T) {
	t.Run("with a peer", func(t *testing.T) {
		_, b, ac, _ := overlayPairAdmin(t)
		testCreateVia(t, b, ac)
	})
	t.Run("alone", func(t *testing.T) {
		p := newTestPKI(t)
		c := groupConfig(t, p, "a")
		c.Overlay.Enabled = true
		testCreateVia(t, runNode(t, c), p.client(t, "owner"))
	})
}

// testCreateVia creates a fresh zone through n's admin endpoint.
func testCreateVia(t *testing.T, b *Node, ac *admin.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const origin = "fresh.test."
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := zone.ParseFile(strings.NewReader(origin+" 3600 IN SOA ns."+origin+" h."+origin+" 1 7200 3600 1209600 300\n"+
		origin+" 3600 IN NS ns."+origin+"\nns."+origin+" 3600 IN A 192.0.2.1\n"), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := writes.PublishCommand(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.SubmitChange(ctx, b.AdminAddr(), origin, cmd); err != nil {
		t.Fatalf("create %s via b: %v", origin, err)
	}
	if got, err := b.Stored(origin); err != nil || got.Serial() != z.Serial() {
		t.Errorf("b holds %v, %v, want serial %d", got, err, z.Serial())
	}
}
