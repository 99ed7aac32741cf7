package ops

// group_bootstrap_request.go: `ddnrs ops group bootstrap --request`, a
// new group whose members made their own keys (issue 14 item 2): each
// member runs 'ddnrs node request --id NAME-N --scope member:NAME' and
// sends its node.csr; bootstrap issues the certificate for that key and
// writes no key, so the CA holder never holds a node's key. Without
// --request, bootstrap generates the keys as before.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// bootstrapRequests reads and checks the --request files: one per
// member, in member order, each asking for member i's id and scope and
// naming its address. nil without --request.
func bootstrapRequests(opts *bootstrapOptions, ips []net.IP) ([]*pki.Request, error) {
	if len(opts.Requests) == 0 {
		return nil, nil
	}
	if len(opts.Requests) != opts.Members {
		return nil, usagef("--request: give one per member (%d), in member order, not %d", opts.Members, len(opts.Requests))
	}
	scope := memberScope(opts)
	out := make([]*pki.Request, len(opts.Requests))
	for i, path := range opts.Requests {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, withHint(fmt.Errorf("--request: %w", err), "each member's node.csr, made by 'ddnrs node request'")
		}
		r, err := pki.ParseRequest(b)
		if err != nil {
			return nil, withHint(fmt.Errorf("--request %s: %w", path, err), "ask the member for a new request made with 'ddnrs node request'")
		}
		id := memberID(opts.Name, i)
		ip := ips[0]
		if len(ips) > 1 {
			ip = ips[i]
		}
		switch {
		case r.ID != id:
			return nil, usagef("--request %s is %q's, but member %d is %q: the member makes it with 'ddnrs node request --id %s --scope %s'", path, r.ID, i+1, id, id, scope)
		case r.Scope != scope:
			return nil, usagef("--request %s asks for %s; this group's members are %s", path, r.Scope, scope)
		case !hasIP(r.CSR.IPAddresses, ip):
			return nil, usagef("--request %s does not name %s, where member %d listens (its IPs: %v)", path, ip, i+1, r.CSR.IPAddresses)
		}
		out[i] = r
	}
	return out, nil
}

func hasIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

// saveRequested writes member dir's certificate issued for its request:
// node.crt only; the member puts its own node.key beside it.
func saveRequested(ca *pki.CA, r *pki.Request, opts *bootstrapOptions, dir string) error {
	c, err := pki.IssueForRequest(ca, r, memberScope(opts), opts.CertValidity)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeNewMode(filepath.Join(dir, pki.CertFile), pki.CertPEM(c), 0o644)
}
