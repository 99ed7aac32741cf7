// Package logfollow follows the registry's transparency log for a node:
// it polls the log (a registry member reads its own replica, ReplicaLog;
// others ask the registry's URLs), verifies each checkpoint against the
// one held and applies the new entries to a client.LogState, kept in
// data_dir/follow.json so a node restarted while the registry is down
// keeps its anchors and suspensions. After every step it hands what it
// knows (owner keys as trust anchors, previous keys within their
// rotation grace, the group of each zone, suspensions, releases) to its
// Sink; the node passes them on to the overlay's client.Verifier and to
// dnsfront. A split view (two checkpoints that cannot both be true) is
// logged, counted, remembered and stops following.
//
// docs/architecture.md, "Packages" and "Files a node keeps", says where
// it sits.
package logfollow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// File is the follower's state in the data directory.
const File = "follow.json"

// State is what a node knows from the log, as kept in follow.json.
type State = client.LogState

// Previous is a zone's previous owner key in follow.json.
type Previous = client.LogPrevious

// errSplit is what step returns, wrapped, once the log showed two views
// that cannot both be true.
var errSplit = translog.ErrSplitView

// View is what the follower knows after a step, handed to its Sink.
type View struct {
	// Anchors are the owner keys of the claimed zones.
	Anchors client.Anchors
	// Previous are the owner keys before a rotation, within their grace;
	// Dropped is the report to pass with them to
	// client.Verifier.SetPreviousAnchors.
	Previous map[string]client.PreviousAnchor
	Dropped  func(zone string, k *zone.Key)
	// Groups maps each claimed zone to its group (a copy).
	Groups map[string]string
	// Suspended maps each suspended zone to the reason.
	Suspended map[string]string
	// NewlySuspended lists the zones this step suspended.
	NewlySuspended []string
	// Released lists the zones this step released and that are not
	// claimed again; Reclaimed those released and claimed again since
	// (maybe on another group).
	Released, Reclaimed []string
	// Registered lists the zones this step registered: a name of one
	// may be routed as no zone (asked before its group provided it).
	Registered []string
	// Peers maps the overlay peer ids the node directory admitted (the
	// log's node-admission entries) to their node (a copy); nil while not
	// known (a follow.json of version 1 or 2 before the next poll
	// rebuilds them), when the admitted set must be left as it was.
	Peers map[string]client.LogPeer
	// Revoked maps the serial numbers of the certificates the registry
	// revoked to their revocation (a copy); nil while not known, as Peers.
	Revoked map[string]client.LogRevoked
	// Removed maps the node ids the registry removed from its directory
	// to their removal (a copy); nil while not known, as Peers.
	Removed map[string]client.LogRemoved
}

// Sink takes what the follower learns. Learn is called by New and then
// on the Run goroutine after each step that applied entries; it must not
// block on the follower.
type Sink interface {
	Learn(View)
}

// Options configure a Follower.
type Options struct {
	// LogVerifier is the log's note verifier key ([registry] log_verifier).
	LogVerifier string
	// LogOrigin is the origin line of the log's checkpoints.
	LogOrigin string
	// Dir is the data directory; the state is kept in Dir/follow.json.
	Dir string
	// Grace is how long a previous owner key stays an anchor after the
	// key change's log entry ([registry] rotation_grace).
	Grace time.Duration
	// Sources are asked in turn until one gives a usable checkpoint.
	Sources []translog.Source
	// HTTP is the client of the HTTP sources, its idle connections
	// closed when Run returns; nil when there are none.
	HTTP *http.Client
	// Sink receives the view (required).
	Sink Sink
	// Registerer takes the follower's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now is the clock the grace is measured by; nil: time.Now in UTC,
	// to the second.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Follower follows the log. Run owns its loop on one goroutine; Sync,
// Nudge, RefreshAnchors and PreviousTo may be called from any goroutine.
type Follower struct {
	sink     Sink
	log      *slog.Logger
	now      func() time.Time
	verifier note.Verifier
	origin   string
	path     string
	sources  []translog.Source
	hc       *http.Client
	splits   prometheus.Counter
	applied  prometheus.Counter
	size     prometheus.Gauge   // the verified tree size
	lastOK   prometheus.Gauge   // Unix time of the last poll that verified a checkpoint
	misses   prometheus.Counter // polls on an anchor miss (anchor_miss.go)
	admitted prometheus.Gauge   // overlay peers the directory admits

	st    State // owned by the loop goroutine after New
	grace time.Duration

	previous atomic.Pointer[map[string]client.PreviousAnchor] // as last published
	refresh  anchorRefresh                                    // RefreshAnchors's (anchor_miss.go)

	dropMu sync.Mutex
	drops  map[string]string // zone -> previous key the Verifier dropped, for the loop
	kick   chan chan error
	poke   chan struct{} // a poll soon, not waited for (buffered 1)
}

// New loads the saved state and hands its view to the sink at once
// (before DNS serves). Errors: a bad LogVerifier, an unreadable or
// unknown-version follow.json, a metric already registered otherwise.
func New(o Options) (*Follower, error) {
	if o.Sink == nil {
		return nil, errors.New("logfollow: no Sink")
	}
	v, err := translog.NewVerifier(o.LogVerifier)
	if err != nil {
		return nil, fmt.Errorf("registry.log_verifier: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = func() time.Time { return wallclock.Now().UTC().Truncate(time.Second) }
	}
	f := &Follower{
		sink:     o.Sink,
		log:      log,
		now:      now,
		verifier: v,
		origin:   o.LogOrigin,
		path:     filepath.Join(o.Dir, File),
		sources:  o.Sources,
		hc:       o.HTTP,
		kick:     make(chan chan error),
		refresh:  anchorRefresh{token: make(chan struct{}, 1)},
		poke:     make(chan struct{}, 1),
		grace:    o.Grace,
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
		admitted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ddnrs_overlay_admitted_peers",
			Help: "Overlay peers the registry's node directory admits, as this node read the log (with [overlay] admit = directory, the only peers it accepts).",
		}),
	}
	st, err := LoadState(f.path)
	if err != nil {
		return nil, err
	}
	f.st = st
	f.publish(nil, nil, nil)
	f.size.Set(float64(st.Size))
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{f.splits, f.applied, f.size, f.lastOK, f.misses, f.admitted} {
			if err := o.Registerer.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, err
				}
			}
		}
	}
	if st.SplitView != "" {
		f.log.Error("registry log: not following, a split view was seen earlier", "detail", st.SplitView, "state", f.path)
	}
	return f, nil
}

// LoadState reads a follow.json; a missing file is an empty state.
func LoadState(path string) (State, error) {
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

// Path is the follower's follow.json.
func (f *Follower) Path() string { return f.path }

// save writes the state atomically.
func (f *Follower) save() error {
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

// publish hands the view to the sink.
func (f *Follower) publish(newlySuspended, released, registered []string) {
	anchors := f.st.TrustAnchors(func(z string, err error) {
		f.log.Warn("registry log: owner key not usable as a trust anchor", "zone", z, "err", err)
	})
	previous := f.st.PreviousAnchors()
	groups := make(map[string]string, len(f.st.Groups))
	for z, g := range f.st.Groups {
		groups[z] = g
	}
	f.previous.Store(&previous)
	v := View{
		Anchors: anchors, Previous: previous, Dropped: f.droppedPrevious,
		Groups: groups, Suspended: f.st.Suspended, NewlySuspended: newlySuspended,
		Registered: registered,
	}
	if f.st.Peers != nil {
		v.Peers = maps.Clone(f.st.Peers)
		f.admitted.Set(float64(len(v.Peers)))
	}
	if f.st.Removed != nil {
		v.Removed = maps.Clone(f.st.Removed)
	}
	if f.st.Revoked != nil {
		v.Revoked = maps.Clone(f.st.Revoked)
	}
	for _, z := range released {
		if _, again := f.st.Groups[z]; again {
			v.Reclaimed = append(v.Reclaimed, z)
		} else {
			v.Released = append(v.Released, z)
		}
	}
	f.sink.Learn(v)
}

// Run polls the log every interval, and when Sync or Nudge ask, until
// ctx ends. After a split view it only answers Sync (with the split
// view) until ctx ends.
func (f *Follower) Run(ctx context.Context, interval time.Duration) {
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
		if errors.Is(err, errSplit) {
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

// Nudge asks the loop to poll soon, without waiting.
func (f *Follower) Nudge() {
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// Sync asks the loop to poll now and waits for the outcome: nil when a
// source gave a checkpoint and its entries were applied, a
// translog.ErrSplitView, the sources' errors joined, or ctx's error
// (also when Run is not running).
func (f *Follower) Sync(ctx context.Context) error {
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
func (f *Follower) step(ctx context.Context) error {
	if f.st.SplitView != "" {
		return fmt.Errorf("%w: %s", errSplit, f.st.SplitView)
	}
	if f.forgetPrevious() {
		if err := f.save(); err != nil {
			return err
		}
	}
	var errs []error
	for _, src := range f.sources {
		err := f.stepFrom(ctx, src)
		if err == nil || errors.Is(err, errSplit) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f *Follower) stepFrom(ctx context.Context, src translog.Source) error {
	from := f.st.Size
	leaves, err := f.st.Extend(ctx, src, f.verifier, f.origin)
	if errors.Is(err, errSplit) {
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
	now := f.now()
	for i, l := range leaves {
		e, err := translog.ParseEntry(l)
		if err != nil {
			// A signed log carries it: keep following, but say so.
			f.log.Error("registry log: entry not understood", "index", from+uint64(i), "err", err)
			continue
		}
		if f.st.ApplyAt(from+uint64(i), e, now, f.grace) {
			newly = append(newly, e.Zone)
		}
		switch e.Kind {
		case translog.KindRelease:
			released = append(released, zone.CanonicalName(e.Zone))
		case translog.KindRegistration, translog.KindZoneMove:
			// A moved zone's cached route names its old group too.
			registered = append(registered, zone.CanonicalName(e.Zone))
		}
		f.applied.Inc()
	}
	if err := f.save(); err != nil {
		return err
	}
	f.publish(newly, released, registered)
	f.size.Set(float64(f.st.Size))
	f.lastOK.SetToCurrentTime()
	return nil
}

// droppedPrevious is the Verifier's report that it dropped z's previous
// key k; the loop forgets it at its next step (forgetPrevious).
func (f *Follower) droppedPrevious(z string, k *zone.Key) {
	f.dropMu.Lock()
	if f.drops == nil {
		f.drops = map[string]string{}
	}
	f.drops[z] = k.DNSKEY.PublicKey
	f.dropMu.Unlock()
	f.Nudge()
}

// forgetPrevious removes from the state the previous keys the Verifier
// dropped and those past their grace period; it reports whether it
// removed any. Loop goroutine only.
func (f *Follower) forgetPrevious() bool {
	f.dropMu.Lock()
	drops := f.drops
	f.drops = nil
	f.dropMu.Unlock()
	now, changed := f.now(), false
	for z, p := range f.st.Previous {
		k := client.ParseOwnerKey(p.Key)
		if k == nil || !now.Before(p.Until) || drops[z] == k.PublicKey {
			delete(f.st.Previous, z)
			changed = true
			f.log.Info("previous owner key dropped", "zone", z, "key_tag", keyTag(k), "rotated", drops[z] != "")
		}
	}
	return changed
}

func keyTag(k *dns.DNSKEY) uint16 {
	if k == nil {
		return 0
	}
	return k.KeyTag()
}

// PreviousTo hands the previous keys last published to v (a Verifier
// made after the follower loaded its state).
func (f *Follower) PreviousTo(v *client.Verifier) {
	if p := f.previous.Load(); p != nil {
		v.SetPreviousAnchors(*p, f.droppedPrevious)
	}
}
