package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Errors of the API. Each maps to one HTTP status and one stable code in
// errorCode; handlers wrap them with %w and a message for people.
var (
	// ErrNotRegistry is returned by Backend.Registry (and registry
	// proposals) when this node is not in the registry group.
	ErrNotRegistry = errors.New("this node is not in the registry group")
	// ErrNoZone is returned by Backend.Zone when no group holds the zone.
	ErrNoZone = errors.New("no such zone")
	// ErrUnauthenticated is returned when a request has no API key, a
	// malformed one, or one the registry does not know.
	ErrUnauthenticated = errors.New("missing or unknown API key")
	// ErrKeyRevoked is returned when the request's key was revoked.
	ErrKeyRevoked = errors.New("API key revoked")
	// ErrKeyExpired is returned when the request's key has expired.
	ErrKeyExpired = errors.New("API key expired")
	// ErrNotFound is returned when the named resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBadJSON is returned when a request body is not the JSON the
	// endpoint takes (syntax, types, unknown fields).
	ErrBadJSON = errors.New("malformed JSON body")
	// ErrTooLarge is returned when a request body exceeds the endpoint's
	// limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrMediaType is returned when the Content-Type is not one the
	// endpoint takes.
	ErrMediaType = errors.New("unsupported content type")
	// ErrNoRegistry is returned when the registry cannot be reached: this
	// node is not in the registry group and knows no registry URL, or the
	// registry has no log signer.
	ErrNoRegistry = errors.New("registry unavailable")
	// ErrMethod is returned when the path exists but not with the
	// request's method.
	ErrMethod = errors.New("method not allowed")
	// ErrApplicationsFull is returned by POST /v1/applications (and the
	// web form) when as many applications wait for review as
	// Options.MaxOpenApplications allows (503 applications_full).
	ErrApplicationsFull = errors.New("too many applications wait for review")
	// ErrApplicationLimit is returned by POST /v1/applications (and the
	// web form) when the client's address (IPv4, or IPv6 /64) sent
	// Options.ApplicationsPerIPPerDay applications this UTC day (429
	// application_limit, Retry-After the next day).
	ErrApplicationLimit = errors.New("this address sent its applications for today")
	// ErrTimeout is returned when a request's deadline passed.
	ErrTimeout = errors.New("request timed out")
	// ErrNoGroupMember is returned by Backend.SubmitZone (and Zone) when
	// no member of the zone's group can be reached: the registry's node
	// directory lists none with an overlay address, or all of them failed.
	// It is temporary (503 no_group_member): retry later.
	ErrNoGroupMember = errors.New("no reachable member of the zone's group")
)

// FieldError is returned when a request field is missing or invalid.
type FieldError struct {
	Field   string
	Missing bool
	Err     error // why it is invalid; nil when missing
}

func (e *FieldError) Error() string {
	if e.Missing {
		return fmt.Sprintf("field %q is required", e.Field)
	}
	return fmt.Sprintf("field %q: %v", e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func missing(field string) error { return &FieldError{Field: field, Missing: true} }

func invalid(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ScopeError is returned when the key's scope does not cover the request.
// What is "suffix", "label", "type" or "action".
type ScopeError struct {
	What   string
	Detail string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("out of the key's scope (%s): %s", e.What, e.Detail)
}

// RateLimitError is returned when a token bucket is empty.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited; retry after %s", e.RetryAfter.Round(time.Second))
}

// errorBody is the JSON form of every error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"` // rejected: the state machine's reason
	Field   string `json:"field,omitempty"`  // missing_field / invalid_field
	// Check, for a write to a zone whose outcome is unknown
	// (outcome_unknown, timeout), is where to read what the zone's group
	// holds now (GET, the zone's serial and head) to learn whether the
	// change committed; resending the same request is the other way (a
	// change already committed is answered as done).
	Check string `json:"check,omitempty"`
}

// statusCode is an HTTP status and the stable code sent with it.
type statusCode struct {
	status int
	code   string
}

// reasonStatus is the HTTP status and code of the state machine's
// rejection reasons (raftfsm.Reason, the one vocabulary of refusals)
// that are not 422 rejected. The reason itself goes along in the body.
var reasonStatus = map[raftfsm.Reason]statusCode{
	raftfsm.ReasonNameClaimed:        {http.StatusConflict, "name_claimed"},
	raftfsm.ReasonDropPending:        {http.StatusConflict, "drop_pending"},
	raftfsm.ReasonNoClaim:            {http.StatusNotFound, "not_found"},
	raftfsm.ReasonNoZone:             {http.StatusNotFound, "not_found"},
	raftfsm.ReasonUnknownApplication: {http.StatusNotFound, "not_found"},
	raftfsm.ReasonUnknownKey:         {http.StatusNotFound, "not_found"},
	raftfsm.ReasonKeyWider:           {http.StatusForbidden, "out_of_scope"},
	raftfsm.ReasonParentRevoked:      {http.StatusForbidden, "key_revoked"},
	raftfsm.ReasonTooManyKeys:        {http.StatusConflict, "too_many_keys"},
	raftfsm.ReasonLeaseQuota:         {http.StatusConflict, "lease_quota"},
	raftfsm.ReasonNoLease:            {http.StatusConflict, "permanent"},
	raftfsm.ReasonKeyCollected:       {http.StatusGone, "key_collected"},
	raftfsm.ReasonNotSealed:          {http.StatusConflict, "no_sealed_key"},
	raftfsm.ReasonUnknownNodeRequest: {http.StatusNotFound, "not_found"},
	raftfsm.ReasonCertCollected:      {http.StatusGone, "cert_collected"},
	raftfsm.ReasonNodeRequestClosed:  {http.StatusConflict, "node_request_closed"},
	raftfsm.ReasonNodeRequestReplay:  {http.StatusConflict, "node_request_replay"},
	raftfsm.ReasonNodeIDInUse:        {http.StatusConflict, "node_id_in_use"},
	raftfsm.ReasonNodeRemoved:        {http.StatusConflict, "node_removed"},
	raftfsm.ReasonNodeRequestsFull:   {http.StatusServiceUnavailable, "applications_full"},
}

// errorCode is the one place errors become HTTP statuses and stable codes.
func errorCode(err error) (status int, d errorDetail) {
	var (
		fe  *FieldError
		se  *ScopeError
		rl  *RateLimitError
		rej *raftfsm.RejectedError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &fe) && fe.Missing:
		return http.StatusBadRequest, errorDetail{Code: "missing_field", Field: fe.Field}
	case errors.As(err, &fe):
		return http.StatusBadRequest, errorDetail{Code: "invalid_field", Field: fe.Field}
	case errors.Is(err, ErrBadJSON):
		return http.StatusBadRequest, errorDetail{Code: "bad_json"}
	case errors.As(err, &mbe), errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, errorDetail{Code: "too_large"}
	case errors.Is(err, ErrApplicationsFull), errors.As(err, &rej) && rej.Reason == raftfsm.ReasonApplicationsFull:
		return http.StatusServiceUnavailable, errorDetail{Code: "applications_full"}
	case errors.Is(err, ErrApplicationLimit):
		return http.StatusTooManyRequests, errorDetail{Code: "application_limit"}
	case errors.Is(err, ErrMediaType):
		return http.StatusUnsupportedMediaType, errorDetail{Code: "unsupported_media_type"}
	case errors.Is(err, ErrKeyRevoked):
		return http.StatusUnauthorized, errorDetail{Code: "key_revoked"}
	case errors.Is(err, ErrKeyExpired):
		return http.StatusUnauthorized, errorDetail{Code: "key_expired"}
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, errorDetail{Code: "unauthenticated"}
	case errors.As(err, &se):
		return http.StatusForbidden, errorDetail{Code: "out_of_scope"}
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, errorDetail{Code: "rate_limited"}
	case errors.As(err, &rej):
		// A rejection is the same typed error whichever node refused
		// it (the admin API and DDNRS-RPC carry its reason as a field).
		st, ok := reasonStatus[rej.Reason]
		if !ok {
			st = statusCode{http.StatusUnprocessableEntity, "rejected"}
		}
		return st.status, errorDetail{Code: st.code, Reason: string(rej.Reason)}
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed, errorDetail{Code: "method_not_allowed"}
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoZone):
		return http.StatusNotFound, errorDetail{Code: "not_found"}
	case errors.Is(err, ErrNoGroupMember):
		return http.StatusServiceUnavailable, errorDetail{Code: "no_group_member"}
	case errors.Is(err, ErrNotRegistry), errors.Is(err, ErrNoRegistry):
		return http.StatusServiceUnavailable, errorDetail{Code: "no_registry"}
	case errors.Is(err, raftfsm.ErrNoQuorum):
		return http.StatusServiceUnavailable, errorDetail{Code: "outcome_unknown"}
	case errors.Is(err, raftfsm.ErrNoLeader):
		return http.StatusServiceUnavailable, errorDetail{Code: "no_leader"}
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, errorDetail{Code: "timeout"}
	}
	return http.StatusInternalServerError, errorDetail{Code: "internal"}
}

// errorMessage is the message people read for err (the web pages show it
// beside the form). Internal errors do not leak details.
func errorMessage(err error) string {
	status, d := errorCode(err)
	switch {
	case status == http.StatusInternalServerError:
		return "internal error"
	case d.Code == "outcome_unknown":
		return err.Error() + "; the change may or may not have been committed: send the same request again (a change already committed is answered as done)"
	}
	return err.Error()
}

// writeError writes err as JSON with its status and stable code, adds
// Retry-After to 429s and notes the code for the audit record.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, d := errorCode(err)
	d.Message = errorMessage(err)
	if status == http.StatusInternalServerError {
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
		s.log.Log(r.Context(), level, "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(rl.RetryAfter)))
	case d.Code == "outcome_unknown", d.Code == "no_leader":
		w.Header().Set("Retry-After", "1") // an election takes well under a second
	case d.Code == "no_group_member":
		// Temporary: the group's members are being admitted to this
		// node's overlay (a cluster just started: a heartbeat plus a
		// log poll) or are restarting. Clients that honour Retry-After
		// (ddnrs zone publish --api) ask again.
		w.Header().Set("Retry-After", "2")
	}
	if st := stateOf(r.Context()); st != nil {
		st.result = d.Code
		if (d.Code == "outcome_unknown" || d.Code == "timeout") && st.zone != "" && r.Method != http.MethodGet {
			d.Check = "/v1/zones/" + st.zone
		}
	}
	writeJSON(w, status, errorBody{Error: d})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}
