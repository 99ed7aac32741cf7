// Command overlay measures cross-group resolution with real `ddnrs node`
// processes on loopback: two groups of -members members each (default 7,
// the default group size) with the overlay on, group 0 (127.0.40.1..N)
// holding -zones zones, group 1 (127.0.41.1..N) holding one zone of its
// own, every node trusting every owner key. A client asks group 1's first
// node over UDP, DO set, one query at a time:
//
//   - cold: the first query for each of group 0's zones (a DHT lookup, a
//     DDNRS-RPC query over QUIC, verification);
//   - warm: names never asked before in zones whose route is cached (the
//     RPC and verification, no lookup);
//   - hot: names already answered (the verified-answer cache);
//   - local: names of group 1's own zone at the same node;
//
// then the hot set and the local zone with -workers parallel clients for
// -duration each (queries/s).
//
//	go build -o bin/ddnrs ./cmd/ddnrs && go run ./bench/cmd/overlay -bin bin/ddnrs
//
// `make bench-overlay` runs it. Figures go in bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/ports"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "overlay:", err)
		os.Exit(1)
	}
}

type config struct {
	bin      string
	members  int
	zones    int
	warm     int
	hot      int
	workers  int
	duration time.Duration
	keep     bool
	perf     string
}

// member is one running `ddnrs node` and what its ready file says.
type member struct {
	dir     string // the group's bootstrap directory
	cmd     *exec.Cmd
	done    chan error
	DNS     string   `json:"dns"`
	Admin   string   `json:"admin"`
	Overlay []string `json:"overlay"`
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin/ddnrs", "the ddnrs binary")
	flag.IntVar(&cfg.members, "members", 7, "members per group")
	flag.IntVar(&cfg.zones, "zones", 50, "zones held by group 0 (one cold sample each)")
	flag.IntVar(&cfg.warm, "warm", 40, "warm samples per zone (names never asked before)")
	flag.IntVar(&cfg.hot, "hot", 4000, "hot and local samples")
	flag.IntVar(&cfg.workers, "workers", 16, "parallel clients for the queries/s runs")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each queries/s run")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.StringVar(&cfg.perf, "perf", "", "record the warm phase with `perf record -g` on every node into this file (read it with perf report -i FILE)")
	flag.Parse()
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	cfg.bin = bin
	dir, err := os.MkdirTemp("", "ddnrs-bench-overlay-")
	if err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("work directory:", dir)
	}
	return bench(cfg, dir)
}

func bench(cfg config, dir string) error {
	// Keys first: every node trusts every zone's owner key.
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		return err
	}
	names := []string{"local.bench."}
	for i := range cfg.zones {
		names = append(names, fmt.Sprintf("z%d.bench.", i))
	}
	priv := make(map[string]string)
	var anchors []byte
	for _, z := range names {
		out, err := exec.Command(cfg.bin, "zone", "keygen", z, "--dir", keys).Output()
		if err != nil {
			return fmt.Errorf("keygen %s: %w", z, err)
		}
		lines := strings.Fields(strings.TrimSpace(string(out)))
		base := filepath.Base(lines[len(lines)-1])
		priv[z] = filepath.Join(keys, base+".private")
		pub, err := os.ReadFile(filepath.Join(keys, base+".key"))
		if err != nil {
			return err
		}
		anchors = append(anchors, pub...)
	}
	anchorFile := filepath.Join(dir, "anchors.keys")
	if err := os.WriteFile(anchorFile, anchors, 0o644); err != nil {
		return err
	}
	var members []*member
	defer func() {
		for _, m := range members {
			m.stop()
		}
	}()
	var boot []string
	var firsts []*member
	t0 := time.Now()
	for g := range 2 {
		ms, err := startGroup(cfg.bin, filepath.Join(dir, fmt.Sprintf("g%d", g)), 40+g, cfg.members, anchorFile, boot)
		members = append(members, ms...)
		if err != nil {
			return err
		}
		firsts = append(firsts, ms[0])
		boot = ms[0].Overlay
	}
	fmt.Printf("started 2 groups of %d members in %v\n", cfg.members, time.Since(t0).Round(time.Millisecond))
	owner, entry := firsts[0], firsts[1]
	t0 = time.Now()
	for _, z := range names {
		m := owner
		if z == "local.bench." {
			m = entry
		}
		if err := publish(cfg.bin, dir, m, z, priv[z]); err != nil {
			return err
		}
	}
	fmt.Printf("published %d zones in %v\n", len(names), time.Since(t0).Round(time.Millisecond))
	for _, z := range names {
		m := owner
		if z == "local.bench." {
			m = entry
		}
		if err := waitFor(func() error { return expect(m.DNS, z, dns.TypeSOA, dns.RcodeSuccess) }); err != nil {
			return fmt.Errorf("%s not served by its group: %w", z, err)
		}
	}
	// Provide runs in the background after the commit; give the DHT a
	// moment so the cold lookups find the provider, not a negative.
	time.Sleep(2 * time.Second)

	var cold, warm, hot, local []time.Duration
	for i := range cfg.zones {
		d, err := timed(entry.DNS, fmt.Sprintf("h0.z%d.bench.", i))
		if err != nil {
			return fmt.Errorf("cold: %w", err)
		}
		cold = append(cold, d)
	}
	stopPerf := startPerf(cfg.perf, members)
	for j := 1; j <= cfg.warm; j++ {
		for i := range cfg.zones {
			d, err := timed(entry.DNS, fmt.Sprintf("h%d.z%d.bench.", j, i))
			if err != nil {
				return fmt.Errorf("warm: %w", err)
			}
			warm = append(warm, d)
		}
	}
	stopPerf()
	hotSet := make([]string, 0, 64)
	for j := range 64 {
		hotSet = append(hotSet, fmt.Sprintf("h%d.z%d.bench.", j%cfg.warm+1, j%cfg.zones))
	}
	localSet := make([]string, 0, 64)
	for j := range 64 {
		localSet = append(localSet, fmt.Sprintf("h%d.local.bench.", j))
	}
	for i := range cfg.hot {
		d, err := timed(entry.DNS, hotSet[i%len(hotSet)])
		if err != nil {
			return fmt.Errorf("hot: %w", err)
		}
		hot = append(hot, d)
		if d, err = timed(entry.DNS, localSet[i%len(localSet)]); err != nil {
			return fmt.Errorf("local: %w", err)
		}
		local = append(local, d)
	}
	fmt.Printf("\nsequential, one UDP client, DO set, at group 1's node (%s):\n\n", entry.DNS)
	fmt.Println("| path  | samples | p50 | p99 |")
	fmt.Println("|-------|---------|-----|-----|")
	for _, row := range []struct {
		name string
		ds   []time.Duration
	}{{"local", local}, {"hot", hot}, {"warm", warm}, {"cold", cold}} {
		fmt.Printf("| %-5s | %7d | %s | %s |\n", row.name, len(row.ds), pct(row.ds, 50), pct(row.ds, 99))
	}
	qHot, eHot := throughput(entry.DNS, hotSet, cfg.workers, cfg.duration)
	qLocal, eLocal := throughput(entry.DNS, localSet, cfg.workers, cfg.duration)
	fmt.Printf("\n%d parallel clients, %v each:\n\n", cfg.workers, cfg.duration)
	fmt.Println("| hot set | queries/s | errors |")
	fmt.Println("|---------|-----------|--------|")
	fmt.Printf("| local zone | %.0f | %d |\n| cached remote zone | %.0f | %d |\n", qLocal, eLocal, qHot, eHot)
	return nil
}

// startGroup bootstraps a group of n members on 127.0.NET.1..n, turns the
// overlay on (every member joining through boot, or through member 1 for
// the first group) and starts them, member 1 first. It returns the members
// started, also on error, for the caller to stop.
func startGroup(bin, dir string, net, n int, anchors string, boot []string) ([]*member, error) {
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.0.%d.%d", net, i+1)
	}
	ports := make([]string, 3)
	for i := range ports {
		p, err := freePort(ips[0], i == 0)
		if err != nil {
			return nil, err
		}
		ports[i] = strconv.Itoa(p)
	}
	if out, err := exec.Command(bin, "ops", "group", "bootstrap", "--out", dir, "--members", strconv.Itoa(n), "--ip", strings.Join(ips, ","),
		"--dns-port", ports[0], "--raft-port", ports[1], "--admin-port", ports[2]).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("group bootstrap: %w\n%s", err, out)
	}
	var ms []*member
	for i := range n {
		m, err := startMember(bin, dir, fmt.Sprintf("node%d", i+1), ips[i], anchors, boot)
		if err != nil {
			return ms, err
		}
		ms = append(ms, m)
		if boot == nil {
			boot = m.Overlay
		}
	}
	return ms, nil
}

// startMember turns the overlay on in member name's configuration (in
// the group directory dir) and starts the node.
func startMember(bin, dir, name, ip, anchors string, boot []string) (*member, error) {
	conf := filepath.Join(dir, name, "node.toml")
	// The benchmark's queries come from one address: no rate limiting
	// (a top-level key, so it goes before the tables).
	text, err := os.ReadFile(conf)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, append([]byte("rrl_rate = 0\n"), text...), 0o600); err != nil {
		return nil, err
	}
	quoted := make([]string, len(boot))
	for i, b := range boot {
		quoted[i] = strconv.Quote(b)
	}
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(f, "\n[overlay]\nenabled = true\nlisten = [%q]\nbootstrap = [%s]\ntrust_anchors = %q\n",
		"/ip4/"+ip+"/udp/0/quic-v1", strings.Join(quoted, ", "), anchors)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	ready := filepath.Join(dir, name, "ready.json")
	log, err := os.Create(filepath.Join(dir, name, "node.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	m := &member{dir: dir, done: make(chan error, 1)}
	m.cmd = exec.Command(bin, "node", "--config", conf, "--ready-file", ready)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { m.done <- m.cmd.Wait() }()
	err = waitFor(func() error {
		select {
		case err := <-m.done:
			m.done <- err
			return fmt.Errorf("%w: node exited: %v (see %s)", errStop, err, log.Name())
		default:
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, m); err != nil {
			return err
		}
		if len(m.Overlay) == 0 {
			return fmt.Errorf("%w: no overlay addresses in %s", errStop, ready)
		}
		return nil
	})
	if err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// stop ends the node (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (m *member) stop() {
	if m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd.Process = nil
}

// publish writes zone z (hosts h0..h99 and a wildcard-free apex) and
// publishes it to m's group with the owner key priv.
func publish(bin, dir string, m *member, z, priv string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n", z)
	for i := range 100 {
		fmt.Fprintf(&b, "h%d A 198.51.100.%d\n", i, i+1)
	}
	zf := filepath.Join(dir, z+"zone")
	if err := os.WriteFile(zf, []byte(b.String()), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(bin, "zone", "publish", "--server", m.Admin,
		"--ca", filepath.Join(m.dir, "ca", "ca.crt"), "--cert", filepath.Join(m.dir, "ops", "node.crt"),
		"--tls-key", filepath.Join(m.dir, "ops", "node.key"), "--key", priv, zf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("publish %s: %w\n%s", z, err, out)
	}
	return nil
}

// errStop marks a waitFor condition that will not become true.
var errStop = errors.New("giving up")

func waitFor(cond func() error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil || errors.Is(err, errStop) {
			return err
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(ip string, udpToo bool) (int, error) {
	return ports.Free(ip, udpToo) // outside the ephemeral range: nothing else takes it first
}

func query(c *dns.Client, conn *dns.Conn, name string, t uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.RecursionDesired = false
	m.SetEdns0(1232, true)
	r, _, err := c.ExchangeWithConn(m, conn)
	return r, err
}

func expect(addr, name string, t uint16, rcode int) error {
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := query(c, conn, name, t)
	if err != nil {
		return err
	}
	if r.Rcode != rcode || (rcode == dns.RcodeSuccess && len(r.Answer) == 0) {
		return fmt.Errorf("%s: rcode %s, %d answers", name, dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return nil
}

// timed asks name A once and returns the round trip; anything but an
// answer is an error.
func timed(addr, name string) (time.Duration, error) {
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	t0 := time.Now()
	r, err := query(c, conn, name, dns.TypeA)
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, fmt.Errorf("%s: rcode %s, %d answers", name, dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return d, nil
}

// throughput runs workers clients asking names in turn for d and returns
// answers per second and failed queries.
func throughput(addr string, names []string, workers int, d time.Duration) (float64, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			for i := w; ctx.Err() == nil; i++ {
				r, err := query(c, conn, names[i%len(names)], dns.TypeA)
				if err != nil || r.Rcode != dns.RcodeSuccess {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(t0).Seconds(), failed.Load()
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	d := s[i]
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// startPerf runs `perf record -g` on every member's process into file
// (nothing when file is empty) and returns the function that stops it.
func startPerf(file string, ms []*member) func() {
	if file == "" {
		return func() {}
	}
	pids := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.cmd.Process != nil {
			pids = append(pids, strconv.Itoa(m.cmd.Process.Pid))
		}
	}
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-o", file, "-p", strings.Join(pids, ","))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Println("perf record:", err)
		return func() {}
	}
	time.Sleep(500 * time.Millisecond) // perf attaches
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}
