package overlay

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// reportLatencies adds p50, p99 and max of d (milliseconds) to b's output
// and logs them.
func reportLatencies(b *testing.B, d []time.Duration) {
	b.Helper()
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	p50, p99, mx := d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1]
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(mx), "max-ms")
	b.Logf("n=%d p50=%.3fms p99=%.3fms max=%.3fms", len(d), ms(p50), ms(p99), ms(mx))
}

// BenchmarkQueryRoundTrip measures one Query over an established QUIC
// connection between two libp2p hosts on loopback: a new stream, one
// request frame, one response frame.
//
//	go test ./overlay -run XXX -bench QueryRoundTrip -benchtime 2000x
func BenchmarkQueryRoundTrip(b *testing.B) {
	p := newTestProvider(b, &testAnswerer{}, nil)
	c := newTestClient(b, ClientOptions{})
	providers := []peer.AddrInfo{p.info()}
	req := &QueryRequest{Name: "www.example.", Type: 1, DO: true}
	if _, _, err := c.Query(b.Context(), providers, req); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, _, err := c.Query(b.Context(), providers, req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkFailoverReroute measures how long a Query takes when the
// best-ranked provider is unusable and the answer must come from the
// second. Sub-benchmarks: "silent" is connected, accepts the stream and
// never answers (what a SIGKILLed member looks like to a peer holding a
// QUIC connection to it: no CONNECTION_CLOSE arrives); "dead" has nothing
// listening at its address any more, so the dial hangs. Both start each
// iteration from a fresh score table, so the bad provider is asked first
// every time (the first query after a failure, the worst case) and the
// hedge bypasses it. "learned" is dead with one score table across
// iterations: after the first failure the dead member is ranked last and
// queries go straight to the live one.
//
//	go test ./overlay -run XXX -bench FailoverReroute -benchtime 200x
func BenchmarkFailoverReroute(b *testing.B) {
	live := newTestProvider(b, &testAnswerer{}, nil)
	// The silent member's calls end after 150 ms, so its blocked streams
	// do not pile up to the resource manager's per-peer stream limit
	// (which would refuse new streams at once and hide the hedge).
	silent := newTestProviderWith(b, &testAnswerer{block: true}, ServerOptions{Timeout: 150 * time.Millisecond})
	dead := deadProvider(b)
	req := &QueryRequest{Name: "www.example.", Type: 1}
	cases := []struct {
		name   string
		first  peer.AddrInfo
		shared bool
	}{
		{"silent", silent.info(), false},
		{"dead", dead, false},
		{"learned", dead, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ch := rpcTestHost(b)
			shared := NewScores(ScoreOptions{})
			providers := []peer.AddrInfo{tc.first, live.info()}
			// Warm the connection to the live member.
			if _, err := NewClient(ch, ClientOptions{}).Ping(b.Context(), live.info()); err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				scores := shared
				if !tc.shared {
					scores = NewScores(ScoreOptions{})
				}
				c := NewClient(ch, ClientOptions{Scores: scores})
				t0 := time.Now()
				_, from, err := c.Query(b.Context(), providers, req)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				if from != live.h.ID() {
					b.Fatalf("answered by %s, want the live member", from)
				}
			}
			b.StopTimer()
			reportLatencies(b, lat)
		})
	}
}
