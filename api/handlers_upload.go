package api

// handlers_upload.go: zones too large for one Raft log entry through the
// REST API (docs/large-zones.md, "Through the REST API"). Two ways:
//
//   - POST /v1/zones/{zone}/upload takes the commands of a staged upload
//     (raftfsm StageBegin, StageChunk, StageCommit) one per request, as
//     the owner's tool made them ('ddnrs zone publish --api'): every
//     request is small, the tool shows progress and resumes after an
//     interruption from the begin's answer (staged: how many chunks the
//     group holds);
//   - POST /v1/zones and POST /v1/zones/{zone}/import take a whole signed
//     zone; when its command would not fit in one entry the server makes
//     the staged upload itself (stageWhole) and sends it within the
//     request. Interrupted (its deadline, a leader lost), the same
//     request sent again resumes where the group stands.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// maxUploadBody bounds a request to /upload: one command of at most
// raftfsm.MaxEntryBytes, base64 in JSON (4/3), with room for the JSON.
const maxUploadBody = raftfsm.MaxEntryBytes*4/3 + 64<<10

// UploadResult is the outcome of one command of a staged upload.
type UploadResult struct {
	Serial uint32 // the upload's serial (after a commit: the zone's)
	// Staged is how many of the upload's chunks the group holds after
	// the command: after a StageBegin, where the owner resumes.
	Staged uint32
	// StagedKnown is false when the group's answer came back without
	// Staged (a group reached over DDNRS-RPC, which does not carry it):
	// the owner then sends the chunks from the first; the ones the
	// group holds are answered as repeats.
	StagedKnown bool
	Repeat      bool // the group held this command's effect already
}

// Uploader is the optional Backend capability staged uploads need (found
// by type assertion): SubmitUpload sends one command of a staged upload
// (StageBegin, StageChunk, StageCommit) to group ("" = the group holding
// origin), as SubmitZone does, and returns the group's answer with the
// upload's progress. Called from handler goroutines, concurrently.
type Uploader interface {
	SubmitUpload(ctx context.Context, group, origin string, cmd raftfsm.Encoded) (UploadResult, error)
}

// errNoUploads is returned when the node's Backend cannot send staged
// uploads (not an Uploader).
var errNoUploads = errors.New("this node cannot send staged uploads")

// uploadJSON is the answer of POST /v1/zones/{zone}/upload.
type uploadJSON struct {
	Zone        string `json:"zone"`
	Group       string `json:"group,omitempty"`
	Serial      uint32 `json:"serial"`
	Staged      uint32 `json:"staged"`
	StagedKnown bool   `json:"staged_known"`
	Repeat      bool   `json:"repeat"`
}

// uploads remembers which key began which upload through this server,
// so that the chunks of an upload a key began here do not draw from its
// rate limit (a 1,000,000-RRset zone is about 700 chunks; its size was
// checked against the group's limits at the begin). Chunks of any other
// upload (begun through another node, or forgotten) draw as usual.
type uploads struct {
	mu   sync.Mutex
	byID map[[32]byte]string // upload ID -> API key ID
}

// maxOpenUploads bounds uploads.byID; past it the oldest are not
// tracked (their chunks then draw from the key's bucket).
const maxOpenUploads = 1024

func (u *uploads) began(id [32]byte, key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byID == nil {
		u.byID = make(map[[32]byte]string)
	}
	if len(u.byID) >= maxOpenUploads {
		for k := range u.byID {
			delete(u.byID, k)
			break
		}
	}
	u.byID[id] = key
}

func (u *uploads) of(id [32]byte, key string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id] == key
}

func (u *uploads) done(id [32]byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.byID, id)
}

// handleUpload takes one command of a staged upload. The route draws
// from the key's rate limit here, not in wrap: a StageBegin and a
// StageCommit always draw, a StageChunk only when its upload was not
// begun by the same key through this server.
//
// A staged upload replaces the whole zone, so the key's scope must cover
// the whole zone (no label or type patterns). A StageBegin of a name
// without a claim claims it for the begin's owner key first (as a
// create does; action create), and releases the claim when the group
// refuses the begin; otherwise the key needs create or update.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionUpdate, origin); err != nil {
		if allowZone(c.key, ActionCreate, origin) != nil {
			return err
		}
	}
	if len(c.key.Scope.Labels) > 0 || len(c.key.Scope.Types) > 0 {
		return &ScopeError{What: "label", Detail: "a staged upload replaces the whole zone: it needs a key whose scope has no label or type patterns"}
	}
	up, ok := s.b.(Uploader)
	if !ok {
		return errNoUploads
	}
	cmd, err := readCommand(r)
	if err != nil {
		return err
	}
	var name string
	var id [32]byte
	begin, isBegin := cmd.Cmd.(*raftfsm.StageBegin)
	switch sc := cmd.Cmd.(type) {
	case *raftfsm.StageBegin:
		name, id = sc.Zone, raftfsm.UploadID(sc.Head)
	case *raftfsm.StageChunk:
		name, id = sc.Zone, sc.Upload
	case *raftfsm.StageCommit:
		name, id = sc.Zone, sc.Upload
	default:
		return invalid("command", "a %s command: this endpoint takes stage-begin, stage-chunk and stage-commit (see docs/large-zones.md); send other changes to /changes", cmd.Cmd.Type())
	}
	if zone.CanonicalName(name) != origin {
		return invalid("command", "the upload is for %s, not %s", name, origin)
	}
	if _, chunk := cmd.Cmd.(*raftfsm.StageChunk); !chunk || !s.open.of(id, c.key.ID) {
		if err := s.charge(w, c); err != nil {
			return err
		}
	}
	group, made := "", false
	if isBegin {
		if group, made, err = s.claimFor(r.Context(), c, origin, begin.Owner, "", nil, nil); err != nil {
			return err
		}
	} else if group, err = s.groupOf(origin); err != nil {
		return err
	}
	res, err := up.SubmitUpload(r.Context(), group, origin, cmd)
	if err != nil {
		if made && !outcomeUnknown(err) {
			s.release(r.Context(), c, origin, err)
		}
		return err
	}
	switch cmd.Cmd.(type) {
	case *raftfsm.StageBegin:
		s.open.began(id, c.key.ID)
	case *raftfsm.StageCommit:
		s.open.done(id)
	}
	writeJSON(w, http.StatusOK, uploadJSON{Zone: origin, Group: group, Serial: res.Serial, Staged: res.Staged, StagedKnown: res.StagedKnown, Repeat: res.Repeat})
	return nil
}

// charge takes one token from the key's bucket: wrap for every keyed
// route, the handler itself for selfLimited routes. A sub-key draws from
// its own bucket and from the bucket of the key at the top of its chain:
// sub-keys never add to what their issuer may send.
func (s *Server) charge(w http.ResponseWriter, c *call) error {
	k, now := c.key, s.b.Now()
	if root := s.rootKey(k); root.ID != k.ID {
		if d := s.keys.take(root.ID, limitOr(root.Limits.PerMinute, DefaultPerMinute), limitOr(root.Limits.Burst, DefaultBurst), now); !d.ok {
			d.setHeaders(w.Header())
			return d.err()
		}
	}
	d := s.keys.take(k.ID, limitOr(k.Limits.PerMinute, DefaultPerMinute), limitOr(k.Limits.Burst, DefaultBurst), now)
	d.setHeaders(w.Header())
	if !d.ok {
		return d.err()
	}
	return nil
}

// claimFor makes sure the registry's claim of origin is for owner and
// returns the group it places the zone on: an existing claim for owner
// is used as it is (a resend, or a zone the owner replaces); without a
// claim, the key needs action create and the name is claimed (made). A
// claim for another key is refused as the ClaimZone is
// (name-claimed).
func (s *Server) claimFor(ctx context.Context, c *call, origin string, owner *dns.DNSKEY, region string, delegation []byte, consents []raftfsm.Consent) (group string, made bool, err error) {
	if owner == nil {
		return "", false, invalid("command", "no owner key")
	}
	reg, err := s.registry()
	if err != nil {
		return "", false, err
	}
	cl, ok := reg.Claim(origin)
	if ok && raftfsm.OwnerKeyIs(cl.Owner, owner) {
		return cl.Group, false, nil
	}
	if !ok {
		if err := allowZone(c.key, ActionCreate, origin); err != nil {
			return "", false, err
		}
	}
	claim := &raftfsm.ClaimZone{Zone: origin, Owner: owner.String(), Region: region, Actor: c.key.ID, Time: s.now(),
		Delegation: delegation, Consents: consents, Group: s.placeGroup(ctx, region)}
	perr := s.propose(ctx, claim)
	var rej *raftfsm.RejectedError
	if perr != nil && !(errors.As(perr, &rej) && rej.Reason == raftfsm.ReasonNameClaimed) {
		return "", false, perr
	}
	if reg, err = s.registry(); err != nil {
		return "", false, err
	}
	cl, ok = reg.Claim(origin)
	switch {
	case perr != nil && (!ok || !raftfsm.OwnerKeyIs(cl.Owner, owner)):
		return "", false, perr // claimed by another key
	case !ok:
		return "", false, fmt.Errorf("claim of %s accepted but not found", origin)
	}
	return cl.Group, perr == nil, nil
}

// release undoes a claim this request made, under a fresh deadline (the
// request's may be what failed); cause is why.
func (s *Server) release(ctx context.Context, c *call, origin string, cause error) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.RequestTimeout)
	defer cancel()
	if rerr := s.propose(uctx, &raftfsm.ReleaseZone{Zone: origin, Actor: c.key.ID, Time: s.now()}); rerr != nil {
		s.log.Error("zone create failed and its claim could not be released", "zone", origin, "err", cause, "release_err", rerr)
	}
}

// stageWhole sends the whole signed zone z, whose one command is too
// large for a Raft log entry, to group as a staged upload the server
// makes (raftfsm.StagedCommands), within ctx. It starts where the group
// stands (a resend of the same zone resumes) and returns the zone's
// serial. An interruption is returned with where it stopped: sending the
// same request again goes on from there.
func (s *Server) stageWhole(ctx context.Context, group string, z *zone.Zone, k *zone.Key) (uint32, error) {
	up, ok := s.b.(Uploader)
	if !ok {
		return 0, errNoUploads
	}
	cmds, err := raftfsm.StagedCommands(z, k)
	if errors.Is(err, raftfsm.ErrTooLarge) {
		return 0, invalid("zone_file", "%v", err)
	}
	if err != nil {
		return 0, err
	}
	send := func(b []byte) (UploadResult, error) {
		enc, err := raftfsm.Decode(b)
		if err != nil {
			return UploadResult{}, err
		}
		return up.SubmitUpload(ctx, group, z.Origin, enc)
	}
	chunks := len(cmds) - 2
	res, err := send(cmds[0])
	if err != nil {
		return 0, err
	}
	next := 0 // without the group's count: from the first, repeats are answered as such
	if res.StagedKnown {
		next = min(int(res.Staged), chunks)
	}
	for i := next; i < chunks; i++ {
		if _, err := send(cmds[1+i]); err != nil {
			return 0, fmt.Errorf("staged upload of %s interrupted at chunk %d of %d (send the same request again: it resumes there): %w", z.Origin, i, chunks, err)
		}
	}
	res, err = send(cmds[len(cmds)-1])
	if err != nil {
		return 0, fmt.Errorf("staged upload of %s: commit of %d chunks (send the same request again: it resumes): %w", z.Origin, chunks, err)
	}
	return res.Serial, nil
}
