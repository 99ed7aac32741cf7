package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/zone"
)

// TestOverlayRefusesForeignPeer (issue 14 item 3): a libp2p peer that the
// registry's node directory never admitted (no cluster certificate, no
// heartbeat) joins through every node's overlay address and announces a
// registered zone, holding a copy signed by the zone's owner at a higher
// serial with another address for www (what a peer that copied an
// owner's old signed data could hold). The nodes follow the registry's
// log, so [overlay] admit defaults to "directory": no node keeps its
// connection, its announcement reaches no one, and a node of another
// group answers the zone's names, each asked once (uncached), from the
// group the registry placed it on only: the audit path never names the
// foreign peer and www has the group's address.
func TestOverlayRefusesForeignPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 node processes")
	}
	c := startRegistryCluster(t, 1, regGroupSpec{name: "ga", size: 1, region: "ra"}, regGroupSpec{name: "gb", size: 1, region: "rb"})
	const origin = "admit.example."
	z := regSignZone(t, origin, 7)
	var boot []string
	for _, n := range c.nodes() {
		boot = append(boot, n.Overlay...)
	}
	foreign := startForeignPeer(t, origin, z.key, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range boot {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			t.Fatal(err)
		}
		// A refused peer may see its side of the QUIC handshake complete
		// before the node's gater closes the connection; what counts is
		// that no node lets it in (below).
		foreign.Connect(ctx, *ai)
	}
	if err := foreign.Provide(ctx, origin); err == nil {
		t.Errorf("the foreign peer's announcement of %s succeeded, want no node to take it", origin)
	}
	if n := foreign.RoutingTableSize(); n != 0 {
		t.Errorf("the foreign peer has %d peers in its routing table, want 0", n)
	}

	c.createZone(t, c.reviewer, z, "ra")
	if z.group != "ga" {
		t.Fatalf("placed %s on %q, want ga (by region)", origin, z.group)
	}
	entry := c.groups["gb"][0]
	regWaitAnswer(t, entry, z)
	ga := map[string]bool{}
	for _, n := range c.groups["ga"] {
		for _, a := range n.Overlay {
			if _, id, ok := strings.Cut(a, "/p2p/"); ok {
				ga[id] = true
			}
		}
	}
	const queries = 40
	for i := range queries {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("q%d.%s", i, origin), dns.TypeA)
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode})
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, entry.DNS)
		if err != nil {
			t.Fatalf("%s: %v", m.Question[0].Name, err)
		}
		path := auditPath(r)
		if r.Rcode != dns.RcodeNameError || !slices.ContainsFunc(path, func(id string) bool { return ga[id] }) {
			t.Errorf("%s from %s: rcode %s, audit path %v; want NXDOMAIN answered by ga's member %v", m.Question[0].Name, entry.name, dns.RcodeToString[r.Rcode], path, ga)
		}
		for _, id := range path {
			if id == foreign.ID().String() {
				t.Errorf("%s: the foreign peer's answer was relayed (audit path %v)", m.Question[0].Name, path)
			}
		}
	}
	r, err := askErr(entry.DNS, "www."+origin, dns.TypeA, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := regCheckA(r, z.www); err != nil {
		t.Errorf("www.%s from %s: %v (the foreign copy says 192.0.2.2)", origin, entry.name, err)
	}
	for _, n := range c.nodes() {
		ai, err := peer.AddrInfoFromString(n.Overlay[0])
		if err != nil {
			t.Fatal(err)
		}
		// A connection still open would be one the node accepted (it
		// closes refused ones at the handshake).
		waitUntil(t, "no connection between the foreign peer and "+n.name, func() error {
			if foreign.P2P().Network().Connectedness(ai.ID) == network.Connected {
				return fmt.Errorf("connected")
			}
			return nil
		})
	}
}

// startForeignPeer runs an overlay host with no cluster certificate,
// admitted by no directory, holding origin at serial, signed with the
// owner key keyFile (.private), answering queries for it. Stopped at
// cleanup.
func startForeignPeer(t *testing.T, origin, keyFile string, serial uint32) *overlay.Host {
	t.Helper()
	priv, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(strings.TrimSuffix(keyFile, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.%d\n%s\n",
		origin, serial, serial%200, k.DNSKEY.String())
	zf, err := zone.ParseFile(strings.NewReader(text), origin, "foreign.zone")
	if err != nil {
		t.Fatal(err)
	}
	if zf, err = zone.Sign(zf, k, zone.DefaultSignOptions(time.Now())); err != nil {
		t.Fatal(err)
	}
	zs := new(node.Served)
	zs.Set(zf)
	h, err := overlay.NewHost(context.Background(), overlay.HostOptions{
		KeyFile: filepath.Join(t.TempDir(), "foreign.key"),
		Listen:  []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := overlay.NewServer(h.P2P(), overlay.ServerOptions{Answerer: &badPeer{zones: zs, id: h.ID().String()}})
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	return h
}
