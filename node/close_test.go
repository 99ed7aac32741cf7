package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
)

// warnRecorder passes records on to next and, once armed, keeps every
// record at Warn or above.
type warnRecorder struct {
	next  slog.Handler
	armed *atomic.Bool
	mu    *sync.Mutex
	got   *[]string
}

func (h warnRecorder) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h warnRecorder) Handle(ctx context.Context, r slog.Record) error {
	if h.armed.Load() && r.Level >= slog.LevelWarn {
		line := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return true
		})
		h.mu.Lock()
		*h.got = append(*h.got, line)
		h.mu.Unlock()
	}
	return h.next.Handle(ctx, r)
}

func (h warnRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	h.next = h.next.WithAttrs(as)
	return h
}

func (h warnRecorder) WithGroup(name string) slog.Handler {
	h.next = h.next.WithGroup(name)
	return h
}

// A whole group stopped with CloseGroup (as `ddnrs dev` stops) logs no
// warning or error: the leader stops first without a leadership
// transfer, the followers before they miss it, and Raft's own shutdown
// errors are not errors. Every node is closed afterwards.
func TestCloseGroupIsQuiet(t *testing.T) {
	var (
		armed atomic.Bool
		mu    sync.Mutex
		got   []string
	)
	rec := warnRecorder{next: testLogger(t).Handler(), armed: &armed, mu: &mu, got: &got}
	p := newTestPKI(t)
	start := func(cfg Config) *Node {
		t.Helper()
		n, err := New(cfg, slog.New(rec).With("node", cfg.Group.ID))
		if err != nil {
			t.Fatalf("New(%s): %v", cfg.Group.ID, err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatalf("Start(%s): %v", cfg.Group.ID, err)
		}
		t.Cleanup(func() { closeNode(t, n) })
		return n
	}
	nodes := []*Node{start(groupConfig(t, p, "n1"))}
	for i := 2; i <= 3; i++ {
		cfg := groupConfig(t, p, fmt.Sprintf("n%d", i))
		cfg.Group.Bootstrap = false
		cfg.Group.Join = []string{nodes[0].AdminAddr()}
		nodes = append(nodes, start(cfg))
	}
	for _, n := range nodes {
		waitFor(t, "members known to "+n.ID(), func() error {
			for _, m := range nodes {
				if a, ok := n.lookupMember(m.ID()); !ok || a.Admin != m.AdminAddr() {
					return fmt.Errorf("%s does not know %s's admin address yet", n.ID(), m.ID())
				}
			}
			return n.Ready()
		})
	}
	// Members ask each other for their status, so that every admin
	// endpoint holds idle HTTP/2 connections from the others.
	ac := p.client(t, "ops")
	t.Cleanup(ac.CloseIdle)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, n := range nodes {
		if _, err := ac.Members(ctx, n.AdminAddr()); err != nil {
			t.Fatalf("members via %s: %v", n.ID(), err)
		}
	}

	armed.Store(true)
	if err := CloseGroup(ctx, nodes); err != nil {
		t.Fatalf("CloseGroup: %v", err)
	}
	armed.Store(false)
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Errorf("stopping the group logged %d warnings or errors:\n%v", len(got), got)
	}
	for _, n := range nodes {
		if err := n.Ready(); err == nil {
			t.Errorf("%s still ready after CloseGroup", n.ID())
		}
	}
}
