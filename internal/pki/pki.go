// Package pki makes and loads the cluster's certificates: a cluster CA,
// node certificates it issues (server and client authentication, so the
// same pair serves Raft, the admin endpoint and the ops CLI), serving-only
// certificates for the DNS clients' side (DoT, DoH, DoQ: server
// authentication only, never a cluster credential), and the TLS
// configurations that require mutual TLS 1.3 against that CA.
//
// Cluster credential: a certificate the cluster CA issued that lists the
// client-authentication usage explicitly (IssueNode's). Every cluster
// configuration here (ServerTLS, ClientTLS, MutualTLS) checks the peer
// with CheckClusterCert after the chain is verified, so a serving-only
// certificate (IssueServer's, or any without the usage) opens neither
// the admin endpoint nor Raft, even when the cluster CA issued it.
//
// Keys are ECDSA P-256: every TLS 1.3 client we test with (Go, kdig,
// curl, browsers) accepts it, which is not true of Ed25519 certificates.
// Files are PEM; private keys are PKCS #8 and written with mode 0600.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ddnrs/ddnrs/internal/wallclock"
)

// Errors returned by the package.
var (
	// ErrExists is returned by Save when a file it would write already
	// exists; nothing is overwritten.
	ErrExists = errors.New("file already exists")
	// ErrBadPEM is returned by the loaders when a file holds no PEM block
	// of the expected type, or the block does not parse.
	ErrBadPEM = errors.New("not a PEM certificate or key")
	// ErrKeyMismatch is returned by the loaders when the private key does
	// not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrNotCA is returned by LoadCA when the certificate is not a CA
	// certificate.
	ErrNotCA = errors.New("certificate is not a CA")
	// ErrNotClusterCert is returned by CheckClusterCert (and so by the
	// handshakes of ServerTLS, ClientTLS and MutualTLS) when a peer's
	// certificate does not list the client-authentication usage: a
	// certificate meant only for serving (the DNS-facing one) or one
	// without extended key usages, which Go's verifier would accept for
	// any purpose.
	ErrNotClusterCert = errors.New("certificate is not a cluster credential (no client-authentication usage)")
	// ErrServingCertIsCredential is returned by CheckServingCert when a
	// certificate meant to face DNS clients would also open the cluster:
	// it is issued by the cluster CA and allows client authentication.
	ErrServingCertIsCredential = errors.New("the DNS-facing certificate is a cluster credential")
)

// File names inside a CA directory and a node directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "node.crt"
	KeyFile    = "node.key"
)

// Validity periods.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	NodeValidity = 365 * 24 * time.Hour
	// backdate is subtracted from NotBefore so a peer whose clock is a
	// little behind accepts a certificate issued a moment ago; a
	// short-lived certificate is backdated by a tenth of its validity at
	// most (backdateFor), so that its NotBefore to NotAfter span, which
	// renewal is timed by, stays close to the validity asked for.
	backdate = time.Hour
)

// backdateFor is how far a certificate valid for validity is backdated.
func backdateFor(validity time.Duration) time.Duration {
	return min(backdate, validity/10)
}

// CA is a cluster certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Pair is a node certificate (as issued, without the CA) and its key.
type Pair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a self-signed CA named name, valid for ten years from now.
func NewCA(name string) (*CA, error) {
	return newCA(name, wallclock.Now())
}

func newCA(name string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"DDNRS cluster"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// IssueNode issues a certificate for the node id (its common name), valid
// for a year, for both server and client authentication, naming ips and
// dnsNames as subject alternative names. Peers dialling a node by address
// check the address against these names, so list every address the node
// is reached at.
func IssueNode(ca *CA, id string, ips []net.IP, dnsNames []string) (*Pair, error) {
	return issueNode(ca, id, ips, dnsNames, wallclock.Now())
}

func issueNode(ca *CA, id string, ips []net.IP, dnsNames []string, now time.Time) (*Pair, error) {
	return issue(ca, id, ips, dnsNames, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, now)
}

func issue(ca *CA, id string, ips []net.IP, dnsNames []string, usages []x509.ExtKeyUsage, now time.Time) (*Pair, error) {
	return issueWith(ca, id, ips, dnsNames, usages, now, 0, nil)
}

// issueWith issues a certificate valid for validity (0: NodeValidity),
// never past the CA's end, naming uri (nil: none) as a URI alternative
// name.
func issueWith(ca *CA, id string, ips []net.IP, dnsNames []string, usages []x509.ExtKeyUsage, now time.Time, validity time.Duration, uri *url.URL) (*Pair, error) {
	if id == "" {
		return nil, errors.New("certificate needs a name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating node key: %w", err)
	}
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
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id, Organization: []string{"DDNRS cluster"}},
		NotBefore:    now.Add(-backdateFor(validity)),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
		IPAddresses:  ips,
		DNSNames:     dnsNames,
	}
	if uri != nil {
		tmpl.URIs = []*url.URL{uri}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate for %q: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing node certificate: %w", err)
	}
	return &Pair{Cert: cert, Key: key}, nil
}

// IssueServer issues a serving-only certificate named name with its own
// new key: server authentication only (ExtKeyUsage serverAuth), for the
// listeners that face DNS clients (DoT, DoH, DoQ). It is never a cluster
// credential: CheckClusterCert refuses it, so its key, which sits on
// every public listener, cannot open the admin endpoint or Raft. Prefer
// a CA of its own (NewCA) over the cluster CA for it, so it cannot even
// be presented as a cluster server.
func IssueServer(ca *CA, name string, ips []net.IP, dnsNames []string) (*Pair, error) {
	return issue(ca, name, ips, dnsNames, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, wallclock.Now())
}

// CheckClusterCert checks that leaf, a peer certificate whose chain to the
// cluster CA is already verified, is a cluster credential: it lists
// ExtKeyUsageClientAuth. It returns an error wrapping ErrNotClusterCert
// naming the certificate otherwise. Callers: the VerifyConnection of
// this package's configurations, the REST API's cluster-node check, and
// anything else that trusts a peer because the cluster CA issued it.
func CheckClusterCert(leaf *x509.Certificate) error {
	if leaf == nil {
		return fmt.Errorf("%w: no certificate", ErrNotClusterCert)
	}
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return nil
	}
	return fmt.Errorf("%w: %q (serial %x) lists usages %v", ErrNotClusterCert, leaf.Subject.CommonName, leaf.SerialNumber, usageNames(leaf.ExtKeyUsage))
}

// verifyClusterPeer is the VerifyConnection of the cluster
// configurations: the peer's leaf must be a cluster credential. crypto/tls
// calls it after verifying the chain, on both sides of a handshake.
func verifyClusterPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the peer sent none", ErrNotClusterCert)
	}
	return CheckClusterCert(cs.PeerCertificates[0])
}

// CheckServingCert checks that leaf, a certificate to serve DNS clients
// with, is not a cluster credential: it returns an error wrapping
// ErrServingCertIsCredential when the cluster CA (clusterCAs) verifies it
// for client authentication. A node refuses to start with such a
// certificate; nil clusterCAs checks nothing.
func CheckServingCert(leaf *x509.Certificate, clusterCAs *x509.CertPool) error {
	if leaf == nil || clusterCAs == nil {
		return nil
	}
	if CheckClusterCert(leaf) != nil {
		return nil
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: clusterCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil
	}
	return fmt.Errorf("%w: %q is issued by the cluster CA with client-authentication usage; issue it with server usage only (or from another CA)", ErrServingCertIsCredential, leaf.Subject.CommonName)
}

func usageNames(us []x509.ExtKeyUsage) []string {
	out := []string{}
	for _, u := range us {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			out = append(out, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			out = append(out, "clientAuth")
		case x509.ExtKeyUsageAny:
			out = append(out, "any")
		default:
			out = append(out, fmt.Sprintf("usage%d", u))
		}
	}
	return out
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// Pool returns a certificate pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Save writes the CA to dir (created with mode 0700 if missing) as
// CACertFile and CAKeyFile (mode 0600). It returns ErrExists, writing
// nothing, if either file is already there.
func (ca *CA) Save(dir string) error {
	return savePair(dir, CACertFile, CAKeyFile, ca.Cert, ca.Key)
}

// SaveCert writes only the CA certificate to dir as CACertFile, for
// nodes, which verify peers with it but must not hold the CA key. It
// returns ErrExists if the file is already there.
func (ca *CA) SaveCert(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, CACertFile), CertPEM(ca.Cert), 0o644)
}

// Save writes the pair to dir (created with mode 0700 if missing) as
// CertFile and KeyFile (mode 0600). It returns ErrExists, writing
// nothing, if either file is already there.
func (p *Pair) Save(dir string) error {
	return savePair(dir, CertFile, KeyFile, p.Cert, p.Key)
}

// TLS returns the pair as a tls.Certificate.
func (p *Pair) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{p.Cert.Raw}, PrivateKey: p.Key, Leaf: p.Cert}
}

// CertPEM returns the certificate in PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM returns key as PKCS #8 in PEM.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func savePair(dir, certName, keyName string, cert *x509.Certificate, key crypto.Signer) error {
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w", p, ErrExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, CertPEM(cert), 0o644); err != nil {
		return errors.Join(err, os.Remove(keyPath))
	}
	return nil
}

// writeNew creates path with data, failing with ErrExists if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, ErrExists)
	}
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return errors.Join(fmt.Errorf("writing %s: %w", path, err), os.Remove(path))
	}
	return nil
}

// LoadCA reads a CA saved with (*CA).Save from dir.
func LoadCA(dir string) (*CA, error) {
	cert, key, err := loadPair(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CACertFile), ErrNotCA)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadPair reads a certificate and its private key from two PEM files.
func LoadPair(certPath, keyPath string) (*Pair, error) {
	cert, key, err := loadPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	return &Pair{Cert: cert, Key: key}, nil
}

// LoadCAPool reads the CA certificate (only) from a PEM file: what a node
// needs to verify its peers.
func LoadCAPool(certPath string) (*x509.CertPool, error) {
	cert, err := loadCert(certPath)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: %w", certPath, ErrNotCA)
	}
	p := x509.NewCertPool()
	p.AddCert(cert)
	return p, nil
}

func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cert, err := loadCert(certPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := loadKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		if next, err := loadKey(keyPath + NextKeySuffix); err == nil {
			if np, ok := next.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && np.Equal(cert.PublicKey) {
				return nil, nil, fmt.Errorf("%s and %s: %w; %s%s holds the certificate's key (a renewal with a new key stopped before renaming it): move it over %s", certPath, keyPath, ErrKeyMismatch, keyPath, NextKeySuffix, keyPath)
			}
		}
		return nil, nil, fmt.Errorf("%s and %s: %w", certPath, keyPath, ErrKeyMismatch)
	}
	return cert, key, nil
}

// NextKeySuffix names the file a renewal with a new key writes the new
// key to (KEY.next) before the certificate, and renames over the key
// after it (clustertls.WriteRekeyed).
const NextKeySuffix = ".next"

// LoadCert reads one PEM certificate.
func LoadCert(path string) (*x509.Certificate, error) { return loadCert(path) }

func loadCert(path string) (*x509.Certificate, error) {
	b, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrBadPEM, err)
	}
	return cert, nil
}

// LoadKey reads one PEM private key.
func LoadKey(path string) (crypto.Signer, error) { return loadKey(path) }

func loadKey(path string) (crypto.Signer, error) {
	b, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrBadPEM, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %w: key type %T cannot sign", path, ErrBadPEM, k)
	}
	return s, nil
}

func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%s: %w: no %q block", path, ErrBadPEM, typ)
		}
		if b.Type == typ {
			return b.Bytes, nil
		}
	}
}

// SPKIPin returns the base64 SHA-256 of the certificate's subject public
// key info: the pin of RFC 7858 §4.2 (DoT) and RFC 7469 (HPKP), as
// `kdig +tls-pin=` and curl's --pinnedpubkey "sha256//..." take it.
func SPKIPin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ServerTLS returns a server configuration presenting pair and requiring a
// client certificate issued by the CA in pool that is a cluster
// credential (CheckClusterCert), TLS 1.3 only: the admin endpoint's.
func ServerTLS(pair *Pair, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{pair.TLS()},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		VerifyConnection: verifyClusterPeer,
		Time:             wallclock.Now,
	}
}

// ClientTLS returns a client configuration presenting pair and verifying
// the server against the CA in pool, TLS 1.3 only; the server's
// certificate must be a cluster credential too (a node's), so a
// serving-only certificate of the same CA cannot pose as a node. The
// server name is taken from the address dialled unless the caller sets
// ServerName.
func ClientTLS(pair *Pair, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{pair.TLS()},
		RootCAs:          pool,
		VerifyConnection: verifyClusterPeer,
		Time:             wallclock.Now,
	}
}

// RequireClusterPeer returns a copy of c whose handshakes also refuse a
// peer certificate that is not a cluster credential (CheckClusterCert),
// after c's own VerifyConnection, if any. Raft's stream layer applies it
// to whatever configuration it is given.
func RequireClusterPeer(c *tls.Config) *tls.Config {
	c = c.Clone()
	prev := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		return verifyClusterPeer(cs)
	}
	return c
}

// MutualTLS returns one configuration usable both to listen and to dial,
// as a Raft transport does: it presents pair, requires the peer's
// certificate, and verifies it against the CA in pool, TLS 1.3 only.
func MutualTLS(pair *Pair, pool *x509.CertPool) *tls.Config {
	c := ServerTLS(pair, pool)
	c.RootCAs = pool
	return c
}
