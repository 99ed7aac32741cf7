package dnsfront_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

// fakeOtherGroups answers every query with one A record, after gate is
// closed when it is set. A fake: these tests check how the Handler wraps
// an answer from another group (IDs, DO stripping, EDE, padding, not
// blocking UDP); the real OtherGroups (node with an overlay) is tested in
// node and integration.
type fakeOtherGroups struct {
	gate  chan struct{}
	err   error
	calls chan string
}

type edeErr struct{}

func (edeErr) Error() string { return "bogus" }
func (edeErr) EDE() uint16   { return dns.ExtendedErrorCodeDNSBogus }
func (f *fakeOtherGroups) Resolve(ctx context.Context, req *dns.Msg) (*dnsfront.OtherGroupAnswer, error) {
	if f.calls != nil {
		f.calls <- req.Question[0].Name
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	m := new(dns.Msg)
	m.Authoritative = true
	a, _ := dns.NewRR(req.Question[0].Name + " 300 IN A 192.0.2.7")
	sig, _ := dns.NewRR(req.Question[0].Name + " 300 IN RRSIG A 15 2 300 20300101000000 20200101000000 1 remote.test. AAAA")
	m.Answer = []dns.RR{a, sig}
	return &dnsfront.OtherGroupAnswer{Msg: m, Verified: true, Audit: []dnsfront.AuditHop{{Node: "peerA", Hash: [32]byte{1}}, {Node: "peerB", Hash: [32]byte{2}}}}, nil
}

func newOtherGroupHandler(t *testing.T, r dnsfront.OtherGroups, opt dnsfront.Options) *dnsfront.Handler {
	t.Helper()
	opt.OtherGroups = r
	h := dnsfront.NewHandler(dnstest.NewZones(dnstest.Example(t)), opt)
	t.Cleanup(func() { h.Close() })
	return h
}

func otherGroupExchange(t *testing.T, h *dnsfront.Handler, q *dns.Msg, tr dnsfront.Transport) *dns.Msg {
	t.Helper()
	raw, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out, ok := h.Handle(raw, make([]byte, 0, 65535), tr)
	if !ok {
		t.Fatalf("Handle(%s) sent nothing", q.Question[0].Name)
	}
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOtherGroupAnswers(t *testing.T) {
	h := newOtherGroupHandler(t, &fakeOtherGroups{}, dnsfront.Options{})
	cases := []struct {
		desc      string
		q         *dns.Msg
		audit     bool
		wantRRs   int
		wantAudit bool
	}{
		{"no DO: RRSIG stripped", dnstest.Query("www.remote.test.", dns.TypeA, false), false, 1, false},
		{"DO: RRSIG kept", dnstest.Query("www.remote.test.", dns.TypeA, true), false, 2, false},
		{"audit asked", dnstest.Query("www.remote.test.", dns.TypeA, true), true, 2, true},
		{"no EDNS", func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("www.remote.test.", dns.TypeA); return m }(), false, 1, false},
	}
	for _, c := range cases {
		if c.audit {
			o := c.q.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode})
		}
		m := otherGroupExchange(t, h, c.q, dnsfront.UDP)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != c.wantRRs || m.Id != c.q.Id || m.Question[0].Name != "www.remote.test." {
			t.Errorf("%s: reply %v, want NOERROR with %d records", c.desc, m, c.wantRRs)
		}
		var gotAudit bool
		if o := m.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if e.Option() == dnsfront.AuditOptionCode {
					gotAudit = true
					v, hops, err := dnsfront.DecodeAudit(e.(*dns.EDNS0_LOCAL).Data)
					if err != nil || !v || len(hops) != 2 || hops[0].Node != "peerA" || hops[1].Hash[0] != 2 {
						t.Errorf("%s: audit = %v %v %v, want verified peerA, peerB", c.desc, v, hops, err)
					}
				}
			}
		}
		if gotAudit != c.wantAudit {
			t.Errorf("%s: audit option present = %v, want %v", c.desc, gotAudit, c.wantAudit)
		}
	}
	// The local zone is still answered locally.
	if m := otherGroupExchange(t, h, dnstest.Query("www.example.", dns.TypeA, false), dnsfront.UDP); m.Rcode != dns.RcodeSuccess || !m.Authoritative || len(m.Answer) != 1 {
		t.Errorf("local query with an OtherGroups = %v, want the local answer", m)
	}
}

func TestOtherGroupFailureEDE(t *testing.T) {
	cases := []struct {
		err  error
		want uint16
	}{
		{edeErr{}, dns.ExtendedErrorCodeDNSBogus},
		{errors.New("other"), dns.ExtendedErrorCodeOther},
	}
	for _, c := range cases {
		h := newOtherGroupHandler(t, &fakeOtherGroups{err: c.err}, dnsfront.Options{})
		m := otherGroupExchange(t, h, dnstest.Query("x.remote.test.", dns.TypeA, true), dnsfront.TCP)
		var got *dns.EDNS0_EDE
		if o := m.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if ede, ok := e.(*dns.EDNS0_EDE); ok {
					got = ede
				}
			}
		}
		if m.Rcode != dns.RcodeServerFailure || got == nil || got.InfoCode != c.want {
			t.Errorf("Resolve error %v: reply rcode %s EDE %v, want SERVFAIL with EDE %d", c.err, dns.RcodeToString[m.Rcode], got, c.want)
		}
	}
}

// TestRemoteDoesNotBlockUDP: with one UDP worker, a local query is
// answered while a remote one waits on the network.
func TestOtherGroupDoesNotBlockUDP(t *testing.T) {
	f := &fakeOtherGroups{gate: make(chan struct{}), calls: make(chan string, 1)}
	h := newOtherGroupHandler(t, f, dnsfront.Options{OtherGroupWorkers: 1})
	s, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(m *dns.Msg) {
		raw, _ := m.Pack()
		if _, err := c.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	read := func() *dns.Msg {
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return m
	}
	remote := dnstest.Query("slow.remote.test.", dns.TypeA, false)
	remote.Id = 1
	send(remote)
	<-f.calls // the remote lookup is in flight
	local := dnstest.Query("www.example.", dns.TypeA, false)
	local.Id = 2
	send(local)
	if m := read(); m.Id != 2 || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("first reply = %v, want the local answer (ID 2)", m)
	}
	close(f.gate)
	if m := read(); m.Id != 1 || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("second reply = %v, want the remote answer (ID 1)", m)
	}
}

func TestAuditOptionRoundTrip(t *testing.T) {
	hops := []dnsfront.AuditHop{{Node: "12D3KooWA", Hash: [32]byte{9, 9}}, {Node: "", Hash: [32]byte{}}}
	v, got, err := dnsfront.DecodeAudit(dnsfront.EncodeAudit(true, hops))
	if err != nil || !v || len(got) != 2 || got[0] != hops[0] || got[1] != hops[1] {
		t.Errorf("DecodeAudit(EncodeAudit) = %v %v %v, want %v", v, got, err, hops)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0}, {1, 2, 0}, {1, 0, 1}, {1, 0, 1, 5, 'a'}, {1, 0, 0, 0}} {
		if _, _, err := dnsfront.DecodeAudit(bad); !errors.Is(err, dnsfront.ErrAuditOption) {
			t.Errorf("DecodeAudit(%v) = %v, want ErrAuditOption", bad, err)
		}
	}
}

func FuzzDecodeAudit(f *testing.F) {
	f.Add(dnsfront.EncodeAudit(true, []dnsfront.AuditHop{{Node: "a"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, hops, err := dnsfront.DecodeAudit(b)
		if err != nil {
			return
		}
		if again, _, _ := dnsfront.DecodeAudit(dnsfront.EncodeAudit(v, hops)); again != v {
			t.Errorf("re-encoding changed the verified flag")
		}
	})
}

func TestOtherGroupAnswerPaddedOverEncrypted(t *testing.T) {
	h := newOtherGroupHandler(t, &fakeOtherGroups{}, dnsfront.Options{})
	for _, tr := range []dnsfront.Transport{dnsfront.TLS, dnsfront.HTTPS, dnsfront.QUIC, dnsfront.TCP} {
		q := dnstest.Query("www.remote.test.", dns.TypeA, true)
		q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_PADDING{})
		raw, _ := q.Pack()
		out, ok := h.Handle(raw, make([]byte, 0, 65535), tr)
		if !ok {
			t.Fatalf("%s: no reply", tr)
		}
		padded := len(out)%dnsfront.DefaultPadBlock == 0
		if want := tr != dnsfront.TCP; padded != want {
			t.Errorf("%s: reply of %d octets, padded to %d: %v, want %v", tr, len(out), dnsfront.DefaultPadBlock, padded, want)
		}
	}
}

// relayOtherGroups answers from another Handler holding the zone, as a member
// of the owning group does for intergroup.AnswerLocal: the whole response with
// DO set, asked over TCP so nothing is dropped.
type relayOtherGroups struct{ owner *dnsfront.Handler }

func (r relayOtherGroups) Resolve(_ context.Context, req *dns.Msg) (*dnsfront.OtherGroupAnswer, error) {
	q := new(dns.Msg)
	q.SetQuestion(req.Question[0].Name, req.Question[0].Qtype)
	q.RecursionDesired = false
	q.SetEdns0(dns.MaxMsgSize, true)
	resp := new(dns.Msg)
	r.owner.Answer(q, resp, dnsfront.TCP)
	// What crosses the overlay is wire form; the relay unpacks it.
	raw, err := resp.Pack()
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		return nil, err
	}
	return &dnsfront.OtherGroupAnswer{Msg: m, Verified: true}, nil
}

// wideZone adds to the fixture a delegation to twelve in-domain name
// servers and twelve mail exchangers, each with an A and an AAAA record:
// a referral whose glue does not fit in 512 octets, and an MX answer
// whose additional addresses do not.
func wideZone(t *testing.T) string {
	t.Helper()
	text := "$ORIGIN example.\n"
	for i := range 12 {
		text += fmt.Sprintf("wide 3600 IN NS ns%02d.wide\nns%02d.wide 3600 IN A 192.0.2.%d\nns%02d.wide 3600 IN AAAA 2001:db8::%d\n", i, i, 100+i, i, 100+i)
		text += fmt.Sprintf("mx 3600 IN MX %d mx%02d\nmx%02d 3600 IN A 198.51.100.%d\nmx%02d 3600 IN AAAA 2001:db8:1::%d\n", i, i, i, i, i, i)
	}
	return text
}

// TestRemoteAdditionalAsLocal: a reply relayed from the owning group is,
// byte for byte but the ID, the reply the owning group gives itself, over
// every transport and buffer size: the additional section whole when it
// fits, optional addresses dropped silently when they do not, TC when a
// referral's in-domain glue does not fit (RFC 9471).
func TestOtherGroupAdditionalAsLocal(t *testing.T) {
	text, err := os.ReadFile(dnstest.FixturePath())
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := dnstest.Sign(t, dnstest.Parse(t, "example.", string(text)+dnstest.Extra+wideZone(t)))
	owner := dnsfront.NewHandler(dnstest.NewZones(signed), dnsfront.Options{})
	entry := dnsfront.NewHandler(dnstest.NewZones(), dnsfront.Options{OtherGroups: relayOtherGroups{owner}})
	t.Cleanup(func() { entry.Close() })
	cases := []struct {
		name string
		t    uint16
	}{
		{"example.", dns.TypeMX},         // signed address of the exchanger
		{"example.", dns.TypeNS},         // addresses of the name servers
		{"host.sub.example.", dns.TypeA}, // referral with glue, signed DS
		{"sub.example.", dns.TypeNS},     // the same referral
		{"host.nods.example.", dns.TypeA},
		{"x.wide.example.", dns.TypeA}, // referral whose glue needs 700+ octets
		{"mx.example.", dns.TypeMX},    // MX whose addresses need 700+ octets
		{"www.example.", dns.TypeA},
		{"nothere.example.", dns.TypeA},
	}
	type shape struct {
		tr   dnsfront.Transport
		edns bool
		size uint16
		do   bool
	}
	shapes := []shape{
		{dnsfront.UDP, false, 0, false},
		{dnsfront.UDP, true, 512, true},
		{dnsfront.UDP, true, 512, false},
		{dnsfront.UDP, true, 1232, true},
		{dnsfront.UDP, true, 4096, true},
		{dnsfront.TCP, true, 1232, true},
		{dnsfront.TCP, false, 0, false},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		for _, s := range shapes {
			q := new(dns.Msg)
			q.SetQuestion(c.name, c.t)
			q.RecursionDesired = false
			if s.edns {
				q.SetEdns0(s.size, s.do)
			}
			raw, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			want, ok := owner.Handle(raw, make([]byte, 0, 65535), s.tr)
			if !ok {
				t.Fatalf("owner sent nothing for %s %s", c.name, dns.TypeToString[c.t])
			}
			got, ok := entry.Handle(raw, make([]byte, 0, 65535), s.tr)
			if !ok {
				t.Fatalf("entry sent nothing for %s %s", c.name, dns.TypeToString[c.t])
			}
			wm, gm := new(dns.Msg), new(dns.Msg)
			if err := wm.Unpack(want); err != nil {
				t.Fatal(err)
			}
			if err := gm.Unpack(got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("relayed %s %s over %s edns=%v size=%d do=%v =\n%v\nwant the owner's\n%v", c.name, dns.TypeToString[c.t], s.tr, s.edns, s.size, s.do, gm, wm)
			}
			extra := 0
			for _, rr := range wm.Extra {
				if rr.Header().Rrtype != dns.TypeOPT {
					extra++
				}
			}
			switch {
			case wm.Truncated:
				seen["tc"] = true
			case extra > 0 && len(want) > 400:
				seen["additional"] = true
			}
		}
	}
	// The cases must cover what they claim, or the comparison proves
	// little: a truncated referral and a large additional section.
	for _, k := range []string{"tc", "additional"} {
		if !seen[k] {
			t.Errorf("no case produced %q", k)
		}
	}
}
