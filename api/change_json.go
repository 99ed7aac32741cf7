package api

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// ChangeFormatVersion is the version of the JSON signed change the REST
// API takes (docs/signed-change.md): the "change" and "delete_zone"
// objects of POST /v1/zones/{zone}/changes and DELETE /v1/zones/{zone}.
// A later version adds fields; the server refuses versions it does not
// know rather than guess.
const ChangeFormatVersion = 1

// SignedChange is the JSON form of a signed change (version 1): what an
// owner's tool sends instead of an encoded internal command. Records are
// presentation-format lines as `ddnrs zone sign` writes them: the data
// of every RRset the change puts, its RRSIGs, and the NSEC records that
// change, grouped by the server into RRsets by owner name and type (an
// RRSIG joins the RRset of the type it covers). Delete lists the RRsets
// the new zone no longer has as "NAME TYPE". Head is the owner-signed
// zone head of the new zone (the FILE.head text). Rotate, when present,
// hands the zone to a new owner key.
type SignedChange struct {
	Version int      `json:"version"`
	Zone    string   `json:"zone"`
	Records []string `json:"records"`
	Delete  []string `json:"delete,omitempty"`
	Head    string   `json:"head"`
	Rotate  *Rotate  `json:"rotate,omitempty"`
}

// Rotate is a key rotation inside a SignedChange: the new owner key (its
// DNSKEY record, presentation form) and the current key's Ed25519
// signature over the rotation statement ("ddnrs-rotate/1", zone, new key,
// new serial; raftfsm.RotateStatement), base64.
type Rotate struct {
	NewKey string `json:"new_key"`
	Proof  []byte `json:"proof"`
}

// SignedDeletion is the JSON form of a zone deletion (version 1): the
// zone, its current serial, and the owner key's Ed25519 signature over
// the deletion statement (raftfsm.DeleteStatement), base64.
type SignedDeletion struct {
	Version int    `json:"version"`
	Zone    string `json:"zone"`
	Serial  uint32 `json:"serial"`
	Proof   []byte `json:"proof"`
}

// NewSignedChange is the JSON form of the change cs (with the key
// rotation rot, or nil): records in presentation form, in the change
// set's order.
func NewSignedChange(cs zone.ChangeSet, rot *raftfsm.RotateKey) SignedChange {
	out := SignedChange{Version: ChangeFormatVersion, Zone: cs.Zone, Head: string(cs.Head), Records: []string{}}
	for _, set := range cs.Put {
		for _, rr := range set.Records() {
			out.Records = append(out.Records, rr.String())
		}
		for _, sig := range set.Signatures() {
			out.Records = append(out.Records, sig.String())
		}
	}
	for _, d := range cs.Delete {
		out.Delete = append(out.Delete, d.Name+" "+dns.TypeToString[d.Type])
	}
	if rot != nil {
		out.Rotate = &Rotate{NewKey: rot.NewKey.String(), Proof: rot.Proof}
	}
	return out
}

// command turns the JSON change into the command it stands for
// (PublishChange, or RotateKey with Rotate), with its encoding. Every
// problem is a 400 naming the field; the signatures are the group's to
// check.
func (in *SignedChange) command() (raftfsm.Command, []byte, error) {
	if in.Version != ChangeFormatVersion {
		return nil, nil, invalid("change.version", "version %d: this server takes version %d (docs/signed-change.md)", in.Version, ChangeFormatVersion)
	}
	origin, err := domainName("change.zone", in.Zone)
	if err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(in.Head) == "" {
		return nil, nil, missing("change.head")
	}
	cs := zone.ChangeSet{Zone: origin, Head: []byte(in.Head)}
	sets := map[zone.RRKey]*zone.RRset{}
	var order []zone.RRKey
	set := func(name string, t uint16, ttl uint32) *zone.RRset {
		k := zone.RRKey{Name: zone.CanonicalName(name), Type: t}
		s, ok := sets[k]
		if !ok {
			s = &zone.RRset{Name: k.Name, Type: t, TTL: ttl}
			sets[k] = s
			order = append(order, k)
		}
		return s
	}
	for i, line := range in.Records {
		rr, err := dns.NewRR(line)
		if err != nil || rr == nil {
			return nil, nil, invalid("change.records", "record %d %q: %v", i+1, line, err)
		}
		h := rr.Header()
		if h.Class != dns.ClassINET {
			return nil, nil, invalid("change.records", "record %d %q: class %s, want IN", i+1, line, dns.ClassToString[h.Class])
		}
		if !dns.IsSubDomain(origin, zone.CanonicalName(h.Name)) {
			return nil, nil, invalid("change.records", "record %d %q is outside %s", i+1, line, origin)
		}
		if sig, ok := rr.(*dns.RRSIG); ok {
			s := set(h.Name, sig.TypeCovered, sig.OrigTtl)
			s.AddSignature(sig)
			continue
		}
		s := set(h.Name, h.Rrtype, h.Ttl)
		if s.NumRecords() > 0 && s.TTL != h.Ttl {
			return nil, nil, invalid("change.records", "record %d %q: TTL %d, but its RRset has TTL %d", i+1, line, h.Ttl, s.TTL)
		}
		s.TTL = h.Ttl
		s.AddRecord(rr)
	}
	for _, k := range order {
		s := sets[k]
		if s.NumRecords() == 0 {
			return nil, nil, invalid("change.records", "RRSIG over %s %s without the records it covers", k.Name, dns.TypeToString[k.Type])
		}
		cs.Put = append(cs.Put, s)
	}
	for i, d := range in.Delete {
		f := strings.Fields(d)
		if len(f) != 2 {
			return nil, nil, invalid("change.delete", "entry %d %q: want \"NAME TYPE\"", i+1, d)
		}
		name, err := domainName("change.delete", f[0])
		if err != nil {
			return nil, nil, err
		}
		t, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return nil, nil, invalid("change.delete", "entry %d %q: %q is not an RR type", i+1, d, f[1])
		}
		cs.Delete = append(cs.Delete, zone.RRKey{Name: name, Type: t})
	}
	var cmd raftfsm.Command = &raftfsm.PublishChange{Change: cs}
	if in.Rotate != nil {
		rr, err := dns.NewRR(in.Rotate.NewKey)
		dk, ok := rr.(*dns.DNSKEY)
		if err != nil || !ok {
			return nil, nil, invalid("change.rotate.new_key", "%q is not a DNSKEY record (%v)", in.Rotate.NewKey, err)
		}
		if len(in.Rotate.Proof) == 0 {
			return nil, nil, missing("change.rotate.proof")
		}
		cmd = &raftfsm.RotateKey{Change: cs, NewKey: dk, Proof: in.Rotate.Proof}
	}
	raw, err := raftfsm.EncodeCommand(cmd)
	if err != nil {
		return nil, nil, invalid("change", "%v", err)
	}
	return cmd, raw, nil
}

// command turns the JSON deletion into a DeleteZone with its encoding.
func (in *SignedDeletion) command() (raftfsm.Command, []byte, error) {
	if in.Version != ChangeFormatVersion {
		return nil, nil, invalid("delete_zone.version", "version %d: this server takes version %d (docs/signed-change.md)", in.Version, ChangeFormatVersion)
	}
	origin, err := domainName("delete_zone.zone", in.Zone)
	if err != nil {
		return nil, nil, err
	}
	if len(in.Proof) == 0 {
		return nil, nil, missing("delete_zone.proof")
	}
	cmd := &raftfsm.DeleteZone{Zone: origin, Serial: in.Serial, Proof: in.Proof}
	raw, err := raftfsm.EncodeCommand(cmd)
	if err != nil {
		return nil, nil, invalid("delete_zone", "%v", err)
	}
	return cmd, raw, nil
}

// errChangeForms is the error for a body that carries more than one form.
var errChangeForms = fmt.Errorf("give one of command, change or delete_zone")
