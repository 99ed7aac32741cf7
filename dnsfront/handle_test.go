package dnsfront_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

// exchange packs req, runs it through Handle and unpacks the reply.
func exchange(t *testing.T, h *dnsfront.Handler, req *dns.Msg, tr dnsfront.Transport) (*dns.Msg, int) {
	t.Helper()
	raw, err := req.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return handle(t, h, raw, tr)
}

func handle(t *testing.T, h *dnsfront.Handler, raw []byte, tr dnsfront.Transport) (*dns.Msg, int) {
	t.Helper()
	out, ok := h.Handle(raw, make([]byte, 0, 65535), tr)
	if !ok {
		t.Fatalf("Handle(%x, %s) dropped the query", raw, tr)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		t.Fatalf("Handle(%x, %s) = unparseable reply %x: %v", raw, tr, out, err)
	}
	return resp, len(out)
}

func withOpt(m *dns.Msg, f func(*dns.OPT)) *dns.Msg {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(1232)
	f(opt)
	m.Extra = append(m.Extra, opt)
	return m
}

func TestHandleEDNS(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	type want struct {
		rcode   int
		opt     string // "" means no OPT
		answers int
	}
	unknown := &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{0xab, 0xcd}}
	cases := []struct {
		name string
		req  *dns.Msg
		want want
	}{
		{"no EDNS", dnstest.Query("www.example.", dns.TypeA, false), want{dns.RcodeSuccess, "", 1}},
		{"DO echoed", dnstest.Query("www.example.", dns.TypeA, true), want{dns.RcodeSuccess, ". OPT udp=1232 do=true version=0", 2}},
		{"no DO", withOpt(dnstest.Query("www.example.", dns.TypeA, false), func(*dns.OPT) {}), want{dns.RcodeSuccess, ". OPT udp=1232 do=false version=0", 1}},
		{"our size, not the client's", withOpt(dnstest.Query("www.example.", dns.TypeA, false), func(o *dns.OPT) { o.SetUDPSize(4096) }),
			want{dns.RcodeSuccess, ". OPT udp=1232 do=false version=0", 1}},
		{"unknown option ignored", withOpt(dnstest.Query("www.example.", dns.TypeA, false), func(o *dns.OPT) { o.Option = append(o.Option, unknown) }),
			want{dns.RcodeSuccess, ". OPT udp=1232 do=false version=0", 1}},
		{"version 1", withOpt(dnstest.Query("www.example.", dns.TypeA, false), func(o *dns.OPT) { o.SetVersion(1); o.SetDo() }),
			want{dns.RcodeBadVers, ". OPT udp=1232 do=true version=0", 0}},
		{"two OPTs", withOpt(dnstest.Query("www.example.", dns.TypeA, true), func(*dns.OPT) {}), want{dns.RcodeFormatError, "", 0}},
		{"OPT in authority", func() *dns.Msg {
			m := dnstest.Query("www.example.", dns.TypeA, false)
			m.Ns = append(m.Ns, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
			return m
		}(), want{dns.RcodeFormatError, "", 0}},
		{"OPT not at the root", withOpt(dnstest.Query("www.example.", dns.TypeA, false), func(o *dns.OPT) { o.Hdr.Name = "example." }),
			want{dns.RcodeFormatError, "", 0}},
	}
	for _, c := range cases {
		for _, tr := range []dnsfront.Transport{dnsfront.UDP, dnsfront.TCP} {
			resp, _ := exchange(t, h, c.req.Copy(), tr)
			opt := ""
			if o := resp.IsEdns0(); o != nil {
				opt = dnstest.Summary(o)
			}
			got := want{resp.Rcode, opt, len(resp.Answer)}
			if got != c.want {
				t.Errorf("Handle(%s, %s) = %+v, want %+v", c.name, tr, got, c.want)
			}
		}
	}
}

func TestHandleTruncation(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	small := signedHandler(t, dnsfront.Options{MaxUDPSize: 700})
	size := func(n uint16) func(*dns.OPT) { return func(o *dns.OPT) { o.SetUDPSize(n) } }
	cases := []struct {
		name    string
		h       *dnsfront.Handler
		req     *dns.Msg
		tr      dnsfront.Transport
		limit   int
		tc      bool
		answers int
	}{
		// 60 A records: about 1 KB, over 512 but under 1232.
		{"no EDNS", h, dnstest.Query("big.example.", dns.TypeA, false), dnsfront.UDP, 512, true, 0},
		{"EDNS 1232 with DO", h, dnstest.Query("big.example.", dns.TypeA, true), dnsfront.UDP, 1232, false, 61},
		{"EDNS 4096", h, withOpt(dnstest.Query("big.example.", dns.TypeA, false), size(4096)), dnsfront.UDP, 1232, false, 60},
		{"EDNS below 512 means 512", h, withOpt(dnstest.Query("big.example.", dns.TypeA, false), size(100)), dnsfront.UDP, 512, true, 0},
		{"capped at MaxUDPSize", small, withOpt(dnstest.Query("big.example.", dns.TypeA, false), size(4096)), dnsfront.UDP, 700, true, 0},
		{"TCP never truncates", h, dnstest.Query("big.example.", dns.TypeA, false), dnsfront.TCP, 65535, false, 60},
		{"small answers fit", h, dnstest.Query("www.example.", dns.TypeA, false), dnsfront.UDP, 512, false, 1},
		// A signed referral in 512 bytes: NS, DS, RRSIG and glue fit.
		{"signed referral", h, withOpt(dnstest.Query("host.sub.example.", dns.TypeA, true), size(512)), dnsfront.UDP, 512, false, 0},
	}
	for _, c := range cases {
		resp, n := exchange(t, c.h, c.req, c.tr)
		if n > c.limit || resp.Truncated != c.tc || len(resp.Answer) != c.answers {
			t.Errorf("Handle(%s, %s) = %d bytes, TC %t, %d answers; want at most %d bytes, TC %t, %d answers",
				c.name, c.tr, n, resp.Truncated, len(resp.Answer), c.limit, c.tc, c.answers)
		}
		if resp.Truncated && (len(resp.Ns) != 0 || len(resp.Question) != 1 || (resp.IsEdns0() == nil) != (c.req.IsEdns0() == nil)) {
			t.Errorf("Handle(%s, %s) truncated = %v, want the question and OPT only", c.name, c.tr, resp)
		}
	}
	// Answer truncates the same way.
	resp := new(dns.Msg)
	h.Answer(dnstest.Query("big.example.", dns.TypeA, false), resp, dnsfront.UDP)
	if !resp.Truncated || len(resp.Answer) != 0 {
		t.Errorf("Answer(%q, A) over UDP = TC %t, %d answers, want TC, none", "big.example.", resp.Truncated, len(resp.Answer))
	}
}

func TestHandleHeader(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	withClass := func(c uint16) *dns.Msg {
		m := dnstest.Query("www.example.", dns.TypeA, false)
		m.Question[0].Qclass = c
		return m
	}
	withOpcode := func(op int) *dns.Msg {
		m := dnstest.Query("example.", dns.TypeSOA, true)
		m.Opcode = op
		return m
	}
	questions := func(n int) *dns.Msg {
		m := dnstest.Query("www.example.", dns.TypeA, true)
		m.Question = nil
		for i := 0; i < n; i++ {
			m.Question = append(m.Question, dns.Question{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		}
		return m
	}
	cases := []struct {
		name    string
		req     *dns.Msg
		rcode   int
		aa      bool
		answers int
		qd      int
	}{
		{"mixed case", dnstest.Query("WwW.ExAmPlE.", dns.TypeA, false), dns.RcodeSuccess, true, 1, 1},
		{"class CH", withClass(dns.ClassCHAOS), dns.RcodeRefused, false, 0, 1},
		{"class NONE", withClass(dns.ClassNONE), dns.RcodeRefused, false, 0, 1},
		{"class ANY answered as IN", withClass(dns.ClassANY), dns.RcodeSuccess, true, 1, 1},
		{"version.bind", func() *dns.Msg {
			m := dnstest.Query("version.bind.", dns.TypeTXT, false)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}(), dns.RcodeRefused, false, 0, 1},
		{"NOTIFY", withOpcode(dns.OpcodeNotify), dns.RcodeNotImplemented, false, 0, 1},
		{"UPDATE", withOpcode(dns.OpcodeUpdate), dns.RcodeNotImplemented, false, 0, 1},
		{"STATUS", withOpcode(dns.OpcodeStatus), dns.RcodeNotImplemented, false, 0, 1},
		{"IQUERY", withOpcode(dns.OpcodeIQuery), dns.RcodeNotImplemented, false, 0, 1},
		{"no question", questions(0), dns.RcodeFormatError, false, 0, 0},
		{"two questions", questions(2), dns.RcodeFormatError, false, 0, 0},
	}
	for _, c := range cases {
		for _, tr := range []dnsfront.Transport{dnsfront.UDP, dnsfront.TCP} {
			req := c.req.Copy()
			req.Id = 0xbeef
			req.RecursionDesired = true
			req.CheckingDisabled = true
			resp, _ := exchange(t, h, req, tr)
			if resp.Rcode != c.rcode || resp.Authoritative != c.aa || len(resp.Answer) != c.answers || len(resp.Question) != c.qd {
				t.Errorf("Handle(%s, %s) = %s AA %t, %d answers, %d questions; want %s AA %t, %d answers, %d questions", c.name, tr,
					dns.RcodeToString[resp.Rcode], resp.Authoritative, len(resp.Answer), len(resp.Question),
					dns.RcodeToString[c.rcode], c.aa, c.answers, c.qd)
			}
			if resp.Id != 0xbeef || !resp.Response || !resp.RecursionDesired || !resp.CheckingDisabled || resp.RecursionAvailable || resp.Opcode != req.Opcode {
				t.Errorf("Handle(%s, %s) header = %+v, want ID, RD, CD and opcode echoed, QR set, RA clear", c.name, tr, resp.MsgHdr)
			}
			if c.qd == 1 && resp.Question[0] != req.Question[0] {
				t.Errorf("Handle(%s, %s) question = %v, want %v exactly", c.name, tr, resp.Question[0], req.Question[0])
			}
		}
	}
}

func TestHandleMalformed(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	good, err := dnstest.Query("www.example.", dns.TypeA, true).Pack()
	if err != nil {
		t.Fatal(err)
	}
	response := bytes.Clone(good)
	response[2] |= 0x80
	drops := map[string][]byte{
		"empty":         nil,
		"short header":  good[:11],
		"a response":    response,
		"header only+R": append(bytes.Clone(good[:12]), 0)[:12:12],
	}
	drops["header only+R"][2] |= 0x80
	for name, raw := range drops {
		if out, ok := h.Handle(raw, make([]byte, 0, 512), dnsfront.UDP); ok {
			t.Errorf("Handle(%s) = %x, true; want dropped", name, out)
		}
	}
	manyAnswers := bytes.Clone(good)
	manyAnswers[6], manyAnswers[7] = 0xff, 0xff // ANCOUNT 65535, no records
	extraAuthority := bytes.Clone(good)
	extraAuthority[9] = 1 // NSCOUNT 1: the OPT is read as authority, additional is short
	// FORMERR echoes the ID and, when it parses, the question (RFC 1035
	// §4.1.1; Knot and NSD do the same).
	formerr := []struct {
		name string
		raw  []byte
		qd   int
	}{
		{"question cut short", good[:20], 0},
		{"count lies", append(bytes.Clone(good[:12]), 0), 0}, // QDCOUNT 1, a root name, no type
		{"OPT rdata cut short", good[:len(good)-1], 1},
		{"bad label", append(append(bytes.Clone(good[:12]), 0xc0, 0xff), good[len(good)-15:]...), 0},
		{"ANCOUNT 65535 without records", manyAnswers, 1},
		{"NSCOUNT over the records", extraAuthority, 1},
		{"trailing bytes", append(bytes.Clone(good), 1, 2, 3), 1},
		{"trailing zero", append(bytes.Clone(good), 0), 1},
	}
	for _, c := range formerr {
		resp, _ := handle(t, h, c.raw, dnsfront.UDP)
		if resp.Rcode != dns.RcodeFormatError || resp.Id != 4242 || !resp.Response || len(resp.Question) != c.qd ||
			len(resp.Answer)+len(resp.Ns)+len(resp.Extra) != 0 {
			t.Errorf("Handle(%s) = %s id %d, %d questions, %d records; want FORMERR with id 4242, %d questions, no records",
				c.name, dns.RcodeToString[resp.Rcode], resp.Id, len(resp.Question), len(resp.Answer)+len(resp.Ns)+len(resp.Extra), c.qd)
		}
		if c.qd == 1 && resp.Question[0].Name != "www.example." {
			t.Errorf("Handle(%s) question = %v, want www.example.", c.name, resp.Question[0])
		}
	}
}

// The wire fast path and the dns.Msg path give the same bytes.
func TestHandleMatchesAnswer(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	for _, c := range answerCases {
		req := dnstest.Query(c.Name, c.Type, c.DO)
		raw, err := req.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out, ok := h.Handle(raw, make([]byte, 0, 65535), dnsfront.TCP)
		if !ok {
			t.Fatalf("Handle(%q, %s) dropped", c.Name, c)
		}
		resp := new(dns.Msg)
		h.Answer(req, resp, dnsfront.TCP)
		want, err := resp.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, want) {
			t.Errorf("Handle(%q, %s) = %x, want Answer's %x", c.Name, c, out, want)
		}
	}
}

// Handle is safe for concurrent use (run with -race).
func TestHandleConcurrent(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 65535)
			for i := 0; i < 50; i++ {
				c := answerCases[(g*7+i)%len(answerCases)]
				raw, _ := dnstest.Query(c.Name, c.Type, c.DO).Pack()
				out, ok := h.Handle(raw, buf, dnsfront.UDP)
				resp := new(dns.Msg)
				if !ok || resp.Unpack(out) != nil || resp.Rcode != c.Rcode || len(resp.Answer) != len(c.Answer) {
					errs <- fmt.Errorf("Handle(%q, %s) = %v, want rcode %s with %d answers", c.Name, c, resp, dns.RcodeToString[c.Rcode], len(c.Answer))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
