package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// BenchmarkKeyedRead is one keyed request through the whole wrapper:
// authentication (hash + constant-time compare), the key's bucket, the
// handler (GET /v1/zones/{zone}) and the audit write to bbolt.
func BenchmarkKeyedRead(b *testing.B) {
	f := newFixture(b)
	user := f.issue("user", userScope("example.org."), raftfsm.Limits{PerMinute: 1 << 30, Burst: 1 << 30}, time.Time{})
	h := f.s.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/v1/zones", nil)
		req.Header.Set("Authorization", "Bearer "+user)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	// Count the audit writes too: wait until every record is committed.
	if err := f.s.audit.flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPublicRead is an unauthenticated request (per-IP bucket, no
// audit): GET /v1/log/checkpoint, which signs a checkpoint.
func BenchmarkPublicRead(b *testing.B) {
	f := newFixture(b)
	f.s.opt.IPLimits = raftfsm.Limits{PerMinute: 1 << 30, Burst: 1 << 30}
	h := f.s.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/log/checkpoint", nil))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
