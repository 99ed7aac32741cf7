package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/overlay"
)

// gatherSeries returns the value of every series of the node's registry
// named name whose labels include want, summed, and the label sets seen.
func gatherSeries(t *testing.T, n *Node, name string, want map[string]string) (float64, []map[string]string) {
	t.Helper()
	mfs, err := n.Metrics().Registry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	sum := 0.0
	var seen []map[string]string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			seen = append(seen, labels)
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() // nil-safe getters: one is 0
		}
	}
	return sum, seen
}

// TestOverlayMetrics: the overlay's figures are in the node's registry;
// answers count as fetched then cached, the cache's size shows, and a
// tampering peer's refused answers are counted by reason.
func TestOverlayMetrics(t *testing.T) {
	a, b := overlayPair(t)
	get := func(n *Node, name string, labels map[string]string) float64 {
		t.Helper()
		v, _ := gatherSeries(t, n, name, labels)
		return v
	}
	q := func() *dns.Msg { return dnstest.Query("www."+demo.Origin, dns.TypeA, true) }
	waitFor(t, "b answers www."+demo.Origin, func() error {
		if r := queryNode(t, b, q()); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return errors.New(dns.RcodeToString[r.Rcode])
		}
		return nil
	})
	cachedBefore := get(b, "ddnrs_overlay_answers_total", map[string]string{"source": "cache"})
	if r := queryNode(t, b, q()); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("b: second query rcode %s", dns.RcodeToString[r.Rcode])
	}
	atLeast := []struct {
		n      *Node
		name   string
		labels map[string]string
		min    float64
	}{
		{b, "ddnrs_overlay_answers_total", map[string]string{"source": "fetched"}, 1},
		{b, "ddnrs_overlay_answers_total", map[string]string{"source": "cache"}, cachedBefore + 1},
		{b, "ddnrs_overlay_cache_entries", nil, 1},
		{b, "ddnrs_overlay_cache_bytes", nil, 1},
		{b, "ddnrs_overlay_client_queries_total", nil, 1},
		{b, "ddnrs_overlay_client_answered_total", nil, 1},
		{b, "ddnrs_overlay_router_lookups_total", nil, 1},
		{b, "ddnrs_overlay_dht_routing_table_peers", nil, 1},
		{a, "ddnrs_overlay_server_requests_total", map[string]string{"kind": "query"}, 1},
	}
	for _, c := range atLeast {
		if got := get(c.n, c.name, c.labels); got < c.min {
			t.Errorf("%s%v on %s = %v, want >= %v", c.name, c.labels, c.n.DataDir(), got, c.min)
		}
	}
	if got := get(b, "ddnrs_overlay_refused_answers_total", nil); got != 0 {
		t.Fatalf("refused_answers_total = %v before any tampering, want 0", got)
	}

	// A tampering peer provides the zone too; the genuine member is made
	// to look worse before each query, so the tampering one is asked.
	_, addrs := a.OverlayID()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := overlay.NewHost(ctx, overlay.HostOptions{KeyFile: filepath.Join(t.TempDir(), "bad.key"), Bootstrap: addrs})
	if err != nil {
		t.Fatal(err)
	}
	bad := &corruptingPeer{served: a.Served()}
	srv := overlay.NewServer(h.P2P(), overlay.ServerOptions{Answerer: bad})
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	if err := h.Provide(ctx, demo.Origin); err != nil {
		t.Fatal(err)
	}
	aID, _ := a.OverlayID()
	routeToBoth(t, ctx, b, aID, h.ID().String())
	for i := 0; b.OverlayFailures() == 0; i++ {
		if i == 200 {
			t.Fatalf("the tampering peer was asked %d times in %d queries and no answer was refused", bad.calls.Load(), i)
		}
		b.ov.Load().Client().Penalize(mustDecodePeer(t, aID))
		qt := uint16(3000 + i) // never cached: each asks a provider
		if r := queryNode(t, b, dnstest.Query(demo.Origin, qt, true)); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("b: %s TYPE%d rcode %s, want the genuine NODATA", demo.Origin, qt, dns.RcodeToString[r.Rcode])
		}
	}
	refused, series := gatherSeries(t, b, "ddnrs_overlay_refused_answers_total", nil)
	t.Logf("refused answers: %v", series)
	if want := float64(b.OverlayFailures()); refused != want {
		t.Errorf("refused_answers_total = %v, want OverlayFailures() = %v", refused, want)
	}
	for _, l := range series {
		if l["reason"] == "other" || l["ede"] != fmt.Sprint(dns.ExtendedErrorCodeDNSBogus) {
			t.Errorf("refused series %v: want a known reason and EDE %d (a corrupted proof)", l, dns.ExtendedErrorCodeDNSBogus)
		}
	}
	if got := get(b, "ddnrs_overlay_peer_penalties", nil); got <= 0 {
		t.Errorf("peer_penalties = %v after refusals, want > 0", got)
	}
}
