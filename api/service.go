package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Bounds of application fields.
const (
	maxDomains    = 20
	maxFieldChars = 4000
)

// ApplicationInput is an application for API access (POST
// /v1/applications and the /apply page).
type ApplicationInput struct {
	Domains     []string `json:"domains"`
	Project     string   `json:"project"`
	Usage       string   `json:"usage"`
	Responsible string   `json:"responsible"`
	Contact     string   `json:"contact"`
}

// ScopeInput is a key's scope in requests.
type ScopeInput struct {
	Suffixes []string `json:"suffixes"`
	Labels   []string `json:"labels,omitempty"`
	Types    []string `json:"types,omitempty"`
	Actions  []string `json:"actions"`
}

// LimitsInput is a key's rate limit in requests (0 = defaults).
type LimitsInput struct {
	PerMinute uint32 `json:"per_minute"`
	Burst     uint32 `json:"burst"`
}

// ReviewInput is a reviewer's decision on an application.
type ReviewInput struct {
	Decision string       `json:"decision"` // "approve", "more_info", "reject"
	Message  string       `json:"message"`
	Scope    *ScopeInput  `json:"scope,omitempty"`   // approve: default suffixes = the domains, actions read/create/update/delete
	Limits   *LimitsInput `json:"limits,omitempty"`  // approve: default 0/0 (server defaults)
	Expires  *time.Time   `json:"expires,omitempty"` // approve: nil = never
}

// LogEntry is one transparency-log entry as the API serves it.
type LogEntry struct {
	Index uint64         `json:"index"`
	Leaf  []byte         `json:"leaf"` // the leaf data, base64 in JSON
	Entry translog.Entry `json:"entry"`
}

// now is the time registry commands carry: the backend's clock, whole
// seconds, UTC.
func (s *Server) now() time.Time { return s.b.Now().UTC().Truncate(time.Second) }

// registry returns the registry state.
func (s *Server) registry() (*raftfsm.RegistryState, error) { return s.b.Registry() }

// propose encodes c and proposes it to the registry group.
func (s *Server) propose(ctx context.Context, c raftfsm.Command) error {
	b, err := raftfsm.EncodeCommand(c)
	if err != nil {
		return err
	}
	return s.b.ProposeRegistry(ctx, b)
}

func checkText(field, v string, required bool) error {
	if strings.TrimSpace(v) == "" {
		if required {
			return missing(field)
		}
		return nil
	}
	if len(v) > maxFieldChars {
		return invalid(field, "longer than %d characters", maxFieldChars)
	}
	return nil
}

// domainName checks a domain name field and returns it canonical.
func domainName(field, v string) (string, error) {
	if v == "" {
		return "", missing(field)
	}
	if _, ok := dns.IsDomainName(v); !ok || len(v) > 255 {
		return "", invalid(field, "%q is not a domain name", v)
	}
	return zone.CanonicalName(v), nil
}

// submitApplication records an application sent from the client source
// (clientKey of its address; "" for a cluster node's own, which no daily
// quota counts) and returns its id and the applicant's status token
// (shown once; the registry keeps its hash). It refuses while
// Options.MaxOpenApplications wait for review (checked here against the
// local replica, and by the state machine against the log: the command
// carries the cap), and past the source's ApplicationsPerIPPerDay.
func (s *Server) submitApplication(ctx context.Context, source string, in ApplicationInput) (id, token string, err error) {
	if len(in.Domains) == 0 {
		return "", "", missing("domains")
	}
	if len(in.Domains) > maxDomains {
		return "", "", invalid("domains", "at most %d domains", maxDomains)
	}
	domains := make([]string, 0, len(in.Domains))
	for _, d := range in.Domains {
		c, err := domainName("domains", strings.TrimSpace(d))
		if err != nil {
			return "", "", err
		}
		domains = append(domains, c)
	}
	for _, f := range []struct{ name, v string }{{"project", in.Project}, {"usage", in.Usage}, {"responsible", in.Responsible}, {"contact", in.Contact}} {
		if err := checkText(f.name, f.v, true); err != nil {
			return "", "", err
		}
	}
	size := len(in.Project) + len(in.Usage) + len(in.Responsible) + len(in.Contact)
	for _, d := range domains {
		size += len(d)
	}
	if size > raftfsm.MaxApplicationBytes {
		return "", "", invalid("usage", "the application holds %d bytes of text, the limit %d", size, raftfsm.MaxApplicationBytes)
	}
	reg, err := s.registry()
	if err != nil {
		return "", "", err
	}
	if open := reg.OpenApplications(); open >= s.opt.MaxOpenApplications {
		return "", "", fmt.Errorf("%w: %d wait, the limit %d; try again once some are reviewed", ErrApplicationsFull, open, s.opt.MaxOpenApplications)
	}
	release, err := s.quota.take(source, s.b.Now())
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	id, err = newID()
	if err != nil {
		return "", "", err
	}
	token, hash, err := newToken()
	if err != nil {
		return "", "", err
	}
	// The applicant's public key, derived from the token (keyseal.go):
	// the approval seals the key to it, for the status page.
	to, err := sealTo(token)
	if err != nil {
		return "", "", err
	}
	app := raftfsm.Application{
		ID: id, Submitted: s.now(), Domains: domains,
		Project: in.Project, Usage: in.Usage, Responsible: in.Responsible, Contact: in.Contact,
		TokenHash: hash, Status: "pending", SealTo: to,
	}
	if err := s.propose(ctx, &raftfsm.SubmitApplication{App: app, MaxOpen: uint32(s.opt.MaxOpenApplications)}); err != nil {
		return "", "", err
	}
	return id, token, nil
}

// applicationStatus returns application id when token is its status
// token: ErrNotFound for an unknown id, ErrUnauthenticated for a wrong
// token.
func (s *Server) applicationStatus(_ context.Context, id, token string) (raftfsm.Application, error) {
	reg, err := s.registry()
	if err != nil {
		return raftfsm.Application{}, err
	}
	app, ok := reg.Application(id)
	if !ok {
		return raftfsm.Application{}, fmt.Errorf("%w: application %q", ErrNotFound, id)
	}
	sum := sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare(sum[:], app.TokenHash[:]) != 1 {
		return raftfsm.Application{}, fmt.Errorf("%w: wrong status token for application %s", ErrUnauthenticated, id)
	}
	return app, nil
}

// collectKey hands the applicant of application id the API key sealed
// to their status token, once: it opens the sealed key with the token,
// checks it is the key the registry issued, and returns it only after
// the collection (raftfsm.CollectKey, erasing the sealed copy in every
// replica) committed. Errors: those of applicationStatus; a
// *raftfsm.RejectedError with ReasonKeyCollected when it was collected
// before (by this request's loser of a race too), ReasonNotSealed when
// the approval sealed no key (not approved yet, or the reviewer hands it
// over); ErrSealedKey when it does not open.
func (s *Server) collectKey(ctx context.Context, id, token string) (string, raftfsm.Application, error) {
	app, err := s.applicationStatus(ctx, id, token)
	if err != nil {
		return "", app, err
	}
	switch {
	case !app.Collected.IsZero():
		return "", app, &raftfsm.RejectedError{Reason: raftfsm.ReasonKeyCollected,
			Err: fmt.Errorf("the key of application %s was collected at %s; it is shown only once", id, app.Collected.UTC().Format(time.RFC3339))}
	case len(app.SealedKey) == 0:
		return "", app, &raftfsm.RejectedError{Reason: raftfsm.ReasonNotSealed,
			Err: fmt.Errorf("application %s (%s) has no key waiting to be collected", id, app.Status)}
	}
	key, err := openKey(token, id, app.SealedKey)
	if err != nil {
		return "", app, err
	}
	reg, err := s.registry()
	if err != nil {
		return "", app, err
	}
	if k, ok := reg.Key(app.KeyID); !ok || sha256.Sum256([]byte(key)) != k.Hash {
		return "", app, fmt.Errorf("%w: it is not the key %s the registry issued", ErrSealedKey, app.KeyID)
	}
	if err := s.propose(ctx, &raftfsm.CollectKey{ID: id, Time: s.now()}); err != nil {
		return "", app, err
	}
	if reg, err := s.registry(); err == nil {
		if a, ok := reg.Application(id); ok {
			app = a
		}
	}
	return key, app, nil
}

// scopeOf checks a scope input and returns it canonical.
func scopeOf(in ScopeInput) (raftfsm.Scope, error) {
	var sc raftfsm.Scope
	if len(in.Suffixes) == 0 {
		return sc, missing("scope.suffixes")
	}
	for _, sfx := range in.Suffixes {
		c, err := domainName("scope.suffixes", sfx)
		if err != nil {
			return sc, err
		}
		sc.Suffixes = append(sc.Suffixes, c)
	}
	for _, l := range in.Labels {
		if err := raftfsm.CheckLabelPattern(l); err != nil {
			return sc, invalid("scope.labels", "%v: labels relative to the zone, * for one label, ** for one or more, @ for the apex (such as _acme-challenge and _acme-challenge.**)", err)
		}
		sc.Labels = append(sc.Labels, strings.ToLower(l))
	}
	for _, t := range in.Types {
		if _, ok := dns.StringToType[strings.ToUpper(t)]; !ok {
			return sc, invalid("scope.types", "%q is not an RR type", t)
		}
		sc.Types = append(sc.Types, strings.ToUpper(t))
	}
	if len(in.Actions) == 0 {
		return sc, missing("scope.actions")
	}
	for _, a := range in.Actions {
		ok := false
		for _, k := range allActions {
			ok = ok || a == k
		}
		if !ok {
			return sc, invalid("scope.actions", "%q is not one of %v", a, allActions)
		}
		sc.Actions = append(sc.Actions, a)
	}
	return sc, nil
}

// makeKey builds a new key from the request fields; the key string is
// returned once and only its hash is kept.
func (s *Server) makeKey(name, app string, sc raftfsm.Scope, lim *LimitsInput, expires *time.Time) (string, raftfsm.APIKey, error) {
	key, id, hash, err := newKey()
	if err != nil {
		return "", raftfsm.APIKey{}, err
	}
	k := raftfsm.APIKey{ID: id, Hash: hash, Name: name, Application: app, Scope: sc, Created: s.now()}
	if lim != nil {
		k.Limits = raftfsm.Limits{PerMinute: lim.PerMinute, Burst: lim.Burst}
	}
	if expires != nil && !expires.IsZero() {
		if !expires.After(s.now()) {
			return "", raftfsm.APIKey{}, invalid("expires", "%s is in the past", expires.UTC().Format(time.RFC3339))
		}
		k.Expires = expires.UTC().Truncate(time.Second)
	}
	return key, k, nil
}

// review records reviewer's decision on application id. On approval it
// issues the applicant's key and returns it (shown once).
func (s *Server) review(ctx context.Context, reviewer raftfsm.APIKey, id string, in ReviewInput) (key string, err error) {
	if err := requireAdmin(reviewer); err != nil {
		return "", err
	}
	reg, err := s.registry()
	if err != nil {
		return "", err
	}
	app, ok := reg.Application(id)
	if !ok {
		return "", fmt.Errorf("%w: application %q", ErrNotFound, id)
	}
	if err := checkText("message", in.Message, false); err != nil {
		return "", err
	}
	cmd := &raftfsm.ReviewApplication{ID: id, Decision: in.Decision, Message: in.Message, Reviewer: reviewer.ID, Time: s.now()}
	switch in.Decision {
	case "approve":
		sin := ScopeInput{Suffixes: app.Domains, Actions: []string{ActionRead, ActionCreate, ActionUpdate, ActionDelete}}
		if in.Scope != nil {
			sin = *in.Scope
		}
		sc, err := scopeOf(sin)
		if err != nil {
			return "", err
		}
		var k raftfsm.APIKey
		key, k, err = s.makeKey(app.Project, id, sc, in.Limits, in.Expires)
		if err != nil {
			return "", err
		}
		cmd.Key = &k
		// Sealed to the applicant, who collects it once from the status
		// page (keyseal.go); an application made before sealing has no
		// public key, and its reviewer hands the key over.
		if app.SealTo != ([32]byte{}) {
			if cmd.Sealed, err = sealKey(app.SealTo, id, key); err != nil {
				return "", err
			}
		}
	case "more_info", "reject":
		if strings.TrimSpace(in.Message) == "" {
			return "", missing("message")
		}
	case "":
		return "", missing("decision")
	default:
		return "", invalid("decision", "%q is not approve, more_info or reject", in.Decision)
	}
	if err := s.propose(ctx, cmd); err != nil {
		return "", err
	}
	return key, nil
}

// checkpoint signs a checkpoint of the log as the local replica has it.
func (s *Server) checkpoint(_ context.Context) ([]byte, translog.Checkpoint, error) {
	reg, err := s.registry()
	if err != nil {
		return nil, translog.Checkpoint{}, err
	}
	signer := s.b.LogSigner()
	if signer == nil {
		return nil, translog.Checkpoint{}, fmt.Errorf("%w: this node has no log signing key", ErrNoRegistry)
	}
	size := reg.LogSize()
	root, err := reg.Log().Root(size)
	if err != nil {
		return nil, translog.Checkpoint{}, err
	}
	c := translog.Checkpoint{Origin: s.b.LogOrigin(), Size: size, Root: root}
	msg, err := translog.SignCheckpoint(c, signer)
	if err != nil {
		return nil, translog.Checkpoint{}, err
	}
	return msg, c, nil
}

// maxEntries bounds one entries request.
const maxEntries = 1000

// logEntries returns entries [start, end) (end clamped to the log size and
// to start+1000).
func (s *Server) logEntries(_ context.Context, start, end uint64) ([]LogEntry, error) {
	reg, err := s.registry()
	if err != nil {
		return nil, err
	}
	size := reg.LogSize()
	if start >= size {
		return nil, invalid("start", "%d is not below the log size %d", start, size)
	}
	if end <= start {
		return nil, invalid("end", "%d is not above start %d", end, start)
	}
	end = min(end, size, start+maxEntries)
	out := make([]LogEntry, 0, end-start)
	for i := start; i < end; i++ {
		leaf, err := reg.LogEntry(i)
		if err != nil {
			return nil, err
		}
		e, err := translog.ParseEntry(leaf)
		if err != nil {
			return nil, fmt.Errorf("log entry %d: %w", i, err)
		}
		out = append(out, LogEntry{Index: i, Leaf: leaf, Entry: e})
	}
	return out, nil
}

// inclusionProof returns the inclusion proof of leaf index in the tree of
// the first size leaves (1 <= size <= the log size, index < size).
func (s *Server) inclusionProof(_ context.Context, index, size uint64) ([][32]byte, error) {
	reg, err := s.registry()
	if err != nil {
		return nil, err
	}
	if size == 0 || size > reg.LogSize() {
		return nil, invalid("size", "%d is not between 1 and the log size %d", size, reg.LogSize())
	}
	if index >= size {
		return nil, invalid("index", "%d is not below size %d", index, size)
	}
	return reg.Log().InclusionProof(index, size)
}
