package integration

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// TestTrustPerGroupAndRole (issue 14 item 1): in a cluster whose
// certificates name their group and role and whose nodes require it, a
// member of group ga is refused at gb's admin endpoint and Raft port, an
// operator of ga at gb's admin endpoint, an operator at any Raft port; a
// node of ga reaches the registry's admin endpoint only for heartbeats
// and proposals, and may not revoke there. An operator certificate
// revoked through the registry is refused by every node once they read
// the log, at new handshakes and on the connection it already had.
func TestTrustPerGroupAndRole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 node processes")
	}
	c := startRegistryClusterWith(t, true, 1, regGroupSpec{name: "ga", size: 1, region: "ra"}, regGroupSpec{name: "gb", size: 1, region: "rb"})
	reg, ga, gb := c.groups["reg"][0], c.groups["ga"][0], c.groups["gb"][0]
	certOf := func(n *regNode) (string, string) {
		d := filepath.Dir(n.config)
		return filepath.Join(d, "node.crt"), filepath.Join(d, "node.key")
	}
	issue := func(id, scope string) (string, string) {
		out := filepath.Join(c.dir, id)
		runCmd(t, c.dir, ddnrsBin, "ops", "cert", "issue", "--ca", filepath.Join(c.dir, "ca"), "--id", id, "--ip", "127.0.0.1", "--scope", scope, "--out", out)
		return filepath.Join(out, "node.crt"), filepath.Join(out, "node.key")
	}
	status := func(server, cert, key string) (string, error) {
		stdout, stderr, err := tryCmd(c.dir, ddnrsBin, "ops", "group", "status", "--server", server, "--ca", c.ca, "--cert", cert, "--key", key, "--timeout", "10s")
		return stdout + stderr, err
	}
	gaCert, gaKey := certOf(ga)
	gbCert, gbKey := certOf(gb)
	opsA, opsAKey := issue("ops-ga", "operator:ga")
	opsB, opsBKey := issue("ops-gb", "operator:gb")

	for _, tc := range []struct {
		name       string
		server     string
		cert, key  string
		wantRefuse bool
	}{
		{"gb's member at gb's admin", gb.Admin, gbCert, gbKey, false},
		{"ga's member at gb's admin", gb.Admin, gaCert, gaKey, true},
		{"ga's operator at gb's admin", gb.Admin, opsA, opsAKey, true},
		{"gb's operator at gb's admin", gb.Admin, opsB, opsBKey, false},
		{"every group's operator at gb's admin", gb.Admin, c.opsCert, c.opsKey, false},
		{"ga's member at the registry's admin, not a registry path", reg.Admin, gaCert, gaKey, true},
	} {
		out, err := status(tc.server, tc.cert, tc.key)
		if refused := err != nil; refused != tc.wantRefuse {
			t.Errorf("%s: ddnrs ops group status: err %v, want refused %v; output:\n%s", tc.name, err, tc.wantRefuse, out)
		}
	}
	// The registry's answer to another group's node names the scope.
	if out, _ := status(reg.Admin, gaCert, gaKey); !strings.Contains(out, "forbidden") || !strings.Contains(out, "member:ga") {
		t.Errorf("ga's member at the registry's group status: output %q, want forbidden naming member:ga", out)
	}

	// Raft: only gb's nodes get past gb's handshake.
	for _, tc := range []struct {
		name      string
		cert, key string
		wantOK    bool
	}{
		{"gb's member", gbCert, gbKey, true},
		{"ga's member", gaCert, gaKey, false},
		{"gb's operator", opsB, opsBKey, false},
		{"every group's operator", c.opsCert, c.opsKey, false},
	} {
		if err := raftHandshake(c.ca, tc.cert, tc.key, gb.Raft); (err == nil) != tc.wantOK {
			t.Errorf("%s at gb's Raft: %v, want accepted %v", tc.name, err, tc.wantOK)
		}
	}

	// A node of another group may not revoke at the registry.
	_, stderr, err := tryCmd(c.dir, ddnrsBin, "ops", "cert", "revoke", "--cert-file", opsB, "--reason", "not yours",
		"--server", reg.Admin, "--ca", c.ca, "--cert", gaCert, "--key", gaKey)
	if err == nil || !strings.Contains(stderr, "may not propose revoke-cert") {
		t.Errorf("ga's member revoking at the registry: err %v, stderr %q; want refused", err, stderr)
	}

	// Revocation: gb's operator certificate, with a connection open.
	keep, err := tlsClient(c.ca, opsB, opsBKey)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.CloseIdleConnections()
	if code, err := adminGet(keep, gb.Admin, "/v1/group/status"); err != nil || code != 200 {
		t.Fatalf("gb's operator before revocation: %d %v, want 200", code, err)
	}
	stdout := runCmd(t, c.dir, ddnrsBin, "ops", "cert", "revoke", "--cert-file", opsB, "--reason", "laptop stolen",
		"--server", reg.Admin, "--ca", c.ca, "--cert", c.opsCert, "--key", c.opsKey)
	if !strings.Contains(stdout, "revoked serial") {
		t.Errorf("ddnrs ops cert revoke printed %q", stdout)
	}
	leaf, err := pki.LoadCert(opsB)
	if err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%x", leaf.SerialNumber)
	t0 := time.Now()
	for _, n := range c.nodes() {
		waitUntil(t, n.name+" reads the revocation", func() error {
			b, err := os.ReadFile(filepath.Join(n.data, "follow.json"))
			if err != nil {
				return err
			}
			if !strings.Contains(string(b), `"`+serial+`"`) {
				return errors.New("not yet")
			}
			return nil
		})
	}
	t.Logf("every node read the revocation %v after it was committed (follow_interval 2s; machine loaded)", time.Since(t0).Round(time.Millisecond))
	waitUntil(t, "gb refuses the revoked certificate", func() error {
		if out, err := status(gb.Admin, opsB, opsBKey); err == nil {
			return fmt.Errorf("still accepted: %s", out)
		}
		return nil
	})
	// The connection opened before the revocation is refused too.
	if code, err := adminGet(keep, gb.Admin, "/v1/group/status"); err == nil && code != 403 {
		t.Errorf("gb's operator on its connection from before the revocation: %d, want 403", code)
	}
	if out, err := status(gb.Admin, c.opsCert, c.opsKey); err != nil {
		t.Errorf("a certificate not revoked is refused after the revocation: %v\n%s", err, out)
	}
}

// raftHandshake connects to a Raft port with a client certificate and
// reports whether the server kept the connection: nil when the first
// read waits (Raft waits for the dialler to speak), the error when the
// server refused the certificate (TLS 1.3 reports the client's refusal on
// the first read).
func raftHandshake(caFile, certFile, keyFile, addr string) error {
	cfg, err := clusterTLS(caFile, certFile, keyFile)
	if err != nil {
		return err
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("the Raft port sent data unasked")
	}
	return err
}

// clusterTLS is a client configuration presenting certFile and trusting
// the cluster CA in caFile.
func clusterTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pool, err := pki.LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	pair, err := pki.LoadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return pki.ClientTLS(pair, pool), nil
}

// tlsClient is an HTTPS client of admin endpoints with a client
// certificate; it keeps its connections open between requests.
func tlsClient(caFile, certFile, keyFile string) (*http.Client, error) {
	cfg, err := clusterTLS(caFile, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}, nil
}

// adminGet GETs path on the admin endpoint addr and returns the status.
func adminGet(hc *http.Client, addr, path string) (int, error) {
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
