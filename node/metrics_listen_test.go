package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpGet does one plain-HTTP request and returns the status and body.
func httpGet(t *testing.T, method, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// waitReady polls n.Ready until the group has a leader.
func waitReady(t *testing.T, n *Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("node not ready: %v", n.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A real node's metrics listener answers Prometheus over plain HTTP, with
// no client certificate: the node's series, /healthz and /readyz, and
// nothing of the admin endpoint.
func TestMetricsListener(t *testing.T) {
	n := startNode(t, t.TempDir())
	a := n.MetricsAddr()
	if a == "" || strings.HasSuffix(a, ":0") {
		t.Fatalf("MetricsAddr() = %q, want the bound address", a)
	}
	waitReady(t, n)
	base := "http://" + a
	code, body := httpGet(t, http.MethodGet, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s, want 200", code, body)
	}
	for _, name := range []string{
		"ddnrs_raft_state{state=\"Leader\"} 1", "ddnrs_raft_has_leader 1", "ddnrs_raft_term ",
		"ddnrs_raft_commit_index ", "ddnrs_raft_lag_entries ", "ddnrs_raft_last_contact_seconds ",
		"ddnrs_raft_apply_seconds_bucket", "ddnrs_process_start_time_seconds ", "go_goroutines ",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("GET /metrics lacks %q", name)
		}
	}
	tests := []struct {
		method, path string
		code         int
		want         string
	}{
		{http.MethodGet, "/healthz", http.StatusOK, `"alive"`},
		{http.MethodGet, "/readyz", http.StatusOK, `"ready"`},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed, ""},
		{http.MethodGet, "/v1/group/status", http.StatusNotFound, ""},
		{http.MethodGet, "/v1/snapshot", http.StatusNotFound, ""},
		{http.MethodGet, "/debug/pprof/", http.StatusNotFound, ""}, // [metrics] pprof is off by default
	}
	for _, tt := range tests {
		code, body := httpGet(t, tt.method, base+tt.path)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s = %d %q, want %d with %q", tt.method, tt.path, code, body, tt.code, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("metrics listener %s still accepts connections after Close", a)
	}
}

// The listener is off with "" and "off", and the node runs without it.
func TestMetricsListenerOff(t *testing.T) {
	for _, listen := range []string{"", "off"} {
		t.Run(strings.Trim(listen+"-", "-")+"empty", func(t *testing.T) {
			cfg := groupConfig(t, nil, "solo")
			cfg.Metrics.Listen = listen
			n := runNode(t, cfg)
			if a := n.MetricsAddr(); a != "" {
				t.Errorf("MetricsAddr() with listen %q = %q, want \"\" (off)", listen, a)
			}
			waitReady(t, n)
		})
	}
}

// A taken metrics address fails the start with ErrMetricsPortInUse, before
// anything else is opened: the same data directory starts at once on
// another address.
func TestMetricsPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := groupConfig(t, nil, "solo")
	cfg.Metrics.Listen = ln.Addr().String()
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(context.Background())
	if !errors.Is(err, ErrMetricsPortInUse) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Start with metrics on a taken port = %v, want ErrMetricsPortInUse naming %s", err, ln.Addr())
	}
	cfg.Metrics.Listen = "127.0.0.1:0"
	if n := runNode(t, cfg); n.MetricsAddr() == "" {
		t.Error("restart on a free port: no metrics listener")
	}
}

// recordLog is a slog handler keeping the warnings' messages.
type recordLog struct {
	mu   *sync.Mutex
	buf  *bytes.Buffer
	next slog.Handler
}

func (h recordLog) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h recordLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.buf.WriteString(r.Message + "\n")
		h.mu.Unlock()
	}
	return h.next.Handle(ctx, r)
}
func (h recordLog) WithAttrs(a []slog.Attr) slog.Handler {
	h.next = h.next.WithAttrs(a)
	return h
}
func (h recordLog) WithGroup(g string) slog.Handler {
	h.next = h.next.WithGroup(g)
	return h
}

// A metrics listener reachable from the network is warned about at
// start; one on loopback is not.
func TestMetricsListenerWarnsOffLoopback(t *testing.T) {
	tests := []struct {
		listen string
		warn   bool
	}{
		{"127.0.0.1:0", false},
		{"localhost:0", false},
		{":0", true},
		{"0.0.0.0:0", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			var (
				mu  sync.Mutex
				buf bytes.Buffer
			)
			cfg := groupConfig(t, nil, "solo")
			cfg.Metrics.Listen = tt.listen
			n, err := New(cfg, slog.New(recordLog{mu: &mu, buf: &buf, next: testLogger(t).Handler()}))
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := n.Close(ctx); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			mu.Lock()
			got := strings.Contains(buf.String(), "metrics listener is reachable from the network")
			mu.Unlock()
			if got != tt.warn {
				t.Errorf("listen %q: warned = %v, want %v (warnings: %q)", tt.listen, got, tt.warn, buf.String())
			}
		})
	}
}

func TestMetricsConfig(t *testing.T) {
	tests := []struct {
		listen  string
		pprof   bool
		enabled bool
		bad     bool
	}{
		{DefaultMetricsListen, false, true, false},
		{"", false, false, false},
		{"off", false, false, false},
		{"[::1]:9153", false, true, false},
		{"127.0.0.1", false, true, true},
		{"127.0.0.1:99999", false, true, true},
		{"127.0.0.1:9153", true, true, false},
		{"localhost:9153", true, true, false},
		{"0.0.0.0:9153", true, true, true}, // profiles only on loopback
		{"192.0.2.1:9153", true, true, true},
		{"0.0.0.0:9153", false, true, false},
	}
	for _, tt := range tests {
		c := MetricsConfig{Listen: tt.listen, Pprof: tt.pprof}
		if c.Enabled() != tt.enabled {
			t.Errorf("MetricsConfig{%q}.Enabled() = %v, want %v", tt.listen, c.Enabled(), tt.enabled)
		}
		errs := c.validate()
		if (len(errs) > 0) != tt.bad {
			t.Errorf("MetricsConfig{%q}.validate() = %v, want error %v", tt.listen, errs, tt.bad)
		}
		for _, err := range errs {
			if !strings.Contains(err.Error(), "metrics.listen") && !strings.Contains(err.Error(), "metrics.pprof") {
				t.Errorf("validate error %q does not name metrics.listen", err)
			}
		}
	}
}
