// Command bigchange measures small changes to a large zone in a 7-member
// group of real `ddnrs node` processes on 127.0.0.1..7 (bench/raft): it
// uploads a signed zone of -rrsets RRsets (names with an A and a TXT
// RRset, and the NSEC each name gets: three RRsets a name) through Raft
// as a staged upload, reports the time that took and every member's RSS,
// then commits -changes changes of each kind: one TXT RRset replaced, one
// name added, one name removed (the owner's signing done beforehand, as
// `ddnrs zone publish` would, its zone.Apply timed) one after the other
// to the leader's admin endpoint and prints the commit latency (p50, p90,
// max) of each kind and the RSS again. With -catchup one member is down
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
	changes := flag.Int("changes", 30, "changes of each kind to time (one RRset replaced, one name added, one name removed)")
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
	// The changes, signed one after the other before any is timed, the
	// owner's Apply of each timed: -changes of each kind.
	cmds, err := ownerChanges(z, k, names, *changes)
	if err != nil {
		return err
	}

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

	for _, kc := range cmds {
		lat := make([]time.Duration, 0, len(kc.cmds))
		for i, cmd := range kc.cmds {
			l, err := c.WaitLeader(ctx)
			if err != nil {
				return err
			}
			t := time.Now()
			if _, err := c.Client.SubmitChange(ctx, l.Admin, origin, cmd); err != nil {
				// A leader lost meanwhile: not a figure of the change;
				// send it again (a repeat is answered as done).
				fmt.Printf("%s %d: %v; sending it again, not timed\n", kc.kind, i+1, err)
				if l, err = c.WaitLeader(ctx); err != nil {
					return err
				}
				if _, err := c.Client.SubmitChange(ctx, l.Admin, origin, cmd); err != nil {
					return fmt.Errorf("%s %d: %w", kc.kind, i+1, err)
				}
				continue
			}
			lat = append(lat, time.Since(t))
		}
		if len(lat) == 0 {
			fmt.Printf("%s: every change met a leader change; no figure\n", kc.kind)
			continue
		}
		p50, p90, mx := quantiles(lat)
		fmt.Printf("%s, committed by the leader: p50 %v p90 %v max %v (%d changes, one at a time)\n", kc.kind, p50, p90, mx, len(lat))
	}
	fmt.Printf("RSS per member, after the changes: %s\n", rss(c))
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: load average %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	return nil
}

// kindChanges are the signed commands of one kind of change.
type kindChanges struct {
	kind string
	cmds [][]byte
}

// ownerChanges makes n changes of each kind the issue names (one RRset
// replaced, one name added, one name removed), each from the zone the
// one before made, as the owner's tools make them (zone.Apply, then the
// command), and prints the p50 of the owner's Apply for each kind.
func ownerChanges(z *zone.Zone, k *zone.Key, names, n int) ([]kindChanges, error) {
	origin := z.Origin
	txt := func(name, text string) *zone.RRset {
		rr, _ := dns.NewRR(fmt.Sprintf("%s 300 IN TXT %q", name, text))
		return zone.NewRRset(name, dns.TypeTXT, 300, []dns.RR{rr}, nil)
	}
	kinds := []struct {
		kind   string
		change func(i int) zone.Change
	}{
		{"one-RRset change", func(i int) zone.Change {
			return zone.Change{Put: []*zone.RRset{txt(fmt.Sprintf("h%d.%s", (i*7919)%names, origin), fmt.Sprintf("changed %d", i))}}
		}},
		{"one name added", func(i int) zone.Change {
			return zone.Change{Put: []*zone.RRset{txt(fmt.Sprintf("new%d.h%d.%s", i, (i*7919)%names, origin), "added")}}
		}},
		{"one name removed", func(i int) zone.Change {
			name := fmt.Sprintf("h%d.%s", (i*104729+1)%names, origin)
			return zone.Change{Delete: []zone.RRKey{{Name: name, Type: dns.TypeA}, {Name: name, Type: dns.TypeTXT}}}
		}},
	}
	var out []kindChanges
	cur := z
	for _, kd := range kinds {
		kc := kindChanges{kind: kd.kind}
		apply := make([]time.Duration, 0, n)
		for i := range n {
			t0 := time.Now()
			next, err := cur.Apply(kd.change(i), k, zone.DefaultSignOptions(time.Now()))
			if err != nil {
				return nil, fmt.Errorf("%s %d: %w", kd.kind, i, err)
			}
			apply = append(apply, time.Since(t0))
			cmd, err := raftfsm.ChangeCommand(cur, next, k)
			if err != nil {
				return nil, err
			}
			kc.cmds = append(kc.cmds, cmd)
			cur = next
		}
		p50, p90, _ := quantiles(apply)
		fmt.Printf("%s, the owner's zone.Apply: p50 %v p90 %v (%d changes)\n", kd.kind, p50, p90, n)
		out = append(out, kc)
	}
	return out, nil
}

// quantiles returns the p50, p90 and max of lat (not empty), sorting it.
func quantiles(lat []time.Duration) (p50, p90, mx time.Duration) {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	return q(0.5), q(0.9), lat[len(lat)-1].Round(10 * time.Microsecond)
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
