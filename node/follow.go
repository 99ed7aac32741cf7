package node

// follow.go: following the registry's transparency log. Every node with
// [registry] log_verifier polls the log (registry members read their own
// replica; others ask [registry] urls), verifies each checkpoint's
// signature, checks that it extends the last one held (the leaves
// fetched, appended to the compact range kept from the previous
// checkpoint, must give the new root: otherwise the log showed this node
// a split view, which is logged, counted and stops following), and
// applies the new entries: a registration or owner key change makes the
// zone's owner key a trust anchor for answers from other groups, a
// release drops it, a suspension adds the zone to the suspended set
// (REFUSED with EDE 15 by dnsfront) and an unsuspension removes it. The
// state is kept in data_dir/follow.json, so a node restarted while the
// registry is down keeps its anchors and suspensions. Resolution never
// waits on any of this.

import (
	"bytes"
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

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// followFile is the follower's state in the data directory.
const followFile = "follow.json"

// followVersion is the version of follow.json's format: 2 adds Previous
// (the previous owner keys of rotated zones); version 1 is still read.
const followVersion = 2

// maxFollowBatch is how many entries one request fetches.
const maxFollowBatch = 1000

// FollowState is what a node knows from the log, as kept in follow.json.
type FollowState struct {
	Version int `json:"version"`
	// Checkpoint is the last signed checkpoint verified and applied.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Size is the checkpoint's tree size; Range the compact range of its
	// first Size leaves (RFC 6962 subtree hashes), which the next
	// checkpoint must extend.
	Size  uint64   `json:"size"`
	Range [][]byte `json:"range,omitempty"`
	// Anchors maps zones to their owner DNSKEY (presentation form).
	Anchors map[string]string `json:"anchors"`
	// Groups maps registered zones to the group they are placed on.
	Groups map[string]string `json:"groups"`
	// Suspended maps suspended zones to the reason.
	Suspended map[string]string `json:"suspended"`
	// Previous maps zones whose owner key changed to the key before,
	// still accepted until its Until (rotation.go).
	Previous map[string]FollowPrevious `json:"previous,omitempty"`
	// SplitView, when set, says why following stopped: two checkpoints
	// that cannot both be true. An operator removes follow.json (after
	// looking at both) to follow again.
	SplitView string `json:"split_view,omitempty"`
}

// FollowPrevious is a zone's previous owner key in follow.json.
type FollowPrevious struct {
	Key   string    `json:"key"` // DNSKEY presentation form
	Until time.Time `json:"until"`
}

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

	st    FollowState // owned by the loop goroutine after start
	grace time.Duration

	previous atomic.Pointer[map[string]client.PreviousAnchor] // as last published
	refresh  anchorRefresh                                    // refreshAnchors's (rotation.go)

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
	for _, c := range []prometheus.Collector{f.splits, f.applied} {
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
	st := FollowState{Version: followVersion, Anchors: map[string]string{}, Groups: map[string]string{}, Suspended: map[string]string{},
		Previous: map[string]FollowPrevious{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if st.Version != followVersion && st.Version != 1 {
		return st, fmt.Errorf("%s: version %d, want %d or 1", path, st.Version, followVersion)
	}
	st.Version = followVersion
	if st.Anchors == nil {
		st.Anchors = map[string]string{}
	}
	if st.Suspended == nil {
		st.Suspended = map[string]string{}
	}
	if st.Groups == nil {
		st.Groups = map[string]string{}
	}
	if st.Previous == nil {
		st.Previous = map[string]FollowPrevious{}
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
	anchors := client.Anchors{}
	for z, text := range f.st.Anchors {
		rr, err := dns.NewRR(text)
		if err != nil {
			f.log.Warn("registry log: owner key not usable as a trust anchor", "zone", z, "err", err)
			continue
		}
		k, ok := rr.(*dns.DNSKEY)
		if !ok {
			continue
		}
		anchors[z] = &zone.Key{Zone: z, DNSKEY: k}
	}
	f.n.logAnchors.Store(&anchors)
	previous := map[string]client.PreviousAnchor{}
	for z, p := range f.st.Previous {
		if k := parseAnchor(p.Key); k != nil {
			previous[z] = client.PreviousAnchor{Key: &zone.Key{Zone: z, DNSKEY: k}, Until: p.Until}
		}
	}
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
	raw, err := src.Checkpoint(ctx)
	if err != nil {
		return err
	}
	cp, err := translog.OpenCheckpoint(raw, f.origin, f.verifier)
	if err != nil {
		return err
	}
	if cp.Size < f.st.Size {
		return nil // a lagging replica: nothing new
	}
	fact := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng, err := fact.NewRange(0, f.st.Size, f.st.Range)
	if err != nil {
		return fmt.Errorf("%s: compact range: %w", f.path, err)
	}
	var leaves [][]byte
	for start := f.st.Size; start < cp.Size; {
		end := min(cp.Size, start+maxFollowBatch)
		batch, err := src.Entries(ctx, start, end)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return fmt.Errorf("log entries %d..%d: empty answer", start, end)
		}
		for _, l := range batch {
			if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
				return err
			}
		}
		leaves = append(leaves, batch...)
		start += uint64(len(batch))
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if rng.End() > 0 {
		if root, err = rng.GetRootHash(nil); err != nil {
			return err
		}
	}
	if rng.End() != cp.Size || !bytes.Equal(root, cp.Root[:]) {
		f.splits.Inc()
		f.st.SplitView = fmt.Sprintf("checkpoint of size %d does not extend the one held (size %d); held:\n%s\nnew:\n%s", cp.Size, f.st.Size, f.st.Checkpoint, raw)
		if err := f.save(); err != nil {
			f.log.Error("registry log: saving the split view", "err", err)
		}
		return &translog.SplitViewError{A: []byte(f.st.Checkpoint), B: raw}
	}
	var newly, released []string
	for i, l := range leaves {
		e, err := translog.ParseEntry(l)
		if err != nil {
			// A signed log carries it: keep following, but say so.
			f.log.Error("registry log: entry not understood", "index", f.st.Size+uint64(i), "err", err)
			continue
		}
		if f.apply(e) {
			newly = append(newly, e.Zone)
		}
		if e.Kind == translog.KindRelease {
			released = append(released, zone.CanonicalName(e.Zone))
		}
		f.applied.Inc()
	}
	f.st.Size, f.st.Range, f.st.Checkpoint = cp.Size, rng.Hashes(), string(raw)
	if err := f.save(); err != nil {
		return err
	}
	return f.publish(newly, released)
}

// apply applies one entry to the state; it reports whether the entry
// newly suspended its zone.
func (f *follower) apply(e translog.Entry) bool {
	z := zone.CanonicalName(e.Zone)
	switch e.Kind {
	case translog.KindRegistration:
		f.st.Anchors[z] = e.OwnerKey
		f.st.Groups[z] = e.Group
		delete(f.st.Previous, z)
	case translog.KindOwnerKeyChange:
		f.keepPrevious(z, f.st.Anchors[z], e.OwnerKey, e.Time)
		f.st.Anchors[z] = e.OwnerKey
	case translog.KindRelease:
		delete(f.st.Previous, z)
		delete(f.st.Anchors, z)
		delete(f.st.Groups, z)
		delete(f.st.Suspended, z)
	case translog.KindSuspension:
		_, was := f.st.Suspended[z]
		f.st.Suspended[z] = e.Reason
		return !was
	case translog.KindUnsuspension:
		delete(f.st.Suspended, z)
	}
	return false
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
