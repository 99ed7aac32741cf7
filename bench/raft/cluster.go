// Package raftbench runs a replica group of real `ddnrs node` processes on
// 127.0.0.x for the integration tests (integration/group_test.go) and the
// Raft figures (bench/cmd/failover, `make bench-raft`): certificates from
// `ddnrs ops ca init` and `ddnrs ops cert issue`, one TOML config per
// member, member 1 bootstraps and the others are added with
// `ddnrs ops group join`. Members can be SIGKILLed and restarted on the
// same addresses and data directories.
//
// Every process the package starts is owned by a Cluster and killed by
// Close; every wait is bounded by a context.
package raftbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/ports"
)

// Options configure a cluster.
type Options struct {
	// Bin is the ddnrs binary. Required.
	Bin string
	// Dir holds the CA, certificates, configs and data dirs. Required.
	Dir string
	// Members is the group size (default 7). Member i (from 1) listens
	// on 127.0.0.i.
	Members int
	// ApplyTimeout is each node's apply_timeout: how long a write waits
	// to commit before failing with no_quorum (default 2s).
	ApplyTimeout time.Duration
	// HeartbeatTimeout and ElectionTimeout override the nodes' Raft
	// timeouts when set (leader_lease_timeout becomes half the heartbeat
	// timeout); zero keeps the node defaults.
	HeartbeatTimeout, ElectionTimeout time.Duration
	// LogLevel of the nodes (default "warn").
	LogLevel string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
	// Net puts the members on another network than loopback (the chaos
	// suite's network namespaces); nil keeps 127.0.0.i.
	Net Net
	// Env, when set, returns environment variables ("NAME=value") member
	// i's process gets besides the test's own (the chaos suite's clock
	// skew: internal/wallclock's test-only offset).
	Env func(i int) []string
}

// Net places members on a network of their own: each member has an
// address and runs in a host of its own (a network namespace), where
// nothing else binds, so its ports are fixed (DNS 5300, Raft 7000,
// admin 8443) rather than probed.
type Net interface {
	// IP is member i's address (i from 1).
	IP(i int) string
	// Command returns the command that runs name with args on member
	// i's host.
	Command(i int, name string, args ...string) *exec.Cmd
}

// Member is one `ddnrs node` process of the group.
type Member struct {
	ID    string // "n1".."n7"
	IP    string // 127.0.0.i, or the Net's address
	index int    // i
	DNS   string // host:port, UDP and TCP
	Admin string // host:port, HTTPS with mutual TLS
	Raft  string // host:port

	dir       string // data dir
	config    string
	readyFile string

	mu      sync.Mutex
	upSince time.Time // when the current process became ready; zero while down
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been waited for
	out     *logBuffer
}

// Cluster is a running group. Close kills every process it started.
type Cluster struct {
	opts    Options
	Members []*Member
	// CACert, OpsCert and OpsKey are the operator identity the ops CLI
	// and Client use.
	CACert, OpsCert, OpsKey string
	// Client talks to admin endpoints with the operator certificate.
	Client *admin.Client
	// TLS is the operator's client TLS configuration.
	TLS *tls.Config
}

func (o *Options) defaults() {
	if o.Members == 0 {
		o.Members = 7
	}
	if o.ApplyTimeout == 0 {
		o.ApplyTimeout = 2 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Start makes the certificates and configs, starts member 1 with
// bootstrap, then starts every other member and adds it with
// `ddnrs ops group join`, and waits until the leader lists every member
// as a voter. On error it kills what it started.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	opts.defaults()
	if opts.Bin == "" || opts.Dir == "" {
		return nil, errors.New("raftbench: Bin and Dir are required")
	}
	started := &Cluster{opts: opts}
	c = started
	defer func() {
		if err != nil {
			started.Close() // c is nil by now
		}
	}()
	if err := c.makeCerts(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Members; i++ {
		m, err := c.newMember(i)
		if err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	first := c.Members[0]
	if err := c.StartMember(ctx, first); err != nil {
		return nil, err
	}
	if _, err := c.WaitLeader(ctx); err != nil {
		return nil, fmt.Errorf("bootstrap of %s: %w", first.ID, err)
	}
	for _, m := range c.Members[1:] {
		if err := c.StartMember(ctx, m); err != nil {
			return nil, err
		}
		if err := c.join(ctx, m); err != nil {
			return nil, err
		}
	}
	if err := c.WaitVoters(ctx, opts.Members); err != nil {
		return nil, err
	}
	return c, nil
}

// makeCerts runs `ddnrs ops ca init` and `ddnrs ops cert issue` for every
// member and for the operator ("ops").
func (c *Cluster) makeCerts(ctx context.Context) error {
	caDir := filepath.Join(c.opts.Dir, "ca")
	if _, err := c.run(ctx, "ops", "ca", "init", "--dir", caDir); err != nil {
		return err
	}
	c.CACert = filepath.Join(caDir, pki.CACertFile)
	for i := 1; i <= c.opts.Members; i++ {
		id := memberID(i)
		if _, err := c.run(ctx, "ops", "cert", "issue", "--ca", caDir, "--id", id,
			"--ip", c.ip(i), "--out", filepath.Join(c.opts.Dir, id, "tls")); err != nil {
			return err
		}
	}
	opsDir := filepath.Join(c.opts.Dir, "ops")
	if _, err := c.run(ctx, "ops", "cert", "issue", "--ca", caDir, "--id", "ops",
		"--ip", "127.0.0.1", "--out", opsDir); err != nil {
		return err
	}
	c.OpsCert = filepath.Join(opsDir, pki.CertFile)
	c.OpsKey = filepath.Join(opsDir, pki.KeyFile)
	pair, err := pki.LoadPair(c.OpsCert, c.OpsKey)
	if err != nil {
		return err
	}
	pool, err := pki.LoadCAPool(c.CACert)
	if err != nil {
		return err
	}
	c.TLS = pki.ClientTLS(pair, pool)
	c.Client = admin.NewClient(c.TLS)
	return nil
}

func memberID(i int) string { return "n" + strconv.Itoa(i) }

// ip is member i's address: 127.0.0.i, or the Net's.
func (c *Cluster) ip(i int) string {
	if c.opts.Net != nil {
		return c.opts.Net.IP(i)
	}
	return "127.0.0." + strconv.Itoa(i)
}

// newMember picks the member's ports (free at the time, on its own
// 127.0.0.i, so other tests on 127.0.0.1 rarely collide) and writes its
// config. The ports stay the member's across restarts: Raft remembers
// its address.
func (c *Cluster) newMember(i int) (*Member, error) {
	ip := c.ip(i)
	m := &Member{ID: memberID(i), IP: ip, index: i}
	dnsPort, raftPort, adminPort := 5300, 7000, 8443 // a Net host of its own
	if c.opts.Net == nil {
		var err error
		if dnsPort, err = freePort(ip, true); err != nil {
			return nil, err
		}
		if raftPort, err = freePort(ip, false); err != nil {
			return nil, err
		}
		if adminPort, err = freePort(ip, false); err != nil {
			return nil, err
		}
	}
	m.DNS = net.JoinHostPort(ip, strconv.Itoa(dnsPort))
	m.Raft = net.JoinHostPort(ip, strconv.Itoa(raftPort))
	m.Admin = net.JoinHostPort(ip, strconv.Itoa(adminPort))
	base := filepath.Join(c.opts.Dir, m.ID)
	m.dir = MemberDataDir(c.opts.Dir, i)
	m.config = filepath.Join(base, "node.toml")
	m.readyFile = filepath.Join(base, "ready.json")
	tlsDir := filepath.Join(base, "tls")
	cfg := fmt.Sprintf(`data_dir = %q
dns = %q
udp_sockets = 1
udp_workers = 2
rrl_rate = 0
log_level = %q

[group]
id = %q
raft_bind = %q
bootstrap = %t
apply_timeout = %q
%s
[admin]
listen = %q

[metrics]
listen = "off"

[tls]
ca = %q
cert = %q
key = %q
`, m.dir, m.DNS, c.opts.LogLevel, m.ID, m.Raft, i == 1, c.opts.ApplyTimeout.String(), c.timeouts(),
		m.Admin, c.CACert, filepath.Join(tlsDir, pki.CertFile), filepath.Join(tlsDir, pki.KeyFile))
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(m.config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	return m, nil
}

// timeouts returns the [group] timeout keys Options override.
func (c *Cluster) timeouts() string {
	var b strings.Builder
	if h := c.opts.HeartbeatTimeout; h > 0 {
		fmt.Fprintf(&b, "heartbeat_timeout = %q\nleader_lease_timeout = %q\n", h.String(), (h / 2).String())
	}
	if e := c.opts.ElectionTimeout; e > 0 {
		fmt.Fprintf(&b, "election_timeout = %q\n", e.String())
	}
	return b.String()
}

// freePort returns a port on ip free at the time of the call (for both
// UDP and TCP when both is set).
func freePort(ip string, both bool) (int, error) {
	return ports.Free(ip, both) // outside the ephemeral range: nothing else takes it first
}

// run runs ddnrs with args to completion (bounded by ctx and 60 s) and
// returns its standard output.
func (c *Cluster) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.opts.Bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout = &o
	cmd.Stderr = &e
	if err := cmd.Run(); err != nil {
		return o.String(), fmt.Errorf("ddnrs %v: %w\n%s%s", args, err, o.String(), e.String())
	}
	return o.String(), nil
}

// OpsArgs are the flags that give the ops CLI the operator identity.
func (c *Cluster) OpsArgs() []string {
	return []string{"--ca", c.CACert, "--cert", c.OpsCert, "--key", c.OpsKey}
}

// Ops runs `ddnrs ops ARGS... --ca .. --cert .. --key ..`.
func (c *Cluster) Ops(ctx context.Context, args ...string) (string, error) {
	return c.run(ctx, append(append([]string{"ops"}, args...), c.OpsArgs()...)...)
}

// join adds m as a voter through member 1's admin endpoint, retrying
// while the group is busy (a previous join still catching up).
func (c *Cluster) join(ctx context.Context, m *Member) error {
	var last error
	for {
		leader, err := c.WaitLeader(ctx)
		if err != nil {
			return errors.Join(err, last)
		}
		_, last = c.Ops(ctx, "group", "join", m.ID, m.Raft, "--server", leader.Admin)
		if last == nil {
			c.opts.Logf("joined %s (raft %s, dns %s, admin %s)", m.ID, m.Raft, m.DNS, m.Admin)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("joining %s: %w (last: %w)", m.ID, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StartMember starts m's process and waits for its ready file.
func (c *Cluster) StartMember(ctx context.Context, m *Member) error {
	m.mu.Lock()
	if m.cmd != nil && !m.exitedLocked() {
		m.mu.Unlock()
		return fmt.Errorf("%s is running", m.ID)
	}
	os.Remove(m.readyFile)
	m.out = &logBuffer{}
	args := []string{"node", "--config", m.config, "--ready-file", m.readyFile}
	cmd := exec.Command(c.opts.Bin, args...)
	if c.opts.Net != nil {
		cmd = c.opts.Net.Command(m.index, c.opts.Bin, args...)
	}
	cmd.Stdout = m.out
	cmd.Stderr = m.out
	if c.opts.Env != nil {
		if env := c.opts.Env(m.index); len(env) > 0 {
			cmd.Env = append(cmd.Environ(), env...)
		}
	}
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		return fmt.Errorf("starting %s: %w", m.ID, err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	go func() {
		cmd.Wait()
		close(done)
	}()
	for {
		b, err := os.ReadFile(m.readyFile)
		if err == nil {
			var r struct{ DNS, Admin, Raft string }
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("%s ready file: %w", m.ID, err)
			}
			if r.DNS != m.DNS || r.Admin != m.Admin || r.Raft != m.Raft {
				return fmt.Errorf("%s bound dns %s admin %s raft %s, configured %s %s %s", m.ID, r.DNS, r.Admin, r.Raft, m.DNS, m.Admin, m.Raft)
			}
			m.mu.Lock()
			m.upSince = time.Now()
			m.mu.Unlock()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready: %s\n%s", m.ID, cmd.ProcessState, m.out.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", m.ID, ctx.Err(), m.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m *Member) exitedLocked() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Alive reports whether m's process is running.
func (m *Member) Alive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil && !m.exitedLocked()
}

// Kill sends SIGKILL to m's process and waits for it to be reaped.
func (m *Member) Kill() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	m.mu.Lock()
	m.upSince = time.Time{}
	m.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Signal sends sig to m's current process: SIGSTOP makes a member
// silent (its sockets stay open, nothing answers), SIGCONT wakes it.
func (m *Member) Signal(sig os.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.exitedLocked() {
		return fmt.Errorf("%s is not running", m.ID)
	}
	return m.cmd.Process.Signal(sig)
}

// DataDir is m's data directory: Options.Dir/<ID>/data. A test may
// mount something there before Start (a small tmpfs, to fill).
func (m *Member) DataDir() string { return m.dir }

// Config is the path of m's configuration file (node.toml).
func (m *Member) Config() string { return m.config }

// UpSince is when m's current process became ready, zero while it is
// down or starting.
func (m *Member) UpSince() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.upSince
}

// PID is the process ID of m's current process, 0 when none was started.
func (m *Member) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Output is what m's current (or last) process wrote.
func (m *Member) Output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		return ""
	}
	return m.out.String()
}

// Close kills every member process and drops idle admin connections.
func (c *Cluster) Close() {
	for _, m := range c.Members {
		m.Kill()
	}
	if c.Client != nil {
		c.Client.CloseIdle()
	}
}

// Alive returns the members whose process runs.
func (c *Cluster) Alive() []*Member {
	var ms []*Member
	for _, m := range c.Members {
		if m.Alive() {
			ms = append(ms, m)
		}
	}
	return ms
}

// Leader asks every running member for its status and returns the one
// that says it is the leader, or nil.
func (c *Cluster) Leader(ctx context.Context) *Member {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	type res struct {
		m  *Member
		st *admin.Status
	}
	alive := c.Alive()
	ch := make(chan res, len(alive))
	for _, m := range alive {
		go func() {
			st, err := c.Client.Status(ctx, m.Admin)
			if err != nil {
				st = nil
			}
			ch <- res{m, st}
		}()
	}
	var leader *Member
	var term uint64
	for range alive {
		r := <-ch
		if r.st != nil && r.st.State == "Leader" && r.st.Term >= term {
			leader, term = r.m, r.st.Term
		}
	}
	return leader
}

// WaitLeader polls until a running member says it leads.
func (c *Cluster) WaitLeader(ctx context.Context) (*Member, error) {
	for {
		if l := c.Leader(ctx); l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitVoters waits until the leader lists n voters.
func (c *Cluster) WaitVoters(ctx context.Context, n int) error {
	var last string
	for {
		if l := c.Leader(ctx); l != nil {
			ms, err := c.Client.Members(ctx, l.Admin)
			if err == nil {
				voters := 0
				for _, m := range ms {
					if m.Voter {
						voters++
					}
				}
				if voters == n {
					return nil
				}
				last = fmt.Sprintf("%d voters", voters)
			} else {
				last = err.Error()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d voters (%s): %w", n, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitCaughtUp waits until every running member has applied at least the
// leader's commit index as it was when the wait began.
func (c *Cluster) WaitCaughtUp(ctx context.Context) error {
	l, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	st, err := c.Client.Status(ctx, l.Admin)
	if err != nil {
		return err
	}
	for _, m := range c.Alive() {
		for {
			ms, err := c.Client.Status(ctx, m.Admin)
			if err == nil && ms.AppliedIndex >= st.CommitIndex {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s has not applied index %d: %w", m.ID, st.CommitIndex, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// logBuffer keeps the last 256 KiB a process wrote.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const logKeep = 256 << 10

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*logKeep {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-logKeep:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// MemberDataDir is member i's data directory in a cluster whose
// Options.Dir is dir, known before Start (to mount a small disk there).
func MemberDataDir(dir string, i int) string { return filepath.Join(dir, memberID(i), "data") }

// WaitProcessed waits until every running member's state machine has
// finished the entry at index (Status.ProcessedIndex): the index of a
// command, such as an acknowledged write's. Raft's AppliedIndex, which
// WaitCaughtUp reads, also moves past entries a halted state machine
// refused (its store failed), so only this says a member holds them.
func (c *Cluster) WaitProcessed(ctx context.Context, index uint64) error {
	for _, m := range c.Alive() {
		var last string
		for {
			st, err := c.Client.Status(ctx, m.Admin)
			if err == nil && st.ProcessedIndex >= index {
				break
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("processed index %d", st.ProcessedIndex)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s has not processed index %d (%s): %w", m.ID, index, last, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}
