package api

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// maxBuckets bounds a limiter's memory: past it, buckets that have refilled
// (their state equals a new bucket's) are dropped.
const maxBuckets = 10000

// bucket is one token bucket: tokens refill at rate per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
	rate   float64 // tokens per second
	burst  float64
}

// decision is the outcome of one take: allowed or not, and the figures the
// RateLimit headers carry.
type decision struct {
	ok         bool
	remaining  int
	burst      int
	window     int           // seconds the whole burst takes to refill
	reset      time.Duration // until the bucket is full again
	retryAfter time.Duration // until one token is available (when !ok)
}

// limiter holds token buckets by key (API key id or client IP). Safe for
// concurrent use; it starts no goroutines.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newLimiter() *limiter { return &limiter{buckets: make(map[string]*bucket)} }

// take takes one token from the bucket of id, made with perMinute and
// burst when new (and re-shaped when they changed), at time now.
func (l *limiter) take(id string, perMinute, burst uint32, now time.Time) decision {
	rate := float64(perMinute) / 60
	bf := float64(burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[id]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: bf, last: now, rate: rate, burst: bf}
		l.buckets[id] = b
	}
	if b.rate != rate || b.burst != bf {
		b.rate, b.burst = rate, bf
		b.tokens = min(b.tokens, bf)
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(bf, b.tokens+el*rate)
		b.last = now
	}
	d := decision{burst: int(burst), window: int((bf / rate) + 0.5)}
	if b.tokens >= 1 {
		b.tokens--
		d.ok = true
	} else {
		d.retryAfter = time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	d.remaining = int(b.tokens)
	d.reset = time.Duration((bf - b.tokens) / rate * float64(time.Second))
	return d
}

// sweep drops buckets that are full by now. Called with mu held.
func (l *limiter) sweep(now time.Time) {
	for id, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(l.buckets, id)
		}
	}
}

// setHeaders writes the RateLimit and RateLimit-Policy headers
// (draft-ietf-httpapi-ratelimit-headers-09) of d.
func (d decision) setHeaders(h http.Header) {
	h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, d.burst, d.window))
	h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, d.remaining, int((d.reset+time.Second-1)/time.Second)))
}

// err is the error of a refused take.
func (d decision) err() error { return &RateLimitError{RetryAfter: d.retryAfter} }

// maxQuotaClients bounds a dailyQuota's memory: past it, a client not
// yet counted today is refused (the day's count table is full).
const maxQuotaClients = 100000

// dailyQuota counts, per client key, the applications of the current UTC
// day. Safe for concurrent use; it starts no goroutines.
type dailyQuota struct {
	per    int
	mu     sync.Mutex
	day    int64 // Unix days of counts
	counts map[string]int
}

func newDailyQuota(per int) *dailyQuota {
	return &dailyQuota{per: per, counts: map[string]int{}}
}

// take counts one application of client at now and returns the function
// that gives it back (the submission failed). It returns an error
// wrapping ErrApplicationLimit, with the time until the next UTC day as
// a RateLimitError, when the client has used its quota (or the table is
// full). Client "" (a cluster node's own request) is not counted.
func (q *dailyQuota) take(client string, now time.Time) (release func(), err error) {
	if client == "" {
		return func() {}, nil
	}
	now = now.UTC()
	day := now.Unix() / 86400
	q.mu.Lock()
	defer q.mu.Unlock()
	if day != q.day {
		q.day, q.counts = day, map[string]int{}
	}
	n, known := q.counts[client]
	if n >= q.per || !known && len(q.counts) >= maxQuotaClients {
		wait := time.Unix((day+1)*86400, 0).Sub(now)
		return nil, errors.Join(fmt.Errorf("%w: %d today, the limit %d", ErrApplicationLimit, n, q.per), &RateLimitError{RetryAfter: wait})
	}
	q.counts[client] = n + 1
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.day == day && q.counts[client] > 0 {
			q.counts[client]--
		}
	}, nil
}
