package ops

import (
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
)

// fakeNode serves DNS on loopback with f and returns its address.
func fakeNode(t *testing.T, f func(q, r *dns.Msg)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		r.SetEdns0(1232, true)
		f(q, r)
		w.WriteMsg(r)
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- s.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		s.Shutdown()
		<-done
	})
	return pc.LocalAddr().String()
}

func TestResolve(t *testing.T) {
	a, _ := dns.NewRR("www.example. 300 IN A 192.0.2.80")
	soa, _ := dns.NewRR("example. 3600 IN SOA ns1.example. h.example. 1 2 3 4 60")
	hops := []dnsfront.AuditHop{{Node: "12D3KooWmember", Hash: [32]byte{0xab}}, {Node: "12D3KooWentry", Hash: [32]byte{0xab}}}
	cases := []struct {
		desc  string
		args  []string
		serve func(q, r *dns.Msg)
		code  ExitCode
		want  []string
	}{
		{"verified remote answer", []string{"resolve", "www.example."}, func(q, r *dns.Msg) {
			r.Answer = []dns.RR{a}
			if o := q.IsEdns0(); o != nil && len(o.Option) == 1 && o.Option[0].Option() == dnsfront.AuditOptionCode && o.Do() {
				r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode, Data: dnsfront.EncodeAudit(true, hops)})
			}
		}, ExitOK, []string{"192.0.2.80", "verified: yes", "path 1: 12D3KooWmember hash ab00", "path 2: 12D3KooWentry", "ttl: 300s"}},
		{"local zone", []string{"resolve", "www.example.", "A"}, func(q, r *dns.Msg) {
			r.Authoritative = true
			r.Answer = []dns.RR{a}
		}, ExitOK, []string{"verified: local", "ttl: 300s"}},
		{"negative answer TTL", []string{"resolve", "nothere.example.", "aaaa"}, func(q, r *dns.Msg) {
			r.Authoritative = true
			r.Rcode = dns.RcodeNameError
			r.Ns = []dns.RR{soa}
		}, ExitOK, []string{"NXDOMAIN", "ttl: 60s"}},
		{"refused by verification", []string{"resolve", "www.example."}, func(q, r *dns.Msg) {
			r.Rcode = dns.RcodeServerFailure
			r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus, ExtraText: "serial older than one already seen"})
		}, ExitError, []string{"verified: no", "why: extended error 6 (DNSSEC Bogus): serial older"}},
		{"json", []string{"resolve", "www.example.", "--output", "json"}, func(q, r *dns.Msg) {
			r.Answer = []dns.RR{a}
			r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode, Data: dnsfront.EncodeAudit(true, hops)})
		}, ExitOK, []string{`"status": "verified"`, `"node": "12D3KooWentry"`}},
	}
	for _, c := range cases {
		addr := fakeNode(t, c.serve)
		r := ddnrs(t, append(c.args, "--server", addr)...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d", c.desc, r.code, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.desc, w, r.stdout)
			}
		}
	}
	if r := ddnrs(t, "resolve", "www.example.", "NOPE"); r.code != ExitUsage {
		t.Errorf("resolve with an unknown type: exit %d, want %d", r.code, ExitUsage)
	}
}
