package netlab

import (
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Link is how the switch treats frames from one port to another. The
// zero Link delivers every frame at once.
type Link struct {
	// Delay holds every frame this long before it is written to the
	// destination port (one way; a round trip through two impaired
	// links costs twice).
	Delay time.Duration
	// Loss is the probability, 0 to 1, that a frame is dropped.
	Loss float64
	// Down drops every frame: a partition in this direction.
	Down bool
}

// ErrFrame is returned by ParseFrame when a frame is too short to hold
// an Ethernet header.
var ErrFrame = errors.New("netlab: frame shorter than an Ethernet header")

// MAC is an Ethernet address.
type MAC [6]byte

// Broadcast reports whether m is a group (broadcast or multicast)
// address: the switch floods such frames.
func (m MAC) Broadcast() bool { return m[0]&1 == 1 }

// ParseFrame returns the destination and source addresses of an
// Ethernet frame read from a TAP device.
func ParseFrame(b []byte) (dst, src MAC, err error) {
	if len(b) < 14 {
		return dst, src, ErrFrame
	}
	copy(dst[:], b[0:6])
	copy(src[:], b[6:12])
	return dst, src, nil
}

// pair is a direction between two ports.
type pair struct{ from, to int }

// frame is a frame waiting in a pipe until due.
type frame struct {
	b   []byte
	due time.Time
}

// Switch is a learning Ethernet switch in user space between TAP
// devices, one port each, that delays and drops frames per direction.
// The kernel network stacks of the namespaces behind the ports are real;
// only the wire between them is emulated. Each port has one reading
// goroutine; each direction with traffic one writing goroutine (a pipe),
// so frames of one direction keep their order and a delayed direction
// does not hold up the others. Close stops them all and waits.
type Switch struct {
	mu    sync.Mutex
	ports []*os.File
	macs  map[MAC]int
	links map[pair]Link
	pipes map[pair]chan frame
	rnd   *rand.Rand
	stats map[pair]*Counts

	closed chan struct{}
	wg     sync.WaitGroup
}

// Counts are what crossed one direction of the switch.
type Counts struct {
	Forwarded, Dropped, Overflow int
}

// pipeLen is how many frames a direction holds before it drops (a full
// queue on a slow link).
const pipeLen = 8192

func newSwitch() *Switch {
	return &Switch{macs: map[MAC]int{}, links: map[pair]Link{}, pipes: map[pair]chan frame{},
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), stats: map[pair]*Counts{}, closed: make(chan struct{})}
}

// add attaches a TAP device's file as the next port, with the MAC the
// device will use (frames to it go straight to the port), and starts
// reading it.
func (s *Switch) add(f *os.File, mac MAC) int {
	s.mu.Lock()
	p := len(s.ports)
	s.ports = append(s.ports, f)
	s.macs[mac] = p
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.read(p, f)
	}()
	return p
}

// SetLink sets how frames from port from to port to are treated.
func (s *Switch) SetLink(from, to int, l Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l == (Link{}) {
		delete(s.links, pair{from, to})
		return
	}
	s.links[pair{from, to}] = l
}

// Link returns how frames from port from to port to are treated.
func (s *Switch) Link(from, to int) Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[pair{from, to}]
}

// Counts returns what crossed from port from to port to so far.
func (s *Switch) Counts(from, to int) Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.stats[pair{from, to}]; c != nil {
		return *c
	}
	return Counts{}
}

func (s *Switch) read(p int, f *os.File) {
	buf := make([]byte, 1<<16)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return // closed
		}
		dst, src, err := ParseFrame(buf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		s.macs[src] = p
		out, known := s.macs[dst]
		if dst.Broadcast() || !known {
			for q := range s.ports {
				if q != p {
					s.forwardLocked(p, q, buf[:n], now)
				}
			}
		} else if out != p {
			s.forwardLocked(p, out, buf[:n], now)
		}
		s.mu.Unlock()
	}
}

// forwardLocked applies the link from→to to one frame and queues a copy
// on the direction's pipe. s.mu is held.
func (s *Switch) forwardLocked(from, to int, b []byte, now time.Time) {
	k := pair{from, to}
	c := s.stats[k]
	if c == nil {
		c = &Counts{}
		s.stats[k] = c
	}
	l := s.links[k]
	if l.Down || (l.Loss > 0 && s.rnd.Float64() < l.Loss) {
		c.Dropped++
		return
	}
	ch := s.pipes[k]
	if ch == nil {
		ch = make(chan frame, pipeLen)
		s.pipes[k] = ch
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.pipe(ch, s.ports[to])
		}()
	}
	select {
	case ch <- frame{b: append([]byte(nil), b...), due: now.Add(l.Delay)}:
		c.Forwarded++
	default:
		c.Overflow++
	}
}

// pipe writes one direction's frames to the destination port when due.
func (s *Switch) pipe(ch chan frame, out *os.File) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var f frame
		select {
		case <-s.closed:
			return
		case f = <-ch:
		}
		if d := time.Until(f.due); d > 0 {
			t.Reset(d)
			select {
			case <-s.closed:
				return
			case <-t.C:
			}
		}
		out.Write(f.b) // a port gone down just loses the frame, as a wire would
	}
}

// Close stops the switch, closes its ports (the TAP devices vanish with
// their last file) and waits for its goroutines.
func (s *Switch) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return
	default:
	}
	close(s.closed)
	for _, f := range s.ports {
		f.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
