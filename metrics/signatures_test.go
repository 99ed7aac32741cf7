package metrics

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// zoneSet is a Zones over a map (the node's is node.Served, which this
// package cannot import).
type zoneSet map[string]*zone.Zone

func (s zoneSet) Get(origin string) *zone.Zone { return s[origin] }
func (s zoneSet) Origins() []string            { return slices.Sorted(maps.Keys(s)) }

// TestSignatureWarnings: the watcher warns once per zone and serial when
// the first signature expiry comes within the warning, then once more
// when it has passed; its cache holds each served zone's serial, never
// the zone, and drops a zone no longer served at the next scrape.
func TestSignatureWarnings(t *testing.T) {
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	at, ok := zone.EarliestExpiry(z, dnstest.SignTime)
	if !ok {
		t.Fatal("the fixture zone has no signatures")
	}
	zones := zoneSet{z.Origin: z}
	s := NewSignatures(zones)

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	warned := map[string]warning{}
	lines := func() int { return strings.Count(buf.String(), "\n") }
	before := at.Add(-48 * time.Hour)
	for _, tc := range []struct {
		desc      string
		warn      time.Duration
		now       time.Time
		wantLines int
		want      string
	}{
		{"far from expiry", 24 * time.Hour, before, 0, ""},
		{"within the warning", 72 * time.Hour, before, 1, "expire soon"},
		{"the same serial again", 72 * time.Hour, before, 1, ""},
		{"expired", 72 * time.Hour, at.Add(time.Hour), 2, "have expired"},
		{"expired again", 72 * time.Hour, at.Add(2 * time.Hour), 2, ""},
	} {
		s.check(log, tc.warn, warned, tc.now)
		if got := lines(); got != tc.wantLines || tc.want != "" && !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%s: %d log lines, want %d with %q:\n%s", tc.desc, got, tc.wantLines, tc.want, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "zone="+z.Origin) || !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("log lacks the zone or the levels:\n%s", buf.String())
	}

	s.exp.mu.Lock()
	x, cached := s.exp.seen[z.Origin]
	s.exp.mu.Unlock()
	if !cached || x.serial != z.Serial() {
		t.Errorf("expiry cache for %s = %+v, %v; want serial %d", z.Origin, x, cached, z.Serial())
	}
	delete(zones, z.Origin)
	s.Collect(make(chan prometheus.Metric, 1))
	s.exp.mu.Lock()
	_, cached = s.exp.seen[z.Origin]
	s.exp.mu.Unlock()
	if cached {
		t.Errorf("expiry cache still holds %s after a scrape that no longer serves it", z.Origin)
	}
}
