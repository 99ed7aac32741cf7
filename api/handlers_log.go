package api

import (
	_ "embed"
	"net/http"
	"strconv"
	"time"
)

// openAPIDoc is the OpenAPI 3.0 document of every /v1 endpoint.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ *call) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}

// uintParam reads a required unsigned query parameter.
func uintParam(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, missing(name)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalid(name, "%q is not an unsigned integer", v)
	}
	return n, nil
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalid(name, "%q is not an RFC 3339 time", v)
	}
	return t, nil
}

// handleAudit answers an admin key with every matching record, any other
// key with its own records only: of the whole cluster (this node's and
// every peer's, see clusterAudit), or with scope=node of this node only.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	scope := ScopeCluster
	switch v := q.Get("scope"); v {
	case "", ScopeCluster:
	case ScopeNode:
		scope = ScopeNode
	default:
		return invalid("scope", "%q is neither %q nor %q", v, ScopeCluster, ScopeNode)
	}
	f := AuditFilter{KeyID: q.Get("key")}
	if !isAdmin(c.key) {
		if f.KeyID != "" && f.KeyID != c.key.ID {
			// A key reads its sub-keys' records too.
			if _, err := s.ownKey(c, f.KeyID); err != nil {
				return &ScopeError{What: "action", Detail: "only an admin key reads the audit records of a key that is not the caller's or below it"}
			}
		}
		if f.KeyID == "" {
			f.KeyID = c.key.ID
		}
	}
	if z := q.Get("zone"); z != "" {
		origin, err := domainName("zone", z)
		if err != nil {
			return err
		}
		f.Zone = origin
	}
	var err error
	if f.Since, err = timeParam(r, "since"); err != nil {
		return err
	}
	if f.Until, err = timeParam(r, "until"); err != nil {
		return err
	}
	if q.Get("limit") != "" {
		n, err := uintParam(r, "limit")
		if err != nil {
			return err
		}
		if n == 0 || n > maxAuditLimit {
			return invalid("limit", "%d is not between 1 and %d", n, maxAuditLimit)
		}
		f.Limit = int(n)
	}
	l, err := s.clusterAudit(r.Context(), f, scope, r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request, _ *call) error {
	msg, _, err := s.checkpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(msg)
	return nil
}

func (s *Server) handleEntries(w http.ResponseWriter, r *http.Request, _ *call) error {
	start, err := uintParam(r, "start")
	if err != nil {
		return err
	}
	end, err := uintParam(r, "end")
	if err != nil {
		return err
	}
	es, err := s.logEntries(r.Context(), start, end)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
	return nil
}

// proofJSON is an inclusion or consistency proof.
type proofJSON struct {
	Index  *uint64  `json:"index,omitempty"`
	Size   *uint64  `json:"size,omitempty"`
	First  *uint64  `json:"first,omitempty"`
	Second *uint64  `json:"second,omitempty"`
	Hashes [][]byte `json:"hashes"`
}

func hashes(p [][32]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

func (s *Server) handleInclusion(w http.ResponseWriter, r *http.Request, _ *call) error {
	index, err := uintParam(r, "index")
	if err != nil {
		return err
	}
	size, err := uintParam(r, "size")
	if err != nil {
		return err
	}
	p, err := s.inclusionProof(r.Context(), index, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofJSON{Index: &index, Size: &size, Hashes: hashes(p)})
	return nil
}

func (s *Server) handleConsistency(w http.ResponseWriter, r *http.Request, _ *call) error {
	first, err := uintParam(r, "first")
	if err != nil {
		return err
	}
	second, err := uintParam(r, "second")
	if err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	if second > reg.LogSize() {
		return invalid("second", "%d is above the log size %d", second, reg.LogSize())
	}
	if first > second {
		return invalid("first", "%d is above second %d", first, second)
	}
	p, err := reg.Log().ConsistencyProof(first, second)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofJSON{First: &first, Second: &second, Hashes: hashes(p)})
	return nil
}
