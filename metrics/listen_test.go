package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Go's profiles are served under /debug/pprof/ only when asked for
// ([metrics] pprof), never by default.
func TestServeProfiling(t *testing.T) {
	for _, on := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := Serve(ln, prometheus.NewRegistry(), func() error { return nil }, on, slog.New(slog.DiscardHandler))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m.Shutdown(ctx)
		})
		for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/cmdline": ""} {
			resp, err := http.Get("http://" + m.Addr() + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantCode := http.StatusNotFound
			if on {
				wantCode = http.StatusOK
			}
			if resp.StatusCode != wantCode || on && !strings.Contains(string(b), want) {
				t.Errorf("profiling %v: GET %s = %d %.80q, want %d with %q", on, path, resp.StatusCode, b, wantCode, want)
			}
		}
	}
}
