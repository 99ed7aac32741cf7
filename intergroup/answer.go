package intergroup

// answer.go: what a member returns for a zone its group holds, to a node
// of another group asking over DDNRS-RPC: the response its handler gives
// (dnsfront) with the proof client.Prove makes for it. The asking node
// verifies it with client.Verifier (overlay.go).

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/zone"
)

// ErrNotHosted is returned by AnswerLocal when the node holds no signed
// zone enclosing the name.
var ErrNotHosted = errors.New("zone not held here")

// LocalAnswer is what a member returns for a zone its group holds.
type LocalAnswer struct {
	Zone  string // the zone's origin
	Msg   []byte // DNS response, as the node's handler gives it with DO set
	Head  []byte // the zone's signed head note
	Proof []byte // zone.Proof of every RRset in Msg (client.ResponseRRsets)
	Hash  [32]byte
}

// oneZone is a dnsfront.Reader over one zone snapshot, so the answer and
// its proof are computed from the same version.
type oneZone struct{ z *zone.Zone }

func (o oneZone) Zone(name string) *zone.Zone {
	if zone.IsSubDomain(o.z.Origin, name) {
		return o.z
	}
	return nil
}

// AnswerLocal answers (name, t) from the signed zone zones holds for it,
// with the DO bit set, and proves every RRset of the response against the
// zone's head, the additional section's addresses included (asked over
// TCP, the response is whole; the node relaying it to a client shrinks or
// truncates it for the client's transport, as for a zone it holds). It
// returns ErrNotHosted when zones has no signed zone enclosing name. It is safe for concurrent use; the RPC server calls it
// from its stream goroutines.
func AnswerLocal(zones dnsfront.Reader, name string, t uint16) (*LocalAnswer, error) {
	name = zone.CanonicalName(name)
	z := zones.Zone(name)
	if z == nil || z.Head == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotHosted, name)
	}
	h := dnsfront.NewHandler(oneZone{z}, dnsfront.Options{PadBlock: -1, TCPKeepalive: -1})
	req := new(dns.Msg)
	req.SetQuestion(name, t)
	req.RecursionDesired = false
	req.SetEdns0(dns.MaxMsgSize, true)
	resp := new(dns.Msg)
	h.Answer(req, resp, dnsfront.TCP)
	a, err := client.Prove(z, resp)
	if errors.Is(err, client.ErrNotAnswer) {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrNotHosted, name, dns.TypeToString[t], err)
	}
	if err != nil {
		return nil, err
	}
	return &LocalAnswer{Zone: z.Origin, Msg: a.Msg, Head: a.Head, Proof: a.Proof, Hash: client.AuditHash(a.Head, a.Proof, a.Msg)}, nil
}
