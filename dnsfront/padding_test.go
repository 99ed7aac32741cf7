package dnsfront_test

import (
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

// options returns the EDNS option codes of m's OPT, in order.
func options(m *dns.Msg) []uint16 {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	var codes []uint16
	for _, o := range opt.Option {
		codes = append(codes, o.Option())
	}
	return codes
}

func padded(name string, t uint16) *dns.Msg {
	m := dnstest.Query(name, t, true)
	if err := dnsfront.PadQuery(m); err != nil {
		panic(err)
	}
	return m
}

func keepalive(m *dns.Msg) *dns.Msg {
	if m.IsEdns0() == nil {
		m.SetEdns0(1232, false)
	}
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE})
	return m
}

func TestPadQuery(t *testing.T) {
	for _, name := range []string{"a.", "www.example.", "a-rather-long-label-to-cross-a-block.and-another-one.example."} {
		m := dnstest.Query(name, dns.TypeA, false)
		if err := dnsfront.PadQuery(m); err != nil {
			t.Fatal(err)
		}
		raw, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if len(raw)%dnsfront.QueryPadBlock != 0 {
			t.Errorf("PadQuery(%s) packs to %d octets, want a multiple of %d", name, len(raw), dnsfront.QueryPadBlock)
		}
	}
}

func TestPaddingAndKeepalive(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{TCPKeepalive: 30 * time.Second})
	cases := []struct {
		name string
		req  *dns.Msg
		tr   dnsfront.Transport
		pad  bool   // reply must be a padded multiple of 468
		ka   uint16 // keepalive timeout announced, 0 = none
	}{
		{"padded query over TLS", padded("www.example.", dns.TypeA), dnsfront.TLS, true, 0},
		{"padded query over HTTPS", padded("www.example.", dns.TypeA), dnsfront.HTTPS, true, 0},
		{"padded query over QUIC", padded("www.example.", dns.TypeA), dnsfront.QUIC, true, 0},
		{"padded referral with glue over TLS", padded("host.sub.example.", dns.TypeA), dnsfront.TLS, true, 0},
		{"padded NXDOMAIN over QUIC", padded("nothere.example.", dns.TypeA), dnsfront.QUIC, true, 0},
		{"padded REFUSED over HTTPS", padded("elsewhere.test.", dns.TypeA), dnsfront.HTTPS, true, 0},
		{"padded query over UDP", padded("www.example.", dns.TypeA), dnsfront.UDP, false, 0},
		{"padded query over TCP", padded("www.example.", dns.TypeA), dnsfront.TCP, false, 0},
		{"unpadded query over TLS", dnstest.Query("www.example.", dns.TypeA, true), dnsfront.TLS, false, 0},
		{"keepalive over TCP", keepalive(dnstest.Query("www.example.", dns.TypeA, true)), dnsfront.TCP, false, 300},
		{"keepalive and padding over TLS", keepalive(padded("www.example.", dns.TypeA)), dnsfront.TLS, true, 300},
		{"keepalive over UDP ignored", keepalive(dnstest.Query("www.example.", dns.TypeA, true)), dnsfront.UDP, false, 0},
		{"keepalive over QUIC ignored", keepalive(dnstest.Query("www.example.", dns.TypeA, true)), dnsfront.QUIC, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, n := exchange(t, h, c.req, c.tr)
			gotPad := false
			var gotKA uint16
			for _, o := range resp.IsEdns0().Option {
				switch o := o.(type) {
				case *dns.EDNS0_PADDING:
					gotPad = true
					for _, b := range o.Padding {
						if b != 0 {
							t.Fatalf("padding octet %#x, want 0", b)
						}
					}
				case *dns.EDNS0_TCP_KEEPALIVE:
					gotKA = o.Timeout
				}
			}
			if gotPad != c.pad || (c.pad && n%dnsfront.DefaultPadBlock != 0) {
				t.Errorf("reply of %d octets, padding option %v, want padded=%v (options %v)", n, gotPad, c.pad, options(resp))
			}
			if gotKA != c.ka {
				t.Errorf("keepalive timeout %d, want %d", gotKA, c.ka)
			}
			// The Answer path (a dns.Msg) pads the same way.
			var m dns.Msg
			h.Answer(c.req, &m, c.tr)
			raw, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if c.pad && len(raw)%dnsfront.DefaultPadBlock != 0 {
				t.Errorf("Answer reply packs to %d octets, want a multiple of %d", len(raw), dnsfront.DefaultPadBlock)
			}
			// Padding changes nothing else.
			plain, _ := exchange(t, h, c.req, dnsfront.UDP)
			if len(resp.Answer) != len(plain.Answer) || len(resp.Ns) != len(plain.Ns) || resp.Rcode != plain.Rcode {
				t.Errorf("reply over %s differs from UDP beyond OPT:\n%v\nvs\n%v", c.tr, resp, plain)
			}
		})
	}
}

func TestPaddingOff(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{PadBlock: -1})
	resp, _ := exchange(t, h, padded("www.example.", dns.TypeA), dnsfront.TLS)
	if codes := options(resp); len(codes) != 0 {
		t.Errorf("PadBlock -1: reply options %v, want none", codes)
	}
}
