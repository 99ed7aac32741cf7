package node

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/zone"
)

// TestSignatureExpiry: a node shows each served zone's first signature
// expiry as a gauge (metrics' own tests cover the warnings and the
// cache).
func TestSignatureExpiry(t *testing.T) {
	n := startNode(t, t.TempDir())
	z, _ := publishDemo(t, n)
	waitFor(t, "the demo zone served", func() error {
		if n.served.Get(demo.Origin) == nil {
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
	if want := demo.Origin + "=" + strconv.FormatInt(at.Unix(), 10); len(got) != 1 || got[0] != want {
		t.Errorf("ddnrs_zone_signatures_expire_timestamp_seconds = %v, want [%s]", got, want)
	}

	// The health page's list (api.Expiring): the demo zone is flagged
	// once its first signature is within the warning window, and not
	// before.
	if window, zs := (apiBackend{n}).ExpiringZones(time.Now()); window != n.cfg.SignatureWarning || len(zs) != 0 {
		t.Errorf("ExpiringZones(now) = %v, %v; want the window and no zone (signatures expire at %s)", window, zs, at)
	}
	near := at.Add(-n.cfg.SignatureWarning / 2)
	if _, zs := (apiBackend{n}).ExpiringZones(near); len(zs) != 1 || zs[0].Zone != demo.Origin || !zs[0].Expires.Equal(at.UTC()) {
		t.Errorf("ExpiringZones(%s) = %v, want %s expiring at %s", near, zs, demo.Origin, at)
	}
}
