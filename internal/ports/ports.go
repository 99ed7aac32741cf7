// Package ports picks listening ports that stay free: outside the
// kernel's ephemeral range.
//
// A port found by binding port 0 is in the ephemeral range, where any
// process's port-0 bind or outgoing connection may take it while its
// owner is not listening: between a test picking it and a server binding
// it, or while a member whose address is written in its Raft
// configuration is stopped (CI saw a restarted Raft member find its port
// held by another test's listener). Free picks from outside that range,
// so only another explicit choice of the same number can collide, and
// checks the port is free when it returns it.
package ports

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// EphemeralRangeFile is where Linux keeps the ephemeral port range.
const EphemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// minPort is the lowest port FreePort picks: below it sit the well-known
// and many registered service ports.
const minPort = 10000

// Range is an inclusive port range.
type Range struct{ Lo, Hi int }

// Size returns how many ports r holds (0 when empty).
func (r Range) Size() int {
	if r.Hi < r.Lo {
		return 0
	}
	return r.Hi - r.Lo + 1
}

// ErrBadRange is returned by ParseRange when the text is not two ports
// in increasing order.
var ErrBadRange = errors.New("ports: malformed port range")

// ParseRange reads the contents of EphemeralRangeFile: two ports
// separated by white space.
func ParseRange(s string) (Range, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return Range{}, fmt.Errorf("%w: %q", ErrBadRange, s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return Range{}, fmt.Errorf("%w: %q", ErrBadRange, s)
	}
	return Range{lo, hi}, nil
}

// Outside returns the ranges of ports from minPort to 65535 that are not
// in the ephemeral range eph.
func Outside(eph Range) []Range {
	var out []Range
	if r := (Range{minPort, min(eph.Lo-1, 65535)}); r.Size() > 0 {
		out = append(out, r)
	}
	if r := (Range{max(eph.Hi+1, minPort), 65535}); r.Size() > 0 {
		out = append(out, r)
	}
	return out
}

// Ephemeral returns this machine's ephemeral range, or Linux's default
// when it cannot be read.
func Ephemeral() Range {
	def := Range{32768, 60999}
	f, err := os.Open(EphemeralRangeFile)
	if err != nil {
		return def
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return def
	}
	r, err := ParseRange(line)
	if err != nil {
		return def
	}
	return r
}

// Free returns a port on ip that is free for TCP (and for UDP too when
// udpToo) at the time of the call, outside the kernel's ephemeral range.
// When no port outside it is left (a range set to cover nearly every
// port), it returns one the kernel picks.
func Free(ip string, udpToo bool) (int, error) {
	return freePort(ip, udpToo, Outside(Ephemeral()))
}

// handed holds every port this process has returned: a port is free
// until its server binds it, so without this two picks made before the
// first server starts (a cluster's DNS, Raft and admin ports) could return
// the same number.
var handed struct {
	sync.Mutex
	m map[int]bool
}

// take marks port as returned and reports whether it was not before.
func take(port int) bool {
	handed.Lock()
	defer handed.Unlock()
	if handed.m[port] {
		return false
	}
	if handed.m == nil {
		handed.m = make(map[int]bool)
	}
	handed.m[port] = true
	return true
}

func freePort(ip string, udpToo bool, ranges []Range) (int, error) {
	total := 0
	for _, r := range ranges {
		total += r.Size()
	}
	for range 200 {
		port := 0
		if total > 0 {
			n := rand.IntN(total)
			for _, r := range ranges {
				if n < r.Size() {
					port = r.Lo + n
					break
				}
				n -= r.Size()
			}
		}
		got, ok := tryPort(ip, port, udpToo)
		if ok && take(got) {
			return got, nil
		}
	}
	return 0, fmt.Errorf("no free port on %s after 200 tries", ip)
}

// tryPort binds ip:port (port 0: any) for TCP, and for UDP on the same
// port when udpToo, and releases them; it reports the port bound.
func tryPort(ip string, port int, udpToo bool) (int, bool) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return 0, false
	}
	got := l.Addr().(*net.TCPAddr).Port
	defer l.Close()
	if udpToo {
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(got)))
		if err != nil {
			return 0, false
		}
		u.Close()
	}
	return got, true
}
