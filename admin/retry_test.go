package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// leaderStub is a real HTTPS endpoint on 127.0.0.1 standing in for a
// leader's admin endpoint: it answers the requests it gets with the
// codes in replies, in order ("" = 200), then 200, and counts them.
type leaderStub struct {
	srv *httptest.Server

	mu      sync.Mutex
	replies []string
	got     int
	marked  int // requests that carried HeaderForwarded
}

func newLeaderStub(t *testing.T, replies ...string) *leaderStub {
	t.Helper()
	l := &leaderStub{replies: replies}
	l.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.got++
		if r.Header.Get(HeaderForwarded) != "" {
			l.marked++
		}
		code := ""
		if len(l.replies) > 0 {
			code, l.replies = l.replies[0], l.replies[1:]
		}
		l.mu.Unlock()
		if code == "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		status := map[string]int{CodeUnavailable: 503, CodeNotLeader: 421, CodeBadRequest: 400, CodeInternal: 500}[code]
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(&APIError{Code: code, Message: "leaderStub says " + code})
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *leaderStub) addr() string { return strings.TrimPrefix(l.srv.URL, "https://") }

func (l *leaderStub) counts() (got, marked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.got, l.marked
}

// closedAddr is a loopback address nothing listens on (connection
// refused): a leader that died.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestToLeaderRetries: a heartbeat pass-on (issue 15) whose first try
// fails is tried again, to the leader known at each try, within the
// bound; an answer every try would get is not.
func TestToLeaderRetries(t *testing.T) {
	tests := []struct {
		name     string
		replies  []string // what the leader "b" answers, in order
		leaders  []string // what leader() says before each try (last one repeats)
		wantCode string   // "" = success
		wantB    int      // requests b got
	}{
		{name: "first try unavailable", replies: []string{CodeUnavailable}, leaders: []string{"b"}, wantB: 2},
		{name: "first try internal", replies: []string{CodeInternal}, leaders: []string{"b"}, wantB: 2},
		{name: "leader died, new leader elected", leaders: []string{"dead", "b"}, wantB: 1},
		{name: "no leader known at first", leaders: []string{"", "b"}, wantB: 1},
		{name: "answered not_leader, then the new one", replies: []string{CodeNotLeader}, leaders: []string{"b"}, wantB: 2},
		{name: "every try unavailable: bounded", replies: []string{CodeUnavailable, CodeUnavailable, CodeUnavailable, CodeUnavailable}, leaders: []string{"b"}, wantCode: CodeUnavailable, wantB: 3},
		{name: "bad request: not tried again", replies: []string{CodeBadRequest}, leaders: []string{"b"}, wantCode: CodeBadRequest, wantB: 1},
		{name: "never a leader", leaders: []string{""}, wantCode: CodeNoLeader, wantB: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newLeaderStub(t, tt.replies...)
			addrs := map[string]string{"b": b.addr(), "dead": closedAddr(t)}
			f := Forwarder{
				Client:  NewClient(b.srv.Client().Transport.(*http.Transport).TLSClientConfig),
				Members: func(id string) (MemberAddrs, bool) { a, ok := addrs[id]; return MemberAddrs{Admin: a}, ok },
				Timeout: 10 * time.Second,
				Count:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "forwarded"}, []string{"result"}),
			}
			tries := 0
			leader := func() string {
				l := tt.leaders[min(tries, len(tt.leaders)-1)]
				tries++
				return l
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := f.ToLeader(ctx, Retry{Attempts: 3, Backoff: time.Millisecond}, leader, func(ctx context.Context, addr string) error {
				return f.Client.ForwardJSON(ctx, addr, "/v1/registry/heartbeat", []byte(`{}`))
			})
			switch {
			case tt.wantCode == "" && err != nil:
				t.Errorf("ToLeader = %v, want success", err)
			case tt.wantCode != "" && ErrorOf(err).Code != tt.wantCode:
				t.Errorf("ToLeader = %v (%s), want %s", err, ErrorOf(err).Code, tt.wantCode)
			}
			got, marked := b.counts()
			if got != tt.wantB || marked != got {
				t.Errorf("leader got %d requests (%d marked forwarded), want %d, all marked", got, marked, tt.wantB)
			}
			if tries > 3 {
				t.Errorf("%d tries, want at most 3", tries)
			}
		})
	}
}

// TestToLeaderStopsWithCtx: a caller that gives up (its ctx ends) gets
// no further try, and the last try's error.
func TestToLeaderStopsWithCtx(t *testing.T) {
	b := newLeaderStub(t, CodeUnavailable, CodeUnavailable)
	f := Forwarder{
		Client:  NewClient(b.srv.Client().Transport.(*http.Transport).TLSClientConfig),
		Members: func(string) (MemberAddrs, bool) { return MemberAddrs{Admin: b.addr()}, true },
		Timeout: 10 * time.Second,
		Count:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "forwarded"}, []string{"result"}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := f.ToLeader(ctx, Retry{Attempts: 5, Backoff: time.Hour}, func() string { return "b" }, func(ctx context.Context, addr string) error {
		err := f.Client.ForwardJSON(ctx, addr, "/v1/registry/heartbeat", []byte(`{}`))
		cancel() // the caller gives up while the first backoff runs
		return err
	})
	if ErrorOf(err).Code != CodeUnavailable {
		t.Errorf("ToLeader = %v, want the first try's unavailable", err)
	}
	if got, _ := b.counts(); got != 1 {
		t.Errorf("leader got %d requests after the caller gave up, want 1", got)
	}
}
