package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// overlayPair starts two single-node groups with the overlay on: a holds
// the demo zone, b trusts its key and joins the DHT through a.
func overlayPair(t testing.TB) (a, b *Node) {
	t.Helper()
	ca := groupConfig(t, nil, "a")
	ca.Overlay.Enabled = true
	a = runNode(t, ca)
	k := publishDemoTB(t, a)
	_, addrs := a.OverlayID()
	cb := groupConfig(t, nil, "b")
	cb.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs, TrustAnchors: "anchors"}
	if err := os.WriteFile(filepath.Join(cb.DataDir, "anchors"), []byte(k.DNSKEY.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = runNode(t, cb)
	return a, b
}

// publishDemoTB publishes the demo zone signed with a's demo key.
func publishDemoTB(t testing.TB, n *Node) *zone.Key {
	t.Helper()
	k, _, err := demo.Key(n.DataDir(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := demo.Zone()
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Publish(z); err != nil {
		t.Fatal(err)
	}
	return k
}

func queryNode(t testing.TB, n *Node, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, n.Addr().String())
	if err != nil {
		t.Fatalf("Exchange(%s %s): %v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

func TestOverlayAnswersOtherGroupsZone(t *testing.T) {
	a, b := overlayPair(t)
	cases := []struct {
		name string
		t    uint16
		do   bool
	}{
		{demo.Origin, dns.TypeSOA, true},
		{demo.Origin, dns.TypeSOA, false},
		{"www." + demo.Origin, dns.TypeA, true},
		{"www." + demo.Origin, dns.TypeA, false},
		{"nothere." + demo.Origin, dns.TypeA, true},
		{demo.Origin, dns.TypeMX, true},
	}
	for _, c := range cases {
		want := queryNode(t, a, dnstest.Query(c.name, c.t, c.do))
		var got *dns.Msg
		waitFor(t, "b answers "+c.name, func() error {
			got = queryNode(t, b, dnstest.Query(c.name, c.t, c.do))
			if got.Rcode != want.Rcode {
				return errors.New(dns.RcodeToString[got.Rcode])
			}
			return nil
		})
		if !reflect.DeepEqual(dnstest.Summaries(got.Answer), dnstest.Summaries(want.Answer)) ||
			!reflect.DeepEqual(dnstest.Summaries(got.Ns), dnstest.Summaries(want.Ns)) {
			t.Errorf("b: %s %s do=%v = %v, want a's answer %v", c.name, dns.TypeToString[c.t], c.do, got, want)
		}
	}
	// The audit option: a's node first, then b, the same hash.
	q := dnstest.Query("www."+demo.Origin, dns.TypeA, true)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode})
	r := queryNode(t, b, q)
	var hops []dnsfront.AuditHop
	var verified bool
	for _, o := range r.IsEdns0().Option {
		if l, ok := o.(*dns.EDNS0_LOCAL); ok && l.Code == dnsfront.AuditOptionCode {
			var err error
			if verified, hops, err = dnsfront.DecodeAudit(l.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	aID, _ := a.OverlayID()
	bID, _ := b.OverlayID()
	if !verified || len(hops) != 2 || hops[0].Node != aID || hops[1].Node != bID || hops[0].Hash != hops[1].Hash {
		t.Errorf("audit = verified %v hops %+v, want a (%s) then b (%s) with one hash", verified, hops, aID, bID)
	}
	// A name no group holds is refused, as without the overlay.
	if r := queryNode(t, b, dnstest.Query("www.nowhere.test.", dns.TypeA, false)); r.Rcode != dns.RcodeRefused {
		t.Errorf("b: www.nowhere.test. rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if f := b.OverlayFailures(); f != 0 {
		t.Errorf("b refused %d genuine answers", f)
	}
}

func TestOverlayWithoutAnchorIsServfail(t *testing.T) {
	ca := groupConfig(t, nil, "a")
	ca.Overlay.Enabled = true
	a := runNode(t, ca)
	publishDemo(t, a)
	_, addrs := a.OverlayID()
	cb := groupConfig(t, nil, "b")
	cb.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs}
	b := runNode(t, cb)
	var r *dns.Msg
	waitFor(t, "b finds the zone", func() error {
		r = queryNode(t, b, dnstest.Query("www."+demo.Origin, dns.TypeA, true))
		if r.Rcode == dns.RcodeRefused {
			return errors.New("not found yet")
		}
		return nil
	})
	var ede *dns.EDNS0_EDE
	for _, o := range r.IsEdns0().Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			ede = e
		}
	}
	if r.Rcode != dns.RcodeServerFailure || ede == nil || ede.InfoCode != dns.ExtendedErrorCodeDNSKEYMissing {
		t.Errorf("b without a trust anchor: %v, want SERVFAIL with EDE DNSKEY Missing", r)
	}
	if b.OverlayFailures() == 0 {
		t.Errorf("OverlayFailures = 0, want the refusal counted")
	}
}

func TestOverlaySubmitRemote(t *testing.T) {
	a, b := overlayPair(t)
	k, _, err := demo.Key(a.DataDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := a.Stored(demo.Origin)
	if err != nil {
		t.Fatal(err)
	}
	z := demoWith(t, stored, k, "forwarded."+demo.Origin+" 300 IN TXT \"through the overlay\"")
	cmd, err := writes.PublishCommand(stored, z)
	if err != nil || cmd == nil {
		t.Fatalf("writes.PublishCommand = %v, %v", cmd, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := b.SubmitRemote(ctx, demo.Origin, cmd)
	if err != nil || res.Serial != z.Serial() || res.Index == 0 {
		t.Fatalf("SubmitRemote = %+v, %v, want serial %d and an index", res, err, z.Serial())
	}
	if got := a.Served().Get(demo.Origin); got == nil || got.Serial() != z.Serial() {
		t.Errorf("a serves serial %v after the forwarded change, want %d", got, z.Serial())
	}
	// The same change again is answered as done (a repeat); a change
	// back to the older zone is refused by the owning group, typed.
	if again, err := b.SubmitRemote(ctx, demo.Origin, cmd); err != nil || again.Serial != z.Serial() {
		t.Errorf("SubmitRemote(same change) = %+v, %v; want done at serial %d", again, err, z.Serial())
	}
	back, err := writes.PublishCommand(z, stored)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.SubmitRemote(ctx, demo.Origin, back)
	// The other group's rejection arrives typed, its reason a field of
	// the DDNRS-RPC reply.
	var rej *raftfsm.RejectedError
	if !errors.As(err, &rej) || rej.Reason != raftfsm.ReasonStaleSerial {
		t.Errorf("SubmitRemote(stale change) = %v, want a rejection (%s)", err, raftfsm.ReasonStaleSerial)
	}
	// A zone no group holds.
	if _, err := b.SubmitRemote(ctx, "nowhere.test.", cmd); !errors.Is(err, ErrNotHosted) {
		t.Errorf("SubmitRemote(nowhere.test.) = %v, want ErrNotHosted", err)
	}
}

// corruptingPeer answers from a genuine registry but tampers with what
// the owner signed, in turn: it forges a record of the asked type into
// the answer, changes a byte of every RRSIG's signature, or raises the
// SOA serial (its RRSIG kept). The proof and head are the genuine ones
// and decode, so only verification (the RRSIGs, the Merkle leaves)
// refuses these answers; served, each would differ from the genuine
// answer a test compares against.
type corruptingPeer struct {
	served *Served
	calls  atomic.Int64
}

func (c *corruptingPeer) AnswerLocal(_ context.Context, name string, t uint16, _ bool) (*overlay.QueryResponse, error) {
	n := c.calls.Add(1)
	la, err := intergroup.AnswerLocal(c.served, name, t)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	if err := m.Unpack(la.Msg); err != nil {
		return nil, err
	}
	switch n % 3 {
	case 0: // records: a forged RRset of the asked type at the name
		m.Answer = append(m.Answer, &dns.RFC3597{
			Hdr:   dns.RR_Header{Name: m.Question[0].Name, Rrtype: t, Class: dns.ClassINET, Ttl: 300},
			Rdata: "c0ffee",
		})
	case 1: // signatures
		for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if sig, ok := rr.(*dns.RRSIG); ok {
					b, err := base64.StdEncoding.DecodeString(sig.Signature)
					if err != nil {
						return nil, err
					}
					b[len(b)/2] ^= 1
					sig.Signature = base64.StdEncoding.EncodeToString(b)
				}
			}
		}
	case 2: // serials
		for _, rr := range append(m.Answer, m.Ns...) {
			if soa, ok := rr.(*dns.SOA); ok {
				soa.Serial += 100
			}
		}
	}
	msg, err := m.Pack()
	if err != nil {
		return nil, err
	}
	return &overlay.QueryResponse{Msg: msg, Head: la.Head, Proof: la.Proof}, nil
}

// sameRecords reports whether got and want hold the same records,
// RRSIGs included, in any order (the OPT aside).
func sameRecords(got, want []dns.RR) bool {
	text := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype != dns.TypeOPT {
				out = append(out, rr.String())
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(text(got), text(want))
}

// routeToBoth drops whatever route b has to the demo zone until a fresh
// lookup lists both peers (with a tampering peer alone, b rightly
// refuses to answer), and leaves that route cached.
func routeToBoth(t testing.TB, ctx context.Context, b *Node, peers ...string) {
	t.Helper()
	waitFor(t, "b's route to list both providers", func() error {
		b.ov.Load().Router().Forget(demo.Origin)
		provs, err := b.ov.Load().Router().Providers(ctx, demo.Origin)
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range provs {
			ids = append(ids, p.ID.String())
		}
		for _, want := range peers {
			if !slices.Contains(ids, want) {
				return fmt.Errorf("providers %v, want %v among them", ids, peers)
			}
		}
		return nil
	})
}

// genuineAnswer is n's group's own answer to (name, t), unpacked.
func genuineAnswer(t testing.TB, n *Node, name string, qt uint16) *dns.Msg {
	t.Helper()
	la, err := intergroup.AnswerLocal(n.Served(), name, qt)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(la.Msg); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOverlayReroutesAroundTamperingPeer: a peer that provides the zone
// too but returns answers that do not verify is penalised; the node
// answers from the genuine member, every time.
func TestOverlayReroutesAroundTamperingPeer(t *testing.T) {
	a, b := overlayPair(t)
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
	// Every answer b serves is the genuine one: had it taken a tampered
	// answer, it would have served it. That b did get tampered answers is
	// shown by its refusals: not by the peer's call count, since a hedged
	// query abandons the slower provider's answer unread.
	for i := 0; i < 200 || (b.OverlayFailures() == 0 && i < 2000); i++ {
		if i%20 == 0 {
			// Make the genuine member look worse now and then, so the
			// tampering peer gets asked.
			b.ov.Load().Client().Penalize(mustDecodePeer(t, aID))
		}
		qt := uint16(2000 + i) // never cached: each asks a provider
		r := queryNode(t, b, dnstest.Query(demo.Origin, qt, true))
		genuine := genuineAnswer(t, a, demo.Origin, qt)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) == 0 || !sameRecords(r.Ns, genuine.Ns) {
			t.Fatalf("b: %s TYPE%d = %v, want the genuine NODATA %v", demo.Origin, qt, r, genuine)
		}
	}
	t.Logf("the tampering peer was asked %d times; b refused %d answers", bad.calls.Load(), b.OverlayFailures())
	if f := b.OverlayFailures(); f == 0 || f > uint64(bad.calls.Load()) {
		t.Errorf("the tampering peer answered %d times, b refused %d; want at least one refused, and no more than it answered", bad.calls.Load(), f)
	}
}

// TestOverlayRefusesOlderSerial: a peer replays the zone's previous
// version, genuinely signed; a node that has verified the newer serial
// never serves the older one.
func TestOverlayRefusesOlderSerial(t *testing.T) {
	a, b := overlayPair(t)
	old := a.Served().Get(demo.Origin)
	k, _, err := demo.Key(a.DataDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	z2 := demoWith(t, old, k, "v2."+demo.Origin+" 300 IN TXT \"second version\"")
	if err := a.Publish(z2); err != nil {
		t.Fatal(err)
	}
	soaSerial := func(r *dns.Msg) uint32 {
		for _, rr := range append(r.Answer, r.Ns...) {
			if s, ok := rr.(*dns.SOA); ok {
				return s.Serial
			}
		}
		return 0
	}
	waitFor(t, "b sees the new serial", func() error {
		if s := soaSerial(queryNode(t, b, dnstest.Query(demo.Origin, dns.TypeSOA, true))); s != z2.Serial() {
			return fmt.Errorf("serial %d", s)
		}
		return nil
	})
	// The replaying peer holds the old version.
	oldZones := new(Served)
	oldZones.Set(old)
	_, addrs := a.OverlayID()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := overlay.NewHost(ctx, overlay.HostOptions{KeyFile: filepath.Join(t.TempDir(), "replay.key"), Bootstrap: addrs})
	if err != nil {
		t.Fatal(err)
	}
	replay := &replayPeer{served: oldZones}
	srv := overlay.NewServer(h.P2P(), overlay.ServerOptions{Answerer: replay})
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	if err := h.Provide(ctx, demo.Origin); err != nil {
		t.Fatal(err)
	}
	aID, _ := a.OverlayID()
	// b's fresh route must list both providers: a lookup that ends on its
	// first provider could hold only the replaying one, and b would then
	// rightly answer SERVFAIL (seen in a CI-style run).
	routeToBoth(t, ctx, b, aID, h.ID().String())
	// Every answer b serves has the new serial: had it taken a replayed
	// answer, it would have served it. That b did get replays is shown by
	// its refusals: not by the peer's call count, since a hedged query
	// abandons the slower provider's answer unread (under load the replay
	// is asked, answers, and loses the race).
	for i := 0; i < 200 || (b.OverlayFailures() == 0 && i < 2000); i++ {
		if i%20 == 0 {
			// Make the genuine member look worse now and then, so the
			// replaying peer gets asked.
			b.ov.Load().Client().Penalize(mustDecodePeer(t, aID))
		}
		r := queryNode(t, b, dnstest.Query(demo.Origin, uint16(3000+i), true))
		if r.Rcode != dns.RcodeSuccess || soaSerial(r) != z2.Serial() {
			t.Fatalf("b: TYPE%d = %v, want NODATA with serial %d", 3000+i, r, z2.Serial())
		}
	}
	t.Logf("the replaying peer was asked %d times; b refused %d answers", replay.calls.Load(), b.OverlayFailures())
	if f := b.OverlayFailures(); f == 0 || f > uint64(replay.calls.Load()) {
		t.Errorf("the replaying peer answered %d times, b refused %d; want at least one replay refused, and no more than it answered", replay.calls.Load(), f)
	}
}

// replayPeer answers, correctly, from an old version of the zone.
type replayPeer struct {
	served *Served
	calls  atomic.Int64
}

func (p *replayPeer) AnswerLocal(_ context.Context, name string, t uint16, _ bool) (*overlay.QueryResponse, error) {
	p.calls.Add(1)
	la, err := intergroup.AnswerLocal(p.served, name, t)
	if err != nil {
		return nil, err
	}
	return &overlay.QueryResponse{Msg: la.Msg, Head: la.Head, Proof: la.Proof}, nil
}

func mustDecodePeer(t testing.TB, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
