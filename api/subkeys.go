package api

import (
	"fmt"
	"slices"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Sub-keys (issue 12 item 4; raftfsm/subkey.go has the rules): any key
// may issue keys narrower than itself (POST /v1/keys without the admin
// action), list the keys below it (GET /v1/keys) and revoke them
// (DELETE /v1/keys/{id}); revoking a key revokes every key below it. A
// sub-key's requests draw from its own rate bucket and from its top
// key's. Each issue and revocation is an audit record of the caller's
// key with the key concerned as its target.

// DefaultMaxSubKeys caps the live sub-keys directly under one key
// (Options.MaxSubKeys); the cap travels in each IssueKey.
const DefaultMaxSubKeys = 100

func limitOr(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// rootKey is the key at the top of k's chain of parents (k itself for a
// key a reviewer issued), as this node's registry holds it.
func (s *Server) rootKey(k raftfsm.APIKey) raftfsm.APIKey {
	if k.Parent == "" {
		return k
	}
	reg, err := s.b.Registry()
	if err != nil {
		return k
	}
	if up := reg.Ancestors(k); len(up) > 0 {
		return up[len(up)-1]
	}
	return k
}

// checkAncestors fails when a key above k is revoked or expired at now.
// The state machine revokes sub-keys with their parent and refuses a
// sub-key outliving its parent; this check holds even for a registry
// replica that applied half of that.
func checkAncestors(reg registryReader, k raftfsm.APIKey, now time.Time) error {
	for _, a := range reg.Ancestors(k) {
		if a.Revoked {
			return fmt.Errorf("%w: key %s was revoked with key %s above it", ErrKeyRevoked, k.ID, a.ID)
		}
		if !a.Expires.IsZero() && !now.Before(a.Expires) {
			return fmt.Errorf("%w: key %s above key %s expired at %s", ErrKeyExpired, a.ID, k.ID, a.Expires.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// registryReader is the part of the registry state checkAncestors reads.
type registryReader interface {
	Ancestors(raftfsm.APIKey) []raftfsm.APIKey
}

// above reports whether key id is k itself or one of the keys above k:
// whether a caller holding id may see and revoke k.
func above(reg registryReader, id string, k raftfsm.APIKey) bool {
	return k.ID == id || slices.ContainsFunc(reg.Ancestors(k), func(a raftfsm.APIKey) bool { return a.ID == id })
}

// noteTarget records the key a request issues or revokes, for the audit
// record.
func noteTarget(st *reqState, id string) {
	if st != nil {
		st.target = id
	}
}
