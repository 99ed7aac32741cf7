package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
)

// freeBootPort returns a port free for both TCP and UDP on ip (DNS and
// the overlay's QUIC need UDP, the rest TCP), for the base ports of a
// one-member bootstrap. Another process may take it before the node
// binds it; the test then fails with the node's "address in use".
func freeBootPort(t *testing.T, ip string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatalf("no port free for both TCP and UDP on %s", ip)
	return 0
}

// bootPorts returns the base-port flags of a one-member bootstrap on
// ip, every port free and distinct.
func bootPorts(t *testing.T, ip string) []string {
	t.Helper()
	seen := map[int]bool{}
	var args []string
	for _, f := range []string{"--dns-port", "--raft-port", "--admin-port", "--api-port", "--overlay-port"} {
		p := freeBootPort(t, ip)
		for seen[p] {
			p = freeBootPort(t, ip)
		}
		seen[p] = true
		args = append(args, f, strconv.Itoa(p))
	}
	return args
}

// bootstrapJSONRun runs bootstrap with args and -o json and decodes it.
func bootstrapJSONRun(t *testing.T, args ...string) bootstrapJSON {
	t.Helper()
	r := mustRun(t, append(append([]string{"ops", "group", "bootstrap"}, args...), "-o", "json")...)
	var res bootstrapJSON
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bootstrap JSON: %v\n%s", err, r.stdout)
	}
	return res
}

// startConfigNode loads a written configuration and starts its node in
// this process, stopped when the test ends.
func startConfigNode(t *testing.T, path string) (node.Config, *node.Node) {
	t.Helper()
	cfg, err := node.LoadConfig(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n, err := node.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("close %s: %v", cfg.Group.ID, err)
		}
	})
	return cfg, n
}

// TestGroupBootstrapRegistryCluster bootstraps a registry group and a
// second group with the registry's CA, all with the CLI, starts both
// from the written configurations, and sees the second group's node in
// the registry's node directory: its heartbeat went over mutual TLS
// with the shared CA, and its overlay identity is the one bootstrap
// made and printed.
func TestGroupBootstrapRegistryCluster(t *testing.T) {
	dir := t.TempDir()
	regDir, euDir := filepath.Join(dir, "reg"), filepath.Join(dir, "eu")
	const regIP, euIP = "127.0.73.1", "127.0.74.1"
	reg := bootstrapJSONRun(t, append([]string{"--out", regDir, "--name", "reg", "--registry", "--overlay",
		"--members", "1", "--ip", regIP}, bootPorts(t, regIP)...)...)
	r1 := reg.Members[0]
	if r1.ID != "reg-1" || r1.API == "" || r1.Overlay == "" || reg.LogVerifier == "" {
		t.Fatalf("registry bootstrap = %+v, want member reg-1 with an API, an overlay address and a log verifier", reg)
	}
	eu := bootstrapJSONRun(t, append([]string{"--out", euDir, "--name", "eu", "--region", "eu",
		"--ca", filepath.Join(regDir, "ca"), "--members", "1", "--ip", euIP,
		"--registry-urls", r1.API, "--registry-admin", r1.Admin,
		"--log-verifier", filepath.Join(regDir, bootstrapRegistryDir, bootstrapLogPub),
		"--overlay", "--bootstrap-peer", r1.Overlay}, bootPorts(t, euIP)...)...)
	e1 := eu.Members[0]
	if e1.ID != "eu-1" || eu.CA != reg.CA || eu.LogVerifier != reg.LogVerifier {
		t.Fatalf("eu bootstrap = %+v, want member eu-1, the registry's CA %s and log verifier", eu, reg.CA)
	}
	if _, err := os.Stat(filepath.Join(euDir, "ca")); !os.IsNotExist(err) {
		t.Errorf("bootstrap --ca made %s/ca (err %v); want the given CA only", euDir, err)
	}

	regCfg, regNode := startConfigNode(t, r1.Config)
	euCfg, euNode := startConfigNode(t, e1.Config)
	if !regCfg.Registry.Member || regCfg.Group.Name != "reg" || regCfg.API.Listen == "" || regCfg.Registry.LogVerifier != reg.LogVerifier {
		t.Errorf("%s: registry %+v, group %q, api %q; want the registry member of group reg with its API", r1.Config, regCfg.Registry, regCfg.Group.Name, regCfg.API.Listen)
	}
	if fi, err := os.Stat(regCfg.Registry.LogKeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log key %s: %v, mode %v; want mode 0600", regCfg.Registry.LogKeyFile, err, fi.Mode().Perm())
	}
	if euCfg.Registry.Member || euCfg.Group.Name != "eu" || euCfg.Registry.Region != "eu" ||
		strings.Join(euCfg.Registry.URLs, ",") != r1.API || strings.Join(euCfg.Registry.Admin, ",") != r1.Admin ||
		strings.Join(euCfg.Overlay.Bootstrap, ",") != r1.Overlay {
		t.Errorf("%s: group %q, registry %+v, overlay %+v; want group eu in region eu following reg-1", e1.Config, euCfg.Group.Name, euCfg.Registry, euCfg.Overlay)
	}
	for _, c := range []struct {
		n    *node.Node
		want string
	}{{regNode, r1.Overlay}, {euNode, e1.Overlay}} {
		if id, _ := c.n.OverlayID(); !strings.HasSuffix(c.want, "/p2p/"+id) {
			t.Errorf("%s's overlay peer id is %s; bootstrap printed %s", c.n.ID(), id, c.want)
		}
	}

	// The poll comes from its own address, every 500 ms: the API limits
	// unauthenticated requests per client IP (120 a minute), and eu-1's
	// log follower calls it from 127.0.0.1.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 75, 1)}}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	t.Cleanup(hc.CloseIdleConnections)
	var last string
	var eu1 api.NodeHealth
	deadline := time.Now().Add(60 * time.Second)
	for {
		h, err := getHealth(hc, r1.API)
		if err == nil {
			last = fmt.Sprintf("%d nodes", len(h.Nodes))
			for _, n := range h.Nodes {
				if n.ID == "eu-1" {
					eu1 = n
				}
			}
			if eu1.ID != "" {
				break
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("eu-1 never appeared in the registry's /v1/health (last: %s)", last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if eu1.Group != "eu" || eu1.Region != "eu" || !strings.HasSuffix(e1.Overlay, "/p2p/"+eu1.PeerID) {
		t.Errorf("directory entry of eu-1 = %+v; want group eu, region eu, peer id of %s", eu1, e1.Overlay)
	}
}

// getHealth reads GET /v1/health from the API at base.
func getHealth(hc *http.Client, base string) (*api.Health, error) {
	resp, err := hc.Get(base + "/v1/health")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/health: %s", resp.Status)
	}
	var h api.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, err
	}
	return &h, nil
}

// TestGroupBootstrapFlags checks the flag combinations bootstrap
// refuses before writing anything, and that --ca never overwrites.
func TestGroupBootstrapFlags(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	first := bootstrapJSONRun(t, "--out", base, "--name", "reg", "--registry", "--members", "1")
	caDir := filepath.Dir(first.CA)
	vkeyFile := filepath.Join(base, bootstrapRegistryDir, bootstrapLogPub)
	// notCA holds a node's certificate and key under the CA's file names.
	notCA := filepath.Join(dir, "notca")
	if err := os.Mkdir(notCA, 0o700); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{pki.CertFile: pki.CACertFile, pki.KeyFile: pki.CAKeyFile} {
		b, err := os.ReadFile(filepath.Join(base, "reg-1", from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(notCA, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const peer = "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWKRQiyhg2BDGP624kdXW3brHK2HNhh8n8yjrkBGaJP7TZ"
	tests := []struct {
		desc string
		args []string
		code ExitCode
		want string // in stderr
	}{
		{"--registry with --registry-urls", []string{"--registry", "--registry-urls", "http://127.0.0.1:8053"}, ExitUsage, "--registry-urls"},
		{"--registry with --registry-admin", []string{"--registry", "--registry-admin", "127.0.0.1:7400"}, ExitUsage, "--registry-admin"},
		{"--registry with --log-verifier", []string{"--registry", "--log-verifier", vkeyFile}, ExitUsage, "--log-verifier"},
		{"--log-verifier without --registry-urls", []string{"--log-verifier", vkeyFile}, ExitUsage, "--registry-urls"},
		{"--log-verifier not a key", []string{"--log-verifier", "not-a-key", "--registry-urls", "http://127.0.0.1:8053"}, ExitUsage, "--log-verifier"},
		{"--registry-urls not a URL", []string{"--registry-urls", "127.0.0.1:8053"}, ExitUsage, "--registry-urls"},
		{"--registry-admin without port", []string{"--registry-admin", "127.0.0.1"}, ExitUsage, "--registry-admin"},
		{"--region outside the registry", []string{"--region", "eu"}, ExitUsage, "--region"},
		{"--bootstrap-peer without --overlay", []string{"--bootstrap-peer", peer}, ExitUsage, "--overlay"},
		{"--bootstrap-peer without /p2p/", []string{"--overlay", "--bootstrap-peer", "/ip4/127.0.0.1/udp/4001/quic-v1"}, ExitUsage, "/p2p/"},
		{"--name with a space", []string{"--name", "e u"}, ExitUsage, "--name"},
		{"--overlay-port too high", []string{"--overlay", "--members", "3", "--overlay-port", "65534"}, ExitUsage, "--overlay-port"},
		{"--api-port too high", []string{"--registry", "--members", "3", "--api-port", "65534"}, ExitUsage, "--api-port"},
		{"--ca not a CA", []string{"--ca", notCA}, ExitError, "not a CA"},
		{"--ca missing", []string{"--ca", filepath.Join(dir, "nowhere")}, ExitError, "--ca"},
	}
	for i, tt := range tests {
		out := filepath.Join(dir, "t"+strconv.Itoa(i))
		r := ddnrs(t, append([]string{"ops", "group", "bootstrap", "--out", out}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tt.desc, r.code, r.stderr, tt.code, tt.want)
		}
		if tt.code == ExitUsage {
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s: %s was written (err %v); want nothing written on a usage error", tt.desc, out, err)
			}
		}
	}

	// --ca into the CA's own bootstrap directory: the CA is reused, and a
	// member that exists already is refused, not overwritten.
	before, err := os.ReadFile(filepath.Join(base, "reg-1", "node.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if r := ddnrs(t, "ops", "group", "bootstrap", "--out", base, "--ca", caDir, "--name", "reg", "--members", "1"); r.code != ExitError || !strings.Contains(r.stderr, "exists") {
		t.Errorf("bootstrap over reg-1: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(base, "reg-1", "node.toml")); string(after) != string(before) {
		t.Errorf("reg-1/node.toml changed by a refused bootstrap")
	}
	// Another group into the same directory with the same CA is fine.
	other := bootstrapJSONRun(t, "--out", base, "--ca", caDir, "--name", "eu", "--members", "2",
		"--registry-urls", "http://127.0.0.1:8053", "--registry-admin", "127.0.0.1:7400", "--log-verifier", vkeyFile, "--api-port", "9053")
	if other.CA != first.CA || len(other.Members) != 2 || other.Members[1].ID != "eu-2" || other.Members[1].API != "http://127.0.0.1:9054" {
		t.Errorf("second group = %+v; want eu-1, eu-2 with the first CA %s and APIs from port 9053", other, first.CA)
	}
	// The verifier key itself works as well as its file.
	third := bootstrapJSONRun(t, "--out", filepath.Join(dir, "us"), "--ca", caDir, "--name", "us", "--members", "1",
		"--registry-urls", "http://127.0.0.1:8053", "--log-verifier", first.LogVerifier)
	if third.LogVerifier != first.LogVerifier {
		t.Errorf("--log-verifier KEY gave %q, want %q", third.LogVerifier, first.LogVerifier)
	}
	for _, m := range append(other.Members, third.Members...) {
		if _, err := node.LoadConfig(m.Config); err != nil {
			t.Errorf("%s: %v", m.Config, err)
		}
	}
}
