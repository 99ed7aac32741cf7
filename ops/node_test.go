package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestNodeCommand runs `ddnrs node --config FILE --ready-file F` in
// process on free ports, reads the ready file, queries DNS on the bound
// address, and stops it by cancelling the context (as SIGINT would).
func TestNodeCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "node.toml")
	ready := filepath.Join(dir, "ready.json")
	cfg := fmt.Sprintf(`data_dir = %q
dns = "127.0.0.1:0"
[group]
id = "alpha"
raft_bind = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[metrics]
listen = "127.0.0.1:0"
`, filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan ExitCode, 1)
	go func() {
		done <- Execute(ctx, []string{"node", "--config", cfgPath, "--ready-file", ready}, nil, out, errOut)
	}()

	var info nodeReady
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatalf("ready file %s: %v", b, err)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			t.Fatalf("ddnrs node exited %d before ready; stderr:\n%s", code, errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file; stderr:\n%s", errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info.ID != "alpha" || strings.HasSuffix(info.DNS, ":0") || strings.HasSuffix(info.Admin, ":0") || strings.HasSuffix(info.Raft, ":0") || info.Raft == "" {
		t.Errorf("ready file = %+v, want id alpha and bound ports", info)
	}
	if info.Metrics == "" || strings.HasSuffix(info.Metrics, ":0") {
		t.Errorf("ready file metrics = %q, want the bound metrics address", info.Metrics)
	}
	for _, a := range []string{info.DNS, info.Admin, info.Raft, info.Metrics} {
		if !strings.Contains(out.String(), a) {
			t.Errorf("stdout %q does not print the bound address %s", out, a)
		}
	}
	// Prometheus scrapes the printed metrics address over plain HTTP.
	if resp, err := http.Get("http://" + info.Metrics + "/metrics"); err != nil {
		t.Errorf("GET metrics: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ddnrs_raft_term ") {
			t.Errorf("GET http://%s/metrics = %d, want 200 with ddnrs_raft_term:\n%.300s", info.Metrics, resp.StatusCode, body)
		}
	}
	// DNS answers (REFUSED: no zones yet) on the bound address.
	m := new(dns.Msg)
	m.SetQuestion("example.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, info.DNS)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("query to %s = %v, %v, want REFUSED", info.DNS, r, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit code after stop = %d, want %d; stderr:\n%s", code, ExitOK, errOut)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ddnrs node did not stop")
	}
}

func TestNodeCommandBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(cfgPath, []byte("dnss = 1\n[group]\nelection_timeout = \"1ms\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code ExitCode
		want []string
	}{
		{"no config", []string{"node"}, ExitUsage, []string{"--config"}},
		{"bad config", []string{"node", "--config", cfgPath}, ExitError, []string{"dnss", "data_dir", "group.election_timeout"}},
		{"missing file", []string{"node", "--config", filepath.Join(dir, "nope.toml")}, ExitError, []string{"nope.toml"}},
	}
	for _, tt := range tests {
		out, errOut := &syncBuffer{}, &syncBuffer{}
		code := Execute(context.Background(), tt.args, nil, out, errOut)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d; stderr:\n%s", tt.name, code, tt.code, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%s: stderr %q does not mention %q", tt.name, errOut, w)
			}
		}
	}
}
