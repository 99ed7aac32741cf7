package ops

// dev_cluster.go: the dev cluster: three members of one group on loopback,
// started, joined, waited for and stopped; their state (group.json) across
// runs.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/ports"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
)

func devMemberID(i int) string { return "node" + strconv.Itoa(i+1) }

// devNode is one member of the dev group.
type devNode struct {
	id string
	n  *node.Node
}

// devGroup is the group dev runs: its members, all in this process.
type devGroup struct {
	members []*devNode
}

// devGroupState is DATA/group.json: the members' Raft addresses, which
// the Raft configuration holds and which must not change across runs.
type devGroupState struct {
	Members []devMember `json:"members"`
}

const devGroupFile = "group.json"

func readGroupState(data string) (*devGroupState, error) {
	b, err := os.ReadFile(filepath.Join(data, devGroupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st devGroupState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(data, devGroupFile), err)
	}
	return &st, nil
}

func (g *devGroup) saveState(data string) error {
	var st devGroupState
	for _, m := range g.members {
		st.Members = append(st.Members, devMember{ID: m.id, Raft: m.n.RaftAddr()})
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(data, devGroupFile), append(b, '\n'), 0o644)
}

// startDevGroup starts the three members. On first run member 1
// bootstraps a group and dev adds the other two as voters; later runs
// restart the group from its state on disk. Member 1's DNS address is
// --dns (or the default, falling back to a free port); everything else
// listens on free ports of 127.0.0.1.
func startDevGroup(ctx context.Context, opts *devOptions, data string, tf devTLSFiles) (_ *devGroup, err error) {
	st, err := readGroupState(data)
	if err != nil {
		return nil, err
	}
	vkey, err := devLogKeys(opts.out, data)
	if err != nil {
		return nil, err
	}
	first := st == nil
	g := &devGroup{}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			g.close(cctx)
		}
	}()
	for i := 0; i < devMembers; i++ {
		id := devMemberID(i)
		cfg := node.Default()
		cfg.DataDir = filepath.Join(data, id)
		cfg.Group.ID = id
		if !first && i < len(st.Members) && st.Members[i].ID == id {
			cfg.Group.RaftBind = st.Members[i].Raft
		} else {
			// The Raft configuration keeps this address across runs: a
			// port outside the ephemeral range is not taken by some
			// program's outgoing connection while dev is not running.
			p, perr := ports.Free("127.0.0.1", false)
			if perr != nil {
				return nil, fmt.Errorf("pick a Raft port for %s: %w", id, perr)
			}
			cfg.Group.RaftBind = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
		cfg.Group.Bootstrap = first && i == 0
		cfg.Admin.Listen = "127.0.0.1:0"
		cfg.Metrics.Listen = "127.0.0.1:0"
		cfg.DNS = "127.0.0.1:0"
		cfg.RRLRate = opts.RRLRate
		cfg.TLS = node.TLSConfig{CA: tf.CA, Cert: tf.Members[i].Cert, Key: tf.Members[i].Key}
		if cfg.Encrypted, err = devEncrypted(data); err != nil { // DoT, DoH, DoQ: dev_tls.go
			return nil, err
		}
		// The dev group is the registry: every member holds the registry
		// and follows its log; member 1 serves the REST API.
		cfg.Group.Name = devGroupName
		cfg.Registry.Member = true
		cfg.Registry.LogKeyFile = filepath.Join(data, devLogKey)
		cfg.Registry.LogVerifier = vkey
		log := opts.log.With("member", id)
		var n *node.Node
		if i == 0 {
			n, err = startDevNode(ctx, opts, cfg, log)
		} else {
			n, err = startNode(ctx, cfg, log)
		}
		if errors.Is(err, syscall.EADDRINUSE) && !first {
			return nil, withHint(err, "another program holds %s, the Raft address of %s that the group's configuration (and %s) keeps; stop that program, or start a new group with another --data directory",
				cfg.Group.RaftBind, id, filepath.Join(data, devGroupFile))
		}
		if err != nil {
			return nil, err
		}
		g.members = append(g.members, &devNode{id: id, n: n})
		if first && i == 0 {
			// Written at once, so a run stopped half-way restarts member
			// 1 at the Raft address its configuration holds.
			if err := g.saveState(data); err != nil {
				return nil, err
			}
		}
	}
	if !first {
		return g, nil
	}
	c, err := tf.client()
	if err != nil {
		return nil, err
	}
	defer c.CloseIdle()
	wctx, cancel := context.WithTimeout(ctx, devWait)
	defer cancel()
	for _, m := range g.members[1:] {
		if err := g.join(wctx, c, m, opts.log); err != nil {
			return nil, fmt.Errorf("add %s to the dev group: %w", m.id, err)
		}
	}
	return g, g.saveState(data)
}

// Bounds of the backoff between attempts to add a member.
const (
	joinBackoffMin = 50 * time.Millisecond
	joinBackoffMax = time.Second
)

// join adds m to the group as a voter through the current leader. A
// slow machine can make the leader miss heartbeats while the change
// commits, so the change may fail with the leadership lost (no_quorum),
// the node no longer leader (not_leader, no_leader) or the leader's
// request timing out: join then finds the leader again and retries, with
// a doubling backoff, until ctx ends. Adding a voter that is already one
// is harmless, so an attempt that did commit before failing is safe to
// repeat. Any other error is returned at once.
func (g *devGroup) join(ctx context.Context, c *admin.Client, m *devNode, log *slog.Logger) error {
	backoff := joinBackoffMin
	for {
		leader, err := g.leaderAdmin(ctx, c)
		if err != nil {
			return err
		}
		err = c.Join(ctx, leader, admin.JoinRequest{ID: m.id, RaftAddr: m.n.RaftAddr()})
		if err == nil || !retryableJoin(err) {
			return err
		}
		log.Debug("adding a member failed; retrying", "member", m.id, "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// retryableJoin reports whether a failed join may succeed when tried
// again: the group was between leaders or could not commit in time.
func retryableJoin(err error) bool {
	if errors.Is(err, raftfsm.ErrNoQuorum) || errors.Is(err, raftfsm.ErrNoLeader) {
		return true
	}
	var ae *admin.APIError
	return errors.As(err, &ae) && (ae.Code == admin.CodeNotLeader || ae.Code == admin.CodeUnavailable)
}

// startDevNode starts member 1, falling back to a free DNS port when the
// default port is taken and --dns was not given.
func startDevNode(ctx context.Context, opts *devOptions, cfg node.Config, log *slog.Logger) (*node.Node, error) {
	cfg.DNS = opts.DNS
	if cfg.DNS == "" {
		cfg.DNS = opts.defaultDNS
	}
	if _, _, err := hostport.Split(cfg.DNS); err != nil {
		return nil, usagef("--dns %q: %v", cfg.DNS, err)
	}
	cfg.API.Listen = opts.API
	if cfg.API.Listen == "" {
		cfg.API.Listen = opts.defaultAPI
	}
	if _, _, err := hostport.Split(cfg.API.Listen); cfg.API.Listen != "" && err != nil {
		return nil, usagef("--api %q: %v", cfg.API.Listen, err)
	}
	n, err := startNode(ctx, cfg, log)
	// Each failed start names one taken port; when both defaults are
	// taken, the second start names the other, so fall back for each
	// once, in whichever order they come.
	apiTaken, dnsTaken := 0, 0 // the taken default ports
	apiMoved, dnsMoved := false, false
	for err != nil {
		switch {
		case errors.Is(err, node.ErrAPIPortInUse) && opts.API == "" && !apiMoved:
			host, port, _ := hostport.Split(cfg.API.Listen)
			apiMoved, apiTaken, cfg.API.Listen = true, port, net.JoinHostPort(host, "0")
		case errors.Is(err, node.ErrPortInUse) && opts.DNS == "" && !dnsMoved:
			host, port, _ := hostport.Split(cfg.DNS)
			dnsMoved, dnsTaken, cfg.DNS = true, port, net.JoinHostPort(host, "0")
		default:
			return nil, err
		}
		n, err = startNode(ctx, cfg, log)
	}
	if apiMoved {
		fmt.Fprintf(opts.out, "API port %d is in use; using free port %s instead\n", apiTaken, n.APIAddr())
	}
	if dnsMoved {
		fmt.Fprintf(opts.out, "port %d is in use; using free port %d instead\n", dnsTaken, n.Addr().Port())
	}
	return n, nil
}

func startNode(ctx context.Context, cfg node.Config, log *slog.Logger) (*node.Node, error) {
	n, err := node.New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		switch {
		case errors.Is(err, raftfsm.ErrLocked):
			return nil, withHint(err, "another ddnrs is using the data directory %s; stop it or pass another --data", cfg.DataDir)
		case errors.Is(err, raftfsm.ErrCorrupt):
			return nil, withHint(err, "the data directory %s holds a damaged store; move it aside or pass another --data", cfg.DataDir)
		case errors.Is(err, node.ErrPortInUse):
			return nil, withHint(err, "another server listens on %s; pass another --dns, or port 0 for a free one", cfg.DNS)
		}
		return nil, err
	}
	return n, nil
}

// pollEvery is how often dev looks again while it waits for the group.
const pollEvery = 20 * time.Millisecond

// leaderAdmin waits until member 1 knows a leader and returns the
// leader's admin address.
func (g *devGroup) leaderAdmin(ctx context.Context, c *admin.Client) (string, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		s, err := c.Status(ctx, g.members[0].n.AdminAddr())
		if err == nil && s.LeaderID != "" {
			for _, m := range g.members {
				if m.id == s.LeaderID {
					return m.n.AdminAddr(), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", withHint(fmt.Errorf("the dev group elected no leader: %w", ctx.Err()), "run with --log-level debug to see what Raft does")
		case <-t.C:
		}
	}
}

// waitServed waits until every member serves every zone at its
// published serial and the leader knows every member's addresses and
// indexes, so that what dev prints works at once.
func (g *devGroup) waitServed(ctx context.Context, c *admin.Client, zones []*devZone) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		done := true
		for _, m := range g.members {
			for _, dz := range zones {
				if z := m.n.Served().Get(dz.zone.Origin); z == nil || z.Serial() != dz.zone.Serial() {
					done = false
				}
			}
		}
		if done {
			server, err := g.leaderAdmin(ctx, c)
			if err != nil {
				return err
			}
			ms, err := c.Members(ctx, server)
			done = err == nil && len(ms) == len(g.members)
			for _, m := range ms {
				if m.Error != "" || m.Admin == "" || m.Trails != 0 {
					done = false
				}
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return withHint(fmt.Errorf("the dev group did not replicate the zones to every member: %w", ctx.Err()), "run with --log-level debug to see what Raft does")
		case <-t.C:
		}
	}
}

// close stops the group under ctx: the leader first, without a
// leadership transfer, then the others at once (node.CloseGroup), so
// the stop takes milliseconds and no member starts an election or logs
// an error; it returns every error, joined.
func (g *devGroup) close(ctx context.Context) error {
	nodes := make([]*node.Node, len(g.members))
	for i, m := range g.members {
		nodes[i] = m.n
	}
	return node.CloseGroup(ctx, nodes)
}
