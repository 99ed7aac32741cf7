package client

// resolver.go: a client of one DDNRS node that asks with the proofs
// option and verifies every answer (docs/sdk.md).

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one exchange of a Resolver without a Timeout.
const DefaultTimeout = 5 * time.Second

// The transports a Resolver speaks (Resolver.Net).
const (
	NetUDP   = "udp"     // DNS over UDP, again over TCP when truncated (default)
	NetTCP   = "tcp"     // DNS over TCP (RFC 7766)
	NetTLS   = "tcp-tls" // DNS over TLS (RFC 7858)
	NetHTTPS = "https"   // DNS over HTTPS (RFC 8484), POST
)

// ErrBadResolver is returned by Resolve and Exchange when the Resolver
// is not usable: no Server, an unknown Net, no Verifier (Resolve), or an
// https Server that is not an https:// URL.
var ErrBadResolver = errors.New("bad resolver settings")

// Resolver asks one DDNRS node and verifies the answers with its
// Verifier, which holds the zone owners' keys: the node need not be
// trusted. Set the fields before first use; it is then safe for
// concurrent use.
type Resolver struct {
	// Server is the node: HOST:PORT for udp, tcp and tcp-tls (a node's
	// DNS listener, default port 53; 5300 for ddnrs dev), the DoH URL
	// (https://HOST:PORT/dns-query) for https.
	Server string
	// Net is the transport: NetUDP (default), NetTCP, NetTLS, NetHTTPS.
	Net string
	// TLS configures tcp-tls and https (the node's name, its CA).
	// Default nil: the system's roots, the server name from Server.
	TLS *tls.Config
	// Timeout bounds one exchange. Default DefaultTimeout.
	Timeout time.Duration
	// Verifier checks every answer. Required by Resolve.
	Verifier *Verifier
}

// Resolve asks the node for (name, t) with the proofs option
// (NewQuery) and returns the answer once VerifyResponse has accepted it.
// Over UDP a truncated reply is asked again over TCP. Errors: those of
// Exchange, and of VerifyResponse (a *VerifyError; errors.Is
// ErrNoTrustAnchor when no key of the Verifier covers name, ErrNoProof
// when the node sent no proofs).
func (r *Resolver) Resolve(ctx context.Context, name string, t uint16) (*Verified, error) {
	if r.Verifier == nil {
		return nil, fmt.Errorf("%w: no Verifier", ErrBadResolver)
	}
	m, err := r.Exchange(ctx, NewQuery(name, t))
	if err != nil {
		return nil, err
	}
	return r.Verifier.VerifyResponse(name, t, m)
}

// Exchange sends q to the node over r.Net and returns the reply,
// unverified: over UDP, truncated replies are asked again over TCP. It
// lets a caller add options to a query (the audit option, 65001) and
// verify the reply itself with VerifyResponse. q is not changed.
func (r *Resolver) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	if r.Server == "" {
		return nil, fmt.Errorf("%w: no Server", ErrBadResolver)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	switch r.Net {
	case "", NetUDP, NetTCP, NetTLS:
		return r.exchangeDNS(ctx, q, timeout)
	case NetHTTPS:
		return r.exchangeHTTPS(ctx, q, timeout)
	}
	return nil, fmt.Errorf("%w: Net %q: want udp, tcp, tcp-tls or https", ErrBadResolver, r.Net)
}

func (r *Resolver) exchangeDNS(ctx context.Context, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	net := r.Net
	if net == "" {
		net = NetUDP
	}
	c := &dns.Client{Net: net, Timeout: timeout, TLSConfig: r.TLS}
	m, _, err := c.ExchangeContext(ctx, q.Copy(), r.Server)
	if err == nil && m.Truncated && net == NetUDP {
		c.Net = NetTCP
		m, _, err = c.ExchangeContext(ctx, q.Copy(), r.Server)
	}
	if err != nil {
		return nil, fmt.Errorf("ask %s over %s: %w", r.Server, c.Net, err)
	}
	return m, nil
}

// exchangeHTTPS posts q (ID 0, RFC 8484 §4.1) to the DoH URL.
func (r *Resolver) exchangeHTTPS(ctx context.Context, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	if !strings.HasPrefix(r.Server, "https://") {
		return nil, fmt.Errorf("%w: Server %q: DoH wants an https:// URL", ErrBadResolver, r.Server)
	}
	q = q.Copy()
	q.Id = 0
	raw, err := q.Pack()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Server, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResolver, err)
	}
	req.Header.Set("Content-Type", "application/dns-message")
	req.Header.Set("Accept", "application/dns-message")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.TLS, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", r.Server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, dns.MaxMsgSize+1))
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", r.Server, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ask %s: HTTP %s", r.Server, resp.Status)
	}
	m := new(dns.Msg)
	if err := m.Unpack(body); err != nil {
		return nil, fmt.Errorf("ask %s: %w: %v", r.Server, ErrBadResponse, err)
	}
	return m, nil
}
