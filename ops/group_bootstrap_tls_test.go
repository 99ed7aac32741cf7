package ops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGroupBootstrapAPITLS bootstraps a registry group with --api-tls and
// a second group with the https URL it printed, starts both from the
// written configurations, and sees the second group's node follow the
// registry's log over https (presenting its cluster certificate): both
// nodes' admissions reach it.
func TestGroupBootstrapAPITLS(t *testing.T) {
	dir := t.TempDir()
	regDir, euDir := filepath.Join(dir, "reg"), filepath.Join(dir, "eu")
	const regIP, euIP = "127.0.77.1", "127.0.78.1"
	reg := bootstrapJSONRun(t, append([]string{"--out", regDir, "--name", "reg", "--registry", "--api-tls",
		"--members", "1", "--ip", regIP}, bootPorts(t, regIP)...)...)
	r1 := reg.Members[0]
	if !strings.HasPrefix(r1.API, "https://"+regIP+":") {
		t.Fatalf("registry member API = %q, want https://%s:PORT", r1.API, regIP)
	}
	eu := bootstrapJSONRun(t, append([]string{"--out", euDir, "--name", "eu",
		"--ca", filepath.Join(regDir, "ca"), "--members", "1", "--ip", euIP,
		"--registry-urls", r1.API, "--registry-admin", r1.Admin,
		"--log-verifier", filepath.Join(regDir, bootstrapRegistryDir, bootstrapLogPub)}, bootPorts(t, euIP)...)...)
	regCfg, _ := startConfigNode(t, r1.Config)
	if regCfg.API.TLSCert == "" || regCfg.API.TLSKey == "" {
		t.Fatalf("%s: [api] %+v, want tls_cert and tls_key", r1.Config, regCfg.API)
	}
	_, euNode := startConfigNode(t, eu.Members[0].Config)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := euNode.SyncRegistryLog(ctx)
		cancel()
		if err == nil && euNode.FollowState().Size >= 2 {
			break
		}
		if err == nil {
			err = fmt.Errorf("%d entries followed, want 2 (the admissions)", euNode.FollowState().Size)
		}
		if time.Now().After(deadline) {
			t.Fatalf("eu-1 following %s: %v", r1.API, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGroupBootstrapAPITLSNeedsAPI: --api-tls without the REST API is a
// usage error and writes nothing.
func TestGroupBootstrapAPITLSNeedsAPI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g")
	r := ddnrs(t, "ops", "group", "bootstrap", "--out", out, "--members", "1", "--api-tls")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--api-tls") {
		t.Errorf("exit %d, stderr %q; want exit %d mentioning --api-tls", r.code, r.stderr, ExitUsage)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written (err %v); want nothing on a usage error", out, err)
	}
}
