package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
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

// apiGetJSON GETs url with key and decodes the 200 answer into v.
func apiGetJSON(t *testing.T, url, key string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
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
	// The demo zone was created through the admin endpoint, which
	// claimed it in the registry for the dev group first: it is
	// registered and in the transparency log.
	var claim struct {
		Group string `json:"group"`
		Actor string `json:"actor"`
	}
	apiGetJSON(t, base+"/v1/zones/demo.ddnrs.", key, &claim)
	if claim.Group != devGroupName || !strings.HasPrefix(claim.Actor, "operator:") {
		t.Errorf("GET /v1/zones/demo.ddnrs. = %+v, want group %s and an operator:NODE actor", claim, devGroupName)
	}
	type logEntry struct {
		Entry struct {
			Kind  string `json:"kind"`
			Zone  string `json:"zone"`
			Group string `json:"group"`
		} `json:"entry"`
	}
	var log struct {
		Entries []logEntry `json:"entries"`
	}
	apiGetJSON(t, base+"/v1/log/entries?start=0&end=1000", key, &log)
	if !slices.ContainsFunc(log.Entries, func(e logEntry) bool {
		return e.Entry.Kind == "registration" && e.Entry.Zone == "demo.ddnrs." && e.Entry.Group == devGroupName
	}) {
		t.Errorf("the log holds no registration of demo.ddnrs. on %s: %+v", devGroupName, log.Entries)
	}

	var buf bytes.Buffer
	opts := &keyIssueOptions{adminOptions: adminOptions{Dev: true, Data: data, Timeout: 20 * time.Second},
		Name: "second", Actions: []string{"read"}, Suffixes: []string{"example.org."},
		Labels: []string{"_acme-challenge.*"}, Types: []string{"txt"}, PerMinute: 6, Burst: 3, out: &buf}
	if err := runKeyIssue(context.Background(), opts); err != nil {
		t.Fatalf("ops registry key issue: %v", err)
	}
	second := keyRE.FindString(buf.String())
	if second == "" || second == key {
		t.Fatalf("key issue printed no new key:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "6 requests a minute, burst 3") || !strings.Contains(buf.String(), "types TXT") {
		t.Errorf("key issue output does not state the limits and types:\n%s", buf.String())
	}
	if got := apiGet(t, base+"/v1/applications", second); got != http.StatusForbidden {
		t.Errorf("GET /v1/applications with a read-only key = %d, want 403", got)
	}
	// The key carries its scope and limits: GET /v1/keys/{id} as the
	// key itself shows them.
	var got struct {
		Scope struct {
			Labels []string `json:"labels"`
			Types  []string `json:"types"`
		} `json:"scope"`
		Limits struct {
			PerMinute uint32 `json:"per_minute"`
			Burst     uint32 `json:"burst"`
		} `json:"limits"`
	}
	id := strings.Split(strings.TrimPrefix(second, "ddnrs_"), "_")[0]
	apiGetJSON(t, base+"/v1/keys/"+id, key, &got)
	if got.Limits.PerMinute != 6 || got.Limits.Burst != 3 || !slices.Equal(got.Scope.Types, []string{"TXT"}) || !slices.Equal(got.Scope.Labels, []string{"_acme-challenge.*"}) {
		t.Errorf("GET /v1/keys/%s = %+v, want labels [_acme-challenge.*], types [TXT], 6/min burst 3", id, got)
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

// TestKeyIssueFlags: key issue's flags are checked before anything is
// sent (no admin endpoint is needed to refuse them).
func TestKeyIssueFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown action", []string{"--actions", "read,fly"}, `--actions: "fly"`},
		{"no action", []string{"--actions", ""}, "--actions: give at least one"},
		{"bad suffix", []string{"--suffix", "a..b"}, `--suffix: "a..b"`},
		{"bad type", []string{"--types", "TXT,NOPE"}, `--types: "NOPE"`},
		{"bad label glob", []string{"--labels", "_acme[.*"}, `--labels: "_acme[.*"`},
		{"per-minute too high", []string{"--per-minute", "100001"}, "--per-minute 100001: at most 100000"},
		{"burst too high", []string{"--burst", "1000000"}, "--burst 1000000: at most 100000"},
		{"negative burst", []string{"--burst", "-1"}, "invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"ops", "registry", "key", "issue", "--server", "127.0.0.1:1", "--ca", "x", "--cert", "x", "--key", "x"}, tc.args...)
			r := ddnrs(t, args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, ExitUsage, tc.want)
			}
		})
	}
	r := mustRun(t, "ops", "registry", "key", "issue", "--help")
	for _, want := range []string{"--per-minute", "--burst", "--labels", "--types", "token bucket", "429 rate_limited"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("key issue --help lacks %q", want)
		}
	}
}
