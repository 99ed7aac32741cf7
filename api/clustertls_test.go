package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// clusterPKI is a cluster CA with a registry certificate (the API's, for
// 127.0.0.1) and a node certificate, and another CA's certificate.
type clusterPKI struct {
	pool                   *x509.CertPool
	server, node, intruder tls.Certificate
	dns                    tls.Certificate // serving-only (pki.IssueServer), of the cluster CA
}

func newClusterPKI(t *testing.T) *clusterPKI {
	t.Helper()
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pki.CA, id string) *pki.Pair {
		t.Helper()
		p, err := pki.IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dns, err := pki.IssueServer(ca, "dns", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &clusterPKI{
		pool: ca.Pool(), server: issue(ca, "reg").TLS(), node: issue(ca, "edge").TLS(),
		intruder: issue(other, "intruder").TLS(), dns: dns.TLS(),
	}
}

// serveTLS serves h over TLS with tc on a loopback port until the test
// ends and returns its https URL.
func serveTLS(t *testing.T, h http.Handler, tc *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tls.NewListener(ln, tc))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "https://" + ln.Addr().String()
}

// tlsClient trusts the cluster CA and presents cert (none when nil).
func tlsClient(t *testing.T, p *clusterPKI, cert *tls.Certificate) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// getXFF sends GET path to base with X-Forwarded-For xff ("" = none) and
// returns the status and RateLimit header.
func getXFF(t *testing.T, c *http.Client, base, path, xff string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("RateLimit"), nil
}

// TestClusterCertificateXFF: the registry honours X-Forwarded-For only
// from a peer whose client certificate the cluster CA verifies, and does
// not limit that peer's own requests; without a certificate, with one of
// another CA (on a listener that only requests certificates), or when
// the Server is given no ClusterCAs, the TCP peer's address counts.
func TestClusterCertificateXFF(t *testing.T) {
	p := newClusterPKI(t)
	requestOnly := func(*x509.CertPool) *tls.Config {
		c := ServerTLS([]tls.Certificate{p.server}, nil)
		c.ClientAuth = tls.RequestClientCert
		return c
	}
	for _, tc := range []struct {
		name       string
		clusterCAs bool
		listener   func(*x509.CertPool) *tls.Config
		cert       *tls.Certificate
		honoured   bool
	}{
		{"cluster certificate", true, nil, &p.node, true},
		{"no certificate", true, nil, nil, false},
		{"another CA's certificate, listener only requesting", true, requestOnly, &p.intruder, false},
		{"cluster certificate, listener only requesting", true, requestOnly, &p.node, true},
		{"the cluster CA's serving-only (DNS) certificate, listener only requesting", true, requestOnly, &p.dns, false},
		{"cluster certificate, Server without ClusterCAs", false, nil, &p.node, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 1}
				if tc.clusterCAs {
					o.ClusterCAs = p.pool
				}
			})
			lc := ServerTLS([]tls.Certificate{p.server}, p.pool)
			if tc.listener != nil {
				lc = tc.listener(p.pool)
			}
			base := serveTLS(t, f.s.Handler(), lc)
			c := tlsClient(t, p, tc.cert)
			get := func(xff string) int {
				t.Helper()
				code, _, err := getXFF(t, c, base, "/v1/log/checkpoint", xff)
				if err != nil {
					t.Fatal(err)
				}
				return code
			}
			if got := get("198.51.100.1"); got != http.StatusOK {
				t.Fatalf("client A = %d, want 200", got)
			}
			wantB := http.StatusTooManyRequests
			if tc.honoured {
				wantB = http.StatusOK
			}
			if got := get("198.51.100.2"); got != wantB {
				t.Fatalf("client B (X-Forwarded-For honoured: %v) = %d, want %d", tc.honoured, got, wantB)
			}
			if got := get("198.51.100.1"); got != http.StatusTooManyRequests {
				t.Fatalf("client A again = %d, want 429", got)
			}
			if !tc.honoured {
				return
			}
			// The node's own requests (no X-Forwarded-For) are not limited.
			for i := range 3 {
				code, rl, err := getXFF(t, c, base, "/v1/log/checkpoint", "")
				if err != nil || code != http.StatusOK || rl != "" {
					t.Fatalf("the node's own request %d = %d RateLimit %q, %v; want 200 without RateLimit", i, code, rl, err)
				}
			}
		})
	}
}

// TestServerTLSOtherCA: on a listener configured with ServerTLS, a Go
// client holding only another CA's certificate does not send it (the
// server names the cluster CA as the one it accepts) and is served like
// one without, its X-Forwarded-For ignored; a client that insists on
// sending it fails the handshake.
func TestServerTLSOtherCA(t *testing.T) {
	p := newClusterPKI(t)
	f := newFixture(t, func(o *Options) {
		o.ClusterCAs = p.pool
		o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 1}
	})
	base := serveTLS(t, f.s.Handler(), ServerTLS([]tls.Certificate{p.server}, p.pool))
	c := tlsClient(t, p, &p.intruder)
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		xff := []string{"198.51.100.1", "198.51.100.2"}[i]
		if code, _, err := getXFF(t, c, base, "/v1/log/checkpoint", xff); err != nil || code != want {
			t.Fatalf("another CA's certificate held, X-Forwarded-For %s: %d, %v; want %d", xff, code, err, want)
		}
	}
	// The server refuses the certificate after the client's side of the
	// TLS 1.3 handshake is done: its alert is what the first read gets.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{
		RootCAs: p.pool, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &p.intruder, nil },
	})
	if err == nil {
		defer conn.Close()
		_, err = conn.Read(make([]byte, 1))
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "remote error" {
		t.Fatalf("another CA's certificate sent: %v, want the server's TLS alert", err)
	}
	t.Logf("another CA's certificate sent: %v", err)
}

// TestProxyClusterCertificate: a node outside the registry group proxies
// public requests over TLS with RegistryTransport; presenting its cluster
// certificate, the registry limits each client by its own address (two
// clients dialling the node from 127.0.0.2 and 127.0.0.3 get a bucket
// each); without it, both count against the node's address.
func TestProxyClusterCertificate(t *testing.T) {
	p := newClusterPKI(t)
	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		wantCode [3]int // A, B, A again
	}{
		{"cluster certificate", &p.node, [3]int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests}},
		{"no certificate", nil, [3]int{http.StatusOK, http.StatusTooManyRequests, http.StatusTooManyRequests}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newFixture(t, func(o *Options) {
				o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 1}
				o.ClusterCAs = p.pool
			})
			regURL := serveTLS(t, reg.s.Handler(), ServerTLS([]tls.Certificate{p.server}, p.pool))
			tcfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
			if tc.cert != nil {
				tcfg.Certificates = []tls.Certificate{*tc.cert}
			}
			tr := &http.Transport{TLSClientConfig: tcfg, ForceAttemptHTTP2: true}
			t.Cleanup(tr.CloseIdleConnections)
			edge := newFixture(t, func(o *Options) {
				o.RegistryURLs = []string{regURL}
				o.RegistryTransport = tr
			})
			edge.b.mu.Lock()
			edge.b.notRegistry = true
			edge.b.mu.Unlock()
			for i, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.2"} {
				c := plainClientFrom(t, from)
				code, _, err := getXFF(t, c, edge.srv.URL, "/v1/log/checkpoint", "")
				if err != nil {
					t.Fatal(err)
				}
				if code != tc.wantCode[i] {
					t.Fatalf("request %d from %s through the node = %d, want %d", i, from, code, tc.wantCode[i])
				}
			}
		})
	}
}

// plainClientFrom is an HTTP client dialling from the loopback address
// from.
func plainClientFrom(t *testing.T, from string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// BenchmarkClusterPeer measures what clientIP pays to recognise a peer
// that presented a client certificate: a chain verification on a new
// connection, a cache look-up on the next requests of the connection.
func BenchmarkClusterPeer(b *testing.B) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := pki.IssueNode(ca, "edge", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{opt: Options{ClusterCAs: ca.Pool()}}
	r, err := http.NewRequest(http.MethodGet, "https://127.0.0.1/v1/health", nil)
	if err != nil {
		b.Fatal(err)
	}
	state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Cert}}
	for _, bc := range []struct {
		name    string
		newConn bool
	}{{"new connection", true}, {"same connection", false}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				r.TLS = state
				if bc.newConn {
					r.TLS = &tls.ConnectionState{PeerCertificates: state.PeerCertificates}
				}
				if !s.clusterPeer(r) {
					b.Fatal("cluster certificate not recognised")
				}
			}
		})
	}
}
