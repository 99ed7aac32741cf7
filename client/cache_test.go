package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func verifiedFor(t *testing.T, name string, qt uint16, ttl time.Duration) *Verified {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	return &Verified{Zone: "example.", Msg: m, TTL: ttl}
}

func TestCacheExpiry(t *testing.T) {
	clk := &fakeClock{time.Unix(1e9, 0)}
	c := NewCache(0, clk.now)
	c.Put("a.example.", dns.TypeA, verifiedFor(t, "a.example.", dns.TypeA, 10*time.Second))
	c.Put("n.example.", dns.TypeA, verifiedFor(t, "n.example.", dns.TypeA, 0)) // no TTL: not stored
	cases := []struct {
		after   time.Duration
		name    string
		wantOK  bool
		wantAge time.Duration
	}{
		{0, "a.example.", true, 0},
		{9 * time.Second, "a.example.", true, 9 * time.Second},
		{10 * time.Second, "a.example.", false, 0},
		{0, "n.example.", false, 0},
		{0, "b.example.", false, 0},
	}
	for _, cs := range cases {
		clk.t = time.Unix(1e9, 0).Add(cs.after)
		_, age, _, ok := c.Get(cs.name, dns.TypeA)
		if ok != cs.wantOK || age != cs.wantAge {
			t.Errorf("Get(%q) after %v = age %v ok %v, want %v %v", cs.name, cs.after, age, ok, cs.wantAge, cs.wantOK)
		}
	}
	if n, _ := c.Len(); n != 0 {
		t.Errorf("Len after expiry = %d, want 0", n)
	}
}

func TestCacheSizeCap(t *testing.T) {
	clk := &fakeClock{time.Unix(1e9, 0)}
	one := verifiedFor(t, "x0.example.", dns.TypeA, time.Hour)
	per := one.Msg.Len() + len("x0.example.") + cacheOverhead
	c := NewCache(3*per, clk.now)
	for i := range 5 {
		name := fmt.Sprintf("x%d.example.", i)
		c.Put(name, dns.TypeA, verifiedFor(t, name, dns.TypeA, time.Hour))
		if i == 2 {
			c.Get("x0.example.", dns.TypeA) // x0 becomes the most recent
		}
	}
	n, size := c.Len()
	if n != 3 || size > 3*per {
		t.Errorf("Len = %d entries, %d bytes, want 3 within %d", n, size, 3*per)
	}
	for _, cs := range []struct {
		name string
		want bool
	}{{"x0.example.", true}, {"x1.example.", false}, {"x2.example.", false}, {"x3.example.", true}, {"x4.example.", true}} {
		if _, _, _, ok := c.Get(cs.name, dns.TypeA); ok != cs.want {
			t.Errorf("Get(%q) ok = %v, want %v", cs.name, ok, cs.want)
		}
	}
}

func TestCacheRefresh(t *testing.T) {
	start := time.Unix(1e9, 0)
	clk := &fakeClock{start}
	c := NewCache(0, clk.now)
	c.Put("p.example.", dns.TypeA, verifiedFor(t, "p.example.", dns.TypeA, 100*time.Second))
	var got []bool
	for _, at := range []time.Duration{1, 2, 50, 91, 92, 95} {
		clk.t = start.Add(at * time.Second)
		_, _, refresh, _ := c.Get("p.example.", dns.TypeA)
		got = append(got, refresh)
	}
	want := []bool{false, false, false, true, false, false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("refresh flags = %v, want %v", got, want)
	}
}

// BenchmarkCache measures the hot path: Get of a cached answer
// (hit, expected 0 allocs) and Put of a new answer of the same zone and
// serial, with 1000 entries in the cache.
func BenchmarkCache(b *testing.B) {
	c := NewCache(0, nil)
	names := make([]string, 1000)
	vs := make([]*Verified, len(names))
	for i := range names {
		names[i] = fmt.Sprintf("n%d.example.", i)
		m := new(dns.Msg)
		m.SetQuestion(names[i], dns.TypeA)
		vs[i] = &Verified{Zone: "example.", Serial: 7, Msg: m, TTL: time.Hour}
		c.Put(names[i], dns.TypeA, vs[i])
	}
	b.Run("get-hit", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, _, _, ok := c.Get(names[i%len(names)], dns.TypeA); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			c.Put(names[i%len(names)], dns.TypeA, vs[i%len(vs)])
		}
	})
}

// An answer verified at a higher serial of the zone drops the zone's
// answers of lower serials (an NXDOMAIN at serial 1 does not outlive
// serial 2), keeps other zones', and refuses answers older than it;
// Seen does the same for an answer not stored; PurgeZone forgets the
// serial, so a zone created again may restart lower.
func TestCacheNewerSerial(t *testing.T) {
	clk := &fakeClock{time.Unix(1e9, 0)}
	at := func(name, origin string, serial uint32, rcode int) *Verified {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Rcode = rcode
		return &Verified{Zone: origin, Serial: serial, Msg: m, TTL: time.Hour}
	}
	has := func(c *Cache, name string) bool {
		_, _, _, ok := c.Get(name, dns.TypeA)
		return ok
	}
	type put struct {
		name, zone string
		serial     uint32
	}
	tests := []struct {
		name   string
		puts   []put
		seen   *put // Seen(zone, serial) after the puts
		purge  string
		want   []string // cached afterwards
		absent []string
	}{
		{
			name:   "nxdomain dropped by a newer serial",
			puts:   []put{{"new.example.", "example.", 1}, {"a.other.", "other.", 1}, {"www.example.", "example.", 2}},
			want:   []string{"www.example.", "a.other."},
			absent: []string{"new.example."},
		},
		{
			name:   "same serial kept",
			puts:   []put{{"new.example.", "example.", 2}, {"www.example.", "example.", 2}},
			want:   []string{"new.example.", "www.example."},
			absent: nil,
		},
		{
			name:   "older serial not stored",
			puts:   []put{{"www.example.", "example.", 5}, {"new.example.", "example.", 4}},
			want:   []string{"www.example."},
			absent: []string{"new.example."},
		},
		{
			name:   "serial wraps (RFC 1982)",
			puts:   []put{{"new.example.", "example.", 0xffffffff}, {"www.example.", "example.", 3}},
			want:   []string{"www.example."},
			absent: []string{"new.example."},
		},
		{
			name:   "seen without a put",
			puts:   []put{{"new.example.", "example.", 1}, {"a.other.", "other.", 1}},
			seen:   &put{"", "example.", 2},
			want:   []string{"a.other."},
			absent: []string{"new.example."},
		},
		{
			name:   "purge forgets the serial",
			puts:   []put{{"www.example.", "example.", 9}},
			purge:  "example.",
			seen:   nil,
			want:   nil,
			absent: []string{"www.example."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(0, clk.now)
			for _, p := range tt.puts {
				c.Put(p.name, dns.TypeA, at(p.name, p.zone, p.serial, dns.RcodeNameError))
			}
			if tt.seen != nil {
				c.Seen(tt.seen.zone, tt.seen.serial)
			}
			if tt.purge != "" {
				c.PurgeZone(tt.purge)
				c.Put("low.example.", dns.TypeA, at("low.example.", "example.", 1, dns.RcodeSuccess))
				tt.want = append(tt.want, "low.example.")
			}
			for _, n := range tt.want {
				if !has(c, n) {
					t.Errorf("%s not cached, want it", n)
				}
			}
			for _, n := range tt.absent {
				if has(c, n) {
					t.Errorf("%s cached, want it dropped", n)
				}
			}
			entries, bytes := c.Len()
			if entries != len(tt.want) || (entries == 0) != (bytes == 0) {
				t.Errorf("Len = %d entries, %d bytes; want %d entries", entries, bytes, len(tt.want))
			}
		})
	}
}

// TestCachePurgeZone: a suspension drops the cached answers of the
// zone and of zones below it, and no others.
func TestCachePurgeZone(t *testing.T) {
	c := NewCache(0, nil)
	put := func(name, zoneName string) {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		c.Put(name, dns.TypeA, &Verified{Zone: zoneName, Msg: m, TTL: time.Hour})
	}
	put("www.example.org.", "example.org.")
	put("example.org.", "example.org.")
	put("www.sub.example.org.", "sub.example.org.")
	put("www.example.com.", "example.com.")
	put("www.notexample.org.", "notexample.org.")
	c.PurgeZone("example.org.")
	for _, tt := range []struct {
		name string
		kept bool
	}{
		{"www.example.org.", false}, {"example.org.", false}, {"www.sub.example.org.", false},
		{"www.example.com.", true}, {"www.notexample.org.", true},
	} {
		if _, _, _, ok := c.Get(tt.name, dns.TypeA); ok != tt.kept {
			t.Errorf("after PurgeZone(example.org.): %s cached = %v, want %v", tt.name, ok, tt.kept)
		}
	}
}
