package ops

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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

// TestDevDNSCertIsNoClusterCredential: the key of the certificate that
// faces DNS clients (DoT, DoH, DoQ) opens no admin endpoint, while the
// operator's certificate does. The data directory starts with a DNS
// certificate an earlier build made (server and client usage), which dev
// must replace with a serving-only one.
func TestDevDNSCertIsNoClusterCredential(t *testing.T) {
	data := t.TempDir()
	if _, err := devTLS(data); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(filepath.Join(data, "tls", "ca"))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := pki.IssueNode(ca, "ddnrs dev DNS", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{devDNSName})
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Save(filepath.Join(data, "tls", "dns")); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(t.TempDir(), "ready.json")
	if _, err := startDev(t, devOptions{Data: data, ReadyFile: ready}); err != nil {
		t.Fatalf("runDev: %v", err)
	}
	b, err := os.ReadFile(ready)
	if err != nil {
		t.Fatal(err)
	}
	var info readyInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	dnsPair, err := pki.LoadPair(filepath.Join(data, "tls", "dns", pki.CertFile), filepath.Join(data, "tls", "dns", pki.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if u := dnsPair.Cert.ExtKeyUsage; len(u) != 1 || u[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("dev DNS certificate usages = %v, want serverAuth only", u)
	}
	if dnsPair.Cert.Equal(legacy.Cert) {
		t.Fatal("dev kept the DNS certificate with client usage")
	}
	ops, err := pki.LoadPair(info.Cert, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.LoadCAPool(info.CA)
	if err != nil {
		t.Fatal(err)
	}
	// An attacker holding the DNS key presents it the plain way, without
	// any of our own client-side checks.
	post := func(pair *pki.Pair, addr, path string) (int, error) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair.TLS()}}}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := hc.Post("https://"+addr+path, "application/json", strings.NewReader(`{}`))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	for _, m := range info.Members {
		for _, path := range []string{"/v1/group/transfer-leader", "/v1/group/join"} {
			if code, err := post(dnsPair, m.Admin, path); err == nil {
				t.Errorf("POST %s on %s with the DNS certificate = %d, want the handshake refused", path, m.ID, code)
			} else {
				t.Logf("POST %s on %s with the DNS certificate: %v", path, m.ID, err)
			}
		}
	}
	// The operator's certificate passes the same door: the handshake
	// succeeds and the handler answers. Whether the transfer itself
	// succeeds is TestTransferLeaderAndCloseHandsOver's concern (on a
	// loaded machine it can time out with 500, which is an answer too);
	// a refusal of the certificate would be a handshake error or 401/403.
	code, err := post(ops, info.Members[0].Admin, "/v1/group/transfer-leader")
	switch {
	case err != nil:
		t.Errorf("POST /v1/group/transfer-leader with the operator certificate: %v; want the handshake accepted", err)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		t.Errorf("POST /v1/group/transfer-leader with the operator certificate = %d; want it admitted", code)
	case code != http.StatusOK:
		t.Logf("POST /v1/group/transfer-leader with the operator certificate = %d (admitted; the transfer itself did not complete)", code)
	}
}
