// Command failover measures a 7-member group of real `ddnrs node`
// processes on 127.0.0.1..7 (bench/raft): the time from SIGKILL of the
// leader to the next committed write, the longest time a surviving
// member's DNS went unanswered during the faults, and signed RRset
// changes committed per second with commit latency (p50, p99), one
// writer at a time and with concurrent writers (Raft batches them). It
// ends with where a commit's time goes: an Ed25519 verification and an
// fsync measured here, and the leader's apply histogram.
//
//	go build -o bin/ddnrs ./cmd/ddnrs && go run ./bench/cmd/failover -bin bin/ddnrs
//
// `make bench-raft` runs it. Figures go in bench/README.md.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

type config struct {
	bin      string
	rounds   int
	duration time.Duration
	writers  int
	batch    int
	keep     bool

	heartbeat, election time.Duration
	perf                bool
	quiet               time.Duration
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin/ddnrs", "the ddnrs binary")
	flag.IntVar(&cfg.rounds, "rounds", 5, "leader kills to time")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each throughput run")
	flag.IntVar(&cfg.writers, "writers", 16, "concurrent writers (one zone each) of the batched run")
	flag.IntVar(&cfg.batch, "batch", 0, "with N > 0, a third run: the same writers, each change setting N+1 TXT RRsets (an owner batching N+1 signed RRset changes into one change set); prints signed RRset changes per second")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.BoolVar(&cfg.perf, "perf", true, "profile the leader with perf(1) during the batched run, when perf is installed")
	flag.DurationVar(&cfg.heartbeat, "heartbeat", 0, "nodes' heartbeat_timeout (0: the node default)")
	flag.DurationVar(&cfg.election, "election", 0, "nodes' election_timeout (0: the node default)")
	flag.DurationVar(&cfg.quiet, "quiet", 60*time.Second, "watch the idle group this long for spurious leader changes before the failover rounds (0: skip)")
	flag.Parse()
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ddnrs-bench-raft-")
	if err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("work dir", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := raftbench.Start(ctx, raftbench.Options{Bin: bin, Dir: dir,
		HeartbeatTimeout: cfg.heartbeat, ElectionTimeout: cfg.election})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("7 members up and joined in %v (%s)\n", time.Since(start).Round(time.Millisecond), dir)

	if cfg.quiet > 0 {
		if err := quiet(ctx, c, cfg.quiet); err != nil {
			return err
		}
	}
	if err := failover(ctx, c, cfg.rounds); err != nil {
		return err
	}
	if err := throughput(ctx, c, "one at a time", 1, 0, cfg.duration, ""); err != nil {
		return err
	}
	perfOut := ""
	if _, err := exec.LookPath("perf"); err == nil && cfg.perf {
		perfOut = filepath.Join(dir, "leader.perf.data")
	}
	if err := throughput(ctx, c, fmt.Sprintf("%d concurrent writers", cfg.writers), cfg.writers, 0, cfg.duration, perfOut); err != nil {
		return err
	}
	if cfg.batch > 0 {
		if err := throughput(ctx, c, fmt.Sprintf("%d writers, %d RRsets a change", cfg.writers, cfg.batch+1), cfg.writers, cfg.batch, cfg.duration, ""); err != nil {
			return err
		}
	}
	return whereTimeGoes(ctx, c, dir)
}

// quiet watches the group, with no writes and no faults, for d: every
// election raises the term, so the rise of the highest term any member
// reports counts the elections, and polling the leader every 100 ms
// counts the leader changes an operator would see.
func quiet(ctx context.Context, c *raftbench.Cluster, d time.Duration) error {
	l, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	term0, err := maxTerm(ctx, c)
	if err != nil {
		return err
	}
	changes, leaderless := 0, 0
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		nl := c.Leader(ctx)
		switch {
		case nl == nil:
			leaderless++
		case nl != l:
			changes++
			l = nl
		}
	}
	term1, err := maxTerm(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("idle group, %v, no writes: %d elections (term %d -> %d), %d leader changes seen, %d of %d polls without a leader\n",
		d, term1-term0, term0, term1, changes, leaderless, int(d/(100*time.Millisecond)))
	return nil
}

// maxTerm returns the highest Raft term a running member reports.
func maxTerm(ctx context.Context, c *raftbench.Cluster) (uint64, error) {
	var term uint64
	for _, m := range c.Alive() {
		st, err := c.Client.Status(ctx, m.Admin)
		if err != nil {
			return 0, fmt.Errorf("status of %s: %w", m.ID, err)
		}
		term = max(term, st.Term)
	}
	return term, nil
}

// failover kills the leader rounds times while a writer publishes to
// random members, timing the next committed write, and probes every
// member's DNS throughout; each round restarts the killed member.
func failover(ctx context.Context, c *raftbench.Cluster, rounds int) error {
	o, err := c.NewOwner(0, "failover.test.", false)
	if err != nil {
		return err
	}
	if err := publishUntilOK(ctx, c, o); err != nil {
		return err
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		return err
	}
	prober := c.StartProber(ctx, o.Origin)
	var (
		mu   sync.Mutex
		recs []raftbench.Record
	)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		i := 0
		for wctx.Err() == nil {
			alive := c.Alive()
			m := alive[i%len(alive)]
			i++
			cctx, cancel := context.WithTimeout(wctx, 8*time.Second)
			rec, err := o.Publish(cctx, m.Admin)
			cancel()
			mu.Lock()
			if err != nil {
				werr = err
				mu.Unlock()
				return
			}
			recs = append(recs, rec)
			mu.Unlock()
			if rec.Outcome != raftbench.OK {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	firstOK := func(after time.Time) (time.Duration, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			if r.Outcome == raftbench.OK && !r.Call.Before(after) {
				return r.Return.Sub(after), true, nil
			}
		}
		return 0, false, werr
	}
	var times, elections []time.Duration
	for round := range rounds {
		time.Sleep(500 * time.Millisecond)
		l, err := c.WaitLeader(ctx)
		if err != nil {
			return err
		}
		kill := time.Now()
		l.Kill()
		elected := make(chan time.Duration, 1)
		go func() {
			nl, err := c.WaitLeader(ctx)
			if err != nil || nl == l {
				elected <- -1
				return
			}
			elected <- time.Since(kill)
		}()
		var d time.Duration
		for {
			var ok bool
			var werr error
			if d, ok, werr = firstOK(kill); ok {
				break
			}
			if werr != nil || time.Since(kill) > 30*time.Second {
				return fmt.Errorf("no write committed within 30s of killing %s: %v", l.ID, werr)
			}
			time.Sleep(5 * time.Millisecond)
		}
		times = append(times, d)
		e := <-elected
		elections = append(elections, e)
		fmt.Printf("round %d: SIGKILL leader %s -> a member says it leads after %v, next committed write after %v\n", round+1, l.ID, e.Round(time.Millisecond), d.Round(time.Millisecond))
		if err := c.StartMember(ctx, l); err != nil {
			return err
		}
		if err := c.WaitCaughtUp(ctx); err != nil {
			return err
		}
	}
	stop()
	wg.Wait()
	stats := prober.Stop()
	summary := func(what string, ds []time.Duration) {
		slices.Sort(ds)
		fmt.Printf("%s (%d rounds): min %v median %v max %v\n", what,
			len(ds), ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	summary("leader SIGKILL to a new leader", elections)
	summary("leader SIGKILL to next committed write", times)
	var worst time.Duration
	var worstID string
	unanswered := 0
	for id, s := range stats {
		unanswered += s.Queries - s.Answers
		if s.LongestGap > worst {
			worst, worstID = s.LongestGap, id
		}
	}
	fmt.Printf("DNS probes of running members (SOA every 10 ms, 250 ms timeout): %d unanswered; longest gap between answers %v (%s)\n",
		unanswered, worst.Round(time.Millisecond), worstID)
	return nil
}

func publishUntilOK(ctx context.Context, c *raftbench.Cluster, o *raftbench.Owner) error {
	for {
		l, err := c.WaitLeader(ctx)
		if err != nil {
			return err
		}
		rec, err := o.Publish(ctx, l.Admin)
		if err != nil {
			return err
		}
		if rec.Outcome == raftbench.OK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// throughput runs n writers, each publishing its own zone's changes
// (one RRset and the SOA, re-signed with NSEC and head; with batch > 0,
// batch more TXT RRsets) to the leader back to back for d, and prints
// commits per second and latency (and, with batch, signed RRset changes
// per second).
//
// With perfOut set, perf(1) samples the leader's user-space stacks during
// the run and the share of samples per kind of work is printed.
func throughput(ctx context.Context, c *raftbench.Cluster, label string, n, batch int, d time.Duration, perfOut string) error {
	owners := make([]*raftbench.Owner, n)
	for i := range owners {
		o, err := c.NewOwner(i, fmt.Sprintf("w%d-%d-%d.bench.", n, batch, i), false)
		if err != nil {
			return err
		}
		o.Batch = batch
		if err := publishUntilOK(ctx, c, o); err != nil {
			return err
		}
		owners[i] = o
	}
	l, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	var perf *exec.Cmd
	if perfOut != "" {
		perf = exec.CommandContext(ctx, "perf", "record", "-q", "-F", "499", "-g", "-p", strconv.Itoa(l.PID()), "-o", perfOut, "--", "sleep", strconv.Itoa(int(d.Seconds())))
		if err := perf.Start(); err != nil {
			perf = nil
			fmt.Println("perf:", err)
		}
	}
	cpu0 := clusterCPU(c)
	start := time.Now()
	end := start.Add(d)
	for _, o := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				rec, err := o.Publish(ctx, l.Admin)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case rec.Outcome == raftbench.OK:
					lat = append(lat, rec.Return.Sub(rec.Call))
				default:
					errs = append(errs, fmt.Errorf("%s: %s: %v", o.Origin, rec.Outcome, rec.Err))
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := clusterCPU(c) - cpu0
	if len(lat) == 0 {
		return fmt.Errorf("%s: nothing committed: %v", label, errors.Join(errs...))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("%-22s %6d commits in %v: %7.1f changes/s  latency p50 %v p99 %v max %v  (%d failed)\n",
		label+":", len(lat), el.Round(time.Millisecond), float64(len(lat))/el.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), len(errs))
	fmt.Printf("%-22s node CPU (7 processes, user+system) %v per commit, %.2f cores busy\n", "",
		(cpu / time.Duration(len(lat))).Round(10*time.Microsecond), cpu.Seconds()/el.Seconds())
	if batch > 0 {
		sets := len(lat) * (batch + 1)
		fmt.Printf("%-22s %d signed RRset changes: %.1f per second, node CPU %v per RRset change\n", "",
			sets, float64(sets)/el.Seconds(), (cpu / time.Duration(sets)).Round(time.Microsecond))
	}
	for i, err := range errs {
		if i == 3 {
			fmt.Printf("%-22s ...\n", "")
			break
		}
		fmt.Printf("%-22s failed: %v\n", "", err)
	}
	if perf != nil {
		if err := perf.Wait(); err != nil {
			fmt.Println("perf record:", err)
			return nil
		}
		perfSummary(ctx, perfOut, l.ID)
	}
	return nil
}

// perfKinds sort a profile's symbols into the kinds of work a commit
// does; the first match wins.
var perfKinds = []struct{ kind, match string }{
	{"Ed25519 signature checks", "ed25519|edwards25519|field.Element|scalar"},
	{"SHA-256/512 (Merkle tree, signatures)", "sha256|sha512"},
	{"TLS record encryption (Raft, admin)", "aes|gcm|chacha|poly1305|crypto/tls"},
	{"bbolt (Raft log, zone store)", "bbolt|bolt\\."},
	{"zone building and NSEC (ddnrs/zone)", "ddnrs/zone"},
	{"DNS wire format (miekg/dns)", "miekg/dns"},
	{"Raft (hashicorp/raft, msgpack)", "hashicorp"},
	{"HTTP admin endpoint", "net/http|http2"},
	{"GC and allocation", "runtime\\.(gc|mallocgc|scanobject|markBits|greyobject|findObject|memclr|sweep|heapBits|wbBuf|bgMark|spanOf)"},
	{"syscalls (write, fsync, network)", "syscall|internal/poll|runtime\\.(futex|usleep|epoll|netpoll)"},
	{"Go scheduler", "runtime\\.(schedule|findRunnable|mcall|park|stealWork|runqgrab|notesleep|gopark|goready|casgstatus|lock|unlock)"},
}

// perfSummary prints what share of the leader's samples each kind of
// work took (self time of the symbols).
func perfSummary(ctx context.Context, data, id string) {
	out, err := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym", "-g", "none", "--percent-limit", "0.01").Output()
	if err != nil {
		fmt.Println("perf report:", err)
		return
	}
	kernel, share, others := perfShares(string(out))
	fmt.Printf("leader %s on-CPU samples (perf, self time) during the batched run:\n", id)
	fmt.Printf("  %5.1f%%  kernel (scheduling, network, I/O)\n", kernel)
	for i, k := range perfKinds {
		fmt.Printf("  %5.1f%%  %s\n", share[i], k.kind)
	}
	fmt.Printf("  %5.1f%%  other; the largest: %s\n", share[len(perfKinds)], strings.Join(others, ", "))
}

// clusterCPU is the user+system CPU time of every running member
// process, from /proc/PID/stat (clock ticks of 10 ms, USER_HZ 100 as
// on every Linux we run on).
func clusterCPU(c *raftbench.Cluster) time.Duration {
	var total time.Duration
	for _, m := range c.Alive() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.PID()))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// fields[0] is the state (field 3); utime and stime are fields 14, 15.
		var ut, st int64
		fmt.Sscan(fields[11], &ut)
		fmt.Sscan(fields[12], &st)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// whereTimeGoes measures the parts of a commit this machine can time
// apart: an fsync of a small write in the work dir (the Raft log is
// fsynced on every member before it acknowledges), an Ed25519
// verification (each change carries a few RRSIGs and a signed head), and
// prints the leader's apply histogram from /metrics.
func whereTimeGoes(ctx context.Context, c *raftbench.Cluster, dir string) error {
	f, err := os.CreateTemp(dir, "fsync-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var syncs []time.Duration
	buf := make([]byte, 4096)
	for range 200 {
		if _, err := f.Write(buf); err != nil {
			return err
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			return err
		}
		syncs = append(syncs, time.Since(t))
	}
	slices.Sort(syncs)
	fmt.Printf("fsync of a 4 KiB append in %s: p50 %v p99 %v\n", dir, syncs[len(syncs)/2].Round(time.Microsecond), syncs[len(syncs)*99/100].Round(time.Microsecond))

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	const n = 2000
	t := time.Now()
	for range n {
		ed25519.Verify(pub, msg, sig)
	}
	fmt.Printf("Ed25519 verify: %v each\n", (time.Since(t) / n).Round(time.Microsecond))

	l, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+l.Admin+"/metrics", nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c.TLS, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Printf("leader %s /metrics, apply latency:\n", l.ID)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "ddnrs_raft_apply_seconds") {
			fmt.Println("  " + line)
		}
	}
	return nil
}

// perfShares sums the self-time percentages of a `perf report --stdio
// --sort sym` by kind (perfKinds order, then "other"), kernel symbols
// ([k]) apart, and names the largest "other" symbols.
func perfShares(report string) (kernel float64, share []float64, others []string) {
	res := make([]*regexp.Regexp, len(perfKinds))
	for i, k := range perfKinds {
		res[i] = regexp.MustCompile(k.match)
	}
	share = make([]float64, len(perfKinds)+1)
	for _, line := range strings.Split(report, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		sym := strings.Join(f[2:], " ")
		k := len(perfKinds)
		if f[1] == "[k]" {
			kernel += pct
			continue
		}
		for i, re := range res {
			if re.MatchString(sym) {
				k = i
				break
			}
		}
		share[k] += pct
		if k == len(perfKinds) && len(others) < 8 {
			others = append(others, fmt.Sprintf("%s %s", f[0], sym))
		}
	}
	return kernel, share, others
}
