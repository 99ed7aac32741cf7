package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/translog"
)

// getFrom sends GET url with the Bearer key ("" = none) from the
// loopback address from and returns the status.
func getFrom(t *testing.T, from, url, key string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// TestRegistryMutualTLS: a registry member serves its API over https with
// a certificate of the cluster CA; a node of another group has the https
// URL. The node proxies a keyed request and public ones there and
// follows the log, presenting its cluster certificate: the registry
// limits each proxied public request by the original client's address
// (two clients of the node get a bucket each), and not the node's own
// log requests; a client without a certificate from the node's address
// is limited as usual.
func TestRegistryMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	skey, vkey, err := translog.GenerateKey("test.registry/log")
	if err != nil {
		t.Fatal(err)
	}
	rc := groupConfig(t, p, "r1")
	rc.Group.Name = "reg"
	rc.API.Listen = "127.0.0.1:0"
	rc.API.TLSCert, rc.API.TLSKey = rc.TLS.Cert, rc.TLS.Key // issued for 127.0.0.1 by the cluster CA
	// One request per client address before the limit, refilled once a
	// minute: a request counted against the wrong address shows.
	rc.API.IPPerMinute, rc.API.IPBurst = 1, 2
	rc.Registry = RegistryConfig{
		Member: true, LogKeyFile: "log.key", LogVerifier: vkey, LogOrigin: "test.registry/log",
		FollowInterval: time.Hour, HeartbeatInterval: 50 * time.Millisecond,
	}
	if err := os.WriteFile(filepath.Join(rc.DataDir, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := runNode(t, rc)
	regURL := "https://" + reg.APIAddr()

	ec := groupConfig(t, p, "e1")
	ec.Group.Name = "east"
	ec.API.Listen = "127.0.0.1:0"
	ec.Registry = RegistryConfig{
		LogVerifier: vkey, LogOrigin: "test.registry/log",
		URLs: []string{regURL}, Admin: []string{reg.AdminAddr()},
		// Synced by the test only: every request it makes is counted.
		FollowInterval: time.Hour, HeartbeatInterval: 50 * time.Millisecond,
	}
	east := runNode(t, ec)
	eastURL := "http://" + east.APIAddr()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := p.client(t, "ops").IssueKey(ctx, reg.AdminAddr(), admin.IssueKeyRequest{Name: "reader", Actions: []string{"read"}})
	if err != nil {
		t.Fatalf("IssueKey: %v", err)
	}

	// A keyed request through east.
	if got := getFrom(t, "127.0.0.2", eastURL+"/v1/zones", res.Key); got != http.StatusOK {
		t.Fatalf("GET /v1/zones with a key through east = %d, want 200", got)
	}
	// Public requests through east: the registry counts them against
	// the clients' addresses (east's own limit is the default 40).
	for i, c := range []struct {
		from string
		want int
	}{
		{"127.0.0.2", http.StatusOK},
		{"127.0.0.3", http.StatusOK},
		{"127.0.0.2", http.StatusOK},
		{"127.0.0.3", http.StatusOK},
		{"127.0.0.2", http.StatusTooManyRequests},
	} {
		if got := getFrom(t, c.from, eastURL+"/v1/log/checkpoint", ""); got != c.want {
			t.Fatalf("public request %d from %s through east = %d, want %d", i, c.from, got, c.want)
		}
	}

	// East follows the log over mutual TLS: both nodes' admissions, and
	// more requests than the registry's burst, none of them limited.
	waitFor(t, "both nodes in east's view of the log", func() error {
		syncLog(t, east)
		if st := east.FollowState(); st.Size < 2 {
			return fmt.Errorf("east followed %d entries, want 2 (the two admissions)", st.Size)
		}
		return nil
	})
	for range 3 {
		syncLog(t, east)
	}

	// Straight to the registry from east's address without a
	// certificate: counted against 127.0.0.1, untouched so far.
	tr := &http.Transport{TLSClientConfig: httpsTrusting(t, p)}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		r, err := hc.Get(regURL + "/v1/log/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != want {
			t.Fatalf("direct request %d without a certificate = %d, want %d", i, r.StatusCode, want)
		}
	}
}

// httpsTrusting is a client configuration trusting the cluster CA of p,
// without a certificate of its own.
func httpsTrusting(t *testing.T, p *testPKI) *tls.Config {
	t.Helper()
	pool, err := pki.LoadCAPool(filepath.Join(p.dir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
