package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/netlab"
)

// ovNode is one `ddnrs node` with the overlay on, in its lab host.
type ovNode struct {
	name    string
	host    *netlab.Host
	config  string
	ready   string
	DNS     string   `json:"dns"`
	Admin   string   `json:"admin"`
	Overlay []string `json:"overlay"`

	env  []string // extra environment of its process
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// ovGroup is a group made by `ddnrs ops group bootstrap`, holding one zone.
type ovGroup struct {
	dir, zone, key string
	nodes          []*ovNode
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs ddnrs with args on the client host and returns its output.
func run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ddnrsBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ddnrs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start starts n's process in its host and waits for its ready file.
func (n *ovNode) start(t *testing.T, lab *netlab.Lab) {
	t.Helper()
	os.Remove(n.ready)
	n.out = &syncBuffer{}
	n.cmd = lab.Command(n.host, ddnrsBin, "node", "--config", n.config, "--ready-file", n.ready)
	if len(n.env) > 0 {
		n.cmd.Env = append(n.cmd.Environ(), n.env...)
	}
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() {
		n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGCONT) // a stopped node dies too
		n.cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("%s output:\n%s", n.name, n.out.String())
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := os.ReadFile(n.ready)
		if err == nil && json.Unmarshal(b, n) == nil && len(n.Overlay) > 0 {
			return
		}
		select {
		case <-n.done:
			t.Fatalf("%s exited before it was ready:\n%s", n.name, n.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after a minute:\n%s", n.name, n.out.String())
		}
	}
}

// startOverlay bootstraps one group per entry of sizes on the lab's
// hosts in order (group g is gN.example.'s holder), with the overlay on,
// every node trusting every zone's owner key and caching other groups'
// answers 1 ms only (relayed_ttl) and no response rate limit, so every query for another group's
// zone crosses the network to that group. It starts every node and
// publishes each group's zone.
func startOverlay(t *testing.T, lab *netlab.Lab, sizes ...int) []*ovGroup {
	t.Helper()
	return startOverlayEnv(t, lab, nil, sizes...)
}

// startOverlayEnv is startOverlay with env (when not nil) giving node i
// (from 0) of group g extra environment variables.
func startOverlayEnv(t *testing.T, lab *netlab.Lab, env func(g, i int) []string, sizes ...int) []*ovGroup {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	var gs []*ovGroup
	var anchors []byte
	next := 0
	for g, size := range sizes {
		gr := &ovGroup{dir: filepath.Join(dir, fmt.Sprintf("g%d", g)), zone: fmt.Sprintf("g%d.example.", g)}
		// keygen's first line is the key's path without .key/.private.
		first, _, _ := strings.Cut(strings.TrimSpace(run(t, "zone", "keygen", gr.zone, "--dir", keys)), "\n")
		base := filepath.Base(strings.TrimSpace(first))
		gr.key = filepath.Join(keys, base+".private")
		pub, err := os.ReadFile(filepath.Join(keys, base+".key"))
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, pub...)
		var ips []string
		for i := range size {
			ips = append(ips, lab.Hosts[next+i].IP)
		}
		// The hosts are namespaces of their own: fixed ports are free.
		run(t, "ops", "group", "bootstrap", "--out", gr.dir, "--members", strconv.Itoa(size), "--ip", strings.Join(ips, ","),
			"--dns-port", "5300", "--raft-port", "7000", "--admin-port", "8443", "--no-encrypted")
		for i := range size {
			name := fmt.Sprintf("node%d", i+1)
			n := &ovNode{name: fmt.Sprintf("g%d/%s", g, name), host: lab.Hosts[next+i],
				config: filepath.Join(gr.dir, name, "node.toml"), ready: filepath.Join(gr.dir, name, "ready.json")}
			if env != nil {
				n.env = env(g, i)
			}
			gr.nodes = append(gr.nodes, n)
		}
		next += size
		gs = append(gs, gr)
	}
	anchorFile := filepath.Join(dir, "anchors.keys")
	if err := os.WriteFile(anchorFile, anchors, 0o644); err != nil {
		t.Fatal(err)
	}
	var boot []string
	for _, gr := range gs {
		for _, n := range gr.nodes {
			quoted := make([]string, len(boot))
			for j, b := range boot {
				quoted[j] = strconv.Quote(b)
			}
			// Response rate limiting off: the probe's 100 new names a
			// second from one address are what RRL is there to slow.
			if err := prepend(n.config, "rrl_rate = 0\n"); err != nil {
				t.Fatal(err)
			}
			section := fmt.Sprintf("\n[overlay]\nenabled = true\nlisten = [%q]\nbootstrap = [%s]\ntrust_anchors = %q\nrelayed_ttl = \"1ms\"\n",
				"/ip4/"+n.host.IP+"/udp/4001/quic-v1", strings.Join(quoted, ", "), anchorFile)
			f, err := os.OpenFile(n.config, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(section); err != nil {
				t.Fatal(err)
			}
			f.Close()
			n.start(t, lab)
			if boot == nil {
				boot = n.Overlay
			}
		}
	}
	for _, gr := range gs {
		zf := filepath.Join(dir, strings.TrimSuffix(gr.zone, ".")+".zone")
		text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n", gr.zone)
		if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "zone", "publish", "--server", gr.nodes[0].Admin,
			"--ca", filepath.Join(gr.dir, "ca", "ca.crt"), "--cert", filepath.Join(gr.dir, "ops", "node.crt"),
			"--tls-key", filepath.Join(gr.dir, "ops", "node.key"), "--key", gr.key, zf)
	}
	return gs
}

// prepend puts text at the start of file (top-level TOML keys must come
// before the first table).
func prepend(file, text string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte(text), b...), 0o600)
}

// answered is one probe query: when it was sent, how long its answer
// took, and what went wrong (nil: the expected answer).
type answered struct {
	sent time.Time
	took time.Duration
	err  error
}

// probe asks addr for a new name of zone (never asked before: no cache
// holds it) every 10 ms, each query on its own, until ctx ends, and
// returns every query's outcome. A query waits up to 5 s: a slow answer
// is measured, not mistaken for a lost one.
func probe(ctx context.Context, addr, zone string, want int) []answered {
	var (
		mu  sync.Mutex
		out []answered
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return out
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := new(dns.Msg)
			q.SetQuestion(fmt.Sprintf("p%d.%s", seq, zone), dns.TypeA)
			q.SetEdns0(1232, true)
			sent := time.Now()
			r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
			a := answered{sent: sent, took: time.Since(sent), err: err}
			if err == nil && r.Rcode != want {
				a.err = fmt.Errorf("%s: rcode %s, want %s", q.Question[0].Name, dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
			}
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
		}()
	}
}

// phaseStats sums up the queries sent in [from, to): how many, how many
// failed, the median and longest answer time, and the longest time
// between two answers arriving (the client's longest silence).
type phaseStats struct {
	n, failed       int
	p50, max, quiet time.Duration
	errs            []string
}

func statsOf(as []answered, from, to time.Time) phaseStats {
	var s phaseStats
	var took []time.Duration
	var arrivals []time.Time
	for _, a := range as {
		if a.sent.Before(from) || !a.sent.Before(to) {
			continue
		}
		s.n++
		if a.err != nil {
			s.failed++
			if len(s.errs) < 3 {
				s.errs = append(s.errs, a.err.Error())
			}
			continue
		}
		took = append(took, a.took)
		arrivals = append(arrivals, a.sent.Add(a.took))
	}
	if len(took) == 0 {
		return s
	}
	sortDurations(took)
	s.p50, s.max = took[len(took)/2], took[len(took)-1]
	sortTimes(arrivals)
	for i := 1; i < len(arrivals); i++ {
		if g := arrivals[i].Sub(arrivals[i-1]); g > s.quiet {
			s.quiet = g
		}
	}
	return s
}

func sortDurations(ds []time.Duration) { slices.Sort(ds) }
func sortTimes(ts []time.Time)         { slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) }) }
