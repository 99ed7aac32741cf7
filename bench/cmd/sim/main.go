// Command sim is the overlay at internet scale, simulated in one process
// (bench/sim, docs/scale.md): -nodes real overlay hosts (kad-dht under
// /ddnrs) on go-libp2p's mocknet with one-way delays of -min-delay to
// -max-delay between -regions regions, groups of 7 providing their
// zones; cold lookups through the DHT and through the registry log's
// directory, warm ones; the route cache of one node under a Zipf query
// mix over 10,000,000 zones; the registry's heartbeat commit rule at
// 3,600 nodes; a new group joining. It prints the tables docs/scale.md
// and bench/README.md quote, with the extrapolation to 3,600 nodes.
//
//	nice -n 10 go run ./bench/cmd/sim                      # make sim: 300 nodes
//	nice -n 10 go run ./bench/cmd/sim -nodes 1000 -lookups 200
//	nice -n 10 go run ./bench/cmd/sim -min-delay 100ms -max-delay 100ms
//
// The DHT part costs CPU: about a minute of it per 100 nodes on a loaded
// machine; its wall-clock figures grow with the load, its "by the
// links" figures do not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/bench/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(2)
	}
}

const usage = `Usage: go run ./bench/cmd/sim [flags]

Simulates the DDNRS overlay at scale in one process and prints tables:
real overlay hosts (go-libp2p-kad-dht, protocol /ddnrs) on go-libp2p's
mocknet with per-link latency between regions, the real route cache
(overlay.Router) under a Zipf query mix, the registry's real heartbeat
commit rule, extrapolated to 3,600 nodes, 500 groups, 10,000,000 zones.

Examples:
  make sim                                          # 300 nodes, defaults below
  nice -n 10 go run ./bench/cmd/sim -nodes 1000 -lookups 200
  nice -n 10 go run ./bench/cmd/sim -min-delay 100ms -max-delay 100ms   # every link 100 ms
  go run ./bench/cmd/sim -nodes 50 -lookups 20 -alphas 1.0              # a quick look

Flags:
`

type options struct {
	dht     sim.Config
	alphas  []float64
	qps     []float64
	span    time.Duration
	regNode int
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var o options
	fs.IntVar(&o.dht.Nodes, "nodes", 300, "overlay hosts in the DHT simulation (at least 2 groups of 7)")
	fs.IntVar(&o.dht.Regions, "regions", 10, "regions the groups are spread over")
	fs.DurationVar(&o.dht.MinDelay, "min-delay", 20*time.Millisecond, "least one-way delay between two regions")
	fs.DurationVar(&o.dht.MaxDelay, "max-delay", 150*time.Millisecond, "greatest one-way delay between two regions")
	fs.DurationVar(&o.dht.LocalDelay, "local-delay", time.Millisecond, "one-way delay inside a region")
	fs.IntVar(&o.dht.ZonesPerGroup, "zones-per-group", 2, "zones each group provides in the DHT")
	fs.IntVar(&o.dht.Lookups, "lookups", 100, "cold lookups sampled per way of routing")
	fs.IntVar(&o.dht.Parallel, "parallel", 64, "hosts started and zones provided at once")
	var seed uint64
	fs.Uint64Var(&seed, "seed", 1, "seed of the delays and the samples")
	alphas := fs.String("alphas", "0.8,1.0,1.2", "Zipf exponents of zone popularity for the route cache, comma-separated")
	qps := fs.String("qps", "10,100,1000", "queries/s a node routes to other groups, comma-separated")
	fs.DurationVar(&o.span, "cache-span", 20*time.Minute, "simulated time of each route cache run (as long again warms it)")
	fs.IntVar(&o.regNode, "registry-nodes", sim.Full.Nodes, "nodes heartbeating to the registry")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -help)", fs.Arg(0))
	}
	o.dht.Seed = seed
	var errs []error
	if o.dht.Nodes < 14 {
		errs = append(errs, fmt.Errorf("-nodes %d: at least 14 (two groups of 7)", o.dht.Nodes))
	}
	if o.dht.MinDelay <= 0 || o.dht.MaxDelay < o.dht.MinDelay {
		errs = append(errs, fmt.Errorf("-min-delay %v, -max-delay %v: want 0 < min <= max", o.dht.MinDelay, o.dht.MaxDelay))
	}
	if o.dht.LocalDelay <= 0 {
		errs = append(errs, fmt.Errorf("-local-delay %v: want > 0", o.dht.LocalDelay))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"-regions", o.dht.Regions}, {"-zones-per-group", o.dht.ZonesPerGroup}, {"-lookups", o.dht.Lookups}, {"-parallel", o.dht.Parallel}, {"-registry-nodes", o.regNode}} {
		if v.n <= 0 {
			errs = append(errs, fmt.Errorf("%s %d: want > 0", v.name, v.n))
		}
	}
	if o.span <= 0 {
		errs = append(errs, fmt.Errorf("-cache-span %v: want > 0", o.span))
	}
	var err error
	if o.alphas, err = floats("-alphas", *alphas); err != nil {
		errs = append(errs, err)
	}
	if o.qps, err = floats("-qps", *qps); err != nil {
		errs = append(errs, err)
	}
	return &o, errors.Join(errs...)
}

// floats parses a comma-separated list of positive numbers.
func floats(flagName, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s %q: want positive numbers separated by commas, as 0.8,1.0", flagName, s)
		}
		out = append(out, v)
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	t0 := time.Now()
	rep := &sim.Report{}
	rep.Registry, err = sim.RegistryLoad(sim.RegistryConfig{Nodes: o.regNode})
	if err != nil {
		return err
	}
	for _, a := range o.alphas {
		for _, q := range o.qps {
			cr, err := sim.RouteCache(ctx, sim.CacheConfig{Alpha: a, QPS: q, Span: o.span})
			if err != nil {
				return err
			}
			rep.Caches = append(rep.Caches, cr)
		}
	}
	o.dht.Progress = stderr
	rep.DHT, err = sim.Run(ctx, o.dht)
	if err != nil {
		return err
	}
	rep.Took = time.Since(t0)
	rep.Load = loadAverage()
	rep.Print(stdout)
	return nil
}

// loadAverage is /proc/loadavg's first three figures, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
