package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
)

func traceQuery(name string, t uint16) *dns.Msg {
	q := dnstest.Query(name, t, true)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.TraceOptionCode})
	return q
}

func traceOf(t *testing.T, m *dns.Msg) []dnsfront.TraceHop {
	t.Helper()
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if l, ok := e.(*dns.EDNS0_LOCAL); ok && l.Code == dnsfront.TraceOptionCode {
				hops, err := dnsfront.DecodeTrace(l.Data)
				if err != nil {
					t.Fatal(err)
				}
				return hops
			}
		}
	}
	return nil
}

func kindsAndNodes(hops []dnsfront.TraceHop) string {
	s := ""
	for _, h := range hops {
		s += fmt.Sprintf("[%s %s]", h.Kind, h.Node)
	}
	return s
}

// TestQueryObservability runs two single-node groups with the overlay: b
// answers a's zone. The trace names the hops taken (a alone for its own
// zone; b relaying to a, then b's cache), b's metrics count them by
// source, and b's dnstap file, read back with golang-dnstap, holds the
// relayed query as forwarder messages naming a.
func TestQueryObservability(t *testing.T) {
	ca := groupConfig(t, nil, "a")
	ca.Overlay.Enabled = true
	a := runNode(t, ca)
	k := publishDemoTB(t, a)
	_, addrs := a.OverlayID()
	cb := groupConfig(t, nil, "b")
	cb.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs, TrustAnchors: "anchors"}
	tapFile := filepath.Join(cb.DataDir, "q.dnstap")
	cb.Dnstap = "file:" + tapFile
	if err := os.WriteFile(filepath.Join(cb.DataDir, "anchors"), []byte(k.DNSKEY.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := runNode(t, cb)
	aID, _ := a.OverlayID()
	bID, _ := b.OverlayID()

	if got := kindsAndNodes(traceOf(t, queryNode(t, a, traceQuery("www."+demo.Origin, dns.TypeA)))); got != "[local "+aID+"]" {
		t.Errorf("a's trace of its own zone = %s, want [local %s]", got, aID)
	}
	var first string
	waitFor(t, "b answers a's zone", func() error {
		r := queryNode(t, b, traceQuery("www."+demo.Origin, dns.TypeA))
		if r.Rcode != dns.RcodeSuccess {
			return errors.New(dns.RcodeToString[r.Rcode])
		}
		first = kindsAndNodes(traceOf(t, r))
		return nil
	})
	if want := "[relayed " + bID + "][member " + aID + "]"; first != want {
		t.Errorf("b's first trace = %s, want %s", first, want)
	}
	if got, want := kindsAndNodes(traceOf(t, queryNode(t, b, traceQuery("www."+demo.Origin, dns.TypeA)))), "[cache "+bID+"]"; got != want {
		t.Errorf("b's second trace = %s, want %s", got, want)
	}

	count := func(source string) float64 {
		mfs, err := b.metrics.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, mf := range mfs {
			if mf.GetName() != "ddnrs_dns_queries_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "source" && l.GetValue() == source {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
		return n
	}
	if count("relayed") < 1 || count("cache") < 1 {
		t.Errorf("b's ddnrs_dns_queries_total: relayed %v, cache %v, want at least 1 each", count("relayed"), count("cache"))
	}

	closeNode(t, b) // the dnstap log is closed with the node
	f, err := os.Open(tapFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := dnstap.NewReader(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	types := map[dnstap.Message_Type]int{}
	buf := make([]byte, 1<<16)
	for {
		n, err := r.ReadFrame(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var d dnstap.Dnstap
		if err := proto.Unmarshal(buf[:n], &d); err != nil {
			t.Fatal(err)
		}
		m := d.GetMessage()
		types[m.GetType()]++
		if string(d.GetIdentity()) != bID {
			t.Errorf("dnstap identity %q, want b's id %s", d.GetIdentity(), bID)
		}
		if m.GetType() == dnstap.Message_FORWARDER_RESPONSE && string(d.GetExtra()) != "member="+aID {
			t.Errorf("forwarder response extra %q, want member=%s", d.GetExtra(), aID)
		}
	}
	if types[dnstap.Message_FORWARDER_QUERY] < 1 || types[dnstap.Message_FORWARDER_RESPONSE] < 1 || types[dnstap.Message_CLIENT_RESPONSE] < 2 {
		t.Errorf("dnstap message types %v, want forwarder query and response, and client responses", types)
	}
}
