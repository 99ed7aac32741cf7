package node

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/zone"
)

var _ dnsfront.Reader = (*Served)(nil)

func mkZone(t testing.TB, origin string) *zone.Zone {
	t.Helper()
	soa, err := dns.NewRR(origin + " 3600 IN SOA ns.invalid. h.invalid. 1 7200 3600 1209600 300")
	if err != nil {
		t.Fatalf("NewRR: %v", err)
	}
	z, err := zone.New(origin, []dns.RR{soa})
	if err != nil {
		t.Fatalf("zone.New(%q): %v", origin, err)
	}
	return z
}

func TestZonesLookup(t *testing.T) {
	var r Served
	if got := r.Zone("www.example."); got != nil {
		t.Errorf("empty registry Zone(www.example.) = %v, want nil", got.Origin)
	}
	for _, o := range []string{"example.", "sub.example.", "other.org.", `we\.ird.example.`} {
		r.Set(mkZone(t, o))
	}
	tests := []struct {
		name string
		want string // "" for nil
	}{
		{"example.", "example."},
		{"www.example.", "example."},
		{"sub.example.", "sub.example."},
		{"a.b.sub.example.", "sub.example."},
		{"xsub.example.", "example."},
		{"example.com.", ""},
		{"org.", ""},
		{"www.other.org.", "other.org."},
		{`a.we\.ird.example.`, `we\.ird.example.`},
		{"ird.example.", "example."},
		{".", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := ""
		if z := r.Zone(tt.name); z != nil {
			got = z.Origin
		}
		if got != tt.want {
			t.Errorf("Zone(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	r.Set(mkZone(t, "."))
	if z := r.Zone("example.com."); z == nil || z.Origin != "." {
		t.Errorf("Zone(example.com.) with the root hosted = %v, want the root zone", z)
	}
	r.Delete("sub.example.")
	if z := r.Zone("a.sub.example."); z == nil || z.Origin != "example." {
		t.Errorf("Zone(a.sub.example.) after Delete(sub.example.) = %v, want example.", z)
	}
	if got, want := strings.Join(r.Origins(), " "), `. example. we\.ird.example. other.org.`; got != want {
		t.Errorf("Origins() = %q, want %q", got, want)
	}
}

func TestZonesLookupAllocatesNothing(t *testing.T) {
	var r Served
	for i := 0; i < 100; i++ {
		r.Set(mkZone(t, fmt.Sprintf("z%d.example.", i)))
	}
	name := "a.b.c.d.z42.example."
	allocs := testing.AllocsPerRun(1000, func() {
		if r.Zone(name) == nil {
			t.Fatal("Zone returned nil")
		}
		r.Zone("a.b.c.nowhere.")
	})
	if allocs != 0 {
		t.Errorf("Zone allocs per run = %v, want 0", allocs)
	}
}

func TestZonesConcurrentSwap(t *testing.T) {
	var r Served
	a, b := mkZone(t, "example."), mkZone(t, "example.")
	r.Set(a)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if z := r.Zone("www.example."); z != a && z != b {
					t.Errorf("Zone during swaps = %p, want %p or %p", z, a, b)
					return
				}
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		if i%2 == 0 {
			r.Set(b)
		} else {
			r.Set(a)
		}
		r.Set(mkZone(t, fmt.Sprintf("o%d.org.", i%10)))
	}
	close(stop)
	wg.Wait()
}

func BenchmarkZonesLookup(b *testing.B) {
	var r Served
	for i := 0; i < 1000; i++ {
		r.Set(mkZone(b, fmt.Sprintf("z%d.example.", i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Zone("www.deep.name.z500.example.")
	}
}
