// Command etcdcmp measures etcd's write path on this machine with the
// load shape of `make bench-raft` (bench/cmd/failover), so our figures
// have a reference: a group of 7 etcd processes on 127.0.0.1..7 (data
// dirs in a temporary directory, fsync on as etcd's default), one writer
// and then 16 concurrent writers putting values of the size of a ddnrs
// change command to the leader, each writer its own key, through etcd's
// v3 JSON gateway (POST /v3/kv/put) with plain net/http. It prints puts
// per second, latency p50/p99 and the etcd processes' CPU per put, once
// with heartbeat and election timeouts matching raftfsm's defaults and
// once with etcd's defaults. Before that it measures what the disk
// allows: write+fdatasync of a 4 KiB append in the temporary directory,
// and a bbolt transaction putting one such value (what raft-boltdb does
// per log append and our zone store per applied batch), each alone and
// from 7 goroutines at once (7 members share this disk).
//
//	go run ./bench/cmd/etcdcmp -etcd "$(command -v etcd)"
//
// `make bench-etcd` (bench/etcd.sh) runs it and then our own write
// figures. Figures go in bench/README.md, "Write path vs etcd".
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"

	"github.com/ddnrs/ddnrs/internal/ports"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "etcdcmp:", err)
		os.Exit(1)
	}
}

// timing is one pair of etcd Raft timeouts.
type timing struct {
	label               string
	heartbeat, election time.Duration
}

// matched mirrors raftfsm's defaults: hashicorp/raft's leader sends a
// heartbeat every HeartbeatTimeout/10 (30 ms) and a follower stands
// after a random 1-2 x HeartbeatTimeout (300 ms) without contact; etcd's
// leader sends one every --heartbeat-interval and a follower stands
// after a random 1-2 x --election-timeout.
var timings = map[string]timing{
	"matched": {"timeouts matched to raftfsm (heartbeat 30ms, election 300ms)",
		raftfsm.DefaultHeartbeatTimeout / 10, raftfsm.DefaultElectionTimeout},
	"default": {"etcd defaults (heartbeat 100ms, election 1000ms)", 100 * time.Millisecond, time.Second},
}

func run() error {
	etcdBin := flag.String("etcd", "etcd", "the etcd server binary")
	members := flag.Int("members", 7, "etcd members")
	duration := flag.Duration("duration", 10*time.Second, "length of each throughput run")
	writers := flag.Int("writers", 16, "concurrent writers (one key each) of the batched run")
	size := flag.Int("size", 0, "value size in bytes (0: the size of a ddnrs change command, measured)")
	configs := flag.String("configs", "matched,default", "timeouts to run, in order: matched, default")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()

	bin, err := exec.LookPath(*etcdBin)
	if err != nil {
		return fmt.Errorf("%w (bench/etcd.sh installs the Debian package etcd-server)", err)
	}
	ver, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", bin, err)
	}
	fmt.Printf("%s: %s\n", bin, strings.Join(strings.Fields(strings.ReplaceAll(string(ver), "\n", "; ")), " "))

	create, update, err := changeSizes(20)
	if err != nil {
		return fmt.Errorf("measuring a change command: %w", err)
	}
	fmt.Printf("ddnrs change command (raftfsm.ChangeCommand, the zone bench-raft writes: SOA, NS, A, TXT, NSEC, RRSIGs, signed head): creation %d bytes, update median %d bytes\n", create, update)
	if *size == 0 {
		*size = update
	}

	dir, err := os.MkdirTemp("", "ddnrs-bench-etcd-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Println("work dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	for _, par := range []int{1, *members} {
		p50, p99, err := fsyncLatency(dir, par, 200)
		if err != nil {
			return err
		}
		fmt.Printf("disk: 4 KiB append + fdatasync in %s, %d at once: p50 %v p99 %v\n", dir, par, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	}
	for _, par := range []int{1, *members} {
		p50, p99, err := boltLatency(dir, par, 200, *size)
		if err != nil {
			return err
		}
		fmt.Printf("disk: bbolt transaction putting %d bytes (a raft-boltdb log append, a zone store write), %d at once: p50 %v p99 %v\n", *size, par, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	}

	for _, name := range strings.Split(*configs, ",") {
		tm, ok := timings[name]
		if !ok {
			return fmt.Errorf("unknown config %q (matched, default)", name)
		}
		if err := bench(ctx, bin, filepath.Join(dir, name), *members, tm, *size, *writers, *duration); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// changeSizes returns the size of the command creating a zone like the
// ones bench-raft's writers publish (bench/raft Owner without Grow) and
// the median size of n updates of its register TXT, each re-signed as
// `ddnrs zone publish` does.
func changeSizes(n int) (create, update int, err error) {
	const origin = "w16-0.bench."
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		return 0, 0, err
	}
	var cur *zone.Zone
	var sizes []int
	for seq := 0; seq <= n; seq++ {
		var rrs []dns.RR
		for _, s := range []string{
			"@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60",
			"@ 3600 IN NS ns1",
			"ns1 3600 IN A 127.0.0.1",
			fmt.Sprintf("reg 60 IN TXT \"c0-%d\"", seq+1),
		} {
			rr, err := dns.NewRR("$ORIGIN " + origin + "\n" + s)
			if err != nil {
				return 0, 0, err
			}
			rrs = append(rrs, rr)
		}
		u, err := zone.New(origin, rrs)
		if err != nil {
			return 0, 0, err
		}
		next, _, err := zone.Prepare(cur, u, k, time.Now())
		if err != nil {
			return 0, 0, err
		}
		cmd, err := raftfsm.ChangeCommand(cur, next, k)
		if err != nil {
			return 0, 0, err
		}
		if seq == 0 {
			create = len(cmd)
		} else {
			sizes = append(sizes, len(cmd))
		}
		cur = next
	}
	slices.Sort(sizes)
	return create, sizes[len(sizes)/2], nil
}

// fsyncLatency appends 4 KiB and fdatasyncs it n times from each of par
// goroutines, each on its own file in dir, and returns the p50 and p99
// of the fdatasync calls.
func fsyncLatency(dir string, par, n int) (p50, p99 time.Duration, err error) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for i := range par {
		wg.Go(func() {
			ds, err := fsyncLoop(filepath.Join(dir, fmt.Sprintf("fsync-%d", i)), n)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, ds...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	slices.Sort(all)
	return percentile(all, 0.50), percentile(all, 0.99), nil
}

func fsyncLoop(name string, n int) ([]time.Duration, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(name)
	defer f.Close()
	buf := make([]byte, 4096)
	ds := make([]time.Duration, 0, n)
	for range n {
		if _, err := f.Write(buf); err != nil {
			return ds, err
		}
		t := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return ds, err
		}
		ds = append(ds, time.Since(t))
	}
	return ds, nil
}

// boltLatency commits n bbolt transactions, each putting one value of
// size bytes under the next 8-byte index (as raft-boltdb appends a log
// entry), from each of par goroutines on its own file in dir, and
// returns the p50 and p99 of the commits. bbolt syncs twice per commit:
// the data pages, then the meta page.
func boltLatency(dir string, par, n, size int) (p50, p99 time.Duration, err error) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for i := range par {
		wg.Go(func() {
			ds, err := boltLoop(filepath.Join(dir, fmt.Sprintf("bolt-%d.db", i)), n, size)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, ds...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	slices.Sort(all)
	return percentile(all, 0.50), percentile(all, 0.99), nil
}

func boltLoop(name string, n, size int) ([]time.Duration, error) {
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer os.Remove(name)
	defer db.Close()
	bucket := []byte("logs")
	value := make([]byte, size)
	ds := make([]time.Duration, 0, n)
	for i := range n {
		rand.Read(value)
		t := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			return b.Put(binary.BigEndian.AppendUint64(nil, uint64(i+1)), value)
		})
		if err != nil {
			return ds, err
		}
		ds = append(ds, time.Since(t))
	}
	return ds, nil
}

// percentile returns the p-quantile of sorted ds, as bench/cmd/failover
// computes it.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// bench starts a group, runs one writer and then writers concurrent
// writers against its leader, and stops it.
func bench(ctx context.Context, bin, dir string, members int, tm timing, size, writers int, d time.Duration) error {
	start := time.Now()
	c, err := startCluster(ctx, bin, dir, members, tm)
	if err != nil {
		return err
	}
	defer c.close()
	l, _, err := c.waitLeader(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("etcd, %s: %d members up, leader m%d, in %v\n", tm.label, members, l+1, time.Since(start).Round(time.Millisecond))
	for _, n := range []int{1, writers} {
		if err := c.throughput(ctx, n, size, d); err != nil {
			return err
		}
	}
	return nil
}

// cluster is a running etcd group: member i listens on 127.0.0.(i+1).
type cluster struct {
	hc    *http.Client
	procs []*proc
	urls  []string // client URLs
}

// proc is one etcd process; done is closed once it has been reaped.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func freePort(ip string) (int, error) {
	return ports.Free(ip, false) // outside the ephemeral range: nothing else takes it first
}

// etcdArgs are the command-line flags of member i of a group whose
// members' peer URLs are peers.
func etcdArgs(dir string, i int, peers, clients []string, tm timing) []string {
	var initial []string
	for j, p := range peers {
		initial = append(initial, fmt.Sprintf("m%d=%s", j+1, p))
	}
	return []string{
		"--name", fmt.Sprintf("m%d", i+1),
		"--data-dir", filepath.Join(dir, fmt.Sprintf("m%d", i+1)),
		"--listen-peer-urls", peers[i],
		"--initial-advertise-peer-urls", peers[i],
		"--listen-client-urls", clients[i],
		"--advertise-client-urls", clients[i],
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-token", "etcdcmp",
		"--initial-cluster-state", "new",
		"--heartbeat-interval", strconv.FormatInt(tm.heartbeat.Milliseconds(), 10),
		"--election-timeout", strconv.FormatInt(tm.election.Milliseconds(), 10),
		"--logger", "zap",
		"--log-outputs", "stderr",
		"--log-level", "warn",
	}
}

func startCluster(ctx context.Context, bin, dir string, members int, tm timing) (c *cluster, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c = &cluster{hc: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		Timeout:   10 * time.Second,
	}}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var peers []string
	for i := range members {
		ip := "127.0.0." + strconv.Itoa(i+1)
		pp, err := freePort(ip)
		if err != nil {
			return c, err
		}
		cp, err := freePort(ip)
		if err != nil {
			return c, err
		}
		peers = append(peers, fmt.Sprintf("http://%s:%d", ip, pp))
		c.urls = append(c.urls, fmt.Sprintf("http://%s:%d", ip, cp))
	}
	for i := range members {
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("m%d.log", i+1)))
		if err != nil {
			return c, err
		}
		cmd := exec.Command(bin, etcdArgs(dir, i, peers, c.urls, tm)...)
		cmd.Stdout, cmd.Stderr = log, log
		// If this program dies without its deferred close, the kernel
		// kills the members.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			log.Close()
			return c, fmt.Errorf("starting m%d: %w", i+1, err)
		}
		p := &proc{cmd: cmd, done: make(chan struct{}), log: log}
		go func() {
			cmd.Wait()
			close(p.done)
		}()
		c.procs = append(c.procs, p)
	}
	return c, nil
}

// close stops every member: SIGTERM, SIGKILL after 5 s.
func (c *cluster) close() {
	for _, p := range c.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		p.log.Close()
	}
	c.procs = nil
	c.hc.CloseIdleConnections()
}

// status is the part of etcd's maintenance status answer we read. The
// gateway writes 64-bit integers as JSON strings.
type status struct {
	Header struct {
		MemberID string `json:"member_id"`
		RaftTerm string `json:"raft_term"`
	} `json:"header"`
	Leader string `json:"leader"`
}

func parseStatus(b []byte) (id, leader string, term uint64, err error) {
	var s status
	if err := json.Unmarshal(b, &s); err != nil {
		return "", "", 0, err
	}
	if s.Header.MemberID == "" {
		return "", "", 0, fmt.Errorf("status without member_id: %.200s", b)
	}
	if s.Header.RaftTerm != "" {
		if term, err = strconv.ParseUint(s.Header.RaftTerm, 10, 64); err != nil {
			return "", "", 0, fmt.Errorf("raft_term: %w", err)
		}
	}
	return s.Header.MemberID, s.Leader, term, nil
}

func (c *cluster) post(ctx context.Context, url, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s: %.200s", path, resp.Status, b)
	}
	return b, nil
}

// waitLeader returns the index of the member that says it leads, and
// its term, once one does (within 30 s).
func (c *cluster) waitLeader(ctx context.Context) (int, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		for i, u := range c.urls {
			b, err := c.post(ctx, u, "/v3/maintenance/status", []byte("{}"))
			if err != nil {
				last = err
				continue
			}
			id, leader, term, err := parseStatus(b)
			if err != nil {
				last = err
				continue
			}
			if id == leader {
				return i, term, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("no leader: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cpu is the user+system CPU time of the members, from /proc/PID/stat.
func (c *cluster) cpu() time.Duration {
	var total time.Duration
	for _, p := range c.procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		total += statCPU(string(b))
	}
	return total
}

// statCPU reads utime+stime from a /proc/PID/stat line (clock ticks of
// 10 ms, USER_HZ 100 as on every Linux we run on).
func statCPU(s string) time.Duration {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// putBody is the JSON of a v3 PutRequest: []byte fields encode as
// base64, as the gateway wants.
func putBody(key, value []byte) []byte {
	b, _ := json.Marshal(struct {
		Key   []byte `json:"key"`
		Value []byte `json:"value"`
	}{key, value})
	return b
}

// throughput runs n writers, each putting its own key with a fresh
// random value of size bytes to the leader back to back for d, and
// prints puts per second, latency and CPU per put.
func (c *cluster) throughput(ctx context.Context, n, size int, d time.Duration) error {
	l, term0, err := c.waitLeader(ctx)
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	cpu0 := c.cpu()
	start := time.Now()
	end := start.Add(d)
	for w := range n {
		wg.Go(func() {
			key := fmt.Appendf(nil, "/bench/w%d-%d", n, w)
			value := make([]byte, size)
			for time.Now().Before(end) && ctx.Err() == nil {
				rand.Read(value)
				t := time.Now()
				_, err := c.post(ctx, c.urls[l], "/v3/kv/put", putBody(key, value))
				el := time.Since(t)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					lat = append(lat, el)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	cpu := c.cpu() - cpu0
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(lat) == 0 {
		return fmt.Errorf("nothing committed: %v", errors.Join(errs...))
	}
	_, term1, err := c.waitLeader(ctx)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	label := "one at a time:"
	if n > 1 {
		label = fmt.Sprintf("%d concurrent writers:", n)
	}
	fmt.Printf("  %-22s %6d puts in %v: %7.1f puts/s  latency p50 %v p99 %v max %v  (%d failed, term %d -> %d)\n",
		label, len(lat), el.Round(time.Millisecond), float64(len(lat))/el.Seconds(),
		percentile(lat, 0.50).Round(10*time.Microsecond), percentile(lat, 0.99).Round(10*time.Microsecond),
		lat[len(lat)-1].Round(10*time.Microsecond), len(errs), term0, term1)
	fmt.Printf("  %-22s etcd CPU (%d processes, user+system) %v per put, %.2f cores busy\n", "",
		len(c.procs), (cpu / time.Duration(len(lat))).Round(10*time.Microsecond), cpu.Seconds()/el.Seconds())
	for i, err := range errs {
		if i == 3 {
			fmt.Printf("  %-22s ...\n", "")
			break
		}
		fmt.Printf("  %-22s failed: %v\n", "", err)
	}
	return nil
}
