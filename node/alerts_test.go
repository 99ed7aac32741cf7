package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/internal/testtool"
	"github.com/ddnrs/ddnrs/translog/translogtest"
)

// The alert rules and the dashboard shipped in contrib/ (for operators,
// docs/ and the sample config point there).
var (
	alertRules     = filepath.Join("..", "contrib", "prometheus", "ddnrs-alerts.yml")
	alertRuleTests = filepath.Join("..", "contrib", "prometheus", "ddnrs-alerts_test.yml")
	promConfig     = filepath.Join("..", "contrib", "prometheus", "prometheus.yml")
	dashboard      = filepath.Join("..", "contrib", "grafana", "ddnrs.json")
)

// metricNameRE finds the node's series names (namespace ddnrs, and the Go
// runtime's go_*) in a rule file or dashboard.
var metricNameRE = regexp.MustCompile(`\b(?:ddnrs|go)_[a-z0-9_]*[a-z0-9]\b`)

// registeredNames returns every series name a node can export (true for
// histograms and summaries, which also export _bucket, _sum and _count):
// the registry of a node with a registry log follower (whose counters
// exist only then), described in full, so the overlay's series count too
// although the overlay is off.
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	s := translogtest.NewServer(t, "")
	cfg := Default()
	cfg.DataDir = t.TempDir()
	cfg.Registry.LogVerifier = s.Key.VKey
	cfg.Registry.URLs = []string{s.URL}
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.newFollower(); err != nil {
		t.Fatalf("newFollower: %v", err)
	}
	reg := n.Metrics().Registry()
	ch := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(ch)
		close(ch)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names[m[1]] = false
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if t := mf.GetType().String(); t == "HISTOGRAM" || t == "SUMMARY" {
			names[mf.GetName()] = true
		}
	}
	return names
}

// unknownNames returns the ddnrs_*/go_* names in text that the node does
// not register; a histogram's (or summary's) _bucket, _sum and _count
// series count as its name.
func unknownNames(text string, registered map[string]bool) (used int, unknown []string) {
	seen := map[string]bool{}
	for _, name := range metricNameRE.FindAllString(text, -1) {
		if seen[name] {
			continue
		}
		seen[name] = true
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && registered[b] {
				base = b
			}
		}
		if _, ok := registered[base]; !ok {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return len(seen), unknown
}

func TestUnknownNames(t *testing.T) {
	reg := map[string]bool{"ddnrs_raft_term": false, "ddnrs_raft_apply_seconds": true}
	tests := []struct {
		text    string
		unknown []string
	}{
		{`ddnrs_raft_term > 3 and rate(ddnrs_raft_apply_seconds_bucket[5m])`, nil},
		{`ddnrs_raft_terms == 0 or ddnrs_raft_term_count`, []string{"ddnrs_raft_term_count", "ddnrs_raft_terms"}},
		{`see ddnrs-alerts.yml and ddnrs ops group`, nil},
	}
	for _, tt := range tests {
		_, got := unknownNames(tt.text, reg)
		if strings.Join(got, ",") != strings.Join(tt.unknown, ",") {
			t.Errorf("unknownNames(%q) = %v, want %v", tt.text, got, tt.unknown)
		}
	}
}

// Every series the alert rules and the dashboard use is one the node
// registers, so renaming a metric fails here; promtool accepts the rules,
// their unit tests (contrib/prometheus/ddnrs-alerts_test.yml) and the
// sample Prometheus configuration (contrib/prometheus/prometheus.yml).
func TestAlertRules(t *testing.T) {
	registered := registeredNames(t)
	for _, want := range []string{"ddnrs_raft_has_leader", "ddnrs_overlay_refused_answers_total", "ddnrs_registry_log_split_views_total", "ddnrs_process_open_fds", "ddnrs_raft_apply_seconds"} {
		if _, ok := registered[want]; !ok {
			t.Fatalf("the node does not register %s: registeredNames is broken (got %d names)", want, len(registered))
		}
	}
	for _, path := range []string{alertRules, alertRuleTests, dashboard} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		used, unknown := unknownNames(string(b), registered)
		if used < 5 {
			t.Errorf("%s uses %d ddnrs series, want the file's expressions found", path, used)
		}
		if len(unknown) > 0 {
			t.Errorf("%s uses series the node does not register: %s (renamed? see metrics/metrics.go)", path, strings.Join(unknown, ", "))
		}
	}

	promtool := testtool.Need(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", alertRules},
		{"test", "rules", alertRuleTests},
		{"check", "config", promConfig},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
