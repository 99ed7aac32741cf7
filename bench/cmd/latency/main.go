// Command latency summarizes a `dnsperf -v` run: it reads dnsperf's output
// (one "> RCODE NAME TYPE SECONDS" line per answered query, then the
// Statistics block) and prints one line with the queries per second,
// completed and lost counts, and the average and percentile latencies.
//
//	dnsperf -v ... > run.txt; go run ./bench/cmd/latency -label ddnrs/plain run.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	label := flag.String("label", "", "label printed in the first column")
	header := flag.Bool("header", false, "print the column header and exit")
	cpu := flag.Float64("cpu", -1, "server CPU time (user+system) used during the run, in microseconds; printed per completed query")
	flag.Parse()
	if *header {
		fmt.Println(headerLine)
		return
	}
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "latency:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	s, err := read(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
	s.cpu = *cpu
	fmt.Println(s.line(*label))
}

const headerLine = "run                      qps  completed     lost  cpu_us/q  avg_ms  p50_ms  p90_ms  p99_ms p99.9_ms  max_ms  rcodes"

// stats is what one dnsperf run reports.
type stats struct {
	qps       float64
	completed string
	lost      string
	lat       []float64 // seconds, one per answered query
	rcodes    map[string]int
	cpu       float64 // server CPU µs during the run; negative when unknown
}

func read(r io.Reader) (*stats, error) {
	s := &stats{rcodes: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				continue
			}
			s.lat = append(s.lat, v)
			s.rcodes[f[1]]++
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Queries per second:"):
			s.qps, _ = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(t, "Queries per second:")), 64)
		case strings.HasPrefix(t, "Queries completed:"):
			s.completed = strings.Fields(strings.TrimPrefix(t, "Queries completed:"))[0]
		case strings.HasPrefix(t, "Queries lost:"):
			s.lost = strings.Fields(strings.TrimPrefix(t, "Queries lost:"))[0]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if s.completed == "" {
		return nil, fmt.Errorf("no dnsperf statistics in the input")
	}
	return s, nil
}

// pct returns the p-th percentile (0..100) of sorted, in milliseconds.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i] * 1000
}

func (s *stats) line(label string) string {
	slices.Sort(s.lat)
	var sum float64
	for _, v := range s.lat {
		sum += v
	}
	avg := 0.0
	if len(s.lat) > 0 {
		avg = sum / float64(len(s.lat)) * 1000
	}
	var codes []string
	for c, n := range s.rcodes {
		codes = append(codes, fmt.Sprintf("%s:%.0f%%", c, 100*float64(n)/float64(len(s.lat))))
	}
	slices.Sort(codes)
	perQuery := "       -"
	if n, err := strconv.ParseFloat(s.completed, 64); err == nil && n > 0 && s.cpu >= 0 {
		perQuery = fmt.Sprintf("%8.1f", s.cpu/n)
	}
	return fmt.Sprintf("%-18s %9.0f %10s %8s  %s %7.3f %7.3f %7.3f %7.3f %8.3f %7.3f  %s",
		label, s.qps, s.completed, s.lost, perQuery, avg, pct(s.lat, 50), pct(s.lat, 90), pct(s.lat, 99), pct(s.lat, 99.9), pct(s.lat, 100), strings.Join(codes, ","))
}
