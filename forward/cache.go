package forward

// cache.go: upstream answers kept until their TTL runs out (RFC 1035
// §7.4, negative answers as RFC 2308 §5), bounded in entries with the
// least recently used dropped first. miekg/dns has no cache and none of
// the libraries we may use has a DNS-aware one, so it is this small LRU.

import (
	"container/list"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// MaxCacheTTL bounds how long any answer is kept, whatever its TTL.
const MaxCacheTTL = 24 * time.Hour

type cacheKey struct {
	name   string // lower case
	qtype  uint16
	qclass uint16
	cd, rd bool
}

type cacheEntry struct {
	key     cacheKey
	msg     *dns.Msg
	stored  time.Time
	expires time.Time
}

// cache is safe for concurrent use.
type cache struct {
	max int
	now func() time.Time

	mu  sync.Mutex
	lru *list.List // of *cacheEntry, most recent first
	m   map[cacheKey]*list.Element
}

func newCache(max int, now func() time.Time) *cache {
	return &cache{max: max, now: now, lru: list.New(), m: make(map[cacheKey]*list.Element)}
}

func keyOf(q *dns.Msg) cacheKey {
	return cacheKey{name: strings.ToLower(q.Question[0].Name), qtype: q.Question[0].Qtype, qclass: q.Question[0].Qclass, cd: q.CheckingDisabled, rd: q.RecursionDesired}
}

// get returns a copy of the cached reply to q with its TTLs lowered by
// its age, or nil.
func (c *cache) get(q *dns.Msg) *dns.Msg {
	if c.max <= 0 {
		return nil
	}
	k := keyOf(q)
	now := c.now()
	c.mu.Lock()
	el, ok := c.m[k]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.m, k)
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	c.mu.Unlock()
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// put keeps r, the reply to q, for its TTL; replies that must not be
// kept (truncated, an rcode other than NOERROR or NXDOMAIN, no TTL) are
// not.
func (c *cache) put(q, r *dns.Msg) {
	if c.max <= 0 {
		return
	}
	ttl, ok := replyTTL(r)
	if !ok || ttl <= 0 {
		return
	}
	now := c.now()
	k := keyOf(q)
	e := &cacheEntry{key: k, msg: r.Copy(), stored: now, expires: now.Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// replyTTL is how long r may be kept: the smallest TTL of its answer and
// authority records; for a negative answer (NXDOMAIN, or NOERROR with no
// answer) the SOA's TTL bounded by its MINIMUM (RFC 2308 §5), and not at
// all without a SOA; at most MaxCacheTTL.
func replyTTL(r *dns.Msg) (time.Duration, bool) {
	if r.Truncated || (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError) {
		return 0, false
	}
	min := uint32(MaxCacheTTL / time.Second)
	negative := r.Rcode == dns.RcodeNameError || len(r.Answer) == 0
	soa := false
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			t := rr.Header().Ttl
			if s, ok := rr.(*dns.SOA); ok {
				soa = true
				if negative && s.Minttl < t {
					t = s.Minttl
				}
			}
			if t < min {
				min = t
			}
		}
	}
	if negative && !soa {
		return 0, false
	}
	return time.Duration(min) * time.Second, true
}
