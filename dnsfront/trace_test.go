package dnsfront_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

func TestTraceOptionRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		name string
		hops []dnsfront.TraceHop
		want []dnsfront.TraceHop
	}{
		{"none", nil, []dnsfront.TraceHop{}},
		{"local", []dnsfront.TraceHop{{Kind: dnsfront.TraceLocal, Node: "node1", Elapsed: 12 * time.Microsecond}}, nil},
		{"relayed", []dnsfront.TraceHop{
			{Kind: dnsfront.TraceRelayed, Node: "12D3KooWA", Elapsed: 1500 * time.Microsecond},
			{Kind: dnsfront.TraceMember, Node: "12D3KooWB", Elapsed: 1200 * time.Microsecond},
		}, nil},
		{"sub-microsecond truncated", []dnsfront.TraceHop{{Kind: dnsfront.TraceCache, Node: "n", Elapsed: 1999 * time.Nanosecond}},
			[]dnsfront.TraceHop{{Kind: dnsfront.TraceCache, Node: "n", Elapsed: time.Microsecond}}},
		{"long id cut, negative and huge times clamped", []dnsfront.TraceHop{
			{Kind: dnsfront.TraceLocal, Node: long, Elapsed: -time.Second},
			{Kind: dnsfront.TraceLocal, Node: "", Elapsed: 100 * time.Hour},
		}, []dnsfront.TraceHop{
			{Kind: dnsfront.TraceLocal, Node: long[:255]},
			{Kind: dnsfront.TraceLocal, Node: "", Elapsed: 4294967295 * time.Microsecond},
		}},
	}
	for _, c := range cases {
		want := c.want
		if want == nil {
			want = c.hops
		}
		got, err := dnsfront.DecodeTrace(dnsfront.AppendTrace(nil, c.hops))
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: DecodeTrace(AppendTrace(%v)) = %v, %v, want %v", c.name, c.hops, got, err, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: hop %d = %v, want %v", c.name, i, got[i], want[i])
			}
		}
	}
}

func TestDecodeTraceMalformed(t *testing.T) {
	good := dnsfront.AppendTrace(nil, []dnsfront.TraceHop{{Kind: dnsfront.TraceLocal, Node: "n1", Elapsed: time.Millisecond}})
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{1}},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"count beyond data", []byte{1, 2, 1, 0, 0, 0, 0, 0}},
		{"cut in the id", good[:4]},
		{"cut in the time", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"kind 0", []byte{1, 1, 0, 0, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		if hops, err := dnsfront.DecodeTrace(c.b); !errors.Is(err, dnsfront.ErrTraceOption) {
			t.Errorf("%s: DecodeTrace(%x) = %v, %v, want ErrTraceOption", c.name, c.b, hops, err)
		}
	}
}

// FuzzDecodeTrace: the decoder never panics, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeTrace(f *testing.F) {
	f.Add(dnsfront.AppendTrace(nil, []dnsfront.TraceHop{{Kind: dnsfront.TraceRelayed, Node: "a", Elapsed: time.Second}, {Kind: dnsfront.TraceMember, Node: "bb"}}))
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 1, 9, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		hops, err := dnsfront.DecodeTrace(b)
		if err != nil {
			return
		}
		if again := dnsfront.AppendTrace(nil, hops); !bytes.Equal(again, b) {
			t.Fatalf("DecodeTrace(%x) = %v, encodes back to %x", b, hops, again)
		}
	})
}

func withTrace(m *dns.Msg) *dns.Msg {
	o := m.IsEdns0()
	if o == nil {
		m.SetEdns0(1232, false)
		o = m.IsEdns0()
	}
	o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dnsfront.TraceOptionCode})
	return m
}

// traceOf returns the hops of m's trace option; ok=false without one.
func traceOf(t *testing.T, m *dns.Msg) (hops []dnsfront.TraceHop, ok bool) {
	t.Helper()
	o := m.IsEdns0()
	if o == nil {
		return nil, false
	}
	for _, e := range o.Option {
		if e.Option() == dnsfront.TraceOptionCode {
			hops, err := dnsfront.DecodeTrace(e.(*dns.EDNS0_LOCAL).Data)
			if err != nil {
				t.Fatalf("trace option %x: %v", e.(*dns.EDNS0_LOCAL).Data, err)
			}
			return hops, true
		}
	}
	return nil, false
}

// TestTraceLocalOverSockets asks real UDP and TCP servers for a trace with
// a real DNS client: the one hop is this node, answering locally.
func TestTraceLocalOverSockets(t *testing.T) {
	for _, noTrace := range []bool{false, true} {
		h := signedHandler(t, dnsfront.Options{NodeID: "node-7", NoTrace: noTrace})
		udp, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		go udp.Serve(context.Background())
		t.Cleanup(func() { udp.Close() })
		tcp, err := dnsfront.ListenTCP("127.0.0.1:0", h, dnsfront.TCPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		go tcp.Serve(context.Background())
		t.Cleanup(func() { tcp.Close() })
		for _, c := range []struct {
			net, addr string
			q         *dns.Msg
			want      bool
		}{
			{"udp", udp.Addr().String(), withTrace(dnstest.Query("www.example.", dns.TypeA, true)), !noTrace},
			{"tcp", tcp.Addr().String(), withTrace(dnstest.Query("www.example.", dns.TypeA, false)), !noTrace},
			{"udp", udp.Addr().String(), withTrace(dnstest.Query("nothere.example.", dns.TypeA, true)), !noTrace},
			{"udp", udp.Addr().String(), dnstest.Query("www.example.", dns.TypeA, true), false},
		} {
			cl := &dns.Client{Net: c.net, Timeout: 10 * time.Second}
			r, _, err := cl.Exchange(c.q, c.addr)
			if err != nil {
				t.Fatalf("%s %s: %v", c.net, c.q.Question[0].Name, err)
			}
			hops, ok := traceOf(t, r)
			if ok != c.want {
				t.Fatalf("%s %s (NoTrace %v): trace present %v, want %v", c.net, c.q.Question[0].Name, noTrace, ok, c.want)
			}
			if ok && (len(hops) != 1 || hops[0].Kind != dnsfront.TraceLocal || hops[0].Node != "node-7") {
				t.Errorf("%s %s: trace %v, want one local hop by node-7", c.net, c.q.Question[0].Name, hops)
			}
		}
	}
}

// tracingOtherGroups answers like fakeOtherGroups, naming the member that
// answered; cached answers say so. A fake for the same reason.
type tracingOtherGroups struct{ cached bool }

func (g tracingOtherGroups) Resolve(ctx context.Context, req *dns.Msg) (*dnsfront.OtherGroupAnswer, error) {
	a, err := (&fakeOtherGroups{}).Resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	a.Cached = g.cached
	if !g.cached {
		a.Trace = []dnsfront.TraceHop{{Kind: dnsfront.TraceMember, Node: "peerB", Elapsed: 3 * time.Millisecond}}
	}
	return a, nil
}

func TestTraceOtherGroup(t *testing.T) {
	for _, c := range []struct {
		cached bool
		want   []dnsfront.TraceKind
	}{
		{false, []dnsfront.TraceKind{dnsfront.TraceRelayed, dnsfront.TraceMember}},
		{true, []dnsfront.TraceKind{dnsfront.TraceCache}},
	} {
		h := newOtherGroupHandler(t, tracingOtherGroups{cached: c.cached}, dnsfront.Options{NodeID: "peerA"})
		for _, tr := range []dnsfront.Transport{dnsfront.UDP, dnsfront.TCP} {
			m := otherGroupExchange(t, h, withTrace(dnstest.Query("www.remote.test.", dns.TypeA, false)), tr)
			hops, ok := traceOf(t, m)
			if !ok || len(hops) != len(c.want) {
				t.Fatalf("cached %v over %s: trace %v, want kinds %v", c.cached, tr, hops, c.want)
			}
			for i, k := range c.want {
				if hops[i].Kind != k {
					t.Errorf("cached %v over %s: hop %d = %v, want kind %v", c.cached, tr, i, hops[i], k)
				}
			}
			if hops[0].Node != "peerA" || (len(hops) > 1 && (hops[1].Node != "peerB" || hops[1].Elapsed != 3*time.Millisecond)) {
				t.Errorf("cached %v over %s: trace %v, want peerA then peerB 3ms", c.cached, tr, hops)
			}
		}
	}
}

func TestTraceDoHJSON(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{NodeID: "node-9"})
	d := dnsfront.NewDoHHandler(h, dnsfront.HTTPSOptions{})
	for _, c := range []struct {
		target string
		hops   int
	}{
		{"/dns-query?name=www.example&type=A&trace=1", 1},
		{"/dns-query?name=www.example&type=A&trace=true", 1},
		{"/dns-query?name=www.example&type=A", 0},
		{"/dns-query?name=www.example&type=A&trace=0", 0},
	} {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, httptest.NewRequest("GET", c.target, nil))
		var ans dnsfront.JSONAnswer
		if w.Code != 200 {
			t.Fatalf("GET %s = %d %s", c.target, w.Code, w.Body)
		}
		if err := jsonDecode(w.Body, &ans); err != nil {
			t.Fatal(err)
		}
		if len(ans.Trace) != c.hops || (c.hops == 1 && (ans.Trace[0].Kind != "local" || ans.Trace[0].Node != "node-9")) {
			t.Errorf("GET %s: Trace %+v, want %d local hop(s) by node-9", c.target, ans.Trace, c.hops)
		}
	}
}
