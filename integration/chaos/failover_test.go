package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/netlab"
)

// interRegion is the one-way delay between the two regions of the read
// failover tests (issue 15 item 4).
const interRegion = 50 * time.Millisecond

// TestReadFailoverThroughNode (issue 15 item 4): group A's three members
// in region A hold g0.example.; a client in region B asks the node of
// group B (region B) for new names of it, every 10 ms; every frame
// between the regions takes 50 ms each way. The test SIGKILLs the
// member of A the node was asking, then SIGSTOPs (alive to the kernel,
// silent) the one it asks next. No query may fail; the longest answer
// time and the longest silence (time between two answers) after each
// event are printed, not asserted (the goal: under 200 ms).
func TestReadFailoverThroughNode(t *testing.T) {
	full(t)
	netlab.Need(t)
	needBinary(t)
	lab := netlab.New(t, 4)
	gs := startOverlay(t, lab, 3, 1)
	regionA := lab.Hosts[:3]
	lab.Between(regionA, []*netlab.Host{lab.Hosts[3], lab.Client}, netlab.Link{Delay: interRegion})
	entry := gs[1].nodes[0]
	readFailover(t, lab, gs[0], entry.host, entry.DNS, "through a node of another group")
}

// TestReadFailoverThroughStub is TestReadFailoverThroughNode through
// `ddnrs stub` on the client host (region B) with group A's members as
// its entry nodes, 50 ms away each way.
func TestReadFailoverThroughStub(t *testing.T) {
	full(t)
	netlab.Need(t)
	needBinary(t)
	lab := netlab.New(t, 3)
	gs := startOverlay(t, lab, 3)
	lab.Between(lab.Hosts, []*netlab.Host{lab.Client}, netlab.Link{Delay: interRegion})
	dir := t.TempDir()
	ready := filepath.Join(dir, "stub-ready.json")
	args := []string{"stub", "--listen", "127.0.0.1:0", "--ready-file", ready, "--data", filepath.Join(dir, "stub"),
		"--trust-anchor", strings.TrimSuffix(gs[0].key, ".private") + ".key"}
	for _, n := range gs[0].nodes {
		args = append(args, "--node", n.DNS)
	}
	out := &syncBuffer{}
	cmd := exec.Command(ddnrsBin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("stub output:\n%s", out.String())
		}
	})
	var r struct{ DNS string }
	waitFor(t, context.Background(), "the stub's ready file", func() bool {
		select {
		case <-done:
			t.Fatalf("the stub exited:\n%s", out.String())
		default:
		}
		b, err := os.ReadFile(ready)
		return err == nil && json.Unmarshal(b, &r) == nil && r.DNS != ""
	})
	readFailover(t, lab, gs[0], lab.Client, r.DNS, "through ddnrs stub")
}

// readFailover probes addr (reached from host from, which asks group
// a's members) for new names of a's zone: 2 s healthy, then SIGKILL of
// the member from had been sending the most frames to, 3 s, then
// SIGSTOP of the next such member, 3 s.
func readFailover(t *testing.T, lab *netlab.Lab, a *ovGroup, from *netlab.Host, addr, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFor(t, ctx, path+" answering "+a.zone, func() bool {
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(newName(a.zone, "warm"), addr)
		return err == nil && r.Rcode == dns.RcodeNameError
	})
	pctx, stop := context.WithCancel(ctx)
	res := make(chan []answered, 1)
	start := time.Now()
	go func() { res <- probe(pctx, addr, a.zone, dns.RcodeNameError) }()

	var down []*ovNode
	// busiest is the live member of a that from sent the most frames to
	// during the last second: the one it asks.
	busiest := func() *ovNode {
		before := map[*ovNode]int{}
		for _, n := range a.nodes {
			before[n] = lab.Counts(from, n.host).Forwarded
		}
		time.Sleep(time.Second)
		var best *ovNode
		most := -1
		for _, n := range a.nodes {
			if slices.Contains(down, n) {
				continue
			}
			if d := lab.Counts(from, n.host).Forwarded - before[n]; d > most {
				best, most = n, d
			}
		}
		if most <= 0 {
			t.Errorf("%s: no frame went to group A's members in a second: the queries do not cross to the group", path)
		}
		return best
	}
	type event struct {
		what string
		at   time.Time
	}
	events := []event{{"healthy", start}}
	time.Sleep(time.Second)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		victim := busiest()
		if err := victim.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		down = append(down, victim)
		events = append(events, event{fmt.Sprintf("%s %s", sigName[sig], victim.name), time.Now()})
		time.Sleep(3 * time.Second)
	}
	stop()
	as := <-res
	end := time.Now()
	for i, e := range events {
		to := end
		if i+1 < len(events) {
			to = events[i+1].at
		}
		s := statsOf(as, e.at, to)
		t.Logf("%s, %s: %d queries, %d failed, answer p50 %v, max %v, longest silence %v", path, e.what, s.n, s.failed,
			s.p50.Round(time.Millisecond), s.max.Round(time.Millisecond), s.quiet.Round(time.Millisecond))
		if s.failed > 0 {
			t.Errorf("%s, %s: %d of %d queries failed: %v", path, e.what, s.failed, s.n, s.errs)
		}
		if s.n == 0 {
			t.Errorf("%s, %s: no query sent", path, e.what)
		}
		what := e.what
		if i > 0 {
			what = strings.Fields(e.what)[0] + " of the member asked"
		}
		figure("Read failover, 50 ms between regions (make chaos; issue 15 item 4)",
			"| path | event | queries | failed | answer p50 | answer max | longest silence |",
			fmt.Sprintf("| %s | %s | %d | %d | %v | %v | %v |", path, what, s.n, s.failed,
				s.p50.Round(time.Millisecond), s.max.Round(time.Millisecond), s.quiet.Round(time.Millisecond)))
	}
}

var sigName = map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSTOP: "SIGSTOP"}

// newName is a query for a name of zone never asked before.
func newName(zone, label string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(fmt.Sprintf("%s-%d.%s", label, time.Now().UnixNano(), zone), dns.TypeA)
	q.SetEdns0(1232, true)
	return q
}
