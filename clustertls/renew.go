package clustertls

// renew.go: short-lived cluster certificates renewed automatically (issue
// 14 item 1). An issuing service the operator runs where the CA key is
// (`ddnrs ops ca serve`, Issuer) re-issues a certificate to its holder:
// the client authenticates with the certificate it wants renewed (mutual
// TLS 1.3 against the cluster CA), and gets the same name, addresses and
// scope for the same key, valid for the service's validity from now. The
// service refuses a certificate the registry's log revoked (it reads the
// log at each request, so the bound is the registry's commit, not a
// poll), one that is not a cluster credential, and an expired one (the
// handshake does). A node renews its own certificate (Renewer) once a
// third of its lifetime is left, writing the new certificate over its
// [tls] cert file, where the Reloader picks it up at the next handshake.
// A renewal may also change the key (RenewKey, [tls] renew_new_key): the
// body then carries a request signed by the new key and the current
// key's signature over it (pki.ParseRekey), and the certificate is issued
// for the new key; the current one is not revoked, it stays valid until
// it ends. docs/architecture.md, "Trust per group and role".

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/translog"
	"golang.org/x/mod/sumdb/note"
)

// RenewPath is the issuing service's one endpoint: POST, no body to keep
// the key, or a renewal with a new key (pki.RekeyBody, at most
// maxRenewBody bytes); the answer is the renewed certificate in PEM.
const RenewPath = "/v1/renew"

// Errors of renewal.
var (
	// ErrRenewRefused is returned by Renew when the issuing service
	// refused (the certificate is revoked, not a cluster credential, or
	// the service cannot read the registry's log): its message says why.
	ErrRenewRefused = errors.New("the issuing service refused to renew")
	// ErrBadRenewal is returned by Renew when the service's answer is not
	// a certificate for the same key, name and scope, issued by the
	// cluster CA.
	ErrBadRenewal = errors.New("the issuing service's certificate is not a renewal of ours")
)

// RevocationSource tells the issuing service which serials are revoked.
// Issuer calls it on each request, from that request's goroutine.
type RevocationSource interface {
	Revoked(ctx context.Context) (map[string]client.LogRevoked, error)
}

// Issuer is the issuing service's HTTP handler. Set the fields before
// serving; it is safe for concurrent use.
type Issuer struct {
	// CA signs the renewals.
	CA *pki.CA
	// Validity of a renewed certificate (at least a minute).
	Validity time.Duration
	// Revocations lists the revoked serials; nil checks none (a cluster
	// without a registry).
	Revocations RevocationSource
	// Log receives each renewal and refusal.
	Log *slog.Logger
}

// ServeHTTP renews the client certificate of the request's connection.
func (is *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := is.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r.URL.Path != RenewPath {
		http.Error(w, "not found: POST "+RenewPath, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: POST "+RenewPath, http.StatusMethodNotAllowed)
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "forbidden: no client certificate", http.StatusForbidden)
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	if err := pki.CheckClusterCert(leaf); err != nil {
		http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
		return
	}
	if s, err := pki.ScopeOf(leaf); err == nil && s.Role == pki.RoleOperator {
		// Operators' certificates are issued by hand, for a purpose.
		http.Error(w, "forbidden: operator certificates are not renewed here; issue one with 'ddnrs ops cert issue'", http.StatusForbidden)
		return
	}
	if is.Revocations != nil {
		revoked, err := is.Revocations.Revoked(r.Context())
		if err != nil {
			log.Warn("renewal: cannot read the registry's log; refusing", "cert", leaf.Subject.CommonName, "err", err)
			http.Error(w, "unavailable: cannot read the registry's log to check revocations: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if rv, ok := revoked[serialText(leaf)]; ok {
			log.Warn("renewal refused: revoked", "cert", leaf.Subject.CommonName, "serial", serialText(leaf))
			http.Error(w, fmt.Sprintf("forbidden: %s: %q (serial %s), revoked %s: %s", ErrRevoked, leaf.Subject.CommonName, serialText(leaf), rv.Time.UTC().Format(time.RFC3339), rv.Reason), http.StatusForbidden)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRenewBody))
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	pub, newKey := leaf.PublicKey, len(body) > 0
	if newKey {
		if pub, err = pki.ParseRekey(body, leaf); err != nil {
			log.Warn("renewal with a new key refused", "cert", leaf.Subject.CommonName, "serial", serialText(leaf), "err", err)
			http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
	}
	c, err := pki.Reissue(is.CA, leaf, pub, is.Validity)
	if err != nil {
		http.Error(w, "internal error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	log.Info("renewed", "cert", c.Subject.CommonName, "old_serial", serialText(leaf), "serial", serialText(c), "new_key", newKey, "not_after", c.NotAfter.UTC())
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(pki.CertPEM(c))
}

// IssuerTLS is the issuing service's TLS configuration: its own serving
// certificate, and a client certificate the cluster CA in pool issued,
// required (TLS 1.3).
func IssuerTLS(serving tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		Time:         wallclock.Now,
	}
}

// maxRenewBody bounds a renewal's body (a request and a signature).
const maxRenewBody = 16 << 10

// Renew asks the issuing service at baseURL (https://HOST:PORT) to renew
// the certificate c presents (its GetClientCertificate or Certificates),
// verifying the service against c's RootCAs. It returns the new
// certificate after checking it is a renewal of cur (same key, name and
// scope) that the CA in c.RootCAs issued.
func Renew(ctx context.Context, baseURL string, c *tls.Config, cur *x509.Certificate) (*x509.Certificate, error) {
	return renew(ctx, baseURL, c, cur, nil, cur.PublicKey)
}

// RenewKey is Renew with a new key: it makes the key, signs the renewal
// with curKey (cur's key, which c must present) and the new key, and
// returns the certificate for the new key, checked as Renew checks, and
// the key. The caller stores both; cur stays valid until it ends.
func RenewKey(ctx context.Context, baseURL string, c *tls.Config, cur *x509.Certificate, curKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, body, err := pki.NewRekey(cur, curKey)
	if err != nil {
		return nil, nil, err
	}
	nc, err := renew(ctx, baseURL, c, cur, body, key.Public())
	if err != nil {
		return nil, nil, err
	}
	return nc, key, nil
}

func renew(ctx context.Context, baseURL string, c *tls.Config, cur *x509.Certificate, body []byte, want crypto.PublicKey) (*x509.Certificate, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+RenewPath, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-pem-file")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: %s", ErrRenewRefused, resp.Status, strings.TrimSpace(string(ans)))
	}
	blk, _ := pem.Decode(ans)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: no PEM certificate in the answer", ErrBadRenewal)
	}
	nc, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRenewal, err)
	}
	if err := checkRenewal(cur, nc, c.RootCAs, want); err != nil {
		return nil, err
	}
	return nc, nil
}

// CheckRenewal checks that nc renews cur: the same public key, common
// name and scope, a cluster credential the CA in roots issued, ending
// later.
func CheckRenewal(cur, nc *x509.Certificate, roots *x509.CertPool) error {
	return checkRenewal(cur, nc, roots, cur.PublicKey)
}

// checkRenewal is CheckRenewal for the public key want (a new key's).
func checkRenewal(cur, nc *x509.Certificate, roots *x509.CertPool, want crypto.PublicKey) error {
	pub, ok := nc.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	switch {
	case !ok || !pub.Equal(want):
		return fmt.Errorf("%w: another key", ErrBadRenewal)
	case nc.Subject.CommonName != cur.Subject.CommonName:
		return fmt.Errorf("%w: name %q, want %q", ErrBadRenewal, nc.Subject.CommonName, cur.Subject.CommonName)
	case !nc.NotAfter.After(cur.NotAfter) && (pub.Equal(cur.PublicKey) || nc.NotAfter.Before(cur.NotAfter)):
		// A certificate for a new key (made for this request, so never an
		// old answer replayed) may end in the same second as the current.
		return fmt.Errorf("%w: it ends %s, not after the current one (%s)", ErrBadRenewal, nc.NotAfter.UTC(), cur.NotAfter.UTC())
	}
	s1, e1 := pki.ScopeOf(cur)
	s2, e2 := pki.ScopeOf(nc)
	if s1 != s2 || (e1 == nil) != (e2 == nil) {
		return fmt.Errorf("%w: scope %v, want %v", ErrBadRenewal, s2, s1)
	}
	if err := pki.CheckClusterCert(nc); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRenewal, err)
	}
	if _, err := nc.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRenewal, err)
	}
	return nil
}

// RenewAt is when a certificate is renewed: once less than before is
// left of it, or, with before 0, a third of its lifetime.
func RenewAt(c *x509.Certificate, before time.Duration) time.Time {
	if before <= 0 {
		before = c.NotAfter.Sub(c.NotBefore) / 3
	}
	return c.NotAfter.Add(-before)
}

// Renewer renews a node's own certificate before it ends. Set the fields,
// then Run it on a goroutine of its own.
type Renewer struct {
	// URL is the issuing service's base URL ([tls] renew_url).
	URL string
	// CertPath and KeyPath are the node's [tls] cert and key; the renewed
	// certificate is written over CertPath (atomically).
	CertPath, KeyPath string
	// Before is how long before the end to renew ([tls] renew_before;
	// 0: when a third of the lifetime is left).
	Before time.Duration
	// TLS is the node's admin-client configuration: it presents the
	// current certificate (read again when its files change) and trusts
	// the cluster CA.
	TLS *tls.Config
	// Policy checks the renewed certificate is still the node's own
	// (CheckOwn).
	Policy *Policy
	// NewKey makes a new key at each renewal ([tls] renew_new_key;
	// default false: the key is kept). The new key is written to
	// KeyPath+".next" first, then the certificate over CertPath, then the
	// key renamed over KeyPath: a node stopped between the last two
	// steps finds KeyPath+".next" holding the certificate's key.
	NewKey bool
	// Log receives renewals and failures.
	Log *slog.Logger
}

// RenewTLS returns the configuration a node renews with, from its
// admin-client one (Policy.Configs): the same certificate (read again
// when it changes) and cluster CA, without the check that the server is
// a node: the issuing service is not one.
func RenewTLS(adminClient *tls.Config) *tls.Config {
	c := adminClient.Clone()
	c.VerifyConnection = nil
	return c
}

// LogRevocations reads the revoked serials from the registry's log
// (cert-revocation entries), checking each checkpoint's signature and
// that the log only grows, as a node does. Safe for concurrent use.
type LogRevocations struct {
	Source   translog.Source
	Verifier note.Verifier
	Origin   string // the checkpoints' origin; "" for the key's name

	mu    sync.Mutex
	state client.LogState
	init  bool
}

// Revoked reads the log's new entries and returns the revoked serials.
func (l *LogRevocations) Revoked(ctx context.Context) (map[string]client.LogRevoked, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.init {
		l.state, l.init = client.NewLogState(), true
	}
	if _, err := l.state.Follow(ctx, l.Source, l.Verifier, l.Origin, wallclock.Now(), 0); err != nil {
		return nil, err
	}
	return maps.Clone(l.state.Revoked), nil
}

// WriteRekeyed stores a certificate renewed for a new key: the key to
// keyPath+".next" (mode 0600), the certificate over certPath, then the
// key renamed over keyPath, each step atomic. A reader (the Reloader)
// between the last two sees a pair that does not match and keeps the one
// it had; a crash there leaves keyPath+".next" holding the key of
// certPath's certificate (pki.LoadPair says so).
func WriteRekeyed(certPath, keyPath string, c *x509.Certificate, key crypto.Signer) error {
	kb, err := pki.KeyPEM(key)
	if err != nil {
		return err
	}
	next := keyPath + pki.NextKeySuffix
	if err := atomicfile.Write(next, kb, 0o600); err != nil {
		return err
	}
	if err := atomicfile.Write(certPath, pki.CertPEM(c), 0o644); err != nil {
		return err
	}
	return os.Rename(next, keyPath)
}

// retryMin and retryMax bound the wait after a failed renewal.
const (
	retryMin = 2 * time.Second
	retryMax = time.Minute
)

// Run renews the certificate each time its renewal time comes, until ctx
// ends. A failed renewal is logged and tried again after a tenth of what
// is left (between retryMin and retryMax).
func (r *Renewer) Run(ctx context.Context) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		p, err := pki.LoadPair(r.CertPath, r.KeyPath)
		var wait time.Duration
		if err != nil {
			log.Warn("tls: cannot read the certificate to renew", "err", err)
			wait = retryMax
		} else if at, now := RenewAt(p.Cert, r.Before), wallclock.Now(); now.Before(at) {
			wait = at.Sub(now)
		} else if err := r.renewOnce(ctx, p); err != nil {
			wait = min(max(p.Cert.NotAfter.Sub(wallclock.Now())/10, retryMin), retryMax)
			log.Warn("tls: renewing the certificate failed; trying again", "url", r.URL, "in", wait.Round(time.Millisecond), "expires", p.Cert.NotAfter.UTC(), "err", err)
		}
		if wait == 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (r *Renewer) renewOnce(ctx context.Context, p *pki.Pair) error {
	var (
		nc  *x509.Certificate
		key crypto.Signer
		err error
	)
	if r.NewKey {
		nc, key, err = RenewKey(ctx, r.URL, r.TLS, p.Cert, p.Key)
	} else {
		nc, err = Renew(ctx, r.URL, r.TLS, p.Cert)
	}
	if err != nil {
		return err
	}
	if r.Policy != nil {
		if err := r.Policy.CheckOwn(nc); err != nil {
			return err
		}
	}
	if key != nil {
		return WriteRekeyed(r.CertPath, r.KeyPath, nc, key)
	}
	if err := atomicfile.Write(r.CertPath, pki.CertPEM(nc), 0o644); err != nil {
		return err
	}
	if r.Log != nil {
		r.Log.Info("tls: certificate renewed", "serial", serialText(nc), "not_after", nc.NotAfter.UTC(), "renew_at", RenewAt(nc, r.Before).UTC())
	}
	return nil
}
