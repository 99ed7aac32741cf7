package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
	"github.com/miekg/dns"
)

// bigNames is how many names the large test zone has: each with A, AAAA,
// TXT and (signed) NSEC, 4 × 12,500 = 50,000 RRsets, plus the apex's.
const bigNames = 12_500

// writeBigZone writes the large zone origin with serial and a TXT text
// tag, and returns its path.
func writeBigZone(t testing.TB, dir, origin string, serial uint32, tag string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster %d 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n", origin, serial)
	for i := range bigNames {
		fmt.Fprintf(&b, "h%d A 10.%d.%d.%d\nh%d AAAA 2001:db8::%x\nh%d TXT \"%s %d\"\n", i, i>>16, (i>>8)&255, i&255, i, i, i, tag, i)
	}
	p := filepath.Join(dir, fmt.Sprintf("big-%d.zone", serial))
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkBigServed checks that addr serves origin at serial with a few of
// its names signed and carrying the tag.
func checkBigServed(t *testing.T, ctx context.Context, who, addr, origin, tag string, serial uint32) {
	t.Helper()
	if err := raftbench.WaitSerial(ctx, addr, origin, serial); err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	for _, i := range []int{0, bigNames / 2, bigNames - 1} {
		name := fmt.Sprintf("h%d.%s", i, origin)
		r, err := raftbench.Query(ctx, addr, name, dns.TypeTXT)
		if err != nil {
			t.Errorf("%s: %v", who, err)
			continue
		}
		var txt string
		sigs := 0
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.TXT:
				txt = strings.Join(rr.Txt, "")
			case *dns.RRSIG:
				sigs++
			}
		}
		if want := fmt.Sprintf("%s %d", tag, i); txt != want || sigs == 0 {
			t.Errorf("%s: %s TXT = %q with %d RRSIGs, want %q signed", who, name, txt, sigs, want)
		}
	}
}

// TestBigZoneThroughDev creates a 50,000-RRset zone with `ddnrs dev
// --zone`, which uploads it through Raft in chunks of at most 1 MiB.
func TestBigZoneThroughDev(t *testing.T) {
	if testing.Short() {
		t.Skip("signs and replicates a 50,000-RRset zone")
	}
	needBinary(t)
	dir := t.TempDir()
	key := keygen(t, dir, "big.test.")
	zf := writeBigZone(t, dir, "big.test.", 1, "v1")
	readyFile := filepath.Join(dir, "ready.json")
	start := time.Now()
	p := startProc(t, dir, ddnrsBin, "dev", "--dns", "127.0.0.1:0", "--api", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
		"--ready-file", readyFile, "--zone", zf, "--key", key)
	ready := waitReadyFile(t, p, readyFile, 5*time.Minute)
	t.Logf("ddnrs dev served %d RRsets after %v", 4*bigNames+4, time.Since(start).Round(time.Millisecond))
	if out := p.out.String(); !strings.Contains(out, "chunks committed") {
		t.Errorf("dev showed no upload progress:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checkBigServed(t, ctx, "dev member 1", ready.DNS, "big.test.", "v1", 1)
}

// probe asks every member for the probe zone's SOA, over and over, until
// stopped, and counts the questions left unanswered (a query and its
// retry).
type probe struct {
	asked, failed atomic.Int64
	mu            sync.Mutex
	firstErr      error
	stop          chan struct{}
	done          sync.WaitGroup
}

func startProbe(ctx context.Context, addrs []string, origin string) *probe {
	p := &probe{stop: make(chan struct{})}
	for _, a := range addrs {
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			for {
				select {
				case <-p.stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
				p.asked.Add(1)
				// A query and its retry, as a stub resolver sends them
				// (bench/raft's TestGroupSurvivesKills probe counts the
				// same way): one datagram lost to a starved socket on a
				// loaded machine is not an unanswered question.
				_, err := raftbench.SOASerial(ctx, a, origin)
				if err != nil && ctx.Err() == nil {
					_, err = raftbench.SOASerial(ctx, a, origin)
				}
				if err != nil && ctx.Err() == nil {
					p.failed.Add(1)
					p.mu.Lock()
					if p.firstErr == nil {
						p.firstErr = err
					}
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

func (p *probe) close() {
	close(p.stop)
	p.done.Wait()
}

// TestBigZoneThroughGroup creates a 50,000-RRset zone in a 7-member group
// of `ddnrs node` processes with `ddnrs zone publish` while another zone
// is queried on every member: no query goes unanswered and the leader
// does not change. Then it replaces the zone and kills the leader in the
// middle of the upload: the owner's tool resumes and every member ends
// with the new zone.
func TestBigZoneThroughGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 7 node processes and uploads a 50,000-RRset zone twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := startGroup(t, ctx)
	sz := signFixture(t)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var follower *raftbench.Member
	for _, m := range c.Members {
		if m != leader {
			follower = m
			break
		}
	}
	publish := func(m *raftbench.Member, key, file string) *proc {
		args := []string{"zone", "publish", "--server", m.Admin, "--ca", c.CACert, "--cert", c.OpsCert,
			"--tls-key", c.OpsKey, "--key", key, file}
		return startProc(t, "", ddnrsBin, args...)
	}
	wait := func(p *proc, what string) {
		t.Helper()
		select {
		case <-p.done:
		case <-ctx.Done():
			t.Fatalf("%s did not finish: %v\n%s", what, ctx.Err(), p.out.String())
		}
		if p.err != nil {
			t.Fatalf("%s: %v\n%s", what, p.err, p.out.String())
		}
	}
	wait(publish(follower, sz.Key, sz.Unsigned), "publishing the probe zone")
	var addrs []string
	for _, m := range c.Members {
		if err := raftbench.WaitSerial(ctx, m.DNS, sz.Origin, 1); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, m.DNS)
	}

	dir := t.TempDir()
	key := keygen(t, dir, "big.test.")
	pr := startProbe(ctx, addrs, sz.Origin)
	start := time.Now()
	wait(publish(follower, key, writeBigZone(t, dir, "big.test.", 1, "v1")), "publishing the big zone")
	t.Logf("7 members: the zone publish of %d RRsets committed after %v", 4*bigNames+4, time.Since(start).Round(time.Millisecond))
	for _, m := range c.Members {
		checkBigServed(t, ctx, m.ID, m.DNS, "big.test.", "v1", 1)
	}
	t.Logf("7 members: all serve it after %v", time.Since(start).Round(time.Millisecond))
	pr.close()
	if n := pr.failed.Load(); n > 0 {
		t.Errorf("probe of %s: %d of %d queries unanswered during the upload (first: %v)", sz.Origin, n, pr.asked.Load(), pr.firstErr)
	}
	now, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Leader stability is judged only on a machine that is not
	// oversubscribed: with other work keeping more runnable threads than
	// twice the cores, any Raft group here misses its 150 ms leader
	// lease now and then, upload or not.
	switch load := loadAverage(t); {
	case now != leader && load <= 2*float64(runtime.NumCPU()):
		t.Errorf("leader changed during the upload: was %s, now %s (load average %.1f)", leader.ID, now.ID, load)
	case now != leader:
		t.Logf("leader changed during the upload (%s to %s), not judged: load average %.1f on %d cores", leader.ID, now.ID, load, runtime.NumCPU())
	}

	// Replace the zone (every TXT changes, so the change is a staged
	// upload again) and kill the leader once a few chunks are in.
	up := publish(follower, key, writeBigZone(t, dir, "big.test.", 2, "v2"))
	waitFor(t, ctx, "upload progress", func() bool { return strings.Count(up.out.String(), "chunks committed") >= 2 || up.exited() })
	if leader, err = c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("killing leader %s mid-upload", leader.ID)
	leader.Kill()
	wait(up, "publishing the replacement with the leader killed")
	if !strings.Contains(up.out.String(), "resuming") {
		t.Logf("the upload needed no resume (it may have finished before the kill):\n%s", up.out.String())
	}
	for _, m := range c.Alive() {
		checkBigServed(t, ctx, m.ID, m.DNS, "big.test.", "v2", 2)
	}
	if err := c.StartMember(ctx, leader); err != nil {
		t.Fatal(err)
	}
	// The restarted member catches up from the log: the rest of the
	// chunks, each checked, and the commit.
	restarted := time.Now()
	waitFor(t, ctx, leader.ID+" catching up", func() bool {
		got, err := raftbench.SOASerial(ctx, leader.DNS, "big.test.")
		return err == nil && got == 2
	})
	t.Logf("%s caught up %v after its restart", leader.ID, time.Since(restarted).Round(time.Millisecond))
	checkBigServed(t, ctx, leader.ID+" (restarted)", leader.DNS, "big.test.", "v2", 2)
}

// loadAverage returns the machine's one-minute load average.
func loadAverage(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatalf("load average: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatalf("/proc/loadavg: %q", b)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("/proc/loadavg: %v", err)
	}
	return v
}
