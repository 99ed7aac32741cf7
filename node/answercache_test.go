package node

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

func TestAnswerCacheExpiry(t *testing.T) {
	clk := &fakeClock{time.Unix(1e9, 0)}
	c := NewAnswerCache(0, clk.now)
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

func TestAnswerCacheSizeCap(t *testing.T) {
	clk := &fakeClock{time.Unix(1e9, 0)}
	one := verifiedFor(t, "x0.example.", dns.TypeA, time.Hour)
	per := one.Msg.Len() + len("x0.example.") + cacheOverhead
	c := NewAnswerCache(3*per, clk.now)
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

func TestAnswerCacheRefresh(t *testing.T) {
	start := time.Unix(1e9, 0)
	clk := &fakeClock{start}
	c := NewAnswerCache(0, clk.now)
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
