package client

import (
	"container/list"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/zone"
)

// Cache holds verified answers (Verified) until the smaller
// of their TTL and their signatures' expiry (Verified.TTL, which for
// negative answers follows RFC 2308 §5), evicting the least recently used
// entry when the total size passes its cap. Only answers that passed
// VerifyAnswer go in. It is safe for concurrent use.
//
// Answers of one zone are served at one serial: an answer (Put, or Seen
// for one not stored) verified at a serial above the highest the cache
// has seen for its zone drops the zone's entries of lower serials, so an
// NXDOMAIN or an old positive answer does not outlive a newer version
// of the zone the node has already verified; an answer below that
// serial is not stored. Get does no more work for it (no allocation).
type Cache struct {
	now func() time.Time
	max int // bytes

	mu    sync.Mutex
	size  int
	lru   list.List // of *cacheEntry, most recent first
	m     map[cacheKey]*list.Element
	zones map[string]*zoneEntries // answering zone -> its entries
}

// zoneEntries are the cached answers of one zone, linked through
// cacheEntry.zprev/znext, and the highest serial seen for the zone.
type zoneEntries struct {
	serial uint32
	head   *cacheEntry
}

type cacheKey struct {
	name string
	t    uint16
}

type cacheEntry struct {
	key       cacheKey
	v         *Verified
	size      int
	stored    time.Time
	expires   time.Time
	hits      int
	refreshed bool // a refresh was requested for this entry

	zone         *zoneEntries // the list of v.Zone's entries
	zprev, znext *cacheEntry
}

// DefaultCacheBytes is the default size cap of a Cache.
const DefaultCacheBytes = 64 << 20

// cacheOverhead approximates the bytes an entry costs besides its
// message's wire size (key, entry, decoded records).
const cacheOverhead = 256

// RefreshHits is how many hits make an entry popular: a popular entry in
// the last tenth of its lifetime is handed out once for refresh (Get's
// refresh result), so it is replaced before it expires.
const RefreshHits = 3

// NewCache returns a cache of at most maxBytes (DefaultCacheBytes
// when 0) using the clock now (time.Now when nil).
func NewCache(maxBytes int, now func() time.Time) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{now: now, max: maxBytes, m: make(map[cacheKey]*list.Element), zones: make(map[string]*zoneEntries)}
}

// Put stores v as the answer to (name, t), name canonical. An answer with
// no TTL left, larger than the cap, or of a serial below the highest seen
// for v.Zone is not stored; one above it drops the zone's older entries
// first (as Seen).
func (c *Cache) Put(name string, t uint16, v *Verified) {
	if v == nil || v.TTL <= 0 {
		return
	}
	size := v.Msg.Len() + len(v.Head) + len(v.Proof) + len(name) + cacheOverhead
	if size > c.max {
		return
	}
	now := c.now()
	k := cacheKey{name, t}
	c.mu.Lock()
	defer c.mu.Unlock()
	z := c.seen(v.Zone, v.Serial)
	if z == nil {
		return // older than an answer already verified
	}
	if el := c.m[k]; el != nil {
		c.remove(el)
	}
	e := &cacheEntry{key: k, v: v, size: size, stored: now, expires: now.Add(v.TTL), zone: z}
	e.znext = z.head
	if z.head != nil {
		z.head.zprev = e
	}
	z.head = e
	c.m[k] = c.lru.PushFront(e)
	c.size += size
	for c.size > c.max {
		c.remove(c.lru.Back())
	}
}

// Get returns the answer to (name, t) and how long ago it was stored, or
// ok=false when there is none or it expired. refresh is true once per
// entry when it is popular (RefreshHits) and in the last tenth of its
// lifetime: the caller should fetch and verify it again in the
// background.
func (c *Cache) Get(name string, t uint16) (v *Verified, age time.Duration, refresh, ok bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.m[cacheKey{name, t}]
	if el == nil {
		return nil, 0, false, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.remove(el)
		return nil, 0, false, false
	}
	c.lru.MoveToFront(el)
	e.hits++
	life := e.expires.Sub(e.stored)
	if !e.refreshed && e.hits >= RefreshHits && e.expires.Sub(now) <= life/10 {
		e.refreshed = true
		refresh = true
	}
	return e.v, now.Sub(e.stored), refresh, true
}

// Seen records that an answer of zone origin (canonical) was verified
// at serial, for answers not stored (Put does the same): when serial is
// above the highest the cache has seen for origin, origin's entries,
// all of lower serials, are dropped.
func (c *Cache) Seen(origin string, serial uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if z := c.zones[origin]; z != nil {
		c.seen(origin, serial)
	}
}

// seen raises origin's highest serial to serial, dropping its entries
// when that is a rise, and returns origin's entry list; nil when serial
// is below the highest seen. c.mu is held.
func (c *Cache) seen(origin string, serial uint32) *zoneEntries {
	z := c.zones[origin]
	switch {
	case z == nil:
		z = &zoneEntries{serial: serial}
		c.zones[origin] = z
	case zone.SerialAbove(z.serial, serial):
		return nil
	case zone.SerialAbove(serial, z.serial):
		for z.head != nil {
			c.remove(c.m[z.head.key])
		}
		z.serial = serial
	}
	return z
}

// PurgeZone drops every entry answered by zone origin or a zone below
// it (a zone the registry suspended or released), and forgets the
// serials seen for those zones (one created again may restart lower).
func (c *Cache) PurgeZone(origin string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.m {
		e := el.Value.(*cacheEntry)
		if zone.IsSubDomain(origin, k.name) || (e.v != nil && zone.IsSubDomain(origin, e.v.Zone)) {
			c.remove(el)
		}
	}
	for z := range c.zones {
		if zone.IsSubDomain(origin, z) {
			delete(c.zones, z)
		}
	}
}

// Len returns the number of entries and their total size in bytes.
func (c *Cache) Len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.size
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.m, e.key)
	c.size -= e.size
	if z := e.zone; z != nil {
		if e.zprev != nil {
			e.zprev.znext = e.znext
		} else {
			z.head = e.znext
		}
		if e.znext != nil {
			e.znext.zprev = e.zprev
		}
		e.zone, e.zprev, e.znext = nil, nil, nil
	}
}
