package ops

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ddnrs/ddnrs/translog/translogtest"
)

// TestLogVerifyBusyRegistry: a registry answering 429 or 503 with
// Retry-After is asked again (at most 3 times a request, each wait said
// on stderr, none past --timeout).
func TestLogVerifyBusyRegistry(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, logEntries(0, 3)...)
	for _, tc := range []struct {
		name       string
		fail       int32
		status     int
		retryAfter string
		timeout    string
		code       ExitCode
		waits      int
		stderr     string
	}{
		{"429 twice", 2, http.StatusTooManyRequests, "0", "1m", ExitOK, 2, ""},
		{"503 once", 1, http.StatusServiceUnavailable, "0", "1m", ExitOK, 1, ""},
		{"429 four times", 4, http.StatusTooManyRequests, "0", "1m", ExitError, 3, "status 429"},
		{"a wait past --timeout", 1, http.StatusTooManyRequests, "3600", "5s", ExitError, 0, "status 429"},
		{"503 without Retry-After", 1, http.StatusServiceUnavailable, "", "1m", ExitError, 0, "status 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) <= tc.fail {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					http.Error(w, "busy", tc.status)
					return
				}
				http.Redirect(w, r, s.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}))
			t.Cleanup(front.Close)
			state := filepath.Join(t.TempDir(), "state.json")
			r := ddnrs(t, "log", "verify", "--log", front.URL, "--key", s.Key.VKey, "--state", state, "--timeout", tc.timeout)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			if got := strings.Count(r.stderr, "registry busy"); got != tc.waits {
				t.Errorf("%d progress lines, want %d:\n%s", got, tc.waits, r.stderr)
			}
			if tc.code == ExitOK && !strings.Contains(r.stdout, "size 3") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
		})
	}
}
