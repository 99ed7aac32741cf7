package api

import (
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
