package ports

import (
	"errors"
	"net"
	"reflect"
	"strconv"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Range
		err  bool
	}{
		{"32768\t60999\n", Range{32768, 60999}, false},
		{"1024 65535", Range{1024, 65535}, false},
		{"60999 32768", Range{}, true},
		{"32768", Range{}, true},
		{"a b", Range{}, true},
		{"0 100", Range{}, true},
		{"1 70000", Range{}, true},
		{"", Range{}, true},
	} {
		got, err := ParseRange(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseRange(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrBadRange) {
			t.Errorf("ParseRange(%q) error %v is not ErrBadRange", tt.in, err)
		}
	}
}

func TestOutside(t *testing.T) {
	for _, tt := range []struct {
		eph  Range
		want []Range
	}{
		{Range{32768, 60999}, []Range{{10000, 32767}, {61000, 65535}}},
		{Range{1024, 65535}, nil},
		{Range{5000, 20000}, []Range{{20001, 65535}}},
		{Range{40000, 65535}, []Range{{10000, 39999}}},
	} {
		if got := Outside(tt.eph); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Outside(%v) = %v, want %v", tt.eph, got, tt.want)
		}
	}
}

// TestFree: the port is outside the ephemeral range and both TCP and
// UDP can bind it right after.
func TestFree(t *testing.T) {
	eph := Ephemeral()
	for range 20 {
		p, err := Free("127.0.0.1", true)
		if err != nil {
			t.Fatal(err)
		}
		if p >= eph.Lo && p <= eph.Hi {
			t.Fatalf("Free = %d, inside the ephemeral range %v", p, eph)
		}
		if p < minPort {
			t.Fatalf("Free = %d, below %d", p, minPort)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not free for TCP: %v", p, err)
		}
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			l.Close()
			t.Fatalf("port %d not free for UDP: %v", p, err)
		}
		l.Close()
		u.Close()
	}
}

// TestFreeTaken: a range whose only port is held yields an error, and
// with no range left the kernel's choice is used.
func TestFreeTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	held := l.Addr().(*net.TCPAddr).Port
	if p, err := freePort("127.0.0.1", false, []Range{{held, held}}); err == nil {
		t.Errorf("freePort over the held port %d = %d, want an error", held, p)
	}
	p, err := freePort("127.0.0.1", false, nil)
	if err != nil || p == 0 {
		t.Errorf("freePort with no range = %d, %v; want a kernel-picked port", p, err)
	}
}

// TestFreeDistinct: ports returned within a process are never the same,
// even while nothing binds them.
func TestFreeDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p, err := Free("127.0.0.1", false)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("Free returned %d twice", p)
		}
		seen[p] = true
	}
}
