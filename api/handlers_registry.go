package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
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
	return j
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
}

func keyView(k raftfsm.APIKey) keyJSON {
	j := keyJSON{ID: k.ID, Name: k.Name, Application: k.Application,
		Scope:   ScopeInput{Suffixes: nonNil(k.Scope.Suffixes), Labels: k.Scope.Labels, Types: k.Scope.Types, Actions: nonNil(k.Scope.Actions)},
		Limits:  LimitsInput{PerMinute: k.Limits.PerMinute, Burst: k.Limits.Burst},
		Created: k.Created, Revoked: k.Revoked, RevokedBy: k.RevokedBy}
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

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireAdmin(c.key); err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	out := []keyJSON{}
	for _, k := range reg.Keys() {
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
}

func (s *Server) handleIssueKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireAdmin(c.key); err != nil {
		return err
	}
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
	if err := s.propose(r.Context(), &raftfsm.IssueKey{Key: k, Actor: c.key.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"key": key, "key_id": k.ID})
	return nil
}

// ownKey returns key id when c's key may see it: admin, or the key itself.
func (s *Server) ownKey(c *call, id string) (raftfsm.APIKey, error) {
	if id != c.key.ID {
		if err := requireAdmin(c.key); err != nil {
			return raftfsm.APIKey{}, err
		}
	}
	reg, err := s.registry()
	if err != nil {
		return raftfsm.APIKey{}, err
	}
	k, ok := reg.Key(id)
	if !ok {
		return raftfsm.APIKey{}, fmt.Errorf("%w: key %q", ErrNotFound, id)
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
