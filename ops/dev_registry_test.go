package ops

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	keyRE = regexp.MustCompile(`ddnrs_[0-9a-f]{16}_[A-Za-z0-9_-]{43}`)
	apiRE = regexp.MustCompile(`REST API: (http://127\.0\.0\.1:[0-9]+)`)
)

// apiGet sends GET url with the key and returns the status.
func apiGet(t *testing.T, url, key string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDevRegistry: dev is the registry; on first start it prints the API
// URL and a reviewer key (once), which the API accepts as admin; on the
// next start only the URL; the operator issues another key through the
// admin endpoint with 'ops registry key issue --dev'.
func TestDevRegistry(t *testing.T) {
	data := t.TempDir()
	d, err := startDev(t, devOptions{Data: data, API: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	out := d.out.String()
	key := keyRE.FindString(out)
	m := apiRE.FindStringSubmatch(out)
	if key == "" || m == nil || !strings.Contains(out, "shown once") {
		t.Fatalf("first start output lacks the API URL or the reviewer key:\n%s", out)
	}
	base := m[1]
	if got := apiGet(t, base+"/v1/applications", key); got != http.StatusOK {
		t.Errorf("GET /v1/applications with the reviewer key = %d, want 200", got)
	}
	if got := apiGet(t, base+"/v1/applications", ""); got != http.StatusUnauthorized {
		t.Errorf("GET /v1/applications without a key = %d, want 401", got)
	}
	if got := apiGet(t, base+"/v1/health", ""); got != http.StatusOK {
		t.Errorf("GET /v1/health = %d, want 200", got)
	}

	var buf bytes.Buffer
	opts := &keyIssueOptions{adminOptions: adminOptions{Dev: true, Data: data, Timeout: 20 * time.Second},
		Name: "second", Actions: []string{"read"}, Suffixes: []string{"example.org."}, out: &buf}
	if err := runKeyIssue(context.Background(), opts); err != nil {
		t.Fatalf("ops registry key issue: %v", err)
	}
	second := keyRE.FindString(buf.String())
	if second == "" || second == key {
		t.Fatalf("key issue printed no new key:\n%s", buf.String())
	}
	if got := apiGet(t, base+"/v1/applications", second); got != http.StatusForbidden {
		t.Errorf("GET /v1/applications with a read-only key = %d, want 403", got)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	d2, err := startDev(t, devOptions{Data: data, API: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	out2 := d2.out.String()
	if k := keyRE.FindString(out2); k != "" || apiRE.FindString(out2) == "" {
		t.Errorf("second start: key %q (want none) or no API URL:\n%s", k, out2)
	}
}
