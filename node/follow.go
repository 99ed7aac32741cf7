package node

// follow.go: following the registry's transparency log. Every node with
// [registry] log_verifier polls the log (registry members read their own
// replica; others ask [registry] urls) and keeps what it learns
// (client.LogState: checkpoints verified and extended, entries applied)
// in data_dir/follow.json, so a node restarted while the registry is down
// keeps its anchors and suspensions. The owner keys become the trust
// anchors of the overlay's client.Verifier; suspended zones are REFUSED
// with EDE 15 by dnsfront; released zones lose their cached answers and
// route. A split view (two checkpoints that cannot both be true) is
// logged, counted and stops following. Resolution never waits on any of
// this.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// followFile is the follower's state in the data directory.
const followFile = "follow.json"

// FollowState is what a node knows from the log, as kept in
// follow.json.
type FollowState = client.LogState

// FollowPrevious is a zone's previous owner key in follow.json.
type FollowPrevious = client.LogPrevious

// errFollowSplit is what step returns, wrapped, once the log showed two
// views that cannot both be true.
var errFollowSplit = translog.ErrSplitView

// follower follows the log for a Node. Its loop runs on one goroutine
// owned by Start and stopped by Close; Load and the published sets may
// be read from any goroutine.
type follower struct {
	n        *Node
	log      *slog.Logger
	verifier note.Verifier
	origin   string
	path     string
	sources  []translog.Source
	hc       *http.Client // of the HTTP sources (nil for a member); mutual TLS for https URLs
	splits   prometheus.Counter
	applied  prometheus.Counter
	size     prometheus.Gauge   // the verified tree size
	lastOK   prometheus.Gauge   // Unix time of the last poll that verified a checkpoint
	misses   prometheus.Counter // polls on an anchor miss (anchor_miss.go)

	st    FollowState // owned by the loop goroutine after start
	grace time.Duration

	previous atomic.Pointer[map[string]client.PreviousAnchor] // as last published
	refresh  anchorRefresh                                    // refreshAnchors's (anchor_miss.go)

	dropMu sync.Mutex
	drops  map[string]string // zone -> previous key the Verifier dropped, for the loop
	kick   chan chan error
	poke   chan struct{} // a poll soon, not waited for (buffered 1)
}

// newFollower loads the saved state and publishes its anchors and
// suspensions at once (before DNS serves).
func (n *Node) newFollower() (*follower, error) {
	c := n.cfg.Registry
	v, err := translog.NewVerifier(c.LogVerifier)
	if err != nil {
		return nil, fmt.Errorf("registry.log_verifier: %w", err)
	}
	f := &follower{
		n:        n,
		log:      n.log.With("component", "follow"),
		verifier: v,
		origin:   c.LogOrigin,
		path:     filepath.Join(n.cfg.DataDir, followFile),
		kick:     make(chan chan error),
		refresh:  anchorRefresh{token: make(chan struct{}, 1)},
		poke:     make(chan struct{}, 1),
		grace:    c.RotationGrace,
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ddnrs_registry_log_split_views_total",
			Help: "Checkpoints of the registry's log that contradicted one already verified (following stopped).",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ddnrs_registry_log_entries_followed_total",
			Help: "Transparency log entries verified and applied by this node.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ddnrs_registry_log_size",
			Help: "Entries in the registry's log as this node verified it (the checkpoint's tree size); compare across nodes for the follow lag.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ddnrs_registry_log_polls_on_miss_total",
			Help: "Polls of the registry's log made at once because an answer of another group named a zone or key the anchors did not know yet (a zone just created or rotated).",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ddnrs_registry_log_last_success_timestamp_seconds",
			Help: "Unix time of the last poll that verified a checkpoint of the registry's log (0: none since start).",
		}),
	}
	if c.Member {
		f.sources = []translog.Source{localLog{n: n}}
	} else {
		tr, err := n.registryTransport(false)
		if err != nil {
			return nil, err
		}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: tr}
		f.hc = hc
		for _, u := range c.URLs {
			f.sources = append(f.sources, &translog.HTTPSource{BaseURL: strings.TrimRight(u, "/"), Client: hc})
		}
	}
	st, err := loadFollowState(f.path)
	if err != nil {
		return nil, err
	}
	f.st = st
	if err := f.publish(nil, nil); err != nil {
		return nil, err
	}
	reg := n.metrics.Registry()
	f.size.Set(float64(st.Size))
	for _, c := range []prometheus.Collector{f.splits, f.applied, f.size, f.lastOK, f.misses} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	if st.SplitView != "" {
		f.log.Error("registry log: not following, a split view was seen earlier", "detail", st.SplitView, "state", f.path)
	}
	return f, nil
}

func loadFollowState(path string) (FollowState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return client.NewLogState(), nil
	}
	if err != nil {
		return client.NewLogState(), err
	}
	st, err := client.ParseLogState(b)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// save writes the state atomically.
func (f *follower) save() error {
	b, err := json.MarshalIndent(f.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

// publish hands the anchors to the overlay's verifier and the suspended
// set to DNS; zones newly suspended lose their cached remote answers, and
// released zones (deleted, their names free) their cached answers and
// route too, so their names get what names of no zone get (or their
// enclosing zone's answers).
func (f *follower) publish(newlySuspended, released []string) error {
	anchors := f.st.TrustAnchors(func(z string, err error) {
		f.log.Warn("registry log: owner key not usable as a trust anchor", "zone", z, "err", err)
	})
	f.n.logAnchors.Store(&anchors)
	previous := f.st.PreviousAnchors()
	groups := make(map[string]string, len(f.st.Groups))
	for z, g := range f.st.Groups {
		groups[z] = g
	}
	f.n.logGroups.Store(&groups)
	f.previous.Store(&previous)
	if o := f.n.ov.Load(); o != nil {
		o.verifier.SetLogAnchors(anchors)
		o.verifier.SetPreviousAnchors(previous, f.droppedPrevious)
	}
	f.n.susp.Set(f.st.Suspended)
	if o := f.n.ov.Load(); o != nil {
		for _, z := range newlySuspended {
			o.cache.PurgeZone(z)
		}
		for _, z := range released {
			if _, again := f.st.Groups[z]; again {
				// Claimed again since, maybe on another group: look
				// its route up afresh.
				o.router.Forget(z)
				o.cache.PurgeZone(z)
				continue
			}
			o.forgetZone(z)
		}
	}
	return nil
}

// run polls the log every interval until ctx ends or a split view.
func (f *follower) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	if f.hc != nil {
		defer f.hc.CloseIdleConnections()
	}
	for {
		var reply chan error
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.poke:
		case reply = <-f.kick:
		}
		err := f.step(ctx)
		if reply != nil {
			reply <- err
		}
		if errors.Is(err, errFollowSplit) {
			f.log.Error("registry log: SPLIT VIEW, following stopped", "err", err)
			for {
				// Keep answering Sync until Close.
				select {
				case <-ctx.Done():
					return
				case reply := <-f.kick:
					reply <- err
				}
			}
		}
		if err != nil && reply == nil {
			f.log.Debug("registry log: poll failed", "err", err)
		}
	}
}

// nudge asks the loop to poll soon, without waiting.
func (f *follower) nudge() {
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// sync asks the loop to poll now and waits for the outcome.
func (f *follower) sync(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case f.kick <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// step polls each source in turn until one gives a usable checkpoint.
func (f *follower) step(ctx context.Context) error {
	if f.st.SplitView != "" {
		return fmt.Errorf("%w: %s", errFollowSplit, f.st.SplitView)
	}
	if f.forgetPrevious() {
		if err := f.save(); err != nil {
			return err
		}
	}
	var errs []error
	for _, src := range f.sources {
		err := f.stepFrom(ctx, src)
		if err == nil || errors.Is(err, errFollowSplit) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f *follower) stepFrom(ctx context.Context, src translog.Source) error {
	from := f.st.Size
	leaves, err := f.st.Extend(ctx, src, f.verifier, f.origin)
	if errors.Is(err, errFollowSplit) {
		f.splits.Inc()
		if err := f.save(); err != nil {
			f.log.Error("registry log: saving the split view", "err", err)
		}
		return err
	}
	if err != nil {
		return err
	}
	var newly, released, registered []string
	now := f.n.Now()
	for i, l := range leaves {
		e, err := translog.ParseEntry(l)
		if err != nil {
			// A signed log carries it: keep following, but say so.
			f.log.Error("registry log: entry not understood", "index", from+uint64(i), "err", err)
			continue
		}
		if f.st.Apply(e, now, f.grace) {
			newly = append(newly, e.Zone)
		}
		switch e.Kind {
		case translog.KindRelease:
			released = append(released, zone.CanonicalName(e.Zone))
		case translog.KindRegistration:
			registered = append(registered, zone.CanonicalName(e.Zone))
		}
		f.applied.Inc()
	}
	if err := f.save(); err != nil {
		return err
	}
	if err := f.publish(newly, released); err != nil {
		return err
	}
	if o := f.n.ov.Load(); o != nil {
		// A name of a zone registered since may be cached as no zone
		// (asked before its group provided it): look it up afresh.
		for _, z := range registered {
			o.router.Forget(z)
		}
	}
	f.size.Set(float64(f.st.Size))
	f.lastOK.SetToCurrentTime()
	return nil
}

// localLog is a translog.Source over this registry member's own replica,
// its checkpoints signed with the node's log key.
type localLog struct{ n *Node }

func (l localLog) state() (*registryStateLog, error) {
	reg, err := l.n.Registry()
	if err != nil {
		return nil, err
	}
	return &registryStateLog{size: reg.LogSize(), tree: reg.Log(), entry: reg.LogEntry}, nil
}

type registryStateLog struct {
	size  uint64
	tree  *translog.Tree
	entry func(uint64) ([]byte, error)
}

func (l localLog) Checkpoint(ctx context.Context) ([]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	if l.n.signer == nil {
		return nil, errors.New("no log signer")
	}
	root, err := s.tree.Root(s.size)
	if err != nil {
		return nil, err
	}
	return translog.SignCheckpoint(translog.Checkpoint{Origin: l.n.cfg.Registry.LogOrigin, Size: s.size, Root: root}, l.n.signer)
}

func (l localLog) Entries(ctx context.Context, start, end uint64) ([][]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i := start; i < end && i < s.size; i++ {
		b, err := s.entry(i)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (l localLog) Consistency(ctx context.Context, first, second uint64) ([][32]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	return s.tree.ConsistencyProof(first, second)
}

func (l localLog) Inclusion(ctx context.Context, index, size uint64) ([][32]byte, error) {
	s, err := l.state()
	if err != nil {
		return nil, err
	}
	return s.tree.InclusionProof(index, size)
}

// FollowState returns a copy of what the node knows from the registry's
// log; zero when it does not follow it.
func (n *Node) FollowState() FollowState {
	f := n.fol
	if f == nil {
		return FollowState{}
	}
	st, _ := loadFollowState(f.path)
	return st
}

// SyncRegistryLog polls the registry's log now and returns when the
// new entries are applied (or why not); ErrNotRunning when the node does
// not follow the log.
func (n *Node) SyncRegistryLog(ctx context.Context) error {
	if _, _, _, err := n.runningParts(); err != nil || n.fol == nil {
		return ErrNotRunning
	}
	return n.fol.sync(ctx)
}
