package forward

// upstream.go: where an upstream is and how to speak to it. An upstream
// is written as a URL-like string in configuration and on command lines
// (ParseUpstream); one Exchange speaks its protocol.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/miekg/dns"
)

// Protocols of an upstream.
const (
	UDP   = "udp"   // plain DNS over UDP, retried over TCP when truncated
	TCP   = "tcp"   // plain DNS over TCP
	TLS   = "tls"   // DNS over TLS, RFC 7858
	HTTPS = "https" // DNS over HTTPS, RFC 8484
)

// ErrBadUpstream is returned by ParseUpstream when the text is not an
// upstream it understands.
var ErrBadUpstream = errors.New("bad upstream")

// Upstream is one resolver to forward to.
type Upstream struct {
	Proto string // UDP, TCP, TLS or HTTPS
	// Addr is HOST:PORT for UDP, TCP and TLS (port 53, or 853 for TLS,
	// when the text gave none).
	Addr string
	// URL is the DoH endpoint for HTTPS.
	URL string
	// ServerName is the name the TLS certificate must carry (TLS and
	// HTTPS): the host of the address or URL unless the text gave one
	// after '#'.
	ServerName string
}

// String returns the upstream in ParseUpstream's form.
func (u Upstream) String() string {
	switch u.Proto {
	case HTTPS:
		return u.URL
	case TLS:
		host, _, _ := net.SplitHostPort(u.Addr)
		if u.ServerName != "" && u.ServerName != host {
			return "tls://" + u.Addr + "#" + u.ServerName
		}
		return "tls://" + u.Addr
	}
	return u.Proto + "://" + u.Addr
}

// ParseUpstream reads an upstream:
//
//	192.0.2.1 or 192.0.2.1:5353          plain DNS (UDP, TCP on truncation)
//	udp://192.0.2.1:53, tcp://[2001:db8::1]:53
//	tls://192.0.2.1:853#dns.example      DoT; after '#' the certificate's name
//	tls://dns.example                    DoT to dns.example:853
//	https://dns.example/dns-query        DoH (POST, RFC 8484)
//
// Every error wraps ErrBadUpstream and says what is wrong.
func ParseUpstream(s string) (Upstream, error) {
	bad := func(format string, a ...any) (Upstream, error) {
		return Upstream{}, fmt.Errorf("%w %q: %s", ErrBadUpstream, s, fmt.Sprintf(format, a...))
	}
	s0 := strings.TrimSpace(s)
	if s0 == "" {
		return bad("empty")
	}
	if strings.HasPrefix(s0, "https://") {
		u, err := url.Parse(s0)
		if err != nil {
			return bad("%v", err)
		}
		if u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
			return bad("want https://HOST[:PORT]/PATH, no user, query or fragment")
		}
		if u.Path == "" {
			u.Path = "/dns-query"
		}
		return Upstream{Proto: HTTPS, URL: u.String(), ServerName: u.Hostname()}, nil
	}
	if strings.HasPrefix(s0, "http://") {
		return bad("DoH needs https://; plain http would carry queries in the clear")
	}
	proto, rest := UDP, s0
	if i := strings.Index(s0, "://"); i >= 0 {
		proto, rest = s0[:i], s0[i+3:]
		switch proto {
		case UDP, TCP, TLS:
		default:
			return bad("unknown scheme %q (want udp, tcp, tls or https)", proto)
		}
	}
	name := ""
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		if proto != TLS {
			return bad("'#NAME' (the certificate's name) is for tls:// only")
		}
		rest, name = rest[:i], rest[i+1:]
		if _, ok := dns.IsDomainName(name); !ok || name == "" {
			return bad("certificate name %q is not a host name", name)
		}
	}
	port := "53"
	if proto == TLS {
		port = "853"
	}
	host := rest
	if h, p, err := net.SplitHostPort(rest); err == nil {
		host, port = h, p
	} else if strings.Count(rest, ":") > 1 && !strings.HasPrefix(rest, "[") {
		host = rest // a bare IPv6 address
	} else if strings.Contains(rest, ":") || strings.ContainsAny(rest, "[]") {
		return bad("%v", err)
	}
	if host == "" {
		return bad("no host")
	}
	if strings.ContainsAny(host, "/?@ ") {
		return bad("host %q", host)
	}
	var pn int
	if _, err := fmt.Sscanf(port, "%d", &pn); err != nil || pn < 1 || pn > 65535 || fmt.Sprint(pn) != port {
		return bad("port %q is not a number from 1 to 65535", port)
	}
	if net.ParseIP(host) == nil {
		if proto != TLS {
			// Resolving the resolver's own name would need a resolver.
			return bad("plain DNS upstreams need an IP address, not %q", host)
		}
		if _, ok := dns.IsDomainName(host); !ok {
			return bad("host %q is neither an IP address nor a host name", host)
		}
	}
	if name == "" && proto == TLS {
		name = host
	}
	return Upstream{Proto: proto, Addr: net.JoinHostPort(host, port), ServerName: name}, nil
}

// maxDoHBody bounds a DoH reply read.
const maxDoHBody = 65535

// exchanger speaks to one upstream.
type exchanger struct {
	up   Upstream
	tls  *tls.Config // TLS and HTTPS
	http *http.Client
}

func newExchanger(u Upstream, base *tls.Config) *exchanger {
	e := &exchanger{up: u}
	if u.Proto == TLS || u.Proto == HTTPS {
		c := &tls.Config{MinVersion: tls.VersionTLS12}
		if base != nil {
			c = base.Clone()
		}
		c.ServerName = u.ServerName
		e.tls = c
	}
	if u.Proto == HTTPS {
		tr := &http.Transport{TLSClientConfig: e.tls, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}
		e.http = &http.Client{Transport: tr}
	}
	return e
}

func (e *exchanger) close() {
	if e.http != nil {
		e.http.CloseIdleConnections()
	}
}

// exchange sends q and returns the upstream's reply, which answers q's
// question (miekg/dns checks the ID; the question is checked here).
func (e *exchanger) exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	var r *dns.Msg
	var err error
	switch e.up.Proto {
	case HTTPS:
		r, err = e.doh(ctx, q)
	case TLS:
		c := &dns.Client{Net: "tcp-tls", TLSConfig: e.tls}
		r, _, err = c.ExchangeContext(ctx, q, e.up.Addr)
	case TCP:
		c := &dns.Client{Net: "tcp"}
		r, _, err = c.ExchangeContext(ctx, q, e.up.Addr)
	default:
		c := &dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize}
		r, _, err = c.ExchangeContext(ctx, q, e.up.Addr)
		if err == nil && r.Truncated {
			c = &dns.Client{Net: "tcp"}
			r, _, err = c.ExchangeContext(ctx, q, e.up.Addr)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, q.Question[0].Name) ||
		r.Question[0].Qtype != q.Question[0].Qtype || r.Question[0].Qclass != q.Question[0].Qclass {
		return nil, errors.New("reply does not answer the question asked")
	}
	return r, nil
}

// doh is one RFC 8484 POST exchange.
func (e *exchanger) doh(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	m := q.Copy()
	m.Id = 0 // RFC 8484 §4.1: cache friendly
	b, err := m.Pack()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.up.URL, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/dns-message")
	req.Header.Set("Accept", "application/dns-message")
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("DoH: HTTP %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/dns-message" {
		return nil, fmt.Errorf("DoH: content type %q", ct)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDoHBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxDoHBody {
		return nil, errors.New("DoH: reply over 65535 bytes")
	}
	r := new(dns.Msg)
	if err := r.Unpack(body); err != nil {
		return nil, fmt.Errorf("DoH: %w", err)
	}
	if !r.Response {
		return nil, errors.New("DoH: not a response")
	}
	r.Id = q.Id
	return r, nil
}
