package raftfsm_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/raftfsm/raftfsmtest"
)

// BenchmarkGroupApply commits CreateZone commands one at a time through a
// three-member group on loopback (mutual TLS, fsync'd bbolt logs) and
// reports the commit latency percentiles.
//
//	go test -run '^$' -bench GroupApply -benchtime 200x ./raftfsm/
func BenchmarkGroupApply(b *testing.B) {
	ctx := context.Background()
	c := raftfsmtest.NewGroup(b, 3)
	writes := make([]testWrite, b.N)
	for i := range writes {
		writes[i] = newWrite(b, i+1)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := c.Apply(ctx, writes[i].cmd); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat, "commit")
}

// BenchmarkGroupFailover stops the leader of a five-member group and
// measures the time until the next write commits (election, plus the
// client finding the new leader), then restarts the stopped member
// outside the timer.
//
//	go test -run '^$' -bench GroupFailover -benchtime 10x ./raftfsm/
func BenchmarkGroupFailover(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := raftfsmtest.NewGroup(b, 5)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		w := newWrite(b, i+1)
		l, err := c.Leader(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		c.Stop(l)
		for {
			_, err = c.Apply(ctx, w.cmd)
			if err == nil || !errorsIsNoQuorum(err) {
				break
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		c.Restart(l)
	}
	reportPercentiles(b, lat, "failover")
}

func errorsIsNoQuorum(err error) bool { return errors.Is(err, raftfsm.ErrNoQuorum) }

func reportPercentiles(b *testing.B, lat []time.Duration, what string) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), what+"-p50-ms")
	b.ReportMetric(pct(0.99), what+"-p99-ms")
	b.ReportMetric(pct(1), what+"-max-ms")
}
