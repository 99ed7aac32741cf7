package dnsfront_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

// fakeRemote answers every query with one A record, after gate is closed
// when it is set.
type fakeRemote struct {
	gate  chan struct{}
	err   error
	calls chan string
}

type edeErr struct{}

func (edeErr) Error() string { return "bogus" }
func (edeErr) EDE() uint16   { return dns.ExtendedErrorCodeDNSBogus }
func (f *fakeRemote) Resolve(ctx context.Context, req *dns.Msg) (*dnsfront.RemoteAnswer, error) {
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
	return &dnsfront.RemoteAnswer{Msg: m, Verified: true, Audit: []dnsfront.AuditHop{{Node: "peerA", Hash: [32]byte{1}}, {Node: "peerB", Hash: [32]byte{2}}}}, nil
}

func newRemoteHandler(t *testing.T, r dnsfront.Remote, opt dnsfront.Options) *dnsfront.Handler {
	t.Helper()
	opt.Remote = r
	h := dnsfront.NewHandler(dnstest.NewZones(dnstest.Example(t)), opt)
	t.Cleanup(func() { h.Close() })
	return h
}

func remoteExchange(t *testing.T, h *dnsfront.Handler, q *dns.Msg, tr dnsfront.Transport) *dns.Msg {
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

func TestRemoteAnswers(t *testing.T) {
	h := newRemoteHandler(t, &fakeRemote{}, dnsfront.Options{})
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
		m := remoteExchange(t, h, c.q, dnsfront.UDP)
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
	if m := remoteExchange(t, h, dnstest.Query("www.example.", dns.TypeA, false), dnsfront.UDP); m.Rcode != dns.RcodeSuccess || !m.Authoritative || len(m.Answer) != 1 {
		t.Errorf("local query with a Remote = %v, want the local answer", m)
	}
}

func TestRemoteFailureEDE(t *testing.T) {
	cases := []struct {
		err  error
		want uint16
	}{
		{edeErr{}, dns.ExtendedErrorCodeDNSBogus},
		{errors.New("other"), dns.ExtendedErrorCodeOther},
	}
	for _, c := range cases {
		h := newRemoteHandler(t, &fakeRemote{err: c.err}, dnsfront.Options{})
		m := remoteExchange(t, h, dnstest.Query("x.remote.test.", dns.TypeA, true), dnsfront.TCP)
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
func TestRemoteDoesNotBlockUDP(t *testing.T) {
	f := &fakeRemote{gate: make(chan struct{}), calls: make(chan string, 1)}
	h := newRemoteHandler(t, f, dnsfront.Options{RemoteWorkers: 1})
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

func TestRemoteAnswerPaddedOverEncrypted(t *testing.T) {
	h := newRemoteHandler(t, &fakeRemote{}, dnsfront.Options{})
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
