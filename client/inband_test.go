package client_test

import (
	"errors"
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/zone"
)

// inband asks h, in process over TCP, for (name, t) with the proofs
// option (client.NewQuery) and returns the reply.
func inband(t *testing.T, h *dnsfront.Handler, name string, qt uint16) *dns.Msg {
	t.Helper()
	raw, err := client.NewQuery(name, qt).Pack()
	if err != nil {
		t.Fatal(err)
	}
	out, ok := h.Handle(raw, make([]byte, 0, 65535), dnsfront.TCP)
	if !ok {
		t.Fatalf("Handle(%s %s) dropped the query", name, dns.TypeToString[qt])
	}
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatal(err)
	}
	return m
}

// setProofs replaces the proofs option of m with data.
func setProofs(m *dns.Msg, data []byte) {
	o := m.IsEdns0()
	for i, e := range o.Option {
		if l, ok := e.(*dns.EDNS0_LOCAL); ok && l.Code == client.ProofsOptionCode {
			o.Option[i] = &dns.EDNS0_LOCAL{Code: client.ProofsOptionCode, Data: data}
		}
	}
}

// TestVerifyResponseRefusesLies plays a lying node: each case alters a
// genuine reply the way an attacker on the node or the path could, and
// VerifyResponse must refuse it with the error that says why.
func TestVerifyResponseRefusesLies(t *testing.T) {
	r1, _, k := signedExample(t, "2024010101")
	r2, _, _ := signedExample(t, "2024010102")
	h1 := dnsfront.NewHandler(r1, dnsfront.Options{PadBlock: -1})
	h2 := dnsfront.NewHandler(r2, dnsfront.Options{PadBlock: -1})
	anchors := client.Anchors{"example.": k}
	newV := func() *client.Verifier { return client.NewVerifier(anchors, verifyClock) }

	if _, err := newV().VerifyResponse("www.example.", dns.TypeA, inband(t, h1, "www.example.", dns.TypeA)); err != nil {
		t.Fatalf("VerifyResponse(genuine) = %v", err)
	}
	other := inband(t, h1, "mail.example.", dns.TypeA)
	nx := inband(t, h1, "nothere.example.", dns.TypeA)
	_, _, otherProof, _ := zone.DecodeProofsOption(client.ProofsOf(other))
	cases := []struct {
		desc  string
		alter func(m *dns.Msg)
		want  error
	}{
		{"record changed", func(m *dns.Msg) { m.Answer[0].(*dns.A).A = net.ParseIP("203.0.113.66") }, zone.ErrBadSignature},
		{"RRSIG altered", func(m *dns.Msg) { m.Answer[1].(*dns.RRSIG).Signature = "AAAA" + m.Answer[1].(*dns.RRSIG).Signature[4:] }, zone.ErrBadSignature},
		{"proofs option dropped", func(m *dns.Msg) { m.IsEdns0().Option = nil }, client.ErrNoProof},
		{"status says no DO", func(m *dns.Msg) { setProofs(m, []byte{1, 1}) }, client.ErrNoProof},
		{"garbled option", func(m *dns.Msg) { setProofs(m, []byte{1, 0, 0}) }, client.ErrNoProof},
		{"another answer's proof", func(m *dns.Msg) {
			_, head, _, _ := zone.DecodeProofsOption(client.ProofsOf(m))
			b, _ := zone.EncodeProofsOption(zone.Proved, head, otherProof)
			setProofs(m, b)
		}, zone.ErrNotIncluded},
		{"genuine answer to another question", func(m *dns.Msg) { *m = *other.Copy() }, client.ErrNotAnswer},
		{"genuine NXDOMAIN of another name", func(m *dns.Msg) { *m = *nx.Copy() }, client.ErrNotAnswer},
		{"unasked address added", func(m *dns.Msg) {
			mail := inband(t, h1, "mail.example.", dns.TypeA)
			m.Extra = append(mail.Answer, m.Extra...)
		}, client.ErrUnexpectedAdditional},
		{"truncated", func(m *dns.Msg) { m.Truncated = true }, client.ErrTruncated},
	}
	for _, c := range cases {
		m := inband(t, h1, "www.example.", dns.TypeA)
		c.alter(m)
		_, err := newV().VerifyResponse("www.example.", dns.TypeA, m)
		if err == nil {
			t.Errorf("%s: VerifyResponse accepted it", c.desc)
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyResponse = %v, want %v", c.desc, err, c.want)
		}
	}

	// Rollback: once serial 2024010102 is seen, the genuine but older
	// 2024010101 is refused.
	v := newV()
	if _, err := v.VerifyResponse("www.example.", dns.TypeA, inband(t, h2, "www.example.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyResponse("www.example.", dns.TypeA, inband(t, h1, "www.example.", dns.TypeA)); !errors.Is(err, client.ErrStaleSerial) {
		t.Errorf("VerifyResponse(older serial) = %v, want ErrStaleSerial", err)
	}
	// A zone nobody anchored: not a DDNRS answer as far as v knows.
	if _, err := v.VerifyResponse("www.example.net.", dns.TypeA, inband(t, h1, "www.example.net.", dns.TypeA)); !errors.Is(err, client.ErrNoTrustAnchor) {
		t.Errorf("VerifyResponse(no anchor) = %v, want ErrNoTrustAnchor", err)
	}
	// Another key: everything refused.
	_, _, k2 := func() (any, any, *zone.Key) {
		kk, err := zone.GenerateKey("example.", true, nil)
		if err != nil {
			t.Fatal(err)
		}
		return nil, nil, kk
	}()
	v2 := client.NewVerifier(client.Anchors{"example.": k2}, verifyClock)
	if _, err := v2.VerifyResponse("www.example.", dns.TypeA, inband(t, h1, "www.example.", dns.TypeA)); !errors.Is(err, zone.ErrBadHead) && !errors.Is(err, zone.ErrBadSignature) {
		t.Errorf("VerifyResponse(wrong owner key) = %v, want a bad head", err)
	}
}

// FuzzVerifyResponse feeds VerifyResponse arbitrary replies, seeded with
// genuine ones carrying their proofs and tampered ones: whatever it
// accepts must be the owning group's answer to the question.
func FuzzVerifyResponse(f *testing.F) {
	r, z, k := signedExample(f, "2024010101")
	h := dnsfront.NewHandler(r, dnsfront.Options{PadBlock: -1})
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, q := range []struct {
		name string
		t    uint16
	}{{"www.example.", dns.TypeA}, {"nothere.example.", dns.TypeA}, {"foo.wild.example.", dns.TypeA}, {"example.", dns.TypeMX}, {"host.sub.example.", dns.TypeA}} {
		m := inbandTB(f, h, q.name, q.t)
		f.Add(q.name, q.t, pack(m))
		m.Answer = append(m.Answer[:0:0], m.Answer...)
		if len(m.Answer) > 0 {
			if a, ok := m.Answer[0].(*dns.A); ok {
				a.A = net.IPv4(203, 0, 113, 66)
			}
		}
		f.Add(q.name, q.t, pack(m))
	}
	f.Fuzz(func(t *testing.T, name string, qt uint16, raw []byte) {
		m := new(dns.Msg)
		if m.Unpack(raw) != nil {
			return
		}
		v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
		got, err := v.VerifyResponse(name, qt, m)
		if err != nil {
			return
		}
		if err := groupsAnswer(r, z, name, qt, got.Msg); err != nil {
			t.Errorf("VerifyResponse(%q, %s) accepted %v\nwhich is not the owning group's answer: %v", name, dns.TypeToString[qt], got.Msg, err)
		}
	})
}

// inbandTB is inband for fuzz targets and benchmarks.
func inbandTB(tb testing.TB, h *dnsfront.Handler, name string, qt uint16) *dns.Msg {
	tb.Helper()
	raw, err := client.NewQuery(name, qt).Pack()
	if err != nil {
		tb.Fatal(err)
	}
	out, ok := h.Handle(raw, make([]byte, 0, 65535), dnsfront.TCP)
	if !ok {
		tb.Fatalf("Handle(%s) dropped the query", name)
	}
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkVerifyResponse is a client's cost per answer with its
// proofs in band (go test -run XXX -bench VerifyResponse ./client): a
// Verifier that keeps the zone's verified head, as a long-lived one does.
func BenchmarkVerifyResponse(b *testing.B) {
	r, _, k := signedExample(b, "2024010101")
	h := dnsfront.NewHandler(r, dnsfront.Options{PadBlock: -1})
	for _, q := range []struct {
		desc string
		name string
		t    uint16
	}{
		{"address", "www.example.", dns.TypeA},
		{"nxdomain", "nothere.example.", dns.TypeA},
		{"referral-glue", "host.sub.example.", dns.TypeA},
	} {
		m := inbandTB(b, h, q.name, q.t)
		b.Run(q.desc, func(b *testing.B) {
			v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyResponse(q.name, q.t, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
