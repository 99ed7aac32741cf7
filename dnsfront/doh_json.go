package dnsfront

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// AuditNode names the node that answered, in the audit object of a JSON
// answer.
type AuditNode struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// JSONAnswer is the JSON form of a DoH answer (media type
// application/dns-json), in the shape Google's and Cloudflare's resolvers
// use, with DDNRS's audit object. Version 1: fields are only ever added.
type JSONAnswer struct {
	Status    int            `json:"Status"`
	TC        bool           `json:"TC"`
	RD        bool           `json:"RD"`
	RA        bool           `json:"RA"`
	AD        bool           `json:"AD"`
	CD        bool           `json:"CD"`
	Question  []JSONQuestion `json:"Question"`
	Answer    []JSONRecord   `json:"Answer,omitempty"`
	Authority []JSONRecord   `json:"Authority,omitempty"`
	Audit     Audit          `json:"audit"`
	// Proofs is present when the request asked for them (proofs=1):
	// docs/proofs-option.md, "The DoH JSON form".
	Proofs *JSONProofs `json:"proofs,omitempty"`
	// Trace is the query's trace (trace.go), with the parameter trace=1.
	Trace []JSONTraceHop `json:"Trace,omitempty"`
}

// JSONTraceHop is one hop of a JSONAnswer's trace (TraceHop).
type JSONTraceHop struct {
	Kind      string `json:"kind"`
	Node      string `json:"node"`
	ElapsedUS int64  `json:"elapsed_us"`
}

// JSONQuestion is the question of a JSONAnswer.
type JSONQuestion struct {
	Name string `json:"name"`
	Type uint16 `json:"type"`
}

// JSONRecord is one record of a JSONAnswer: data is the RDATA in
// presentation format.
type JSONRecord struct {
	Name string `json:"name"`
	Type uint16 `json:"type"`
	TTL  uint32 `json:"TTL"`
	Data string `json:"data"`
}

// Audit tells a client how an answer was produced: the nodes it passed
// through (for now only the node that answered) and the SHA-256 of each
// answer RRset as served, so the client can compare it with what it
// verifies itself or with what another node served.
type Audit struct {
	Version int         `json:"version"`
	Path    []AuditNode `json:"path"`
	RRsets  []RRsetHash `json:"rrsets"`
}

// RRsetHash is the SHA-256 of one RRset's canonical wire form (RFC 4034
// §6: owner lower-cased, no compression, records sorted by RDATA), the
// form its RRSIG signs; RRSIGs are not included.
type RRsetHash struct {
	Name   string `json:"name"`
	Type   uint16 `json:"type"`
	SHA256 string `json:"sha256"`
}

// serveJSON answers GET ?name=NAME&type=TYPE[&do=1][&cd=1][&trace=1][&proofs=1]
// with a JSONAnswer. type is a mnemonic or a number (default A). RRSIGs
// appear in the answer only with do=1; the audit hashes are computed
// either way. trace=1 asks for the query's trace (TraceOptionCode),
// proofs=1 for the proofs in band (doh_json_proofs.go).
func (d *DoHHandler) serveJSON(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	if _, ok := dns.IsDomainName(name); !ok || len(name) > 255 {
		http.Error(w, "doh: name is not a domain name", http.StatusBadRequest)
		return
	}
	qtype, ok := parseType(q.Get("type"))
	if !ok {
		http.Error(w, "doh: unknown type", http.StatusBadRequest)
		return
	}
	do := flagParam(q.Get("do"))
	req := new(dns.Msg)
	req.SetQuestion(dns.Fqdn(name), qtype)
	req.RecursionDesired = false
	req.CheckingDisabled = flagParam(q.Get("cd"))
	req.SetEdns0(maxMsg, true) // RRSIGs, so the audit sees what is signed
	trace := flagParam(q.Get("trace"))
	if trace {
		o := req.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: TraceOptionCode})
	}
	wantProofs := flagParam(q.Get("proofs"))
	if wantProofs {
		askProofs(req)
	}
	raw, err := req.Pack()
	if err != nil {
		http.Error(w, "doh: "+err.Error(), http.StatusBadRequest)
		return
	}
	bp := getBuf(replyBuf) // a larger reply gets a buffer of its own size
	defer putBuf(bp)
	out, ok := d.h.Handle(raw, (*bp)[:0], dohTransport)
	var resp dns.Msg
	if !ok || resp.Unpack(out) != nil {
		http.Error(w, "doh: no answer", http.StatusInternalServerError)
		return
	}
	ans := JSONAnswer{
		Status: resp.Rcode, TC: resp.Truncated, RD: resp.RecursionDesired,
		RA: resp.RecursionAvailable, AD: resp.AuthenticatedData, CD: resp.CheckingDisabled,
		Audit: Audit{Version: 1, Path: []AuditNode{d.opt.Audit}, RRsets: hashRRsets(resp.Answer)},
	}
	for _, qq := range resp.Question {
		ans.Question = append(ans.Question, JSONQuestion{qq.Name, qq.Qtype})
	}
	if trace {
		ans.Trace = jsonTrace(&resp)
	}
	if wantProofs {
		ans.Proofs = jsonProofs(&resp, out)
	}
	ans.Answer = jsonRecords(resp.Answer, do)
	ans.Authority = jsonRecords(resp.Ns, do)
	body, err := json.Marshal(ans)
	if err != nil {
		http.Error(w, "doh: "+err.Error(), http.StatusInternalServerError)
		return
	}
	release, ok := holdReply(r, cap(body))
	if !ok {
		d.opt.Logger.Debug("client does not read its responses: cut off", "from", r.RemoteAddr)
		return
	}
	defer release()
	hdr := w.Header()
	hdr.Set("Content-Type", MediaDNSJSON)
	hdr.Set("Cache-Control", cacheControl(out))
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	if _, err := w.Write(body); err == nil {
		flushHeld(w)
	}
}

// jsonTrace is the trace a reply carries, for a JSONAnswer; nil without
// one.
func jsonTrace(m *dns.Msg) []JSONTraceHop {
	o := m.IsEdns0()
	if o == nil {
		return nil
	}
	for _, e := range o.Option {
		l, ok := e.(*dns.EDNS0_LOCAL)
		if !ok || l.Code != TraceOptionCode {
			continue
		}
		hops, err := DecodeTrace(l.Data)
		if err != nil {
			return nil
		}
		out := make([]JSONTraceHop, len(hops))
		for i, h := range hops {
			out[i] = JSONTraceHop{Kind: h.Kind.String(), Node: h.Node, ElapsedUS: h.Elapsed.Microseconds()}
		}
		return out
	}
	return nil
}

func flagParam(s string) bool { return s == "1" || strings.EqualFold(s, "true") }

// parseType reads a type mnemonic ("AAAA") or number ("28"); "" is A.
func parseType(s string) (uint16, bool) {
	if s == "" {
		return dns.TypeA, true
	}
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), true
	}
	t, ok := dns.StringToType[strings.ToUpper(s)]
	return t, ok
}

func jsonRecords(rrs []dns.RR, withSigs bool) []JSONRecord {
	var out []JSONRecord
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG && !withSigs {
			continue
		}
		out = append(out, JSONRecord{
			Name: h.Name, Type: h.Rrtype, TTL: h.Ttl,
			Data: strings.TrimPrefix(rr.String(), h.String()),
		})
	}
	return out
}

// hashRRsets groups rrs (RRSIGs left out) into RRsets, in order of first
// appearance, and hashes each in canonical form.
func hashRRsets(rrs []dns.RR) []RRsetHash {
	type key struct {
		name string
		t    uint16
	}
	var order []key
	sets := map[key][][]byte{}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG {
			continue
		}
		k := key{strings.ToLower(h.Name), h.Rrtype}
		if _, seen := sets[k]; !seen {
			order = append(order, k)
		}
		c := dns.Copy(rr)
		c.Header().Name = k.name
		buf := make([]byte, dns.Len(c)+1)
		n, err := dns.PackRR(c, buf, 0, nil, false)
		if err != nil {
			continue
		}
		sets[k] = append(sets[k], buf[:n])
	}
	out := make([]RRsetHash, 0, len(order))
	for _, k := range order {
		recs := sets[k]
		slices.SortFunc(recs, func(a, b []byte) int { return bytes.Compare(rdata(a), rdata(b)) })
		recs = slices.CompactFunc(recs, bytes.Equal)
		sum := sha256.New()
		for _, r := range recs {
			sum.Write(r)
		}
		out = append(out, RRsetHash{Name: k.name, Type: k.t, SHA256: hex.EncodeToString(sum.Sum(nil))})
	}
	return out
}

// rdata returns the RDATA of a packed uncompressed record.
func rdata(rec []byte) []byte {
	off := skipName(rec, 0)
	if off < 0 || off+10 > len(rec) {
		return rec
	}
	return rec[off+10:]
}
