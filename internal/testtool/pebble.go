package testtool

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/ports"
)

// PebbleOptions configures StartPebble.
type PebbleOptions struct {
	// DNSServer is the HOST:PORT Pebble's validation authority asks for
	// DNS-01 (and every other) lookup: a DDNRS node's DNS listener.
	DNSServer string
	// IP is the loopback address Pebble listens on; default 127.0.0.1.
	IP string
	// HTTPPort is the port Pebble fetches HTTP-01 answers from (at each
	// identifier's address); default 5002, unused by DNS-01 tests. With
	// it, DNSServer may be empty (IP identifiers need no lookup).
	HTTPPort int
}

// PebbleServer is a running Pebble, Let's Encrypt's test ACME server
// (github.com/letsencrypt/pebble), stopped by the test's cleanup.
type PebbleServer struct {
	// Directory is the ACME directory URL (https).
	Directory string
	// CAFile is the PEM file of the certificate that signed Pebble's
	// HTTPS listener: what an ACME client must trust (lego:
	// LEGO_CA_CERTIFICATES).
	CAFile string
	// Management is the base URL of Pebble's management interface
	// (https, same CA): /roots/0 is the root its certificates chain to.
	Management string

	client *http.Client
	out    *lockedBuffer
}

// StartPebble builds (once, NeedGo) and starts Pebble on free loopback
// ports with a fresh listener certificate, its validation authority
// asking opt.DNSServer, no random sleeps before validation and no nonces
// rejected at random (PEBBLE_VA_NOSLEEP, PEBBLE_WFE_NONCEREJECT=0), and
// waits (bounded) until its directory answers. Its output goes to the
// test's log when the test fails.
func StartPebble(tb testing.TB, opt PebbleOptions) *PebbleServer {
	tb.Helper()
	bin := NeedGo(tb, Pebble)
	if opt.IP == "" {
		opt.IP = "127.0.0.1"
	}
	if opt.DNSServer == "" && opt.HTTPPort == 0 {
		tb.Fatal("StartPebble: no DNS server for its validation authority")
	}
	if opt.HTTPPort == 0 {
		opt.HTTPPort = 5002
	}
	dir := tb.TempDir()
	caFile, certFile, keyFile := writeListenerCert(tb, dir, opt.IP)
	port := func() string {
		p, err := ports.Free(opt.IP, false)
		if err != nil {
			tb.Fatalf("pebble: %v", err)
		}
		return net.JoinHostPort(opt.IP, strconv.Itoa(p))
	}
	listen, mgmt := port(), port()
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		// HTTP-01 and TLS-ALPN-01 targets (DNS-01 tests use neither).
		"httpPort": opt.HTTPPort, "tlsPort": 5001,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter":   map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm": "ecdsa",
		"profiles":     map[string]any{"default": map[string]any{"description": "the test profile", "validityPeriod": 7776000}},
	}}
	cb, err := json.Marshal(conf)
	if err != nil {
		tb.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(confFile, cb, 0o600); err != nil {
		tb.Fatal(err)
	}
	out := &lockedBuffer{}
	args := []string{"-config", confFile}
	if opt.DNSServer != "" {
		args = append(args, "-dnsserver", opt.DNSServer)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting pebble: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if tb.Failed() {
			tb.Logf("pebble's output:\n%s", out.String())
		}
	})
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	s := &PebbleServer{Directory: "https://" + listen + "/dir", CAFile: caFile, Management: "https://" + mgmt, out: out,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	tb.Cleanup(s.client.CloseIdleConnections)
	deadline := time.Now().Add(60 * time.Second) // a bound that only catches a hang
	for {
		select {
		case <-done:
			tb.Fatalf("pebble exited:\n%s", out.String())
		default:
		}
		resp, err := s.client.Get(s.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pebble's directory %s did not answer: %v\n%s", s.Directory, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Root returns Pebble's root certificate (management /roots/0), which
// the certificates it issues chain to. Pebble makes a new one each start.
func (s *PebbleServer) Root(tb testing.TB) *x509.Certificate {
	tb.Helper()
	resp, err := s.client.Get(s.Management + "/roots/0")
	if err != nil {
		tb.Fatalf("pebble root: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("pebble root: %s %v", resp.Status, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		tb.Fatalf("pebble root: no PEM in %q", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		tb.Fatalf("pebble root: %v", err)
	}
	return c
}

// Output is what Pebble printed so far.
func (s *PebbleServer) Output() string { return s.out.String() }

// writeListenerCert makes a CA and a certificate for ip signed by it,
// and writes ca.pem, cert.pem and key.pem in dir.
func writeListenerCert(tb testing.TB, dir, ip string) (caFile, certFile, keyFile string) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ddnrs test pebble listener CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pebble"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP(ip)}, DNSNames: []string{"localhost", "pebble"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// lockedBuffer is a bytes.Buffer safe for a process's output and a
// reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
