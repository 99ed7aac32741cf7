package dnsfront

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestSipHash24(t *testing.T) {
	var k [16]byte
	for i := range k {
		k[i] = byte(i)
	}
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	cases := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},  // the reference vectors' first entry (31 0e 0e dd ...)
		{15, 0xa129ca6149be45e5}, // the paper's Appendix A
	}
	for _, c := range cases {
		if got := sipHash24(&k, msg[:c.n]); got != c.want {
			t.Errorf("sipHash24(key 00..0f, 00..%02x) = %#x, want %#x", c.n-1, got, c.want)
		}
	}
}

// The test vectors of RFC 9018 Appendix A.
func TestServerCookieRFC9018(t *testing.T) {
	secret, _ := hex.DecodeString("e5e973e5a6b2a43f48e7dc849e37bfcf")
	cases := []struct {
		client, addr string
		ts           uint32
		want         string
	}{
		{"2464c4abcf10c957", "198.51.100.100", 1559731985, "010000005cf79f111f8130c3eee29480"},
		{"2464c4abcf10c957", "198.51.100.100", 1559734385, "010000005cf7a871d4a564a1442aca77"},
	}
	jar := newCookieJar(secret)
	for _, c := range cases {
		cc, _ := hex.DecodeString(c.client)
		a := netip.MustParseAddr(c.addr)
		var got [serverCookieLen]byte
		jar.serverCookie(&got, cc, a, c.ts)
		if hex.EncodeToString(got[:]) != c.want {
			t.Errorf("serverCookie(%s, %s, %d) = %x, want %s", c.client, c.addr, c.ts, got, c.want)
		}
		opt := append(cc, got[:]...)
		for _, v := range []struct {
			at   uint32
			addr netip.Addr
			ok   bool
		}{
			{c.ts, a, true},
			{c.ts + 3600, a, true},
			{c.ts + 3601, a, false}, // older than an hour
			{c.ts - 300, a, true},
			{c.ts - 301, a, false}, // over five minutes ahead
			{c.ts, netip.MustParseAddr("192.0.2.1"), false},
		} {
			jar.now = func() time.Time { return time.Unix(int64(v.at), 0) }
			if got := jar.valid(opt, v.addr); got != v.ok {
				t.Errorf("valid(%x from %s at %d) = %t, want %t", opt, v.addr, v.at, got, v.ok)
			}
		}
	}
}

// Received cookies of RFC 9018 Appendix A.3 (reserved octets set) and
// A.4 (IPv6) are valid.
func TestServerCookieValidRFC9018(t *testing.T) {
	cases := []struct {
		secret, cookie, addr string
		at                   uint32
	}{
		{"e5e973e5a6b2a43f48e7dc849e37bfcf", "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", "203.0.113.203", 1559727985},
		{"dd3bdf9344b678b185a6f5cb60fca715", "22681ab97d52c298010000005cf7c57926556bd0934c72f8", "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961},
	}
	for _, c := range cases {
		secret, _ := hex.DecodeString(c.secret)
		opt, _ := hex.DecodeString(c.cookie)
		jar := newCookieJar(secret)
		jar.now = func() time.Time { return time.Unix(int64(c.at), 0) }
		if !jar.valid(opt, netip.MustParseAddr(c.addr)) {
			t.Errorf("valid(%s from %s) = false, want true", c.cookie, c.addr)
		}
	}
}

func TestRRLBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRRL(RRLOptions{Rate: 10, Slip: 2})
	r.start, r.now = now, func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.7")
	sameNet := netip.MustParseAddr("192.0.2.200")
	other := netip.MustParseAddr("198.51.100.1")
	www := reply(t, "www.example.", dns.TypeA, dns.RcodeSuccess, "www.example. 300 IN A 192.0.2.1", "")
	count := func(a netip.Addr, out []byte, n int) (sent, slipped, dropped int) {
		for range n {
			switch r.check(a, out) {
			case rrlSend:
				sent++
			case rrlSlip:
				slipped++
			default:
				dropped++
			}
		}
		return
	}
	if s, sl, d := count(a, www, 30); s != 10 || sl != 10 || d != 10 {
		t.Errorf("30 positive from %s: sent %d slipped %d dropped %d; want 10 (the burst), 10, 10 (slip 2)", a, s, sl, d)
	}
	if s, _, _ := count(sameNet, www, 1); s != 0 {
		t.Errorf("%s shares %s's /24 bucket: sent %d, want 0", sameNet, a, s)
	}
	if s, _, _ := count(a, reply(t, "WWW.Example.", dns.TypeA, dns.RcodeSuccess, "WWW.Example. 300 IN A 192.0.2.1", ""), 1); s != 0 {
		t.Errorf("the same name in other case: sent %d, want 0 (one bucket)", s)
	}
	if s, _, _ := count(a, reply(t, "www.example.", dns.TypeAAAA, dns.RcodeSuccess, "www.example. 300 IN AAAA 2001:db8::1", ""), 10); s != 10 {
		t.Errorf("another type of the same name: sent %d, want 10 (a bucket of its own)", s)
	}
	if s, _, _ := count(a, reply(t, "mail.example.", dns.TypeA, dns.RcodeSuccess, "mail.example. 300 IN A 192.0.2.2", ""), 10); s != 10 {
		t.Errorf("another name: sent %d, want 10 (a busy resolver is not limited by the sum of its names)", s)
	}
	// NXDOMAIN for random names under one zone share the zone's bucket.
	soa := "example. 300 IN SOA ns.example. admin.example. 1 7200 3600 1209600 300"
	sent := 0
	for i := range 30 {
		s, _, _ := count(a, reply(t, fmt.Sprintf("r%d.example.", i), dns.TypeA, dns.RcodeNameError, "", soa), 1)
		sent += s
	}
	if sent != 10 {
		t.Errorf("30 NXDOMAIN for random names under example.: sent %d, want 10 (one bucket: the zone)", sent)
	}
	if s, _, _ := count(a, reply(t, "x.example.org.", dns.TypeA, dns.RcodeNameError, "", "example.org. 300 IN SOA ns.example.org. a.example.org. 1 2 3 4 5"), 10); s != 10 {
		t.Errorf("NXDOMAIN under another zone: sent %d, want 10", s)
	}
	// Referrals count under the delegation point.
	sent = 0
	for i := range 12 {
		s, _, _ := count(a, reply(t, fmt.Sprintf("h%d.child.example.", i), dns.TypeA, dns.RcodeSuccess, "", "child.example. 300 IN NS ns.child.example."), 1)
		sent += s
	}
	if sent != 10 {
		t.Errorf("12 referrals to child.example.: sent %d, want 10", sent)
	}
	// Errors: one bucket per prefix whatever the name.
	sent = 0
	for i := range 12 {
		s, _, _ := count(a, reply(t, fmt.Sprintf("n%d.elsewhere.", i), dns.TypeA, dns.RcodeRefused, "", ""), 1)
		sent += s
	}
	if sent != 10 {
		t.Errorf("12 REFUSED for different names: sent %d, want 10", sent)
	}
	if s, _, _ := count(other, www, 10); s != 10 {
		t.Errorf("%s: sent %d, want 10 (a prefix of its own)", other, s)
	}
	now = now.Add(500 * time.Millisecond)
	if s, _, _ := count(a, www, 10); s != 5 {
		t.Errorf("after 0.5 s at 10/s: sent %d, want 5", s)
	}
}

// reply packs a response to (name, t) with rcode, one answer record and
// one authority record (each optional), compressed as servers send them.
func reply(t *testing.T, name string, qt uint16, rcode int, answer, authority string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	m.Response, m.Rcode, m.Compress = true, rcode, true
	for _, rr := range []struct {
		text string
		to   *[]dns.RR
	}{{answer, &m.Answer}, {authority, &m.Ns}} {
		if rr.text == "" {
			continue
		}
		x, err := dns.NewRR(rr.text)
		if err != nil {
			t.Fatal(err)
		}
		*rr.to = append(*rr.to, x)
	}
	out, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClassify(t *testing.T) {
	hdr := func(rcode byte, an uint16) []byte {
		return []byte{0, 0, 0x84, rcode, 0, 1, byte(an >> 8), byte(an), 0, 0, 0, 0}
	}
	cases := []struct {
		name string
		out  []byte
		want answerClass
	}{
		{"answer", hdr(0, 1), classPositive},
		{"nodata", hdr(0, 0), classNoData},
		{"nxdomain", hdr(3, 0), classNXDomain},
		{"refused", hdr(5, 0), classError},
		{"servfail", hdr(2, 0), classError},
	}
	for _, c := range cases {
		if got := classify(c.out); got != c.want {
			t.Errorf("classify(%s) = %d, want %d", c.name, got, c.want)
		}
	}
}

// FuzzCookieAndSlip feeds the UDP server's own parsers arbitrary
// datagrams: findCookie (run on every query when rate limiting is on),
// the rate limiter's reading of a response's name, and slipReply must not
// panic, and what they return must be well formed.
func FuzzCookieAndSlip(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1,
		0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0xc0, 0x0c, 0, 1})
	jar := newCookieJar(nil)
	r := newRRL(RRLOptions{Rate: 1 << 20})
	a := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, msg []byte) {
		ck := findCookie(msg)
		if ck != nil && (len(ck) > len(msg) || cap(ck) > cap(msg)) {
			t.Fatalf("findCookie(%x) = %x, not inside the message", msg, ck)
		}
		jar.valid(ck, a)
		if len(msg) >= headerLen {
			r.check(a, msg) // the response's name read back, compression followed
		}
		var buf [512]byte
		if out := slipReply(msg, buf[:0], ck, jar, a); out != nil {
			if len(out) < headerLen || out[0] != msg[0] || out[1] != msg[1] {
				t.Fatalf("slipReply(%x) = %x, want the header and ID kept", msg, out)
			}
		}
	})
}
