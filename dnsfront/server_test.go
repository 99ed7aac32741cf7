package dnsfront

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// echoResponder answers every query with the query itself, QR set, after
// the delay configured for its question name. It records the transport.
type echoResponder struct {
	delay map[string]time.Duration
	calls atomic.Int32
	// busy is the number of Handle calls running now; most the largest
	// it has been.
	busy, most atomic.Int32
	mu         sync.Mutex
	trs        []Transport
}

func (e *echoResponder) Handle(raw, buf []byte, tr Transport) ([]byte, bool) {
	e.calls.Add(1)
	n := e.busy.Add(1)
	defer e.busy.Add(-1)
	for m := e.most.Load(); n > m && !e.most.CompareAndSwap(m, n); m = e.most.Load() {
	}
	e.mu.Lock()
	e.trs = append(e.trs, tr)
	e.mu.Unlock()
	var m dns.Msg
	if err := m.Unpack(raw); err != nil || m.Response {
		return nil, false
	}
	if len(m.Question) == 1 {
		if d := e.delay[m.Question[0].Name]; d > 0 {
			time.Sleep(d)
		}
		if m.Question[0].Name == "panic." {
			panic("test panic")
		}
	}
	m.Response = true
	out, err := m.PackBuffer(buf[:cap(buf)])
	if err != nil {
		return nil, false
	}
	return out, true
}

func (e *echoResponder) transports() []Transport {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Transport(nil), e.trs...)
}

func query(t testing.TB, id uint16, name string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Id = id
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	return b
}

func frame(b []byte) []byte {
	out := make([]byte, 2, 2+len(b))
	binary.BigEndian.PutUint16(out, uint16(len(b)))
	return append(out, b...)
}

func readFrame(t testing.TB, c net.Conn) *dns.Msg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("read length: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read message: %v", err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("Unpack reply: %v", err)
	}
	return m
}

// waitGoroutines fails the test when the goroutine count does not come
// back to at most base within a second: a server leaked a goroutine.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines = %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startTCP(t *testing.T, h Responder, opt TCPOptions) (*TCPServer, chan error) {
	t.Helper()
	s, err := ListenTCP("127.0.0.1:0", h, opt)
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, done
}

func dialTCP(t *testing.T, s *TCPServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPServer(t *testing.T) {
	base := runtime.NumGoroutine()
	h := &echoResponder{}
	s, err := ListenUDP("127.0.0.1:0", h, UDPOptions{Sockets: 2, Workers: 2})
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	if s.Addr().Port() == 0 {
		t.Fatalf("Addr() = %v, want a bound port", s.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()

	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := new(dns.Msg)
			m.SetQuestion("q.example.", dns.TypeA)
			r, _, err := c.Exchange(m, s.Addr().String())
			if err != nil {
				t.Errorf("Exchange over UDP: %v", err)
				return
			}
			if r.Id != m.Id || !r.Response {
				t.Errorf("reply id %d response %v, want id %d response true", r.Id, r.Response, m.Id)
			}
		}()
	}
	wg.Wait()
	if got := h.calls.Load(); got != 20 {
		t.Errorf("Handle calls = %d, want 20", got)
	}
	for _, tr := range h.transports() {
		if tr != UDP {
			t.Errorf("Handle transport = %v, want UDP", tr)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve() = %v, want ErrServerClosed", err)
	}
	waitGoroutines(t, base)
}

func TestUDPServerSurvivesPanicAndGarbage(t *testing.T) {
	h := &echoResponder{}
	s, err := ListenUDP("127.0.0.1:0", h, UDPOptions{Sockets: 1, Workers: 1})
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve() after cancel = %v, want context.Canceled", err)
		}
	}()
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	c.Write([]byte{1, 2, 3})
	c.Write(query(t, 7, "panic."))
	c.Write(query(t, 8, "ok."))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b := make([]byte, 512)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("Read after garbage and panic: %v", err)
	}
	var m dns.Msg
	if err := m.Unpack(b[:n]); err != nil || m.Id != 8 {
		t.Fatalf("reply = id %d err %v, want id 8", m.Id, err)
	}
}

func TestTCPPipelined(t *testing.T) {
	h := &echoResponder{}
	s, _ := startTCP(t, h, TCPOptions{})
	c := dialTCP(t, s)
	var all []byte
	const n = 50
	for i := 1; i <= n; i++ {
		all = append(all, frame(query(t, uint16(i), "p.example."))...)
	}
	if _, err := c.Write(all); err != nil {
		t.Fatalf("Write: %v", err)
	}
	seen := make(map[uint16]bool)
	for i := 0; i < n; i++ {
		m := readFrame(t, c)
		if seen[m.Id] {
			t.Errorf("reply id %d twice", m.Id)
		}
		seen[m.Id] = true
	}
	if len(seen) != n {
		t.Errorf("got %d distinct replies, want %d", len(seen), n)
	}
	for _, tr := range h.transports() {
		if tr != TCP {
			t.Errorf("Handle transport = %v, want TCP", tr)
		}
	}
}

func TestTCPOutOfOrder(t *testing.T) {
	h := &echoResponder{delay: map[string]time.Duration{"slow.": 300 * time.Millisecond}}
	s, _ := startTCP(t, h, TCPOptions{})
	c := dialTCP(t, s)
	c.Write(append(frame(query(t, 1, "slow.")), frame(query(t, 2, "fast."))...))
	if m := readFrame(t, c); m.Id != 2 {
		t.Errorf("first reply id = %d, want 2 (the fast query answered before the slow one)", m.Id)
	}
	if m := readFrame(t, c); m.Id != 1 {
		t.Errorf("second reply id = %d, want 1", m.Id)
	}
}

func TestTCPMaxInflight(t *testing.T) {
	const d = 100 * time.Millisecond
	h := &echoResponder{delay: map[string]time.Duration{"slow.": d}}
	s, _ := startTCP(t, h, TCPOptions{MaxInflight: 1})
	c := dialTCP(t, s)
	c.Write(append(frame(query(t, 1, "slow.")), append(frame(query(t, 2, "slow.")), frame(query(t, 3, "slow."))...)...))
	for want := uint16(1); want <= 3; want++ {
		if m := readFrame(t, c); m.Id != want {
			t.Errorf("reply id = %d, want %d (one query in flight keeps order)", m.Id, want)
		}
	}
	// The behaviour, not the time it takes: never two at once.
	if most := h.most.Load(); most != 1 {
		t.Errorf("queries answered at once = %d, want 1 (MaxInflight 1)", most)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	s, _ := startTCP(t, &echoResponder{}, TCPOptions{IdleTimeout: 150 * time.Millisecond})
	c := dialTCP(t, s)
	c.Write(frame(query(t, 1, "a.")))
	readFrame(t, c)
	// The server's idle timeout closes it (EOF); the test's own 30 s
	// deadline only catches a hang.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read on idle connection = %v, want io.EOF (closed by the 150 ms idle timeout)", err)
	}
}

// At the cap, a new connection closes the longest-idle one; when none is
// idle (every connection has a query in flight), the new one is refused.
func TestTCPMaxConns(t *testing.T) {
	h := &echoResponder{delay: map[string]time.Duration{"slow.": 500 * time.Millisecond}}
	s, _ := startTCP(t, h, TCPOptions{MaxConns: 1})
	c1 := dialTCP(t, s)
	c1.Write(frame(query(t, 1, "slow.")))
	// c1 is busy: c2 is refused (closed without an answer).
	for h.calls.Load() == 0 { // c1's query is being answered
		time.Sleep(time.Millisecond)
	}
	c2 := dialTCP(t, s)
	c2.Write(frame(query(t, 2, "a.")))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection over the cap answered while the other was busy, want it closed")
	}
	readFrame(t, c1) // c1 answered, idle once its query goroutine ends
	for try := 0; ; try++ {
		c3 := dialTCP(t, s)
		c3.Write(frame(query(t, 3, "a.")))
		c3.SetReadDeadline(time.Now().Add(5 * time.Second))
		var hdr [2]byte
		if _, err := io.ReadFull(c3, hdr[:]); err == nil {
			break
		}
		if try == 100 {
			t.Fatal("no third connection served after c1 went idle")
		}
		time.Sleep(10 * time.Millisecond) // c1 was still finishing its answer
	}
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err == nil {
		t.Errorf("idle c1 still open after c3 took its slot, want it closed")
	}
}

func TestTCPCloseWhileBusy(t *testing.T) {
	base := runtime.NumGoroutine()
	h := &echoResponder{delay: map[string]time.Duration{"slow.": 300 * time.Millisecond}}
	s, err := ListenTCP("127.0.0.1:0", h, TCPOptions{})
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer idle.Close()
	c.Write(frame(query(t, 9, "slow.")))
	for h.calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// Close returns (a 30 s bound catches a hang) once the query in
	// flight is answered, and only then.
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30 s of a 300 ms query")
	}
	if h.busy.Load() != 0 {
		t.Errorf("Close returned with a query still being answered")
	}
	if m := readFrame(t, c); m.Id != 9 {
		t.Errorf("reply to in-flight query id = %d, want 9", m.Id)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after Close = %v, want io.EOF", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve() = %v, want ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Errorf("Dial after Close succeeded, want the listener closed")
	}
	c.Close()
	idle.Close()
	waitGoroutines(t, base)
}

func TestTCPShutdownDeadline(t *testing.T) {
	h := &echoResponder{delay: map[string]time.Duration{"slow.": 600 * time.Millisecond}}
	s, _ := startTCP(t, h, TCPOptions{})
	c := dialTCP(t, s)
	c.Write(frame(query(t, 1, "slow.")))
	for h.calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a short deadline = %v, want DeadlineExceeded", err)
	}
}

func TestServeAfterClose(t *testing.T) {
	u, err := ListenUDP("127.0.0.1:0", &echoResponder{}, UDPOptions{})
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	u.Close()
	if err := u.Serve(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("UDP Serve after Close = %v, want ErrServerClosed", err)
	}
	tc, err := ListenTCP("127.0.0.1:0", &echoResponder{}, TCPOptions{})
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	tc.Close()
	if err := tc.Serve(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("TCP Serve after Close = %v, want ErrServerClosed", err)
	}
}
