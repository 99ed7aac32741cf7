// Command bigchange measures small changes to a large zone in a 7-member
// group of real `ddnrs node` processes on 127.0.0.1..7 (bench/raft): it
// uploads a signed zone of -rrsets RRsets (names with an A and a TXT
// RRset, and the NSEC each name gets: three RRsets a name) through Raft
// as a staged upload, reports the time that took and every member's RSS,
// then commits -changes changes of one TXT RRset each (the owner's
// signing done beforehand, as `ddnrs zone publish` would) one after the
// other to the leader's admin endpoint and prints the commit latency
// (p50, p90, max) and the RSS again. With -catchup one member is down
// during the upload; started after it, the time until it has caught up
// (from the log or a snapshot) is printed, with whether the group kept
// its leader meanwhile (issue 11 item 7).
//
//	go build -o bin/ddnrs ./cmd/ddnrs && go run ./bench/cmd/bigchange -bin bin/ddnrs -rrsets 100000
//
// `make bench-scale` runs it (BIGCHANGE_RRSETS). Figures go in
// bench/README.md.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bigchange:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin/ddnrs", "the ddnrs binary")
	rrsets := flag.Int("rrsets", 100_000, "RRsets in the zone (three a name: A, TXT, NSEC)")
	changes := flag.Int("changes", 30, "one-RRset changes to time")
	members := flag.Int("members", 7, "group size")
	keep := flag.Bool("keep", false, "keep the work directory")
	catchup := flag.Bool("catchup", false, "keep the last member down during the upload, then start it and time its catch-up (issue 11 item 7)")
	flag.Parse()
	if *rrsets < 30 || *changes < 1 || *members < 1 {
		return fmt.Errorf("want -rrsets >= 30, -changes >= 1, -members >= 1")
	}
	dir, err := os.MkdirTemp("", "ddnrs-bigchange-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()

	origin := "big.test."
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		return err
	}
	names := *rrsets / 3
	t0 := time.Now()
	z, err := signed(origin, names, k)
	if err != nil {
		return err
	}
	fmt.Printf("signed %d RRsets (%d names) in %v\n", len(z.RRsets()), names, time.Since(t0).Round(time.Millisecond))
	// The changes, signed one after the other before any is timed.
	t0 = time.Now()
	cmds := make([][]byte, 0, *changes)
	cur := z
	for i := range *changes {
		name := fmt.Sprintf("h%d.%s", (i*7919)%names, origin)
		rr, err := dns.NewRR(fmt.Sprintf("%s 300 IN TXT \"changed %d\"", name, i))
		if err != nil {
			return err
		}
		next, err := cur.Apply(zone.Change{Put: []*zone.RRset{{Name: name, Type: dns.TypeTXT, TTL: 300, RRs: []dns.RR{rr}}}}, k, zone.DefaultSignOptions(time.Now()))
		if err != nil {
			return err
		}
		cmd, err := raftfsm.ChangeCommand(cur, next, k)
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		cur = next
	}
	fmt.Printf("signed %d one-RRset changes in %v (the owner's side, not timed below)\n", len(cmds), time.Since(t0).Round(time.Millisecond))

	c, err := raftbench.Start(ctx, raftbench.Options{Bin: *bin, Dir: filepath.Join(dir, "cluster"), Members: *members, ApplyTimeout: 30 * time.Second,
		Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }})
	if err != nil {
		return err
	}
	defer c.Close()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("RSS per member, empty: %s\n", rss(c))
	var down *raftbench.Member
	if *catchup {
		if *members < 3 {
			return fmt.Errorf("-catchup needs -members >= 3 (a quorum without the member kept down)")
		}
		down = c.Members[len(c.Members)-1]
		if down == leader {
			down = c.Members[0]
		}
		down.Kill()
		fmt.Printf("stopped %s for the upload\n", down.ID)
	}

	up, err := raftfsm.UploadCommands(nil, z, k)
	if err != nil {
		return err
	}
	t0 = time.Now()
	resumes, err := upload(ctx, c, origin, up)
	if err != nil {
		return err
	}
	after, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("uploaded %d RRsets in %d commands in %v (%d interruptions resumed; leader %s before, %s after)\n",
		len(z.RRsets()), len(up), time.Since(t0).Round(time.Millisecond), resumes, leader.ID, after.ID)
	if err := c.WaitCaughtUp(ctx); err != nil {
		return err
	}
	fmt.Printf("RSS per member, zone served: %s\n", rss(c))
	if down != nil {
		if err := catchUp(ctx, c, down); err != nil {
			return err
		}
	}

	lat := make([]time.Duration, 0, len(cmds))
	for i, cmd := range cmds {
		l, err := c.WaitLeader(ctx)
		if err != nil {
			return err
		}
		t := time.Now()
		if _, err := c.Client.SubmitChange(ctx, l.Admin, origin, cmd); err != nil {
			// A leader lost meanwhile: not a figure of the change;
			// send it again (a repeat is answered as done).
			fmt.Printf("change %d: %v; sending it again, not timed\n", i+1, err)
			if l, err = c.WaitLeader(ctx); err != nil {
				return err
			}
			if _, err := c.Client.SubmitChange(ctx, l.Admin, origin, cmd); err != nil {
				return fmt.Errorf("change %d: %w", i+1, err)
			}
			continue
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	fmt.Printf("one-RRset change, committed by the leader: p50 %v p90 %v max %v (%d changes, one at a time)\n", q(0.5), q(0.9), lat[len(lat)-1].Round(10*time.Microsecond), len(lat))
	fmt.Printf("RSS per member, after the changes: %s\n", rss(c))
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: load average %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	return nil
}

// upload sends the commands of UploadCommands to the group's leader,
// resuming after a leader change where the group stands (the begin
// answers how many chunks it holds). It returns how many times it
// resumed.
func upload(ctx context.Context, c *raftbench.Cluster, origin string, cmds [][]byte) (int, error) {
	send := func(cmd []byte) (uint32, error) {
		l, err := c.WaitLeader(ctx)
		if err != nil {
			return 0, err
		}
		res, err := c.Client.SubmitChange(ctx, l.Admin, origin, cmd)
		if err != nil {
			return 0, err
		}
		return res.Staged, nil
	}
	if len(cmds) == 1 {
		_, err := send(cmds[0])
		return 0, err
	}
	begin, chunks, commit := cmds[0], cmds[1:len(cmds)-1], cmds[len(cmds)-1]
	var last error
	for resumes := 0; resumes < 50; resumes++ {
		if resumes > 0 {
			fmt.Printf("  upload interrupted (%v); resuming\n", last)
			time.Sleep(500 * time.Millisecond)
		}
		staged, err := send(begin)
		if err != nil {
			last = err
			continue
		}
		i := int(staged)
		for ; i < len(chunks); i++ {
			if _, err := send(chunks[i]); err != nil {
				last = err
				break
			}
		}
		if i < len(chunks) {
			continue
		}
		if _, err := send(commit); err != nil {
			last = err
			continue
		}
		return resumes, nil
	}
	return 50, fmt.Errorf("upload: gave up after 50 interruptions: %w", last)
}

// signed makes the zone origin of names names (A and TXT each), signed.
func signed(origin string, names int, k *zone.Key) (*zone.Zone, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.1\n", origin)
	for i := range names {
		fmt.Fprintf(&b, "h%d 300 IN A 10.%d.%d.%d\nh%d 300 IN TXT \"name %d\"\n", i, (i>>16)&255, (i>>8)&255, i&255, i, i)
	}
	u, err := zone.ParseFile(strings.NewReader(b.String()), origin, "generated")
	if err != nil {
		return nil, err
	}
	return zone.Sign(u, k, zone.DefaultSignOptions(time.Now()))
}

// catchUp starts down, a member stopped before the upload, and times
// how long it takes from its start until its state machine has
// processed the leader's commit index of that moment (the log sent to
// it, or a snapshot installed), and says whether the group kept its
// leader (same member, same term) meanwhile.
func catchUp(ctx context.Context, c *raftbench.Cluster, down *raftbench.Member) error {
	l, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	st, err := c.Client.Status(ctx, l.Admin)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := c.StartMember(ctx, down); err != nil {
		return err
	}
	ready := time.Since(t0)
	for {
		ms, err := c.Client.Status(ctx, down.Admin)
		if err == nil && max(ms.ProcessedIndex, ms.AppliedIndex) >= st.CommitIndex {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has not caught up to index %d: %w", down.ID, st.CommitIndex, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	took := time.Since(t0)
	after, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	ast, err := c.Client.Status(ctx, after.Admin)
	if err != nil {
		return err
	}
	kept := "kept its leader"
	if after != l || ast.Term != st.Term {
		kept = "LOST its leader"
	}
	fmt.Printf("catch-up: %s processed index %d %v after its start (ready file after %v); the group %s (%s term %d before, %s term %d after); RSS %s\n",
		down.ID, st.CommitIndex, took.Round(time.Millisecond), ready.Round(time.Millisecond), kept, l.ID, st.Term, after.ID, ast.Term, rssOf(down.PID()))
	return nil
}

// rss lists every live member's resident set size.
func rss(c *raftbench.Cluster) string {
	var parts []string
	for _, m := range c.Members {
		if m.Alive() {
			parts = append(parts, fmt.Sprintf("%s %s", m.ID, rssOf(m.PID())))
		}
	}
	return strings.Join(parts, ", ")
}

// rssOf is pid's resident set size, with its anonymous (heap) and
// file-backed (binary, mmapped stores) parts.
func rssOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	kib := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "RssAnon:" || f[0] == "RssFile:") {
			var n int
			fmt.Sscan(f[1], &n)
			kib[f[0]] = n
		}
	}
	if _, ok := kib["VmRSS:"]; !ok {
		return "?"
	}
	return fmt.Sprintf("%d MiB (anon %d, file %d)", kib["VmRSS:"]/1024, kib["RssAnon:"]/1024, kib["RssFile:"]/1024)
}
