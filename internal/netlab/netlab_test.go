package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// echo starts a UDP echo server on h (port 7000: the namespace is the
// lab's own, nothing else binds there) and returns its address.
func echo(t *testing.T, l *Lab, h *Host) string {
	t.Helper()
	var pc net.PacketConn
	if err := l.In(h, func() (err error) {
		pc, err = net.ListenPacket("udp4", h.IP+":7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return h.IP + ":7000"
}

// dialFrom opens a UDP socket on h connected to addr.
func dialFrom(t *testing.T, l *Lab, h *Host, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	if err := l.In(h, func() (err error) {
		c, err = net.Dial("udp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one datagram and waits up to wait for its echo.
func roundTrip(c net.Conn, msg string, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	if _, err := c.Write([]byte(msg)); err != nil {
		return 0, err
	}
	c.SetReadDeadline(start.Add(wait))
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		if bytes.Equal(buf[:n], []byte(msg)) {
			return time.Since(start), nil
		}
	}
}

// TestLabLinks drives real UDP between namespaces through the switch:
// every host reaches every other and the client; a delayed link delays
// (the round trip is at least both directions' delay); a link down in
// one direction drops that direction only; a lossy link drops about the
// share it is set to; Heal restores everything.
func TestLabLinks(t *testing.T) {
	Need(t)
	l := New(t, 3)
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	at2 := echo(t, l, h2)
	at1 := echo(t, l, h1)
	from1 := dialFrom(t, l, h1, at2)
	from2 := dialFrom(t, l, h2, at1)
	from3 := dialFrom(t, l, h3, at2)
	fromClient := dialFrom(t, l, l.Client, at2)
	const hang = 5 * time.Second // only catches a hang
	for name, c := range map[string]net.Conn{"h1->h2": from1, "h2->h1": from2, "h3->h2": from3, "client->h2": fromClient} {
		if _, err := roundTrip(c, "hello "+name, hang); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	const delay = 40 * time.Millisecond
	l.Between([]*Host{h1}, []*Host{h2}, Link{Delay: delay})
	rtt, err := roundTrip(from1, "delayed", hang)
	if err != nil {
		t.Fatal(err)
	}
	if rtt < 2*delay {
		t.Errorf("round trip over a %v link each way took %v, want at least %v", delay, rtt, 2*delay)
	}
	undelayed, err := roundTrip(from3, "not delayed", hang)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round trip h1<->h2 with %v each way: %v; h3<->h2 (no delay): %v", delay, rtt, undelayed)

	// Asymmetric: h1 cannot send to h2, h2 can still send to h1.
	l.Heal()
	l.Set(h1, h2, Link{Down: true})
	before := l.Counts(h1, h2).Dropped
	if _, err := roundTrip(from1, "cut", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("h1->h2 with the link down: err %v, want a timeout", err)
	}
	if got := l.Counts(h1, h2).Dropped; got <= before {
		t.Errorf("switch dropped %d frames h1->h2 with the link down, want more than %d", got, before)
	}
	if _, err := roundTrip(from2, "other way", 300*time.Millisecond); !isTimeout(err) {
		// h2's query reaches h1, but h1's echo goes h1->h2: cut.
		t.Errorf("h2->h1 round trip with h1->h2 down: err %v, want a timeout (the reply is cut)", err)
	}
	if got := l.Counts(h2, h1).Forwarded; got == 0 {
		t.Errorf("switch forwarded no frame h2->h1 with only h1->h2 down")
	}

	// Loss: half of h3's datagrams to h2 are dropped (and the echoes come
	// back whole).
	l.Heal()
	l.Set(h3, h2, Link{Loss: 0.5})
	const n = 400
	for i := 0; i < n; i++ {
		if _, err := from3.Write([]byte(fmt.Sprint("loss ", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // within the echo server's socket buffer
	}
	got := 0
	buf := make([]byte, 2048)
	for {
		from3.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := from3.Read(buf); err != nil {
			break
		}
		got++
	}
	// Mean 200, standard deviation 10: the bounds are 10 deviations out.
	if got < 100 || got > 300 {
		t.Errorf("%d of %d datagrams crossed a 50%% lossy link, want about half", got, n)
	}
	t.Logf("50%% loss: %d of %d datagrams echoed", got, n)

	l.Heal()
	if _, err := roundTrip(from1, "healed", hang); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestPartitionSides: Partition cuts between sides and keeps links
// within a side and to the client.
func TestPartitionSides(t *testing.T) {
	Need(t)
	l := New(t, 3)
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	l.Partition([]*Host{h1, h2}, []*Host{h3})
	tests := []struct {
		from, to *Host
		down     bool
	}{
		{h1, h2, false}, {h2, h1, false}, {h1, h3, true}, {h3, h1, true}, {h2, h3, true}, {h3, h2, true},
		{l.Client, h3, false}, {h3, l.Client, false},
	}
	for _, tt := range tests {
		if got := l.Switch.Link(tt.from.port, tt.to.port).Down; got != tt.down {
			t.Errorf("link %s->%s down = %v, want %v", tt.from.IP, tt.to.IP, got, tt.down)
		}
	}
}

func TestParseFrame(t *testing.T) {
	f := []byte{1, 0, 0x5e, 0, 0, 1, 2, 0x4e, 0x4c, 1, 0, 3, 8, 0}
	dst, src, err := ParseFrame(f)
	if err != nil || !dst.Broadcast() || src != (MAC{2, 0x4e, 0x4c, 1, 0, 3}) || src.Broadcast() {
		t.Errorf("ParseFrame = %v %v %v", dst, src, err)
	}
	if _, _, err := ParseFrame(f[:13]); !errors.Is(err, ErrFrame) {
		t.Errorf("ParseFrame(13 bytes) err = %v, want ErrFrame", err)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{1, 0, 0x5e, 0, 0, 1, 2, 0x4e, 0x4c, 1, 0, 3, 8, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dst, src, err := ParseFrame(b)
		if (err != nil) != (len(b) < 14) {
			t.Fatalf("ParseFrame(%d bytes) err = %v", len(b), err)
		}
		if err == nil && (!bytes.Equal(dst[:], b[:6]) || !bytes.Equal(src[:], b[6:12])) {
			t.Fatalf("ParseFrame(%x) = %v %v", b, dst, src)
		}
	})
}

// TestSlowDisk: every fsync through a SlowDisk takes at least its delay,
// and what is written reaches the backing directory.
func TestSlowDisk(t *testing.T) {
	Need(t)
	dir, backing := t.TempDir()+"/mnt", t.TempDir()
	d := MountSlowDisk(t, dir, backing)
	const delay = 50 * time.Millisecond
	d.SetDelay(delay)
	f, err := os.Create(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("durable")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("fsync on a disk slowed by %v took %v", delay, took)
	} else {
		t.Logf("fsync with %v added: %v", delay, took)
	}
	if d.Syncs() == 0 {
		t.Error("Syncs() = 0 after an fsync")
	}
	if b, err := os.ReadFile(backing + "/f"); err != nil || string(b) != "durable" {
		t.Errorf("backing file = %q, %v", b, err)
	}
}
