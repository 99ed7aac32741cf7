package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// headHeader carries a zone's signed head (standard base64 of the .head
// file) beside text/dns bodies: import requests and export answers.
const headHeader = "Ddnrs-Zone-Head"

// claimJSON is a claim as the API shows it.
type claimJSON struct {
	Zone       string    `json:"zone"`
	OwnerKey   string    `json:"owner_key"`
	Group      string    `json:"group"`
	Region     string    `json:"region,omitempty"`
	Created    time.Time `json:"created"`
	Actor      string    `json:"actor,omitempty"`
	Generation uint32    `json:"generation"`
	Suspended  bool      `json:"suspended"`
	Reason     string    `json:"reason,omitempty"`
	Serial     uint32    `json:"serial,omitempty"` // GET /v1/zones/{zone}: the group's current serial
	// SignaturesExpire is when the zone's first RRSIG expires (GET
	// /v1/zones/{zone}): validating resolvers fail its answers past it
	// unless the owner re-signs ('ddnrs zone keep-signed').
	SignaturesExpire *time.Time `json:"signatures_expire,omitempty"`
	// Lease is the lease of an ephemeral zone (api/leases.go): torn down
	// at its deadline. Absent for a permanent zone.
	Lease *leaseJSON `json:"lease,omitempty"`
}

func claimView(c raftfsm.Claim) claimJSON {
	return claimJSON{Zone: c.Zone, OwnerKey: c.Owner, Group: c.Group, Region: c.Region, Created: c.Created,
		Actor: c.Actor, Generation: c.Generation, Suspended: c.Suspended, Reason: c.Reason, Lease: leaseView(c.Lease)}
}

// pathZone returns the {zone} path value canonical, noting it for the
// audit record.
func pathZone(r *http.Request) (string, error) {
	origin, err := domainName("zone", r.PathValue("zone"))
	if err != nil {
		return "", err
	}
	noteZone(r, origin)
	return origin, nil
}

// signedZoneInput is a signed zone: the BIND text `ddnrs zone sign`
// writes and the signed head it writes beside it (FILE.head).
type signedZoneInput struct {
	ZoneFile   string `json:"zone_file"`
	Head       string `json:"head"`
	Region     string `json:"region,omitempty"`
	Delegation []byte `json:"delegation,omitempty"`
	// Consents are needed to claim a name above zones other owner keys
	// hold: each child owner's signature ('ddnrs zone consent').
	Consents []consentInput `json:"consents,omitempty"`
	// Expires and Idle make the zone ephemeral (api/leases.go): torn
	// down at Expires, or after Idle ("7d", "36h") without a change.
	Expires *time.Time `json:"expires,omitempty"`
	Idle    string     `json:"idle,omitempty"`
}

// consentInput is one child zone owner's consent to a parent's claim.
type consentInput struct {
	Zone      string `json:"zone"`
	Signature []byte `json:"signature"` // base64 in JSON
}

// consentsOf checks and sorts the consents of a create: names, a
// signature each, no zone twice; canonical order as the claim needs it.
func consentsOf(in []consentInput) ([]raftfsm.Consent, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]raftfsm.Consent, 0, len(in))
	for _, c := range in {
		name, err := domainName("consents.zone", c.Zone)
		if err != nil {
			return nil, err
		}
		if len(c.Signature) != ed25519.SignatureSize {
			return nil, invalid("consents.signature", "the consent for %s is %d bytes, want an Ed25519 signature (%d bytes, base64)", name, len(c.Signature), ed25519.SignatureSize)
		}
		out = append(out, raftfsm.Consent{Zone: name, Signature: c.Signature})
	}
	sort.Slice(out, func(i, j int) bool { return zone.Compare(out[i].Zone, out[j].Zone) < 0 })
	for i := 1; i < len(out); i++ {
		if out[i].Zone == out[i-1].Zone {
			return nil, invalid("consents.zone", "%s has two consents", out[i].Zone)
		}
	}
	return out, nil
}

// parseSigned parses a signed zone and its head: origin "" takes the zone
// name from the SOA. It returns the zone with its head and the owner key
// (the apex Ed25519 zone DNSKEY, preferring one with the SEP bit).
func parseSigned(text, head, origin string) (*zone.Zone, *zone.Key, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil, missing("zone_file")
	}
	if strings.TrimSpace(head) == "" {
		return nil, nil, missing("head")
	}
	from := origin
	if from == "" {
		from = "."
	}
	rrs, err := zone.ReadRecords(strings.NewReader(text), from, "zone_file")
	if err != nil {
		return nil, nil, invalid("zone_file", "%v", err)
	}
	if origin == "" {
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeSOA {
				if origin != "" {
					return nil, nil, invalid("zone_file", "more than one SOA record")
				}
				origin = zone.CanonicalName(rr.Header().Name)
			}
		}
		if origin == "" {
			return nil, nil, invalid("zone_file", "no SOA record")
		}
	}
	z, err := zone.New(origin, rrs)
	if err != nil {
		return nil, nil, invalid("zone_file", "%v", err)
	}
	var owner *dns.DNSKEY
	if set := z.Apex().RRset(dns.TypeDNSKEY); set != nil {
		for _, rr := range set.Records() {
			dk := rr.(*dns.DNSKEY)
			if dk.Algorithm != dns.ED25519 || dk.Flags&dns.ZONE == 0 {
				continue
			}
			if owner == nil || (dk.Flags&dns.SEP != 0 && owner.Flags&dns.SEP == 0) {
				owner = dk
			}
		}
	}
	if owner == nil {
		return nil, nil, invalid("zone_file", "no Ed25519 (algorithm 15) zone DNSKEY at the apex: sign the zone with 'ddnrs zone sign'")
	}
	k := &zone.Key{Zone: origin, DNSKEY: owner}
	h, err := zone.ParseHead([]byte(head), k)
	if err != nil {
		return nil, nil, invalid("head", "%v", err)
	}
	t := z.Tree()
	if h.Serial != z.Serial() || h.Size != t.Size() || h.Root != t.Root() {
		return nil, nil, invalid("head", "the head (serial %d, %d leaves) does not describe the zone file (serial %d, %d leaves)", h.Serial, h.Size, z.Serial(), t.Size())
	}
	z.Head = h
	return z, k, nil
}

// handleCreateZone claims the zone in the registry for the apex key, then
// creates it on the group the registry placed it on. If the group refuses
// the zone the claim is released again; if the create's outcome is
// unknown (outcome_unknown, timeout) the claim is kept, so that the
// client's resend finds its own claim and the group answers the create as
// done when it had committed. A create of a name already claimed for the
// same owner key carries on with that claim (a resend).
func (s *Server) handleCreateZone(w http.ResponseWriter, r *http.Request, c *call) error {
	var in signedZoneInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	z, k, err := parseSigned(in.ZoneFile, in.Head, "")
	if err != nil {
		return err
	}
	noteZone(r, z.Origin)
	if err := allowZone(c.key, ActionCreate, z.Origin); err != nil {
		return err
	}
	consents, err := consentsOf(in.Consents)
	if err != nil {
		return err
	}
	cmd, err := raftfsm.Encode(&raftfsm.CreateZone{Change: zone.SignedDiff(nil, z), Owner: k.DNSKEY})
	if err != nil {
		return invalid("zone_file", "%v", err)
	}
	ctx := r.Context()
	lease, err := s.leaseOf(in.Expires, in.Idle)
	if err != nil {
		return err
	}
	claim := &raftfsm.ClaimZone{Zone: z.Origin, Owner: k.DNSKEY.String(), Region: in.Region, Actor: c.key.ID, Time: s.now(),
		Delegation: in.Delegation, Consents: consents, Lease: lease}
	if !lease.IsZero() {
		claim.MaxLeases = uint32(s.opt.MaxLeases)
	}
	claim.Group = s.placeGroup(ctx, in.Region) // "" leaves it to the state machine
	perr := s.propose(ctx, claim)
	var rej *raftfsm.RejectedError
	if perr != nil && !(errors.As(perr, &rej) && rej.Reason == raftfsm.ReasonNameClaimed) {
		return perr
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	cl, ok := reg.Claim(z.Origin)
	switch {
	case perr != nil && (!ok || !raftfsm.OwnerKeyIs(cl.Owner, k.DNSKEY)):
		return perr // claimed by another key
	case !ok:
		return fmt.Errorf("claim of %s accepted but not found", z.Origin)
	}
	var serial uint32
	if len(cmd.Bytes) > raftfsm.ChunkBytes {
		// Too large for one Raft log entry: a staged upload.
		serial, err = s.stageWhole(ctx, cl.Group, z, k)
	} else {
		serial, err = s.b.SubmitZone(ctx, cl.Group, z.Origin, cmd, false)
	}
	if err != nil && outcomeUnknown(err) {
		s.log.Warn("zone create outcome unknown; its claim is kept for the client's resend", "zone", z.Origin, "group", cl.Group, "err", err)
		return err
	}
	if err != nil {
		// Undo the claim under a fresh deadline: the request's may be
		// what failed.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.RequestTimeout)
		defer cancel()
		if rerr := s.propose(uctx, &raftfsm.ReleaseZone{Zone: z.Origin, Actor: c.key.ID, Time: s.now()}); rerr != nil {
			s.log.Error("zone create failed and its claim could not be released", "zone", z.Origin, "err", err, "release_err", rerr)
		}
		return err
	}
	out := map[string]any{"zone": z.Origin, "group": cl.Group, "serial": serial}
	if l := leaseView(cl.Lease); l != nil {
		out["lease"] = l
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleListZones(w http.ResponseWriter, _ *http.Request, c *call) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	out := []claimJSON{}
	for _, cl := range reg.Claims() {
		if allowZone(c.key, ActionRead, cl.Zone) == nil {
			out = append(out, claimView(cl))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"zones": out})
	return nil
}

// claimed returns the claim of origin, ErrNotFound when there is none.
func (s *Server) claimed(origin string) (raftfsm.Claim, error) {
	reg, err := s.registry()
	if err != nil {
		return raftfsm.Claim{}, err
	}
	cl, ok := reg.Claim(origin)
	if !ok {
		return raftfsm.Claim{}, fmt.Errorf("%w: zone %s is not registered", ErrNotFound, origin)
	}
	return cl, nil
}

func (s *Server) handleGetZone(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionRead, origin); err != nil {
		return err
	}
	cl, err := s.claimed(origin)
	if err != nil {
		return err
	}
	v := claimView(cl)
	z, err := s.b.Zone(r.Context(), origin)
	switch {
	case err == nil:
		v.Serial = z.Serial()
		if t, ok := zone.EarliestExpiry(z, s.now()); ok {
			t = t.UTC()
			v.SignaturesExpire = &t
		}
	case !errors.Is(err, ErrNoZone):
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// commandInput is a body carrying an encoded raftfsm command.
type commandInput struct {
	Command    []byte          `json:"command,omitempty"`     // base64 in JSON: an encoded raftfsm command
	Change     *SignedChange   `json:"change,omitempty"`      // the JSON form of a change (docs/signed-change.md)
	DeleteZone *SignedDeletion `json:"delete_zone,omitempty"` // the JSON form of a deletion
}

// readCommand reads an encoded command: a JSON {command: base64} body, or
// the bytes themselves as application/octet-stream. It is decoded here,
// once, and passed on typed with its bytes.
func readCommand(r *http.Request) (raftfsm.Encoded, error) {
	var raw []byte
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/octet-stream" {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return raftfsm.Encoded{}, err
		}
		raw = b
	} else {
		var in commandInput
		if err := decodeJSON(r, &in); err != nil {
			return raftfsm.Encoded{}, err
		}
		forms := 0
		for _, given := range []bool{len(in.Command) > 0, in.Change != nil, in.DeleteZone != nil} {
			if given {
				forms++
			}
		}
		if forms > 1 {
			return raftfsm.Encoded{}, invalid("command", "%v", errChangeForms)
		}
		switch {
		case in.Change != nil:
			return encoded(in.Change.command())
		case in.DeleteZone != nil:
			return encoded(in.DeleteZone.command())
		}
		raw = in.Command
	}
	if len(raw) == 0 {
		return raftfsm.Encoded{}, missing("command")
	}
	cmd, err := raftfsm.DecodeCommand(raw)
	if err != nil {
		return raftfsm.Encoded{}, invalid("command", "%v", err)
	}
	return raftfsm.Encoded{Cmd: cmd, Bytes: raw}, nil
}

// encoded is a command built from a JSON form, with its encoding.
func encoded(c raftfsm.Command, b []byte, err error) (raftfsm.Encoded, error) {
	if err != nil {
		return raftfsm.Encoded{}, err
	}
	return raftfsm.Encoded{Cmd: c, Bytes: b}, nil
}

func dryRun(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("dry_run"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, invalid("dry_run", "%q is not true or false", v)
	}
}

// groupOf is the group holding origin: its claim's, or "" (the backend
// finds it) for zones created before the registry.
func (s *Server) groupOf(origin string) (string, error) {
	reg, err := s.registry()
	if err != nil {
		return "", err
	}
	if cl, ok := reg.Claim(origin); ok {
		return cl.Group, nil
	}
	return "", nil
}

// submitChange checks cs against the key's label and type scope and sends
// cmd to the zone's group.
func (s *Server) submitChange(w http.ResponseWriter, r *http.Request, c *call, origin string, cs zone.ChangeSet, old *zone.Zone, cmd raftfsm.Encoded) error {
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	if err := allowChange(c.key, old, cs); err != nil {
		return err
	}
	group, err := s.groupOf(origin)
	if err != nil {
		return err
	}
	serial, err := s.b.SubmitZone(r.Context(), group, origin, cmd, dry)
	if err != nil {
		return err
	}
	if !dry {
		s.touchLease(r.Context(), origin)
	}
	writeJSON(w, http.StatusOK, map[string]any{"zone": origin, "serial": serial, "dry_run": dry})
	return nil
}

// currentZone is the group's copy of origin for scope checks, nil when
// the key's scope needs none or the zone is unknown.
func (s *Server) currentZone(ctx context.Context, k raftfsm.APIKey, origin string) (*zone.Zone, error) {
	if len(k.Scope.Labels) == 0 && len(k.Scope.Types) == 0 {
		return nil, nil
	}
	z, err := s.b.Zone(ctx, origin)
	if errors.Is(err, ErrNoZone) {
		return nil, nil
	}
	return z, err
}

func (s *Server) handleChanges(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionUpdate, origin); err != nil {
		return err
	}
	cmd, err := readCommand(r)
	if err != nil {
		return err
	}
	var cs zone.ChangeSet
	switch c := cmd.Cmd.(type) {
	case *raftfsm.PublishChange:
		cs = c.Change
	case *raftfsm.RotateKey:
		cs = c.Change
	default:
		return invalid("command", "a %s command: this endpoint takes publish-change or rotate-key", c.Type())
	}
	if zone.CanonicalName(cs.Zone) != origin {
		return invalid("command", "the change is for %s, not %s", cs.Zone, origin)
	}
	old, err := s.currentZone(r.Context(), c.key, origin)
	if err != nil {
		return err
	}
	if rot, ok := cmd.Cmd.(*raftfsm.RotateKey); ok {
		return s.rotateKey(w, r, c, origin, rot, old, cmd)
	}
	return s.submitChange(w, r, c, origin, cs, old, cmd)
}

// rotateKey sends a RotateKey for a registered zone: registry first, then
// the zone, so that the claim (and with it every node's trust anchor,
// learnt from the log) never lags the key the zone is signed with. The
// rotation is checked at the zone's group first (a dry run, which also
// gives the serial the rotation statement is signed for); then the claim
// moves to the new key with a ChangeOwnerKey carrying the RotateKey's
// own proof (RotateSerial), unless the claim holds that key already (a
// retry after the zone's group failed); then the RotateKey goes to the
// group. Nodes keep the previous key as a trust anchor for a grace period
// after the claim changed, until they verify an answer signed by the new
// key (writes/claims.go; logfollow keeps the previous key), so answers signed by either key verify in
// between. A zone without a claim (created before the registry) just
// rotates.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, c *call, origin string, rot *raftfsm.RotateKey, old *zone.Zone, raw raftfsm.Encoded) error {
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	if err := allowChange(c.key, old, rot.Change); err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	cl, claimed := reg.Claim(origin)
	if !claimed {
		return s.submitChange(w, r, c, origin, rot.Change, old, raw)
	}
	if rot.NewKey == nil {
		return invalid("command", "a rotation without a new key")
	}
	dk, err := raftfsm.ParseOwnerKey(rot.NewKey.String(), origin)
	if err != nil {
		return invalid("command", "new key: %v", err)
	}
	serial, err := s.b.SubmitZone(r.Context(), cl.Group, origin, raw, true)
	if err != nil || dry {
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"zone": origin, "serial": serial, "dry_run": true})
		return nil
	}
	if !raftfsm.OwnerKeyIs(cl.Owner, dk) {
		// The statement is signed for the serial of the SOA the change
		// puts (the group's zone after it), which the dry run accepted.
		if soa, ok := rot.Change.Serial(); ok {
			serial = soa
		}
		cmd := &raftfsm.ChangeOwnerKey{Zone: origin, NewOwner: dk.String(), Actor: c.key.ID, Time: s.now(), Proof: rot.Proof, RotateSerial: serial}
		if err := s.propose(r.Context(), cmd); err != nil {
			return err
		}
	}
	if serial, err = s.b.SubmitZone(r.Context(), cl.Group, origin, raw, false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"zone": origin, "serial": serial, "dry_run": false})
	return nil
}

// handleImport takes the whole signed zone and sends the difference from
// the group's copy (zone.SignedDiff) as a PublishChange.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionUpdate, origin); err != nil {
		return err
	}
	var in signedZoneInput
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "text/dns":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		in.ZoneFile = string(b)
		if h := r.Header.Get(headHeader); h != "" {
			hb, err := base64.StdEncoding.DecodeString(h)
			if err != nil {
				return invalid("head", "the %s header is not standard base64: %v", headHeader, err)
			}
			in.Head = string(hb)
		}
	case "application/json", "":
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: %q; send text/dns (with the %s header) or application/json", ErrMediaType, mt, headHeader)
	}
	nz, k, err := parseSigned(in.ZoneFile, in.Head, origin)
	if err != nil {
		return err
	}
	old, err := s.b.Zone(r.Context(), origin)
	if err != nil {
		return err
	}
	cs := zone.SignedDiff(old, nz)
	cmd, err := raftfsm.Encode(&raftfsm.PublishChange{Change: cs})
	if err != nil {
		return invalid("zone_file", "%v", err)
	}
	if len(cmd.Bytes) <= raftfsm.ChunkBytes {
		return s.submitChange(w, r, c, origin, cs, old, cmd)
	}
	// Too large for one Raft log entry: the whole zone as a staged
	// upload, which replaces it (the key must cover the whole zone).
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	if dry {
		return invalid("dry_run", "a change of %d bytes is sent as a staged upload of the whole zone, which has no dry run", len(cmd.Bytes))
	}
	if len(c.key.Scope.Labels) > 0 || len(c.key.Scope.Types) > 0 {
		return &ScopeError{What: "label", Detail: fmt.Sprintf("a change of %d bytes is sent as a staged upload, which replaces the whole zone: it needs a key whose scope has no label or type patterns", len(cmd.Bytes))}
	}
	group, err := s.groupOf(origin)
	if err != nil {
		return err
	}
	serial, err := s.stageWhole(r.Context(), group, nz, k)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"zone": origin, "serial": serial, "dry_run": false})
	return nil
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionRead, origin); err != nil {
		return err
	}
	z, err := s.b.Zone(r.Context(), origin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := zone.Write(&buf, z); err != nil {
		return err
	}
	if z.Head != nil {
		w.Header().Set(headHeader, base64.StdEncoding.EncodeToString(z.Head.Note))
	}
	w.Header().Set("Content-Type", "text/dns")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// rrsetJSON is one RRset with its signatures, in presentation form.
type rrsetJSON struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     uint32   `json:"ttl"`
	Records []string `json:"records"`
	RRSIGs  []string `json:"rrsigs"`
}

func (s *Server) handleRecords(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionRead, origin); err != nil {
		return err
	}
	q := r.URL.Query()
	name := q.Get("name")
	if name == "@" {
		name = origin
	} else if name != "" {
		if !dns.IsFqdn(name) {
			name = name + "." + strings.TrimPrefix(origin, ".")
		}
		if name, err = domainName("name", name); err != nil {
			return err
		}
	}
	var typ uint16
	if t := q.Get("type"); t != "" {
		v, ok := dns.StringToType[strings.ToUpper(t)]
		if !ok {
			return invalid("type", "%q is not an RR type", t)
		}
		typ = v
	}
	z, err := s.b.Zone(r.Context(), origin)
	if err != nil {
		return err
	}
	out := []rrsetJSON{}
	for _, set := range z.RRsets() {
		if name != "" && set.Name != name || typ != 0 && set.Type != typ {
			continue
		}
		j := rrsetJSON{Name: set.Name, Type: dns.TypeToString[set.Type], TTL: set.TTL, Records: []string{}, RRSIGs: []string{}}
		for _, rr := range set.Records() {
			j.Records = append(j.Records, rr.String())
		}
		for _, sig := range set.Signatures() {
			j.RRSIGs = append(j.RRSIGs, sig.String())
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"zone": origin, "serial": z.Serial(), "rrsets": out})
	return nil
}

// handleDeleteZone deletes the zone on its group with the owner-signed
// DeleteZone command, then releases the name in the registry.
func (s *Server) handleDeleteZone(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionDelete, origin); err != nil {
		return err
	}
	cmd, err := readCommand(r)
	if err != nil {
		return err
	}
	del, ok := cmd.Cmd.(*raftfsm.DeleteZone)
	if !ok {
		return invalid("command", "a %s command: this endpoint takes delete-zone", cmd.Cmd.Type())
	}
	if zone.CanonicalName(del.Zone) != origin {
		return invalid("command", "the deletion is for %s, not %s", del.Zone, origin)
	}
	cl, err := s.claimed(origin)
	if err != nil {
		return err
	}
	if _, err := s.b.SubmitZone(r.Context(), cl.Group, origin, cmd, false); err != nil {
		return err
	}
	if err := s.propose(r.Context(), &raftfsm.ReleaseZone{Zone: origin, Actor: c.key.ID, Time: s.now()}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"zone": origin, "released": true})
	return nil
}

// ownerKeyInput is the body of POST /v1/zones/{zone}/owner-key.
type ownerKeyInput struct {
	OwnerKey string `json:"owner_key"`
	Proof    []byte `json:"proof"`
}

func (s *Server) handleOwnerKey(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionUpdate, origin); err != nil {
		return err
	}
	var in ownerKeyInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.OwnerKey == "" {
		return missing("owner_key")
	}
	if len(in.Proof) == 0 {
		return missing("proof")
	}
	dk, err := raftfsm.ParseOwnerKey(in.OwnerKey, origin)
	if err != nil {
		return invalid("owner_key", "%v", err)
	}
	cmd := &raftfsm.ChangeOwnerKey{Zone: origin, NewOwner: dk.String(), Actor: c.key.ID, Time: s.now(), Proof: in.Proof}
	if err := s.propose(r.Context(), cmd); err != nil {
		return err
	}
	cl, err := s.claimed(origin)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, claimView(cl))
	return nil
}

// reasonInput is the body of suspend and unsuspend.
type reasonInput struct {
	Reason string `json:"reason"`
}

func (s *Server) handleSuspend(suspend bool) func(http.ResponseWriter, *http.Request, *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		origin, err := pathZone(r)
		if err != nil {
			return err
		}
		if err := requireAdmin(c.key); err != nil {
			return err
		}
		if err := allowZone(c.key, ActionAdmin, origin); err != nil {
			return err
		}
		var in reasonInput
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := checkText("reason", in.Reason, true); err != nil {
			return err
		}
		cmd := &raftfsm.RegistrySuspend{Zone: origin, Suspend: suspend, Reason: in.Reason, Actor: c.key.ID, Time: s.now()}
		if err := s.propose(r.Context(), cmd); err != nil {
			return err
		}
		cl, err := s.claimed(origin)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, claimView(cl))
		return nil
	}
}

// outcomeUnknown reports whether err leaves a write's outcome unknown: it
// may have been committed.
func outcomeUnknown(err error) bool {
	return errors.Is(err, raftfsm.ErrNoQuorum) || errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}
