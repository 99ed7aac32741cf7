package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// decodeJSON reads the request body as exactly one JSON value into v;
// unknown fields are refused, and so is a Content-Type other than
// application/json, or none (ErrMediaType).
func decodeJSON(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return fmt.Errorf("%w: %q; send application/json", ErrMediaType, ct)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", ErrBadJSON)
		}
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more than one JSON value", ErrBadJSON)
	}
	return nil
}

// applicationJSON is an application as the API shows it (never the token
// hash).
type applicationJSON struct {
	ID          string     `json:"id"`
	Submitted   time.Time  `json:"submitted"`
	Domains     []string   `json:"domains"`
	Project     string     `json:"project"`
	Usage       string     `json:"usage"`
	Responsible string     `json:"responsible"`
	Contact     string     `json:"contact"`
	Status      string     `json:"status"`
	Message     string     `json:"message,omitempty"`
	Reviewer    string     `json:"reviewer,omitempty"`
	Reviewed    *time.Time `json:"reviewed,omitempty"`
	KeyID       string     `json:"key_id,omitempty"`
	KeyWaiting  bool       `json:"key_waiting,omitempty"` // sealed to the status token, to collect once
	Collected   *time.Time `json:"collected,omitempty"`
}

func applicationView(a raftfsm.Application) applicationJSON {
	j := applicationJSON{ID: a.ID, Submitted: a.Submitted, Domains: a.Domains, Project: a.Project, Usage: a.Usage,
		Responsible: a.Responsible, Contact: a.Contact, Status: a.Status, Message: a.Message, Reviewer: a.Reviewer, KeyID: a.KeyID}
	if j.Domains == nil {
		j.Domains = []string{}
	}
	if !a.Reviewed.IsZero() {
		t := a.Reviewed
		j.Reviewed = &t
	}
	j.KeyWaiting = len(a.SealedKey) > 0
	if !a.Collected.IsZero() {
		t := a.Collected
		j.Collected = &t
	}
	return j
}

// collectedJSON is the answer of POST /v1/applications/{id}/collect.
type collectedJSON struct {
	ID        string    `json:"id"`
	KeyID     string    `json:"key_id"`
	Key       string    `json:"key"`
	Collected time.Time `json:"collected"`
}

// handleCollectKey hands the applicant the key sealed to their status
// token (Bearer), once (Server.collectKey).
func (s *Server) handleCollectKey(w http.ResponseWriter, r *http.Request, _ *call) error {
	id, token := r.PathValue("id"), bearer(r)
	if token == "" {
		return fmt.Errorf("%w: send the application's status token as Authorization: Bearer TOKEN", ErrUnauthenticated)
	}
	key, app, err := s.collectKey(r.Context(), id, token)
	if err != nil {
		return err
	}
	collected := app.Collected
	if collected.IsZero() {
		collected = s.now()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, collectedJSON{ID: id, KeyID: app.KeyID, Key: key, Collected: collected})
	return nil
}

// keyJSON is a key as the API shows it (never the hash).
type keyJSON struct {
	ID          string      `json:"id"`
	Name        string      `json:"name,omitempty"`
	Application string      `json:"application,omitempty"`
	Scope       ScopeInput  `json:"scope"`
	Limits      LimitsInput `json:"limits"`
	Created     time.Time   `json:"created"`
	Expires     *time.Time  `json:"expires,omitempty"`
	Revoked     bool        `json:"revoked"`
	RevokedAt   *time.Time  `json:"revoked_at,omitempty"`
	RevokedBy   string      `json:"revoked_by,omitempty"`
	Parent      string      `json:"parent,omitempty"` // the key that issued this sub-key
}

func keyView(k raftfsm.APIKey) keyJSON {
	j := keyJSON{ID: k.ID, Name: k.Name, Application: k.Application,
		Scope:   ScopeInput{Suffixes: nonNil(k.Scope.Suffixes), Labels: k.Scope.Labels, Types: k.Scope.Types, Actions: nonNil(k.Scope.Actions)},
		Limits:  LimitsInput{PerMinute: k.Limits.PerMinute, Burst: k.Limits.Burst},
		Created: k.Created, Revoked: k.Revoked, RevokedBy: k.RevokedBy, Parent: k.Parent}
	if !k.Expires.IsZero() {
		t := k.Expires
		j.Expires = &t
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt
		j.RevokedAt = &t
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) handleSubmitApplication(w http.ResponseWriter, r *http.Request, _ *call) error {
	var in ApplicationInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	id, token, err := s.submitApplication(r.Context(), clientKey(s.clientIP(r)), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "status": "pending", "status_token": token})
	return nil
}

func (s *Server) handleGetApplication(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if c.keyed {
		if err := requireAdmin(c.key); err != nil {
			return err
		}
		reg, err := s.registry()
		if err != nil {
			return err
		}
		app, ok := reg.Application(id)
		if !ok {
			return fmt.Errorf("%w: application %q", ErrNotFound, id)
		}
		writeJSON(w, http.StatusOK, applicationView(app))
		return nil
	}
	token := bearer(r)
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	app, err := s.applicationStatus(r.Context(), id, token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applicationView(app))
	return nil
}

var applicationStatuses = []string{"pending", "more_info", "approved", "rejected"}

func (s *Server) handleListApplications(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireAdmin(c.key); err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" {
		ok := false
		for _, st := range applicationStatuses {
			ok = ok || st == status
		}
		if !ok {
			return invalid("status", "%q is not one of %v", status, applicationStatuses)
		}
	}
	limit := defaultPageSize
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return invalid("limit", "%q is not a number from 1 to %d", v, maxPageSize)
		}
		limit = n
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	// One more than asked says whether a next page exists.
	page := reg.ApplicationsPage(raftfsm.ApplicationQuery{Status: status, After: r.URL.Query().Get("after"), Limit: limit + 1})
	out := applicationList{Applications: []applicationJSON{}}
	if len(page) > limit {
		page = page[:limit]
		out.Next = page[limit-1].ID
	}
	for _, a := range page {
		out.Applications = append(out.Applications, applicationView(a))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Pages of GET /v1/applications.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// applicationList is a page of applications, oldest first; Next, when
// set, is the after= of the next page.
type applicationList struct {
	Applications []applicationJSON `json:"applications"`
	Next         string            `json:"next,omitempty"`
}

func (s *Server) handleReview(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireAdmin(c.key); err != nil {
		return err
	}
	var in ReviewInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	id := r.PathValue("id")
	key, err := s.review(r.Context(), c.key, id, in)
	if err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	app, _ := reg.Application(id)
	out := map[string]any{"id": id, "status": app.Status}
	if key != "" {
		out["key"] = key
		out["key_id"] = app.KeyID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleListKeys lists every key for an admin key, else the caller's
// key and the sub-keys below it.
func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	keys := reg.Keys()
	if !isAdmin(c.key) {
		keys = append([]raftfsm.APIKey{c.key}, reg.Descendants(c.key.ID)...)
	}
	out := []keyJSON{}
	for _, k := range keys {
		out = append(out, keyView(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

// issueKeyInput is the body of POST /v1/keys.
type issueKeyInput struct {
	Name    string       `json:"name"`
	Scope   *ScopeInput  `json:"scope"`
	Limits  *LimitsInput `json:"limits,omitempty"`
	Expires *time.Time   `json:"expires,omitempty"`
	// Parent makes the key a sub-key of that key: the caller's own key
	// or one below it. Without it, an admin key issues a top key and any
	// other key a sub-key of itself.
	Parent string `json:"parent,omitempty"`
}

// handleIssueKey issues a key: a top key for an admin caller, else (or
// with "parent") a sub-key no wider than its parent.
func (s *Server) handleIssueKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var in issueKeyInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := checkText("name", in.Name, true); err != nil {
		return err
	}
	if in.Scope == nil {
		return missing("scope")
	}
	sc, err := scopeOf(*in.Scope)
	if err != nil {
		return err
	}
	key, k, err := s.makeKey(in.Name, "", sc, in.Limits, in.Expires)
	if err != nil {
		return err
	}
	cmd := &raftfsm.IssueKey{Key: k, Actor: c.key.ID}
	if in.Parent != "" || !isAdmin(c.key) {
		parent, err := s.parentKey(c, in.Parent)
		if err != nil {
			return err
		}
		cmd.Key.Parent, cmd.MaxChildren = parent.ID, uint32(s.opt.MaxSubKeys)
		if in.Limits == nil {
			cmd.Key.Limits = parent.Limits // a sub-key shares its top key's bucket anyway
		}
		if in.Expires == nil {
			cmd.Key.Expires = parent.Expires
		}
		if err := raftfsm.WithinScope(parent, cmd.Key); err != nil {
			return &ScopeError{What: "sub-key", Detail: fmt.Sprintf("wider than key %s: %v", parent.ID, err)}
		}
	}
	noteTarget(stateOf(r.Context()), k.ID)
	if err := s.propose(r.Context(), cmd); err != nil {
		return err
	}
	out := map[string]string{"key": key, "key_id": k.ID}
	if cmd.Key.Parent != "" {
		out["parent"] = cmd.Key.Parent
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// parentKey is the parent of a sub-key the caller issues: id, which must
// be the caller's key or below it (an admin key may name any), or the
// caller's own key when id is "".
func (s *Server) parentKey(c *call, id string) (raftfsm.APIKey, error) {
	if id == "" {
		return c.key, nil
	}
	if _, err := hex.DecodeString(id); err != nil || len(id) != 16 || strings.ToLower(id) != id {
		return raftfsm.APIKey{}, invalid("parent", "%q is not a key id (16 hex digits)", id)
	}
	return s.ownKey(c, id)
}

// ownKey returns key id when c's key may see it: admin, the key itself,
// or a key above it (its sub-keys). Another key's id is not found, so
// ids cannot be probed.
func (s *Server) ownKey(c *call, id string) (raftfsm.APIKey, error) {
	reg, err := s.registry()
	if err != nil {
		return raftfsm.APIKey{}, err
	}
	k, ok := reg.Key(id)
	if !ok || !isAdmin(c.key) && !above(reg, c.key.ID, k) {
		return raftfsm.APIKey{}, fmt.Errorf("%w: key %q (or not yours)", ErrNotFound, id)
	}
	return k, nil
}

func (s *Server) handleGetKey(w http.ResponseWriter, r *http.Request, c *call) error {
	k, err := s.ownKey(c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, keyView(k))
	return nil
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request, c *call) error {
	k, err := s.ownKey(c, r.PathValue("id"))
	if err != nil {
		return err
	}
	noteTarget(stateOf(r.Context()), k.ID)
	if err := s.propose(r.Context(), &raftfsm.RevokeKey{ID: k.ID, Actor: c.key.ID, Time: s.now()}); err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	k, _ = reg.Key(k.ID)
	writeJSON(w, http.StatusOK, keyView(k))
	return nil
}
