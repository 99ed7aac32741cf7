package pki

// scope.go: certificates that name their group and role (issue 14 item
// 1). A scoped certificate (certificate format version 2) carries one URI
// subject alternative name
//
//	urn:ddnrs:scope:ROLE:GROUP
//
// ROLE is member (a node of GROUP), registry (a node of the registry
// group GROUP) or operator (the ops CLI, for GROUP's admin endpoint, or
// for every group's when GROUP is "*"). A certificate without such a name
// is version 1, cluster-wide: every group accepted it before scopes
// existed, and still does unless a node requires scopes ([tls]
// require_scope). docs/architecture.md, "Trust per group and role".

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/internal/wallclock"
)

// Role is what a scoped certificate may do.
type Role string

// The roles.
const (
	RoleMember   Role = "member"
	RoleRegistry Role = "registry"
	RoleOperator Role = "operator"
	// RoleCommunity is a community node of GROUP, admitted by the
	// registry's review (ddnrs node request --submit): only groups whose
	// nodes set [group] community = true accept it at Raft and their
	// admin endpoint; a registry member accepts its heartbeats.
	RoleCommunity Role = "community"
)

// AllGroups is the group of an operator certificate valid for every
// group's admin endpoint.
const AllGroups = "*"

// scopePrefix starts the URI name of a scoped certificate.
const scopePrefix = "urn:ddnrs:scope:"

// Errors of scopes.
var (
	// ErrNoScope is returned by ScopeOf for a certificate that names no
	// scope: a version 1, cluster-wide certificate.
	ErrNoScope = errors.New("certificate names no group and role (a cluster-wide version 1 certificate)")
	// ErrBadScope is returned by ParseScope and ScopeOf when a scope is
	// malformed: unknown role, bad group name, "*" for a node, or a
	// certificate naming several scopes.
	ErrBadScope = errors.New("bad certificate scope")
	// ErrOutOfScope is returned by a node's checks when a certificate's
	// scope does not open what it was presented to (another group's
	// Raft, an operator at Raft, ...).
	ErrOutOfScope = errors.New("certificate scope does not allow this")
)

// Scope is the group and role a certificate names.
type Scope struct {
	Role  Role
	Group string // a group name; AllGroups only for RoleOperator
}

// String returns the scope as "ROLE:GROUP", the form ParseScope reads.
func (s Scope) String() string { return string(s.Role) + ":" + s.Group }

// URI returns the scope's subject alternative name.
func (s Scope) URI() *url.URL {
	u, _ := url.Parse(scopePrefix + s.String()) // checked by validate
	return u
}

// validate checks the role and group.
func (s Scope) validate() error {
	switch s.Role {
	case RoleMember, RoleRegistry, RoleOperator, RoleCommunity:
	default:
		return fmt.Errorf("%w: role %q, want member, registry, operator or community", ErrBadScope, s.Role)
	}
	if s.Group == AllGroups {
		if s.Role != RoleOperator {
			return fmt.Errorf("%w: group %q is for operators only; a %s names its group", ErrBadScope, AllGroups, s.Role)
		}
		return nil
	}
	if s.Group == "" || len(s.Group) > 63 {
		return fmt.Errorf("%w: group %q, want 1 to 63 characters", ErrBadScope, s.Group)
	}
	for _, r := range s.Group {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: group %q: only letters, digits, '-', '_' and '.', as [group] name", ErrBadScope, s.Group)
		}
	}
	return nil
}

// ParseScope reads "ROLE:GROUP" (member:eu, registry:reg, operator:eu,
// operator:*).
func ParseScope(text string) (Scope, error) {
	role, group, ok := strings.Cut(text, ":")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q, want ROLE:GROUP (member:eu, registry:reg, operator:eu, operator:*)", ErrBadScope, text)
	}
	s := Scope{Role: Role(role), Group: group}
	if err := s.validate(); err != nil {
		return Scope{}, err
	}
	return s, nil
}

// ScopeOf returns the scope a certificate names: ErrNoScope for a
// version 1 certificate (no scope name), ErrBadScope for a malformed one
// or for several.
func ScopeOf(c *x509.Certificate) (Scope, error) {
	var found []Scope
	for _, u := range c.URIs {
		text := u.String()
		rest, ok := strings.CutPrefix(text, scopePrefix)
		if !ok {
			continue
		}
		s, err := ParseScope(rest)
		if err != nil {
			return Scope{}, fmt.Errorf("%q: %w", text, err)
		}
		found = append(found, s)
	}
	switch len(found) {
	case 0:
		return Scope{}, ErrNoScope
	case 1:
		return found[0], nil
	default:
		return Scope{}, fmt.Errorf("%w: %d scopes in one certificate", ErrBadScope, len(found))
	}
}

// IssueOptions are the optional parts of a scoped certificate.
type IssueOptions struct {
	IPs      []net.IP
	DNSNames []string
	// Validity is how long the certificate is valid. Default (0):
	// NodeValidity. It never outlasts the CA.
	Validity time.Duration
}

// IssueNodeFor is IssueNode with a validity (0: NodeValidity).
func IssueNodeFor(ca *CA, id string, ips []net.IP, dnsNames []string, validity time.Duration) (*Pair, error) {
	return issueWith(ca, id, ips, dnsNames, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, wallclock.Now(), validity, nil)
}

// IssueScoped issues a certificate for id (its common name) naming scope,
// for server and client authentication (a cluster credential, like
// IssueNode's), valid for o.Validity.
func IssueScoped(ca *CA, id string, scope Scope, o IssueOptions) (*Pair, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	return issueWith(ca, id, o.IPs, o.DNSNames, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, wallclock.Now(), o.Validity, scope.URI())
}
