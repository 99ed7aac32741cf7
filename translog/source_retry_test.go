package translog_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
)

// busyFront answers the first fail requests with status and Retry-After
// (when retryAfter is not ""), then passes them to the log server.
func busyFront(t *testing.T, s *translogtest.Server, fail int32, status int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= fail {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, "busy", status)
			return
		}
		http.Redirect(w, r, s.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(front.Close)
	return front, &n
}

func TestHTTPSourceRetries(t *testing.T) {
	s := translogtest.NewServer(t, "")
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		fail       int32
		status     int
		retryAfter string
		timeout    time.Duration
		wantErr    bool
		wantTries  int32 // requests the front saw
		wantWaits  int
	}{
		{"429 twice, then served", 2, http.StatusTooManyRequests, "0", time.Minute, false, 3, 2},
		{"503 with an HTTP date", 1, http.StatusServiceUnavailable, past, time.Minute, false, 2, 1},
		{"429 past the retries", 5, http.StatusTooManyRequests, "0", time.Minute, true, 4, 3},
		{"503 without Retry-After", 1, http.StatusServiceUnavailable, "", time.Minute, true, 1, 0},
		{"500 is not retried", 1, http.StatusInternalServerError, "0", time.Minute, true, 1, 0},
		{"a wait past the deadline", 1, http.StatusTooManyRequests, "3600", 5 * time.Second, true, 1, 0},
		{"unreadable Retry-After", 1, http.StatusTooManyRequests, "soon", time.Minute, true, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			front, tries := busyFront(t, s, tc.fail, tc.status, tc.retryAfter)
			waits := 0
			src := &translog.HTTPSource{BaseURL: front.URL, Retries: 3, OnRetry: func(he *translog.HTTPError, attempt int) {
				waits++
				if he.Status != tc.status || attempt != waits {
					t.Errorf("OnRetry(%d, attempt %d), want status %d attempt %d", he.Status, attempt, tc.status, waits)
				}
			}}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, err := src.Checkpoint(ctx)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Checkpoint error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				var he *translog.HTTPError
				if !errors.As(err, &he) || he.Status != tc.status {
					t.Errorf("error = %v, want an *HTTPError with status %d", err, tc.status)
				}
			}
			if got := tries.Load(); got != tc.wantTries || waits != tc.wantWaits {
				t.Errorf("%d requests and %d waits, want %d and %d", got, waits, tc.wantTries, tc.wantWaits)
			}
		})
	}
}

// Without Retries, a 429 is returned at once, with the wait it asked for.
func TestHTTPSourceNoRetries(t *testing.T) {
	s := translogtest.NewServer(t, "")
	front, tries := busyFront(t, s, 1, http.StatusTooManyRequests, "7")
	_, err := (&translog.HTTPSource{BaseURL: front.URL}).Checkpoint(context.Background())
	var he *translog.HTTPError
	if !errors.As(err, &he) || he.RetryAfter != 7*time.Second || tries.Load() != 1 {
		t.Errorf("error = %#v after %d requests, want one 429 with RetryAfter 7s", err, tries.Load())
	}
}
