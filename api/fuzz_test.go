package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// FuzzCreateZone sends arbitrary zone files and heads to POST /v1/zones:
// whatever the input, the answer is a 2xx or a 4xx with a JSON error,
// never a panic or a 5xx.
func FuzzCreateZone(f *testing.F) {
	fx := newFixture(f)
	key := fx.issue("user", userScope("."), raftfsm.Limits{PerMinute: 1 << 30, Burst: 1 << 30}, time.Time{})
	tz := newTestZone(f, "example.org.")
	body := tz.createBody(f)
	f.Add(body["zone_file"].(string), body["head"].(string))
	f.Add("$ORIGIN a.\n@ 1 IN SOA a. a. 1 1 1 1 1\n", "ddnrs-szh/v1\n")
	f.Add("", "")
	h := fx.s.Handler()
	f.Fuzz(func(t *testing.T, zoneFile, head string) {
		b, err := json.Marshal(map[string]string{"zone_file": zoneFile, "head": head})
		if err != nil {
			t.Skip()
		}
		req := httptest.NewRequest("POST", "/v1/zones", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("POST /v1/zones answered %d %s", w.Code, w.Body)
		}
		if w.Code >= 400 {
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("error answer %d %q is not a JSON error", w.Code, w.Body)
			}
		}
	})
}
