package pki

// request.go: joining by request (issue 14 item 2). A node makes its own
// key and a certificate request (PKCS #10, PEM "CERTIFICATE REQUEST"):
// the key never leaves the node. The request names the node (common
// name), its addresses (IP and DNS alternative names), the scope it asks
// for and, as URI alternative names the request's signature covers, the
// node operator's statement:
//
//	urn:ddnrs:scope:ROLE:GROUP                 the scope asked for (required)
//	urn:ddnrs:agreement:VERSION:SHA256HEX      the operator agreement accepted:
//	                                           its version label and the SHA-256
//	                                           of its text (required)
//	urn:ddnrs:uptime:PERCENT                   the uptime the operator commits to,
//	                                           e.g. 99.9 (required)
//	urn:ddnrs:bandwidth:MBITS                  the bandwidth it commits to, in
//	                                           Mbit/s (required)
//
// Because the node's key signs the request, the statement is the node
// operator's, signed: an approver (ddnrs ops node approve) checks that the
// agreement hash is the one of the agreement it holds and that the scope is
// the one it grants, and issues a certificate that carries only the scope
// (IssueForRequest). docs/architecture.md, "Joining by request".

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/internal/wallclock"
)

// RequestPEMType is the PEM block type of a certificate request.
const RequestPEMType = "CERTIFICATE REQUEST"

// RequestFile is the request's file name in a node's directory.
const RequestFile = "node.csr"

// ErrBadRequest is returned by ParseRequest when the bytes are not a
// PEM certificate request whose signature verifies and whose statement
// is complete and well formed.
var ErrBadRequest = errors.New("bad certificate request")

// The statement's URI prefixes.
const (
	agreementPrefix = "urn:ddnrs:agreement:"
	uptimePrefix    = "urn:ddnrs:uptime:"
	bandwidthPrefix = "urn:ddnrs:bandwidth:"
)

// Statement is what a node's operator states in a request: the agreement
// accepted and the service committed to.
type Statement struct {
	// AgreementVersion labels the agreement's text (1 to 32 letters,
	// digits, '.', '-' or '_'), e.g. "2026-1".
	AgreementVersion string
	// AgreementSHA256 is the SHA-256 of the agreement's text, hex.
	AgreementSHA256 string
	// UptimePercent is the committed uptime, above 0 and at most 100.
	UptimePercent float64
	// BandwidthMbps is the committed bandwidth in Mbit/s, at least 1.
	BandwidthMbps int
}

// AgreementHash returns the hex SHA-256 of an agreement's text.
func AgreementHash(text []byte) string {
	s := sha256.Sum256(text)
	return hex.EncodeToString(s[:])
}

func (s Statement) validate() error {
	if v := s.AgreementVersion; v == "" || len(v) > 32 || strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		return fmt.Errorf("%w: agreement version %q: want 1 to 32 letters, digits, '.', '-' or '_'", ErrBadRequest, v)
	}
	if b, err := hex.DecodeString(s.AgreementSHA256); err != nil || len(b) != sha256.Size || strings.ToLower(s.AgreementSHA256) != s.AgreementSHA256 {
		return fmt.Errorf("%w: agreement hash %q: want 64 lower-case hex digits (SHA-256)", ErrBadRequest, s.AgreementSHA256)
	}
	if !(s.UptimePercent > 0 && s.UptimePercent <= 100) {
		return fmt.Errorf("%w: uptime %v%%: want above 0 and at most 100", ErrBadRequest, s.UptimePercent)
	}
	if s.BandwidthMbps < 1 || s.BandwidthMbps > 10_000_000 {
		return fmt.Errorf("%w: bandwidth %d Mbit/s: want 1 to 10000000", ErrBadRequest, s.BandwidthMbps)
	}
	return nil
}

// UptimeText is the uptime as the request and the log write it.
func (s Statement) UptimeText() string {
	return strconv.FormatFloat(s.UptimePercent, 'f', -1, 64)
}

func (s Statement) uris() []*url.URL {
	var out []*url.URL
	for _, t := range []string{
		agreementPrefix + s.AgreementVersion + ":" + s.AgreementSHA256,
		uptimePrefix + s.UptimeText(),
		bandwidthPrefix + strconv.Itoa(s.BandwidthMbps),
	} {
		u, _ := url.Parse(t) // validated
		out = append(out, u)
	}
	return out
}

// Request is a parsed, signature-checked certificate request.
type Request struct {
	CSR       *x509.CertificateRequest
	ID        string // the common name: the node's [group] id
	Scope     Scope  // the scope asked for
	Statement Statement
}

// RequestOptions are what a node puts in its request.
type RequestOptions struct {
	ID        string
	Scope     Scope
	IPs       []net.IP
	DNSNames  []string
	Statement Statement
}

// NewRequest makes a new key (ECDSA P-256) and a request for o signed
// with it. The key is the node's; only the request (PEM) is sent.
func NewRequest(o RequestOptions) (crypto.Signer, []byte, error) {
	if o.ID == "" {
		return nil, nil, fmt.Errorf("%w: no node id", ErrBadRequest)
	}
	if err := o.Scope.validate(); err != nil {
		return nil, nil, err
	}
	if o.Scope.Role == RoleOperator {
		return nil, nil, fmt.Errorf("%w: a node asks for member or registry, not %s", ErrBadRequest, o.Scope)
	}
	if len(o.IPs) == 0 && len(o.DNSNames) == 0 {
		return nil, nil, fmt.Errorf("%w: no address: peers check the address they dial against the certificate", ErrBadRequest)
	}
	if err := o.Statement.validate(); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating node key: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: o.ID, Organization: []string{"DDNRS cluster"}},
		IPAddresses: o.IPs,
		DNSNames:    o.DNSNames,
		URIs:        append([]*url.URL{o.Scope.URI()}, o.Statement.uris()...),
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the certificate request: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: RequestPEMType, Bytes: der}), nil
}

// ParseRequest reads a PEM certificate request, checks its signature (the
// key it names signed it, so the statement is the node's) and reads the
// scope and the statement. Everything else in it (other URIs, e-mail
// addresses) is refused.
func ParseRequest(b []byte) (*Request, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != RequestPEMType {
		return nil, fmt.Errorf("%w: no PEM %q block", ErrBadRequest, RequestPEMType)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: bytes after the request", ErrBadRequest)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify (the request was changed after the node signed it): %v", ErrBadRequest, err)
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: key type %T, want ECDSA P-256", ErrBadRequest, csr.PublicKey)
	}
	r := &Request{CSR: csr, ID: csr.Subject.CommonName}
	if r.ID == "" || len(r.ID) > 64 {
		return nil, fmt.Errorf("%w: node id (common name) %q: want 1 to 64 characters", ErrBadRequest, r.ID)
	}
	if len(csr.EmailAddresses) > 0 {
		return nil, fmt.Errorf("%w: e-mail addresses are not node addresses", ErrBadRequest)
	}
	if len(csr.IPAddresses) == 0 && len(csr.DNSNames) == 0 {
		return nil, fmt.Errorf("%w: no IP or DNS name", ErrBadRequest)
	}
	var scopes, agreements, uptimes, bandwidths int
	for _, u := range csr.URIs {
		text := u.String()
		switch {
		case strings.HasPrefix(text, scopePrefix):
			s, err := ParseScope(strings.TrimPrefix(text, scopePrefix))
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
			}
			r.Scope = s
			scopes++
		case strings.HasPrefix(text, agreementPrefix):
			v, h, ok := strings.Cut(strings.TrimPrefix(text, agreementPrefix), ":")
			if !ok {
				return nil, fmt.Errorf("%w: %q: want %sVERSION:SHA256", ErrBadRequest, text, agreementPrefix)
			}
			r.Statement.AgreementVersion, r.Statement.AgreementSHA256 = v, h
			agreements++
		case strings.HasPrefix(text, uptimePrefix):
			f, err := strconv.ParseFloat(strings.TrimPrefix(text, uptimePrefix), 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %q: not a number", ErrBadRequest, text)
			}
			r.Statement.UptimePercent = f
			uptimes++
		case strings.HasPrefix(text, bandwidthPrefix):
			n, err := strconv.Atoi(strings.TrimPrefix(text, bandwidthPrefix))
			if err != nil {
				return nil, fmt.Errorf("%w: %q: not a whole number", ErrBadRequest, text)
			}
			r.Statement.BandwidthMbps = n
			bandwidths++
		default:
			return nil, fmt.Errorf("%w: unknown URI name %q", ErrBadRequest, text)
		}
	}
	switch {
	case scopes != 1:
		return nil, fmt.Errorf("%w: %d scopes, want one (urn:ddnrs:scope:member:GROUP)", ErrBadRequest, scopes)
	case agreements != 1:
		return nil, fmt.Errorf("%w: the request does not carry the operator agreement signed (want one %sVERSION:SHA256, made by 'ddnrs node request --agreement FILE')", ErrBadRequest, agreementPrefix)
	case uptimes != 1 || bandwidths != 1:
		return nil, fmt.Errorf("%w: the request must state one uptime and one bandwidth ('ddnrs node request --uptime --bandwidth')", ErrBadRequest)
	}
	if r.Scope.Role == RoleOperator {
		return nil, fmt.Errorf("%w: a node asks for member or registry, not %s", ErrBadRequest, r.Scope)
	}
	if err := r.Statement.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// IssueForRequest issues a certificate for the request's key, common name
// and addresses, naming scope (only: the statement stays in the request
// and the log), for server and client authentication, valid for validity
// (0: NodeValidity). The caller has checked that scope is what the
// request asks for.
func IssueForRequest(ca *CA, r *Request, scope Scope, validity time.Duration) (*x509.Certificate, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	return signLeaf(ca, r.CSR.PublicKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: r.ID, Organization: []string{"DDNRS cluster"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: r.CSR.IPAddresses,
		DNSNames:    r.CSR.DNSNames,
		URIs:        []*url.URL{scope.URI()},
	}, wallclock.Now(), validity)
}

// Reissue issues a certificate like old (name, addresses, usages, scope)
// for pub, valid for validity from now: a renewal (ddnrs ops ca serve).
func Reissue(ca *CA, old *x509.Certificate, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	return signLeaf(ca, pub, &x509.Certificate{
		Subject:     old.Subject,
		ExtKeyUsage: old.ExtKeyUsage,
		IPAddresses: old.IPAddresses,
		DNSNames:    old.DNSNames,
		URIs:        old.URIs,
	}, wallclock.Now(), validity)
}

// signLeaf fills tmpl's serial, validity (0: NodeValidity, never past the
// CA) and key usage, and signs it for pub with ca.
func signLeaf(ca *CA, pub crypto.PublicKey, tmpl *x509.Certificate, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	if validity <= 0 {
		validity = NodeValidity
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdateFor(validity))
	tmpl.NotAfter = notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
