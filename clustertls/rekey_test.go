package clustertls

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/pki"
)

// postRenew posts body to the issuing service at url as the client c
// and returns the status and the answer.
func postRenew(t *testing.T, url string, c *tls.Config, body []byte) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(url+RenewPath, "application/x-pem-file", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIssuerRenewsWithNewKey: a renewal with a new key, signed by the
// current key and the new one, gets the same name, addresses and scope
// for the new key; the current certificate is left as it was. Refused
// (403, nothing issued): a request signed only by the new key, one the
// current key of another certificate signed, one whose request signature
// (the new key's) is broken, the current key offered as the new one, no
// signature block, and a revoked certificate.
func TestIssuerRenewsWithNewKey(t *testing.T) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	ip := []net.IP{net.IPv4(127, 0, 0, 1)}
	issue := func(id string) *pki.Pair {
		t.Helper()
		p, err := pki.IssueScoped(ca, id, pki.Scope{Role: pki.RoleMember, Group: "eu"}, pki.IssueOptions{IPs: ip, Validity: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	member, other, revoked := issue("eu-1"), issue("eu-2"), issue("eu-3")
	url := startIssuer(t, ca, revokedList{m: map[string]client.LogRevoked{serialText(revoked.Cert): {Reason: "stolen"}}})

	nc, key, err := RenewKey(context.Background(), url, clientOf(member, ca), member.Cert, member.Key)
	if err != nil {
		t.Fatalf("RenewKey(member) = %v", err)
	}
	pub := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !pub.Equal(nc.PublicKey) || pub.Equal(member.Cert.PublicKey) {
		t.Error("the renewed certificate is not for the new key")
	}
	if s, err := pki.ScopeOf(nc); err != nil || s.String() != "member:eu" || nc.Subject.CommonName != "eu-1" || !nc.IPAddresses[0].Equal(ip[0]) {
		t.Errorf("renewed %q scope %v (%v) IPs %v; want eu-1, member:eu, 127.0.0.1", nc.Subject.CommonName, s, err, nc.IPAddresses)
	}
	// The old pair is not revoked by the renewal: it still renews.
	if _, err := Renew(context.Background(), url, clientOf(member, ca), member.Cert); err != nil {
		t.Errorf("Renew with the old pair = %v, want it still valid", err)
	}

	newKey := func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	body := func(cur *x509.Certificate, curKey, nk crypto.Signer) []byte {
		b, err := pki.RekeyBody(cur, curKey, nk)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	nk := newKey()
	brokenReq := func() []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: member.Cert.Subject}, nk)
		if err != nil {
			t.Fatal(err)
		}
		der[len(der)-1] ^= 1 // the new key's signature no longer verifies
		sig, err := pki.SignRekey(member.Key, pki.RekeyMessage(member.Cert, der))
		if err != nil {
			t.Fatal(err)
		}
		return append(pem.EncodeToMemory(&pem.Block{Type: pki.RequestPEMType, Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: pki.RekeySigPEMType, Bytes: sig})...)
	}()
	reqOnly, _, _ := bytes.Cut(body(member.Cert, member.Key, nk), []byte("-----BEGIN "+pki.RekeySigPEMType))
	for _, tt := range []struct {
		desc string
		as   *pki.Pair
		body []byte
		want string
	}{
		{"signed only by the new key", member, body(member.Cert, nk, nk), "signed only by the new key is refused"},
		{"signed by another certificate's key", member, body(member.Cert, other.Key, nk), "did not sign"},
		{"signed for another certificate", other, body(member.Cert, member.Key, nk), "did not sign"},
		{"the request's signature broken", member, brokenReq, "new key's signature"},
		{"the current key as the new one", member, body(member.Cert, member.Key, member.Key), "the new key is the current one"},
		{"no signature of the current key", member, reqOnly, "must sign the renewal"},
		{"revoked", revoked, body(revoked.Cert, revoked.Key, nk), "revoked"},
		{"garbage", member, []byte("hello"), "want a PEM"},
	} {
		status, text := postRenew(t, url, clientOf(tt.as, ca), tt.body)
		if status != http.StatusForbidden || !strings.Contains(text, tt.want) {
			t.Errorf("%s: %d %q, want 403 saying %q", tt.desc, status, text, tt.want)
		}
	}
}

// TestWriteRekeyed: the new key and certificate land in the files as a
// matching pair and no KEY.next is left; a pair whose KEY.next holds the
// certificate's key (a renewal stopped before the rename) is refused by
// LoadPair with a message naming KEY.next.
func TestWriteRekeyed(t *testing.T) {
	ca, _ := pki.NewCA("cluster")
	cur, err := pki.IssueScoped(ca, "eu-1", pki.Scope{Role: pki.RoleMember, Group: "eu"}, pki.IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	nk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nc, err := pki.Reissue(ca, cur.Cert, nk.Public(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteRekeyed(certPath, keyPath, nc, nk); err != nil {
		t.Fatal(err)
	}
	p, err := pki.LoadPair(certPath, keyPath)
	if err != nil || !p.Cert.Equal(nc) {
		t.Fatalf("LoadPair after WriteRekeyed = %v", err)
	}
	if _, err := pki.LoadCert(keyPath + pki.NextKeySuffix); err == nil {
		t.Error("KEY.next left behind")
	}
	// Stopped between the certificate and the rename: the old key in
	// node.key, the new one in node.key.next.
	old, _ := pki.KeyPEM(cur.Key)
	nb, _ := pki.KeyPEM(nk)
	writeFile(t, keyPath, old)
	writeFile(t, keyPath+pki.NextKeySuffix, nb)
	if _, err := pki.LoadPair(certPath, keyPath); err == nil || !strings.Contains(err.Error(), "node.key.next holds the certificate's key") {
		t.Errorf("LoadPair with the key still in KEY.next = %v, want a message naming it", err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
