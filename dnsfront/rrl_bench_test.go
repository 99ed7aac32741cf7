package dnsfront

import (
	"net/netip"
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

// BenchmarkUDPGuard measures what response rate limiting and cookies add
// to a UDP query, as the UDP worker runs them (everything but the
// socket): plain Handle (without and with an OPT record); Handle and the
// RRL check; Handle with a client
// cookie (the option read, the server cookie filled); Handle with a
// valid server cookie (checked, so RRL is skipped, and refilled).
func BenchmarkUDPGuard(b *testing.B) {
	z, _ := dnstest.Sign(b, dnstest.Example(b))
	h := NewHandler(dnstest.NewZones(z), Options{Cookies: true})
	s := &UDPServer{h: h, rrl: newRRL(RRLOptions{Rate: 1 << 30}), jar: newCookieJar(nil)}
	from := netip.MustParseAddr("192.0.2.1")
	plain, _ := dnstest.Query("www.example.", dns.TypeA, false).Pack()
	withCookie := func(c string) []byte {
		m := dnstest.Query("www.example.", dns.TypeA, false)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
		raw, _ := m.Pack()
		return raw
	}
	edns := func() []byte {
		m := dnstest.Query("www.example.", dns.TypeA, false)
		m.SetEdns0(1232, false)
		raw, _ := m.Pack()
		return raw
	}()
	client := withCookie("0011223344556677")
	var sc [serverCookieLen]byte
	cc := []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}
	s.jar.serverCookie(&sc, cc, from, uint32(s.jar.now().Unix()))
	valid := withCookie("0011223344556677" + hexString(sc[:]))
	if !s.jar.valid(findCookie(valid), from) {
		b.Fatal("the benchmark's server cookie is not valid")
	}
	cases := []struct {
		name string
		raw  []byte
		rrl  bool
	}{
		{"handle", plain, false},
		{"handle+rrl", plain, true},
		{"handle+edns", edns, false},
		{"handle+edns+rrl", edns, true},
		{"handle+rrl+client-cookie", client, true},
		{"handle+valid-cookie", valid, true},
	}
	// The parts alone, less at the mercy of a loaded machine.
	answer, _ := h.Handle(plain, nil, UDP)
	b.Run("rrl-check-only", func(b *testing.B) {
		for b.Loop() {
			s.rrl.check(from, answer)
		}
	})
	b.Run("cookie-check-only", func(b *testing.B) {
		for b.Loop() {
			s.jar.valid(findCookie(valid), from)
		}
	})
	reply := append([]byte(nil), valid...)
	b.Run("cookie-fill-only", func(b *testing.B) {
		for b.Loop() {
			s.jar.fill(findCookie(reply), from)
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, maxMsg)
			for b.Loop() {
				qck := findCookie(c.raw)
				exempt := !c.rrl || s.jar.valid(qck, from)
				out, ok := h.Handle(c.raw, buf, UDP)
				if !ok {
					b.Fatal("dropped")
				}
				if qck != nil {
					if ck := findCookie(out); ck != nil {
						s.jar.fill(ck, from)
					}
				}
				if !exempt && s.rrl.check(from, out) != rrlSend {
					b.Fatal("rate limited")
				}
			}
		})
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xF])
	}
	return string(out)
}
