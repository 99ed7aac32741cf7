package main

import (
	"strings"
	"testing"
)

const sample = `[Status] Sending queries (to 127.0.0.1:5300)
> NOERROR host00001.bench. A 0.000100
> NOERROR host00002.bench. A 0.000200
> NXDOMAIN nx00003.bench. A 0.000300
> NOERROR host00004.bench. AAAA 0.004000
Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Queries per second:   1234.600000
`

func TestRead(t *testing.T) {
	s, err := read(strings.NewReader(sample))
	if err != nil {
		t.Fatalf("read(sample) error %v", err)
	}
	if s.completed != "4" || s.lost != "1" || s.qps != 1234.6 || len(s.lat) != 4 || s.rcodes["NOERROR"] != 3 || s.rcodes["NXDOMAIN"] != 1 {
		t.Errorf("read(sample) = completed %s lost %s qps %v %d latencies rcodes %v, want 4 1 1234.6 4 map[NOERROR:3 NXDOMAIN:1]",
			s.completed, s.lost, s.qps, len(s.lat), s.rcodes)
	}
	s.cpu = 40
	line := s.line("x/plain")
	for _, want := range []string{"x/plain", "1235", "10.0", "1.150", "NOERROR:75%,NXDOMAIN:25%"} {
		if !strings.Contains(line, want) {
			t.Errorf("line() = %q, lacks %q", line, want)
		}
	}
	if _, err := read(strings.NewReader("no statistics here\n")); err == nil {
		t.Errorf("read(no statistics) error = nil, want an error")
	}
}

func TestPct(t *testing.T) {
	sorted := []float64{0.001, 0.002, 0.003, 0.004}
	tests := []struct {
		p    float64
		want float64
	}{{0, 1}, {50, 2}, {100, 4}}
	for _, tt := range tests {
		if got := pct(sorted, tt.p); got != tt.want {
			t.Errorf("pct(%v, %v) = %v, want %v", sorted, tt.p, got, tt.want)
		}
	}
}
