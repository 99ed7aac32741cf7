package dnsfront

// audit.go: the audit option, which carries to a wire-format client the
// path an answer from another group took (docs/audit-option.md).

import (
	"errors"

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
