package stub

// handler.go: the one query handler (answer) and the listeners that wrap
// it: UDP, TCP and, optionally, DoH.

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// Answer paths, as logged and counted (ddnrs_stub_answers_total{path}).
const (
	pathVerified  = "verified"  // a DDNRS answer fetched and verified now
	pathCached    = "cached"    // a DDNRS answer verified earlier (memory or disk)
	pathForwarded = "forwarded" // a name outside DDNRS, from an upstream: not verified
	pathFailed    = "failed"    // SERVFAIL: no verified answer, or the upstreams failed
	pathRefused   = "refused"   // outside DDNRS without upstreams, or not a query we answer
)

// answer computes the reply to req. It is the whole resolver; the
// listeners only move bytes.
func (s *Stub) answer(ctx context.Context, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	switch {
	case req.Response || len(req.Question) != 1:
		resp.SetRcode(req, dns.RcodeFormatError)
		return resp
	case req.Opcode != dns.OpcodeQuery:
		resp.SetRcode(req, dns.RcodeNotImplemented)
		return resp
	}
	q := req.Question[0]
	name := zone.CanonicalName(q.Name)
	do := false
	if o := req.IsEdns0(); o != nil {
		do = o.Do()
	}
	if q.Qclass != dns.ClassINET || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		resp.SetRcode(req, dns.RcodeRefused)
		s.done(req, resp, pathRefused, "")
		return resp
	}
	if s.ddnrsName(name) {
		if v, age, refresh, ok := s.cache.Get(name, q.Qtype); ok {
			if refresh {
				s.wg.Go(func() { s.refetch(name, q.Qtype) })
			}
			resp = s.verifiedReply(req, v.Msg, age, do)
			s.done(req, resp, pathCached, "")
			return resp
		}
		f, err := s.fetch(ctx, name, q.Qtype)
		if err != nil {
			resp = servfail(req, err)
			s.log.Warn("no verified answer", "name", name, "type", dns.TypeToString[q.Qtype], "err", err)
			s.done(req, resp, pathFailed, "")
			return resp
		}
		s.cache.Put(name, q.Qtype, f.v)
		s.keep(name, q.Qtype, f.v)
		resp = s.verifiedReply(req, f.v.Msg, 0, do)
		s.done(req, resp, pathVerified, f.node)
		return resp
	}
	if s.fwd == nil {
		resp.SetRcode(req, dns.RcodeRefused)
		resp.RecursionAvailable = true
		s.done(req, resp, pathRefused, "")
		return resp
	}
	res, err := s.fwd.Forward(ctx, req)
	if err != nil {
		resp = servfail(req, err)
		s.done(req, resp, pathFailed, "")
		return resp
	}
	resp = res.Msg.Copy()
	s.finish(req, resp, do)
	resp.AuthenticatedData = false // not verified here
	s.done(req, resp, pathForwarded, res.Upstream)
	return resp
}

// refetch fetches (name, t) again in the background, ahead of expiry.
func (s *Stub) refetch(name string, t uint16) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.Timeout)
	defer cancel()
	if f, err := s.fetch(ctx, name, t); err == nil {
		s.cache.Put(name, t, f.v)
		s.keep(name, t, f.v)
	}
}

// verifiedReply is the reply to req from a verified answer m (the node's
// response), its TTLs lowered by age: AD set (RFC 6840 §5.8: when the
// query had DO or AD), the proofs and the node's other options dropped.
func (s *Stub) verifiedReply(req, m *dns.Msg, age time.Duration, do bool) *dns.Msg {
	resp := m.Copy()
	if age > 0 {
		lowerTTLs(resp, age)
	}
	s.finish(req, resp, do)
	resp.Authoritative = false
	resp.AuthenticatedData = do || req.AuthenticatedData
	return resp
}

// finish makes resp the reply to req: ID, question, flags, our own OPT
// (when req has one), DNSSEC records only with DO.
func (s *Stub) finish(req, resp *dns.Msg, do bool) {
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.RecursionAvailable = true
	resp.CheckingDisabled = req.CheckingDisabled
	resp.Question = []dns.Question{req.Question[0]}
	var extra []dns.RR
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	resp.Extra = extra
	if !do {
		strip(resp, req.Question[0].Qtype)
	}
	if req.IsEdns0() != nil {
		resp.SetEdns0(1232, do)
	}
	resp.Compress = true
}

// strip drops the DNSSEC records a query without DO does not get (RFC
// 4035 §3.2.1), but those of the type asked for.
func strip(m *dns.Msg, qtype uint16) {
	keep := func(rrs []dns.RR) []dns.RR {
		out := rrs[:0]
		for _, rr := range rrs {
			switch t := rr.Header().Rrtype; t {
			case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
				if t != qtype {
					continue
				}
			}
			out = append(out, rr)
		}
		return out
	}
	m.Answer, m.Ns, m.Extra = keep(m.Answer), keep(m.Ns), keep(m.Extra)
}

// servfail is the SERVFAIL reply to req for err, with its Extended DNS
// Error when req has EDNS.
func servfail(req *dns.Msg, err error) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	resp.RecursionAvailable = true
	if o := req.IsEdns0(); o != nil {
		resp.SetEdns0(1232, o.Do())
		code := uint16(dns.ExtendedErrorCodeOther)
		var e interface{ EDE() uint16 }
		if errors.As(err, &e) {
			code = e.EDE()
		}
		text := err.Error()
		if len(text) > 200 {
			text = text[:200]
		}
		resp.IsEdns0().Option = append(resp.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	}
	return resp
}

// done counts the answer and, with LogQueries, logs it.
func (s *Stub) done(req, resp *dns.Msg, path, from string) {
	s.met.answers.WithLabelValues(path).Inc()
	if s.opt.LogQueries {
		q := req.Question[0]
		s.log.Info("answer", "name", q.Name, "type", dns.TypeToString[q.Qtype], "rcode", dns.RcodeToString[resp.Rcode],
			"path", path, "ddnrs_verified", path == pathVerified || path == pathCached, "from", from)
	}
}

// ServeDNS implements dns.Handler for the UDP and TCP listeners.
func (s *Stub) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.Timeout+time.Second)
	defer cancel()
	resp := s.answer(ctx, req)
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(max(min(o.UDPSize(), 1232), dns.MinMsgSize))
		}
		resp.Truncate(size)
	}
	w.WriteMsg(resp)
}

// listen starts the UDP and TCP servers on Listen (the TCP one on the
// port UDP got when Listen's port is 0) and the DoH one when set.
func (s *Stub) listen() error {
	_, port, _ := net.SplitHostPort(s.opt.Listen)
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", s.opt.Listen); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if port != "0" || try == 10 {
			return err
		}
		// Port 0: the port UDP got is taken for TCP; pick another.
	}
	s.addr = pc.LocalAddr()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Error("listener stopped", "err", err)
			}
		})
		<-started
	}
	if s.opt.DoH != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/dns-query", s.serveDoH)
		s.doh = &http.Server{Addr: s.opt.DoH, Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
		dl, err := net.Listen("tcp", s.opt.DoH)
		if err != nil {
			return err
		}
		s.wg.Go(func() {
			if err := s.doh.ServeTLS(dl, s.opt.DoHCert, s.opt.DoHKey); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("DoH listener stopped", "err", err)
			}
		})
	}
	return nil
}

// serveDoH answers RFC 8484 GET (?dns=base64url) and POST requests.
func (s *Stub) serveDoH(w http.ResponseWriter, r *http.Request) {
	var b []byte
	var err error
	switch r.Method {
	case http.MethodGet:
		b, err = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
	case http.MethodPost:
		if r.Header.Get("Content-Type") != "application/dns-message" {
			http.Error(w, "want Content-Type application/dns-message", http.StatusUnsupportedMediaType)
			return
		}
		b, err = io.ReadAll(io.LimitReader(r.Body, 65535))
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	req := new(dns.Msg)
	if err != nil || len(b) == 0 || req.Unpack(b) != nil {
		http.Error(w, "not a DNS query", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout+time.Second)
	defer cancel()
	resp := s.answer(ctx, req)
	out, err := resp.Pack()
	if err != nil {
		http.Error(w, "reply does not pack", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/dns-message")
	w.Write(out)
}

// Verified reports what the stub has verified for (name, t), from its
// cache: the zone and serial, or ok=false.
func (s *Stub) Verified(name string, t uint16) (zoneName string, serial uint32, ok bool) {
	v, _, _, ok := s.cache.Get(zone.CanonicalName(name), t)
	if !ok {
		return "", 0, false
	}
	return v.Zone, v.Serial, true
}
