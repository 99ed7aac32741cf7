// Package acmecert obtains a serving certificate from an ACME directory
// (RFC 8555) for the DNS-facing listeners (DoT, DoH, DoQ) that `ddnrs
// ops group bootstrap --acme-directory` configures (issue 14 item 5). It
// answers HTTP-01 challenges (RFC 8555 §8.3) itself, on the address it is
// given, for the duration of the order; identifiers are DNS names and IP
// addresses (RFC 8738). Tested against Pebble (integration
// TestBootstrapACME). docs/operator-guide.md, "TLS and ACME for clients".
package acmecert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// Options say what to ask for and where.
type Options struct {
	// Directory is the ACME directory URL (required).
	Directory string
	// Roots verify the ACME server's HTTPS certificate; nil: the
	// system's (a private server such as Pebble needs its own).
	Roots *x509.CertPool
	// Email is the account's contact ("" none).
	Email string
	// DNSNames and IPs are the certificate's names (at least one).
	DNSNames []string
	IPs      []net.IP
	// HTTP01Listen is where HTTP-01 challenges are answered, HOST:PORT:
	// the server validates at port 80 of each name (a test server at the
	// port it is configured with).
	HTTP01Listen string
}

// ErrNoNames is returned by Obtain when no name is asked for.
var ErrNoNames = errors.New("acme: no DNS name or IP to certify")

// Obtain makes a new key (ECDSA P-256), registers a new account, orders a
// certificate for o's names, answers the HTTP-01 challenges, and returns
// the certificate chain (PEM, leaf first) and the key (PEM, PKCS #8).
func Obtain(ctx context.Context, o Options) (chainPEM, keyPEM []byte, err error) {
	if len(o.DNSNames) == 0 && len(o.IPs) == 0 {
		return nil, nil, ErrNoNames
	}
	acctKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: o.Roots, MinVersion: tls.VersionTLS12}}}
	c := &acme.Client{Key: acctKey, DirectoryURL: o.Directory, HTTPClient: hc, UserAgent: "ddnrs"}
	acct := &acme.Account{}
	if o.Email != "" {
		acct.Contact = []string{"mailto:" + o.Email}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil {
		return nil, nil, fmt.Errorf("acme: registering an account at %s: %w", o.Directory, err)
	}
	ids := acme.DomainIDs(o.DNSNames...)
	for _, ip := range o.IPs {
		ids = append(ids, acme.IPIDs(ip.String())...)
	}
	order, err := c.AuthorizeOrder(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: ordering: %w", err)
	}
	answers := &responder{tokens: map[string]string{}}
	ln, err := net.Listen("tcp", o.HTTP01Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: listening for HTTP-01 challenges on %s: %w", o.HTTP01Listen, err)
	}
	srv := &http.Server{Handler: answers, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	for _, u := range order.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, nil, fmt.Errorf("acme: %w", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
			}
		}
		if chal == nil {
			return nil, nil, fmt.Errorf("acme: %s offers no http-01 challenge for %s", o.Directory, z.Identifier.Value)
		}
		body, err := c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return nil, nil, err
		}
		answers.set(c.HTTP01ChallengePath(chal.Token), body)
		if _, err := c.Accept(ctx, chal); err != nil {
			return nil, nil, fmt.Errorf("acme: accepting the challenge for %s: %w", z.Identifier.Value, err)
		}
		if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
			return nil, nil, fmt.Errorf("acme: %s not validated (the server fetches http://%s/.well-known/acme-challenge/...): %w", z.Identifier.Value, z.Identifier.Value, err)
		}
	}
	ready, err := c.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: %w", err)
	}
	if ready.URI == "" {
		ready.URI = order.URI
	}
	if ready.FinalizeURL == "" {
		ready.FinalizeURL = order.FinalizeURL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: o.DNSNames, IPAddresses: o.IPs}, key)
	if err != nil {
		return nil, nil, err
	}
	ders, _, err := c.CreateCertFromOrder(ctx, ready, csr, true)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: finalizing: %w", err)
	}
	var b strings.Builder
	for _, d := range ders {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d}))
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return []byte(b.String()), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), nil
}

// responder answers HTTP-01 challenges at their paths.
type responder struct {
	mu     sync.Mutex
	tokens map[string]string
}

func (r *responder) set(path, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[path] = body
}

func (r *responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	body, ok := r.tokens[req.URL.Path]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(body))
}
