package overlay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// provideTimeout bounds one announcement of one zone in the re-provide
// loop.
const provideTimeout = time.Minute

// ZoneKey returns the DHT key of a zone: a CIDv1 (raw codec) of
// sha256(canonical zone name), the canonical name being lower-case and
// fully qualified ("example.org."). Every member of the zone's group
// provides this key.
func ZoneKey(name string) cid.Cid {
	mh, err := multihash.Sum([]byte(zone.CanonicalName(name)), multihash.SHA2_256, -1)
	if err != nil {
		// SHA2_256 is always registered; Sum fails only for unknown codes.
		panic(fmt.Sprintf("overlay: sha256 multihash: %v", err))
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// Suffixes returns the candidate zones enclosing name, longest first, from
// the canonical name itself down to its top-level label; the root is not a
// candidate. "www.a.example." gives "www.a.example.", "a.example.",
// "example.".
func Suffixes(name string) []string {
	n := zone.CanonicalName(name)
	if n == "." {
		return nil
	}
	var out []string
	for {
		out = append(out, n)
		i := nextLabel(n)
		if i < 0 || n[i:] == "." {
			return out
		}
		n = n[i:]
	}
}

// nextLabel returns the offset of the label after the first one in n, a
// canonical name, honouring escaped dots ("a\.b.example." has first label
// "a\.b"); -1 when n has a single label.
func nextLabel(n string) int {
	for i := 0; i < len(n); i++ {
		switch n[i] {
		case '\\':
			i++ // skip the escaped byte (or the first digit of \DDD)
		case '.':
			if i+1 >= len(n) {
				return -1
			}
			return i + 1
		}
	}
	return -1
}

// providing is the set of zones a Host announces, and the loop that
// re-announces them: every ReprovideInterval after a successful
// announcement, every RetryInterval after a failed one.
type providing struct {
	h    *Host
	mu   sync.Mutex
	due  map[string]time.Time // canonical zone -> next announcement
	wake chan struct{}        // capacity 1: the schedule changed
}

func newProviding(h *Host) *providing {
	return &providing{h: h, due: make(map[string]time.Time), wake: make(chan struct{}, 1)}
}

// Provide adds zone to the zones this host announces and announces it now:
// the local DHT store records this host as a provider at once, and the
// closest peers are told before Provide returns. If that fails (no peer
// reachable yet, ctx done) the error is returned and the zone stays in the
// set: the host retries every RetryInterval until an announcement succeeds,
// then re-provides every ReprovideInterval. After Close it returns
// ErrClosed. Called when the node's group
// takes a zone, and safe to call again for a zone already provided.
func (h *Host) Provide(ctx context.Context, zoneName string) error {
	if h.closed.Load() {
		return ErrClosed
	}
	z := zone.CanonicalName(zoneName)
	h.prov.mu.Lock()
	if _, ok := h.prov.due[z]; !ok {
		h.prov.due[z] = time.Now().Add(h.opts.RetryInterval)
	}
	h.prov.mu.Unlock()
	err := h.announce(ctx, z)
	h.prov.poke()
	return err
}

// StopProviding removes zone from the zones this host announces; it is not
// announced again. Called when a zone is deleted or leaves the group.
//
// What others see: the DHT has no withdrawal, so provider records already
// stored on other peers (and this host's own record in its local provider
// store) remain until they expire, 48 h after the last announcement.
// Routers on this host drop this host from the providers of a zone it no
// longer provides; routers elsewhere may still list it and learn otherwise
// from its RPC answer (then Router.Forget drops their cached route).
func (h *Host) StopProviding(zoneName string) {
	z := zone.CanonicalName(zoneName)
	h.prov.mu.Lock()
	delete(h.prov.due, z)
	h.prov.mu.Unlock()
	h.prov.poke()
}

// Provides reports whether this host currently announces zone.
func (h *Host) Provides(zoneName string) bool {
	z := zone.CanonicalName(zoneName)
	h.prov.mu.Lock()
	defer h.prov.mu.Unlock()
	_, ok := h.prov.due[z]
	return ok
}

// Providing returns the zones this host announces, sorted.
func (h *Host) Providing() []string {
	h.prov.mu.Lock()
	defer h.prov.mu.Unlock()
	out := make([]string, 0, len(h.prov.due))
	for z := range h.prov.due {
		out = append(out, z)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}

// announce tells the DHT that this host provides z and schedules the next
// announcement: after ReprovideInterval on success, RetryInterval on
// failure. A zone removed meanwhile stays removed.
func (h *Host) announce(ctx context.Context, z string) error {
	err := h.dht.Provide(ctx, ZoneKey(z), true)
	next := time.Now().Add(h.opts.ReprovideInterval)
	if err != nil {
		next = time.Now().Add(h.opts.RetryInterval)
		err = fmt.Errorf("overlay: provide %s: %w", z, err)
	}
	h.prov.mu.Lock()
	if _, ok := h.prov.due[z]; ok {
		h.prov.due[z] = next
	}
	h.prov.mu.Unlock()
	return err
}

func (p *providing) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run is the re-provide loop, owned by the Host: it sleeps until the
// earliest announcement is due (or the set changes), announces every zone
// that is due, and returns when ctx is done.
func (p *providing) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		due, wait := p.next()
		for _, z := range due {
			actx, cancel := context.WithTimeout(ctx, provideTimeout)
			if err := p.h.announce(actx, z); err != nil && ctx.Err() == nil {
				p.h.log.Warn("re-provide failed; will retry", "zone", z, "err", err)
			}
			cancel()
			if ctx.Err() != nil {
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			t.Stop() // Go 1.23+ timers: no stale value after Stop
		case <-t.C:
		}
	}
}

// next returns the zones due now, or, when none is, how long until the
// earliest one is (an hour when the set is empty).
func (p *providing) next() ([]string, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var due []string
	wait := time.Hour
	for z, at := range p.due {
		if d := at.Sub(now); d <= 0 {
			due = append(due, z)
		} else if d < wait {
			wait = d
		}
	}
	slices.SortFunc(due, strings.Compare)
	return due, wait
}

// canonical is zone.CanonicalName, named for use in this package's maps.
func canonical(name string) string { return zone.CanonicalName(name) }
