package dnsfront

// remote.go: queries for names no local zone encloses. When the Handler
// has a Remote (Options.Remote), such a query is not REFUSED: it is
// handed to the Remote, which finds the group holding the zone, asks a
// member and verifies the answer (node/remote.go). The UDP server never
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
)

// AuditOptionCode is the EDNS(0) option (RFC 6891 §6.1.2, local/
// experimental range 65001-65534) a client puts, empty, in a query to
// ask for the audit path, and the node puts in the reply with the path
// (docs/audit-option.md).
const AuditOptionCode = 65001

// AuditHop is one node an answer passed through and the hash of what it
// verified (node.AuditHash) or, for the member that answered, served.
type AuditHop struct {
	Node string // peer id, string form; at most 255 bytes
	Hash [32]byte
}

// RemoteAnswer is what a Remote returns for a query.
type RemoteAnswer struct {
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
}

// Remote answers queries for names no local zone encloses.
type Remote interface {
	// Resolve answers req, a query (one question, class IN, opcode QUERY)
	// for a name no zone of the Handler's Reader encloses. It may wait
	// on the network until ctx ends. The Handler calls it from its pool
	// goroutines (UDP) or from a stream transport's goroutine, never from
	// a UDP worker, and from many goroutines at once. A returned error
	// becomes SERVFAIL; when it has an `EDE() uint16` method, the reply
	// carries that Extended DNS Error (RFC 8914) with the error's text.
	Resolve(ctx context.Context, req *dns.Msg) (*RemoteAnswer, error)
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
	// HandleOrDefer is Handle, except that a query needing a remote
	// lookup is not answered here: it returns deferred=true and the reply
	// is later written with w to to (or never, when the pool is full or
	// closed). It does not keep raw or buf.
	HandleOrDefer(raw, buf []byte, tr Transport, w ReplyWriter, to netip.AddrPort) (out []byte, ok, deferred bool)
}

// Defaults of the remote pool (Options.RemoteWorkers, RemoteQueue,
// RemoteTimeout).
const (
	DefaultRemoteWorkers = 64
	DefaultRemoteQueue   = 1024
	DefaultRemoteTimeout = 3 * time.Second
)

// errPoolFull is the SERVFAIL cause when the remote pool is saturated.
var errPoolFull = errors.New("remote lookups saturated")

type remoteJob struct {
	raw []byte
	tr  Transport
	w   ReplyWriter
	to  netip.AddrPort
}

// remotePool runs deferred remote lookups on a fixed set of goroutines.
type remotePool struct {
	r       Remote
	timeout time.Duration
	jobs    chan remoteJob

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup
}

// startRemote starts the pool's goroutines; Handler.Close stops them.
func (h *Handler) startRemote(opt Options) {
	workers := opt.RemoteWorkers
	if workers <= 0 {
		workers = DefaultRemoteWorkers
	}
	queue := opt.RemoteQueue
	if queue <= 0 {
		queue = DefaultRemoteQueue
	}
	timeout := opt.RemoteTimeout
	if timeout <= 0 {
		timeout = DefaultRemoteTimeout
	}
	p := &remotePool{r: opt.Remote, timeout: timeout, jobs: make(chan remoteJob, queue)}
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
					out := h.resolveRemote(p.ctx, j.raw, buf, j.tr)
					if len(out) > 0 {
						j.w.WriteReply(out, j.to)
					}
				}
			}
		}()
	}
	h.remote = p
}

// Close stops the goroutines of the remote pool (Options.Remote) and
// waits for them; queries still queued get no reply. It is idempotent;
// a Handler without a Remote has nothing to stop. Handle must not be
// called after Close.
func (h *Handler) Close() error {
	if h.remote != nil {
		h.remote.once.Do(h.remote.cancel)
		h.remote.wg.Wait()
	}
	return nil
}

// HandleOrDefer implements Deferrer.
func (h *Handler) HandleOrDefer(raw, buf []byte, tr Transport, w ReplyWriter, to netip.AddrPort) (out []byte, ok, deferred bool) {
	out, ok, remote := h.handle(raw, buf, tr)
	if !remote {
		return out, ok, false
	}
	j := remoteJob{raw: append([]byte(nil), raw...), tr: tr, w: w, to: to}
	select {
	case h.remote.jobs <- j:
		return buf[:0], false, true
	default:
		return h.remoteFailure(raw, buf, tr, errPoolFull), true, false
	}
}

// resolveRemote answers raw with the Remote, within the pool's timeout,
// and appends the wire reply to buf[:0].
func (h *Handler) resolveRemote(ctx context.Context, raw, buf []byte, tr Transport) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil || len(req.Question) != 1 {
		return formErr(raw, buf)
	}
	ctx, cancel := context.WithTimeout(ctx, h.remote.timeout)
	defer cancel()
	ans, err := h.remote.r.Resolve(ctx, req)
	if err != nil || ans == nil || ans.Msg == nil {
		if err == nil {
			err = errors.New("no answer")
		}
		return h.remoteFailure(raw, buf, tr, err)
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
	}
	resp.Extra = append(resp.Extra, extra...)
	if !q.do {
		stripDNSSEC(resp, req.Question[0].Qtype)
	}
	if q.padding && h.padBlock > 0 && tr.Encrypted() {
		padMsg(resp, h.padBlock) // RFC 8467 §4.1, as on the local path
	}
	out, err := resp.PackBuffer(buf[:cap(buf)])
	if err != nil {
		return h.remoteFailure(raw, buf, tr, err)
	}
	if lim := limit(&q, tr, h.maxUDP); len(out) > lim {
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

// remoteFailure is the SERVFAIL reply to raw when the remote path failed,
// with an Extended DNS Error when the query has EDNS.
func (h *Handler) remoteFailure(raw, buf []byte, tr Transport, cause error) []byte {
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

func wantsAudit(req *dns.Msg) bool {
	if o := req.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if e.Option() == AuditOptionCode {
				return true
			}
		}
	}
	return false
}

// Audit option data, version 1 (docs/audit-option.md): version (1),
// flags (bit 0: verified), hop count, then per hop a one-byte length, the
// node id and the 32-byte hash.
const auditVersion = 1

// ErrAuditOption is returned by DecodeAudit when the option data is
// malformed or of an unknown version.
var ErrAuditOption = errors.New("malformed audit option")

// EncodeAudit returns the audit option data for hops. Hops beyond 255,
// and node ids longer than 255 bytes, are cut.
func EncodeAudit(verified bool, hops []AuditHop) []byte {
	n := min(len(hops), 255)
	b := []byte{auditVersion, 0, byte(n)}
	if verified {
		b[1] = 1
	}
	for _, hop := range hops[:n] {
		id := hop.Node
		if len(id) > 255 {
			id = id[:255]
		}
		b = append(b, byte(len(id)))
		b = append(b, id...)
		b = append(b, hop.Hash[:]...)
	}
	return b
}

// DecodeAudit parses audit option data.
func DecodeAudit(b []byte) (verified bool, hops []AuditHop, err error) {
	if len(b) < 3 || b[0] != auditVersion || b[1]&^1 != 0 {
		return false, nil, ErrAuditOption
	}
	verified = b[1]&1 != 0
	n := int(b[2])
	b = b[3:]
	for range n {
		if len(b) < 1 || len(b) < 1+int(b[0])+32 {
			return false, nil, ErrAuditOption
		}
		l := int(b[0])
		var hop AuditHop
		hop.Node = string(b[1 : 1+l])
		copy(hop.Hash[:], b[1+l:1+l+32])
		hops = append(hops, hop)
		b = b[1+l+32:]
	}
	if len(b) != 0 {
		return false, nil, ErrAuditOption
	}
	return verified, hops, nil
}
