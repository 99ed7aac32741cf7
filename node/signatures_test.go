package node

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/prometheus/client_golang/prometheus"
)

// TestSignatureExpiry: a node shows each served zone's first signature
// expiry as a gauge, and warns once per zone and serial when it comes
// within signature_warning, then once more when it has passed.
func TestSignatureExpiry(t *testing.T) {
	n := startNode(t, t.TempDir())
	z, _ := publishDemo(t, n)
	waitFor(t, "the demo zone served", func() error {
		if n.served.Get(DemoOrigin) == nil {
			return errors.New("not served yet")
		}
		return nil
	})
	at, ok := zone.EarliestExpiry(z, time.Now())
	if !ok {
		t.Fatal("the demo zone has no signatures")
	}
	mfs, err := n.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() != "ddnrs_zone_signatures_expire_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got = append(got, m.GetLabel()[0].GetValue()+"="+strconv.FormatFloat(m.GetGauge().GetValue(), 'f', 0, 64))
		}
	}
	if want := DemoOrigin + "=" + strconv.FormatInt(at.Unix(), 10); len(got) != 1 || got[0] != want {
		t.Errorf("ddnrs_zone_signatures_expire_timestamp_seconds = %v, want [%s]", got, want)
	}

	// The cache keeps no zone, and drops a zone no longer served.
	n.expiries.mu.Lock()
	x, cached := n.expiries.seen[DemoOrigin]
	n.expiries.mu.Unlock()
	if !cached || x.serial != z.Serial() {
		t.Errorf("expiry cache for %s = %+v, %v; want serial %d", DemoOrigin, x, cached, z.Serial())
	}
	(&signatureCollector{served: new(Served), exp: &n.expiries}).Collect(make(chan prometheus.Metric, 1))
	n.expiries.mu.Lock()
	_, cached = n.expiries.seen[DemoOrigin]
	n.expiries.mu.Unlock()
	if cached {
		t.Errorf("expiry cache still holds %s after a scrape that no longer serves it", DemoOrigin)
	}

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	warned := map[string]warning{}
	lines := func() int { return strings.Count(buf.String(), "\n") }
	for _, tc := range []struct {
		desc      string
		warn      time.Duration
		now       time.Time
		wantLines int
		want      string
	}{
		{"far from expiry", 24 * time.Hour, time.Now(), 0, ""},
		{"within the warning", 31 * 24 * time.Hour, time.Now(), 1, "expire soon"},
		{"the same serial again", 31 * 24 * time.Hour, time.Now(), 1, ""},
		{"expired", 31 * 24 * time.Hour, at.Add(time.Hour), 2, "have expired"},
		{"expired again", 31 * 24 * time.Hour, at.Add(2 * time.Hour), 2, ""},
	} {
		n.checkSignatures(log, tc.warn, warned, tc.now)
		if got := lines(); got != tc.wantLines || tc.want != "" && !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%s: %d log lines, want %d with %q:\n%s", tc.desc, got, tc.wantLines, tc.want, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "zone="+DemoOrigin) || !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("log lacks the zone or the levels:\n%s", buf.String())
	}
}
