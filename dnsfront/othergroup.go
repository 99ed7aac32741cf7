package dnsfront

// othergroup.go: queries for names no local zone encloses, which another
// group of the overlay may hold. When the Handler has an OtherGroups
// (Options.OtherGroups), such a query is not REFUSED: it is handed to the
// OtherGroups, which finds the group holding the zone, asks a member and
// verifies the answer (intergroup, with the client package). The UDP
// server never
// waits for it: through the Deferrer interface it passes the query to a
// bounded pool of goroutines and goes back to reading; the reply is sent
// from the pool. The stream transports, which have a goroutine per
// connection or stream, wait for it inline.

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// OtherGroupAnswer is what an OtherGroups returns for a query.
type OtherGroupAnswer struct {
	// Msg is the response: rcode, flags, answer, authority and
	// additional sections, with the DNSSEC records (the Handler strips
	// them when the query has no DO bit). Its ID, question and OPT record
	// are replaced by the Handler.
	Msg *dns.Msg
	// Verified says the answer passed verification against the zone
	// owner's key.
	Verified bool
	// Audit is the path, the member that answered first.
	Audit []AuditHop
	// Cached says the answer came from the cache of verified answers,
	// not from another group just now: the answer source of the metrics
	// and the kind of this node's trace hop.
	Cached bool
	// Trace is the hops beyond this node, for a query that asks for a
	// trace (trace.go): the member of the other group that answered
	// (TraceMember). Empty for a cached answer.
	Trace []TraceHop
	// Head and Proof are the zone's signed head note and the proof
	// (zone.Proof binary form) of every RRset of Msg as the member sent
	// it, which the answer verified with: the Handler passes them to a
	// client that asks with the proofs option (proofs.go). Empty when
	// the answer did not verify (REFUSED: no group holds the name).
	Head, Proof []byte
}

// OtherGroups answers queries for names no local zone encloses, from the
// other groups of the overlay.
type OtherGroups interface {
	// Resolve answers req, a query (one question, class IN, opcode QUERY)
	// for a name no zone of the Handler's Reader encloses. It may wait
	// on the network until ctx ends. The Handler calls it from its pool
	// goroutines (UDP) or from a stream transport's goroutine, never from
	// a UDP worker, and from many goroutines at once. A returned error
	// becomes SERVFAIL; when it has an `EDE() uint16` method, the reply
	// carries that Extended DNS Error (RFC 8914) with the error's text.
	Resolve(ctx context.Context, req *dns.Msg) (*OtherGroupAnswer, error)
}

// ReplyWriter sends a reply to the client a deferred query came from.
type ReplyWriter interface {
	// WriteReply sends out to to. It is called from a pool goroutine,
	// at most once per deferred query, and must not keep out.
	WriteReply(out []byte, to netip.AddrPort)
}

// Deferrer is the optional interface of a Responder that answers some
// queries later, so the UDP server's workers never wait on the network.
type Deferrer interface {
	// HandleOrDefer is Handle, except that a query needing another
	// group is not answered here: it returns deferred=true and the reply
	// is later written with w to to (or never, when the pool is full or
	// closed). It does not keep raw or buf.
	HandleOrDefer(raw, buf []byte, tr Transport, w ReplyWriter, to netip.AddrPort) (out []byte, ok, deferred bool)
}

// Defaults of the other-group pool (Options.OtherGroupWorkers, OtherGroupQueue,
// OtherGroupTimeout).
const (
	DefaultOtherGroupWorkers = 64
	DefaultOtherGroupQueue   = 1024
	DefaultOtherGroupTimeout = 3 * time.Second
)

// errPoolFull is the SERVFAIL cause when the other-group pool is saturated.
var errPoolFull = errors.New("lookups in other groups saturated")

type otherGroupJob struct {
	at  time.Time // arrival, the start of a trace's first hop
	raw []byte
	tr  Transport
	w   ReplyWriter
	to  netip.AddrPort
}

// otherGroupPool runs deferred lookups in other groups on a fixed set of goroutines.
type otherGroupPool struct {
	r       OtherGroups
	timeout time.Duration
	jobs    chan otherGroupJob

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup
}

// startOtherGroups starts the pool's goroutines; Handler.Close stops them.
func (h *Handler) startOtherGroups(opt Options) {
	workers := opt.OtherGroupWorkers
	if workers <= 0 {
		workers = DefaultOtherGroupWorkers
	}
	queue := opt.OtherGroupQueue
	if queue <= 0 {
		queue = DefaultOtherGroupQueue
	}
	timeout := opt.OtherGroupTimeout
	if timeout <= 0 {
		timeout = DefaultOtherGroupTimeout
	}
	p := &otherGroupPool{r: opt.OtherGroups, timeout: timeout, jobs: make(chan otherGroupJob, queue)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 0, maxMsg)
			for {
				select {
				case <-p.ctx.Done():
					return
				case j := <-p.jobs:
					out, via := h.resolveOtherGroup(p.ctx, j.raw, buf, j.tr, j.at)
					if h.observing {
						h.observe(j.tr, j.raw, out, via, "", j.at, j.to)
					}
					if len(out) > 0 {
						j.w.WriteReply(out, j.to)
					}
				}
			}
		}()
	}
	h.otherGroups = p
}

// Close stops the goroutines of the other-group pool (Options.OtherGroups)
// and waits for them; queries still queued get no reply. It is idempotent;
// a Handler without an OtherGroups has nothing to stop. Handle must not be
// called after Close.
func (h *Handler) Close() error {
	if h.otherGroups != nil {
		h.otherGroups.once.Do(h.otherGroups.cancel)
		h.otherGroups.wg.Wait()
	}
	return nil
}

// HandleOrDefer implements Deferrer.
func (h *Handler) HandleOrDefer(raw, buf []byte, tr Transport, w ReplyWriter, to netip.AddrPort) (out []byte, ok, deferred bool) {
	var start time.Time
	if h.observing {
		start = time.Now()
	}
	out, ok, other, zone := h.handle(raw, buf, tr)
	if !other {
		if h.observing && ok {
			h.observe(tr, raw, out, relayInfo{}, zone, start, to)
		}
		return out, ok, false
	}
	j := otherGroupJob{at: time.Now(), raw: append([]byte(nil), raw...), tr: tr, w: w, to: to}
	select {
	case h.otherGroups.jobs <- j:
		return buf[:0], false, true
	default:
		out = h.otherGroupFailure(raw, buf, tr, errPoolFull)
		if h.observing {
			h.observe(tr, raw, out, relayInfo{source: SourceRelayed}, "", j.at, to)
		}
		return out, true, false
	}
}

// resolveOtherGroup answers raw with the OtherGroups, within the pool's timeout,
// and appends the wire reply to buf[:0].
//
// via says where the answer came from, for the query log and metrics.
func (h *Handler) resolveOtherGroup(ctx context.Context, raw, buf []byte, tr Transport, at time.Time) (out []byte, via relayInfo) {
	via.source = SourceRelayed
	out = h.resolveOtherGroupVia(ctx, raw, buf, tr, at, &via)
	return out, via
}

func (h *Handler) resolveOtherGroupVia(ctx context.Context, raw, buf []byte, tr Transport, at time.Time, via *relayInfo) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil || len(req.Question) != 1 {
		return formErr(raw, buf)
	}
	ctx, cancel := context.WithTimeout(ctx, h.otherGroups.timeout)
	defer cancel()
	ans, err := h.otherGroups.r.Resolve(ctx, req)
	if err != nil || ans == nil || ans.Msg == nil {
		if err == nil {
			err = errors.New("no answer")
		}
		return h.otherGroupFailure(raw, buf, tr, err)
	}
	if ans.Cached {
		via.source = SourceCache
	}
	for _, hop := range ans.Trace {
		if hop.Kind == TraceMember {
			via.member = hop.Node
		}
	}
	if h.tap != nil && !ans.Cached {
		// The answer as the other group gave it, for the question asked.
		up := ans.Msg.Copy()
		up.Id, up.Response, up.Question = req.Id, true, req.Question
		via.upstream, _ = up.Pack()
	}
	var q request
	q.fromMsg(req)
	resp := ans.Msg.Copy()
	// Packed like a local answer (respond), so a reply relayed from
	// another group is the same size and is shrunk or truncated alike.
	resp.Compress = true
	resp.Id = req.Id
	resp.Response = true
	resp.RecursionDesired = req.RecursionDesired
	resp.CheckingDisabled = req.CheckingDisabled
	resp.Question = []dns.Question{req.Question[0]}
	extra := dropOPT(resp.Extra)
	resp.Extra = nil
	var opt *dns.OPT
	if q.edns {
		// The OPT first, the additional records after it, as respond
		// and additional lay out a local answer.
		opt = new(dns.OPT)
		addOPT(resp, opt, q.do, h.maxUDP)
		if wantsAudit(req) {
			opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: AuditOptionCode, Data: EncodeAudit(ans.Verified, ans.Audit)})
		}
		if q.trace && h.trace {
			kind := TraceRelayed
			if ans.Cached {
				kind = TraceCache
			}
			hops := append([]TraceHop{{Kind: kind, Node: h.nodeID, Elapsed: time.Since(at)}}, ans.Trace...)
			opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: TraceOptionCode, Data: AppendTrace(nil, hops)})
		}
	}
	proved := false
	var optLen int // only for fitProofs' bookkeeping: padding is added to the message below
	if opt != nil && q.proofs {
		status := zone.Proved
		switch {
		case !q.do:
			status = zone.NeedDO
		case !ans.Verified || len(ans.Head) == 0 || len(ans.Proof) == 0 ||
			(resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError):
			status = zone.NotProvable
		}
		if status == zone.Proved {
			proved = setProofs(opt, &optLen, status, ans.Head, ans.Proof)
		} else {
			setProofs(opt, &optLen, status, nil, nil)
		}
	}
	resp.Extra = append(resp.Extra, extra...)
	if !q.do {
		stripDNSSEC(resp, req.Question[0].Qtype)
	}
	if q.padding && h.padBlock > 0 && tr.Encrypted() {
		padMsg(resp, h.padBlock) // RFC 8467 §4.1, as on the local path
	}
	out, err := resp.PackBuffer(buf[:cap(buf)])
	lim := limit(&q, tr, h.maxUDP)
	if proved && (err != nil || len(out) > lim) {
		// Never shrunk with its proofs (proofs.go): truncated over UDP,
		// the proofs left out over a stream.
		fitProofs(resp, opt, &optLen, lim)
		out, err = resp.PackBuffer(buf[:cap(buf)])
	}
	if err != nil {
		return h.otherGroupFailure(raw, buf, tr, err)
	}
	if len(out) > lim {
		// As for a local answer (Handle): optional additional records
		// dropped silently, TC only when required glue does not fit
		// (RFC 9471) or the answer itself does not.
		if !shrink(resp, lim) {
			truncate(resp)
		}
		if out, err = resp.PackBuffer(buf[:cap(buf)]); err != nil {
			return formErr(raw, buf)
		}
	}
	return out
}

// otherGroupFailure is the SERVFAIL reply to raw when the other-group path failed,
// with an Extended DNS Error when the query has EDNS.
func (h *Handler) otherGroupFailure(raw, buf []byte, tr Transport, cause error) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		return formErr(raw, buf)
	}
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	resp.RecursionAvailable = false
	if o := req.IsEdns0(); o != nil {
		opt := new(dns.OPT)
		addOPT(resp, opt, o.Do(), h.maxUDP)
		code := uint16(dns.ExtendedErrorCodeOther)
		var e interface{ EDE() uint16 }
		if errors.As(cause, &e) {
			code = e.EDE()
		} else if errors.Is(cause, context.DeadlineExceeded) {
			code = dns.ExtendedErrorCodeNoReachableAuthority
		}
		text := cause.Error()
		if len(text) > 200 {
			text = text[:200]
		}
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	}
	out, err := resp.PackBuffer(buf[:cap(buf)])
	if err != nil {
		return formErr(raw, buf)
	}
	return out
}

func dropOPT(extra []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// stripDNSSEC removes what a query without DO must not get (RFC 4035
// §3.2.1): RRSIGs, NSECs other than the ones asked for, and a referral's
// DS (RFC 4035 §3.1.4), as the local path leaves them out.
func stripDNSSEC(m *dns.Msg, qtype uint16) {
	keep := func(rrs []dns.RR, answer bool) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if (t == dns.TypeRRSIG && qtype != dns.TypeRRSIG) || (t == dns.TypeNSEC && !(answer && qtype == dns.TypeNSEC)) ||
				(t == dns.TypeDS && !answer) {
				continue
			}
			out = append(out, rr)
		}
		return out
	}
	m.Answer, m.Ns, m.Extra = keep(m.Answer, true), keep(m.Ns, false), keep(m.Extra, false)
}
