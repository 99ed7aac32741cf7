package dnsfront

// doh_json_proofs.go: the proofs in band in the DoH JSON form
// (docs/proofs-option.md, "The DoH JSON form"). JSON records are in
// presentation form, which a verifier cannot hash back to the bytes the
// proof covers, so the object carries the DNS reply in wire form beside
// the head and the proof: a JSON client verifies that message
// (client.Verifier.VerifyAnswer) and may then trust the JSON records
// only as far as they match it.

import (
	"encoding/base64"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// JSONProofs is the "proofs" object of a JSONAnswer asked with
// proofs=1. Version 1: fields are only ever added.
type JSONProofs struct {
	// Status is the proofs option's status (0 proved, 1 no DO, 2
	// nothing to prove, 3 too large), StatusText says it in words.
	Status     uint8  `json:"status"`
	StatusText string `json:"status_text"`
	// Head is the zone's signed head note, as text.
	Head string `json:"head,omitempty"`
	// Proof is the zone.Proof binary form, base64 (standard, padded).
	Proof string `json:"proof,omitempty"`
	// Message is the DNS reply the proof covers, in wire form, base64:
	// the answer, authority and additional sections as proved.
	Message string `json:"message,omitempty"`
}

// askProofs adds the empty proofs option to req's OPT.
func askProofs(req *dns.Msg) {
	if o := req.IsEdns0(); o != nil {
		o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: ProofsOptionCode})
	}
}

// jsonProofs reads the proofs option of resp, whose wire form is out.
func jsonProofs(resp *dns.Msg, out []byte) *JSONProofs {
	var data []byte
	if o := resp.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if l, ok := e.(*dns.EDNS0_LOCAL); ok && l.Code == ProofsOptionCode {
				data = l.Data
			}
		}
	}
	st, head, proof, err := zone.DecodeProofsOption(data)
	if err != nil {
		// No option: a truncated reply (it cannot be over DoH) or none
		// sent; say there is nothing to prove.
		st = zone.NotProvable
	}
	p := &JSONProofs{Status: uint8(st), StatusText: st.String()}
	if err == nil && st == zone.Proved {
		p.Head = string(head)
		p.Proof = base64.StdEncoding.EncodeToString(proof)
		p.Message = base64.StdEncoding.EncodeToString(out)
	}
	return p
}
