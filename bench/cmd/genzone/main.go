// Command genzone writes the benchmark zone and its dnsperf query file: a
// zone of N names (each with an A record, every fourth with an AAAA too),
// and queries of which a given share ask for names that exist and the rest
// for names that do not (NXDOMAIN). The output is deterministic for a seed.
//
//	go run ./bench/cmd/genzone -n 10000 -zone bench.zone -queries queries.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genzone:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		n        = flag.Int("n", 10000, "number of names in the zone")
		origin   = flag.String("origin", "bench.", "zone origin")
		zonePath = flag.String("zone", "bench.zone", "zone file to write")
		qPath    = flag.String("queries", "queries.txt", "dnsperf query file to write")
		count    = flag.Int("count", 100000, "number of queries in the file (dnsperf loops over it)")
		exist    = flag.Float64("exist", 0.8, "share of queries for existing names; the rest get NXDOMAIN")
		seed     = flag.Uint64("seed", 1, "random seed")
	)
	flag.Parse()
	if *n < 1 || *count < 1 || *exist < 0 || *exist > 1 {
		return fmt.Errorf("need -n >= 1, -count >= 1 and 0 <= -exist <= 1")
	}
	if err := writeFile(*zonePath, func(w *bufio.Writer) {
		fmt.Fprintf(w, "$ORIGIN %s\n$TTL 3600\n", *origin)
		fmt.Fprintf(w, "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\n@ IN NS ns2\n")
		fmt.Fprintf(w, "ns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n")
		for i := range *n {
			fmt.Fprintf(w, "host%05d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
			if i%4 == 0 {
				fmt.Fprintf(w, "host%05d IN AAAA 2001:db8::%x\n", i, i)
			}
		}
	}); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	return writeFile(*qPath, func(w *bufio.Writer) {
		for range *count {
			i := r.IntN(*n)
			if r.Float64() < *exist {
				if i%4 == 0 && r.IntN(2) == 0 {
					fmt.Fprintf(w, "host%05d.%s AAAA\n", i, *origin)
				} else {
					fmt.Fprintf(w, "host%05d.%s A\n", i, *origin)
				}
			} else {
				fmt.Fprintf(w, "nx%05d.%s A\n", i, *origin)
			}
		}
	})
}

// writeFile creates path and lets fill write it through a buffer.
func writeFile(path string, fill func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
