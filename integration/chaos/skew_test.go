package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	raftbench "github.com/ddnrs/ddnrs/bench/raft"
	"github.com/ddnrs/ddnrs/internal/keyfile"
	"github.com/ddnrs/ddnrs/internal/netlab"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// The clock-skew fault's members (1-based) and offsets.
const (
	skewAhead, skewBehind = 2, 3
	skew                  = 5 * time.Minute
	// sigHalfWindow: owner 0's changes are signed valid from 2 minutes
	// before to 2 minutes after the owner's (true) time, which the
	// member 5 minutes ahead sees expired and the one 5 minutes behind
	// sees not yet valid.
	sigHalfWindow = 2 * time.Minute
)

// clockSkew: member 2's wall clock runs 5 minutes ahead, member 3's 5
// minutes behind, for the whole run (internal/wallclock's test-only
// DDNRS_TEST_CLOCK_OFFSET, read when the process starts: Linux has no
// per-process CLOCK_REALTIME). Raft's timers run on the monotonic clock,
// which skew does not move; TLS checks the cluster certificates against
// the member's own clock (they are backdated an hour, so a member minutes
// behind accepts one issued a moment ago); and the state machine checks
// a change's RRSIG windows against the time the owner signed into its
// head, never a member's clock. So the group must behave as without skew:
// owner 0 signs every change valid for only 2 minutes either side of its
// time (expired for the member ahead, not yet valid for the one behind),
// and every change must still be acknowledged whichever member it is
// sent to, and served by every member. The member ahead leads while the
// fault is "on", the one behind after it "heals", so each commits writes
// as leader.
var clockSkew = fault{name: "clock skew: one member 5 min ahead, one 5 min behind", writes: true,
	env: func(i int) []string {
		switch i {
		case skewAhead:
			return []string{wallclock.EnvOffset + "=" + skew.String()}
		case skewBehind:
			return []string{wallclock.EnvOffset + "=" + (-skew).String()}
		}
		return nil
	},
	setup: func(g *group) {
		for _, m := range []*raftbench.Member{g.c.Members[skewAhead-1], g.c.Members[skewBehind-1]} {
			if !strings.Contains(m.Output(), "TEST-ONLY") {
				g.t.Fatalf("%s does not say its clock is moved: the skew did not take hold:\n%s", m.ID, m.Output())
			}
		}
		g.owners[0].SignWindow = func(now time.Time) zone.SignOptions {
			return zone.SignOptions{Inception: now.Add(-sigHalfWindow), Expiration: now.Add(sigHalfWindow), Now: now}
		}
	},
	apply: func(g *group, _ *raftbench.Member) func() {
		g.lead(g.c.Members[skewAhead-1])
		return func() {
			g.checkWindow(g.c.Members[skewAhead-1])
			g.lead(g.c.Members[skewBehind-1])
		}
	}}

// checkWindow checks the fault took hold: m serves owner 0's register
// with an RRSIG that m's clock, 5 minutes ahead, sees expired, and the
// member 5 minutes behind sees not yet valid.
func (g *group) checkWindow(m *raftbench.Member) {
	g.t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(raftbench.RegisterName+"."+g.owners[0].Origin, dns.TypeTXT)
	q.SetEdns0(1232, true)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(q, m.DNS)
	if err != nil {
		g.t.Fatalf("%s: %v", m.ID, err)
	}
	now := time.Now()
	for _, rr := range r.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok {
			exp, inc := time.Unix(int64(sig.Expiration), 0), time.Unix(int64(sig.Inception), 0)
			g.t.Logf("%s serves %s's register signed valid %s to %s (its clock %s, the member behind %s)", m.ID, g.owners[0].Origin,
				inc.UTC().Format(time.TimeOnly), exp.UTC().Format(time.TimeOnly), now.Add(skew).UTC().Format(time.TimeOnly), now.Add(-skew).UTC().Format(time.TimeOnly))
			if !exp.Before(now.Add(skew)) || !inc.After(now.Add(-skew)) {
				g.t.Errorf("%s: the RRSIG served (%s to %s) is valid by the skewed clocks too: the fault did not take hold", m.ID, inc, exp)
			}
			return
		}
	}
	g.t.Errorf("%s: no RRSIG in %v", m.ID, r)
}

func TestClockSkew(t *testing.T) { full(t); runFault(t, clockSkew, fullMembers, fullHold) }

// lead hands the group's leadership to m and waits until m leads (a
// minute at most: the fault must take hold).
func (g *group) lead(m *raftbench.Member) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(g.ctx, time.Minute)
	defer cancel()
	for {
		l, err := g.c.WaitLeader(ctx)
		if err == nil && l == m {
			g.t.Logf("%s leads", m.ID)
			return
		}
		if err == nil {
			terr := g.c.Client.TransferLeader(ctx, l.Admin, admin.TransferRequest{ID: m.ID})
			if terr != nil {
				g.t.Logf("transfer of leadership from %s to %s: %v", l.ID, m.ID, terr)
			}
		}
		select {
		case <-ctx.Done():
			g.t.Fatalf("%s does not lead after a minute of asking: %v", m.ID, fmt.Errorf("last leader %v: %w", l, err))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestClockSkewOtherGroups: what a node's own clock does decide. Group 0
// (one node) holds g0.example.; group 1's three nodes answer for it over
// the overlay after verifying group 0's answer, RRSIG windows included,
// by their own clock: node 1 runs 5 minutes ahead, node 2 5 minutes
// behind, node 3 on time. g0.example. gets a name signed valid from 2
// minutes before to 2 minutes after now. client.Verifier checks a
// signature's window at the time the owner signed into the zone's head,
// and its expiry also by the verifier's own clock (client.ErrExpired):
// node 1 sees the signature expired and refuses (SERVFAIL); node 2, for
// which the window has not begun, answers (the head's time is in it), as
// node 3 does; docs/chaos.md says so. Names signed with the usual window
// (an hour before to 30 days after) are answered by all three, over the
// TLS of group 1's skewed members.
func TestClockSkewOtherGroups(t *testing.T) {
	full(t)
	netlab.Need(t)
	needBinary(t)
	lab := netlab.New(t, 4)
	offsets := map[int]time.Duration{0: skew, 1: -skew}
	gs := startOverlayEnv(t, lab, func(g, i int) []string {
		if d, ok := offsets[i]; ok && g == 1 {
			return []string{wallclock.EnvOffset + "=" + d.String()}
		}
		return nil
	}, 1, 3)
	a, b := gs[0], gs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	publishShortWindow(t, ctx, a, "skew", sigHalfWindow)

	ask := func(n *ovNode, name string) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, true)
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, n.DNS)
		if err != nil {
			t.Fatalf("%s: %s A: %v", n.name, name, err)
		}
		return r
	}
	// Every node of group 1 answers the usual name (waiting for the
	// overlay to route to group 0 and for the new serial to be seen).
	for _, n := range b.nodes {
		waitFor(t, ctx, n.name+" answering www."+a.zone, func() bool {
			r := ask(n, "www."+a.zone)
			return r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
		})
	}
	for i, n := range b.nodes {
		want := dns.RcodeServerFailure
		if offsets[i] <= 0 {
			want = dns.RcodeSuccess
			waitFor(t, ctx, n.name+" answering skew."+a.zone, func() bool { return ask(n, "skew."+a.zone).Rcode == dns.RcodeSuccess })
		}
		r := ask(n, "skew."+a.zone)
		ede := -1
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if x, ok := e.(*dns.EDNS0_EDE); ok {
					ede = int(x.InfoCode)
				}
			}
		}
		t.Logf("%s (clock %+v): skew.%s A = %s, %d answers, EDE %d", n.name, offsets[i], a.zone, dns.RcodeToString[r.Rcode], len(r.Answer), ede)
		if want == dns.RcodeServerFailure && ede != int(dns.ExtendedErrorCodeSignatureExpired) {
			t.Errorf("%s: SERVFAIL with EDE %d, want %d (Signature Expired): refused for another reason than the node's clock", n.name, ede, dns.ExtendedErrorCodeSignatureExpired)
		}
		if r.Rcode != want {
			t.Errorf("%s (clock %+v): skew.%s A = %s; want %s (an RRSIG valid %v either side of now: expired by a clock 5 minutes ahead)",
				n.name, offsets[i], a.zone, dns.RcodeToString[r.Rcode], dns.RcodeToString[want], sigHalfWindow)
		}
		if !strings.Contains(n.out.String(), "TEST-ONLY") != (offsets[i] == 0) {
			t.Errorf("%s: its log and its clock offset (%v) disagree about the skew", n.name, offsets[i])
		}
	}
}

// publishShortWindow adds the name label (A 192.0.2.81) to g's zone,
// signed valid for half either side of now (what it changes, SOA and NSEC
// included; the rest keeps its usual window), through the admin endpoint
// of g's first node, as `ddnrs zone publish` would.
func publishShortWindow(t *testing.T, ctx context.Context, g *ovGroup, label string, half time.Duration) {
	t.Helper()
	k, err := keyfile.Read(g.key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.LoadPair(filepath.Join(g.dir, "ops", "node.crt"), filepath.Join(g.dir, "ops", "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.LoadCAPool(filepath.Join(g.dir, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	c := admin.NewClient(pki.ClientTLS(pair, pool))
	defer c.CloseIdle()
	addr := g.nodes[0].Admin
	exp, err := c.Zone(ctx, addr, g.zone)
	if err != nil {
		t.Fatal(err)
	}
	old, err := zone.ParseFile(strings.NewReader(exp.ZoneFile), g.zone, "the group's copy")
	if err != nil {
		t.Fatal(err)
	}
	if old.Head, err = zone.ParseHead([]byte(exp.Head), k); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n%s A 192.0.2.81\n",
		g.zone, old.Serial()+1, label)
	u, err := zone.ParseFile(strings.NewReader(text), g.zone, "the next version")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	next, _, err := zone.PrepareWith(old, u, k, zone.PrepareOptions{Sign: zone.SignOptions{Inception: now.Add(-half), Expiration: now.Add(half), Now: now}, Margin: zone.RefreshMargin})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := raftfsm.ChangeCommand(old, next, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitChange(ctx, addr, g.zone, cmd); err != nil {
		t.Fatalf("publishing %s.%s signed for %v either side of now: %v", label, g.zone, half, err)
	}
}
