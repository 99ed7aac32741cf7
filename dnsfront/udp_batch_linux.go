//go:build linux

package dnsfront

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched UDP I/O: one recvmmsg(2) takes every datagram waiting on the
// socket (up to the batch), and one sendmmsg(2) sends their replies, so
// the per-datagram system call and netpoller costs are paid once per
// batch when the server is busy. A quiet server gets batches of one:
// recvmmsg on a non-blocking socket returns what is there, never waits
// for more. Nothing is allocated per datagram: the headers, the
// addresses, the buffers are the worker's. The handler, the cookie and
// RRL checks are those of the one-at-a-time path (send's prepare), so
// the replies are byte for byte the same (TestUDPBatchRepliesMatch).

// batchSupported: this platform has recvmmsg/sendmmsg.
const batchSupported = true

// mmsghdr is struct mmsghdr of <sys/socket.h>; Go pads it as C does
// (64 octets on 64-bit platforms, 32 on 32-bit ones).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpBatch is one worker's state: a slot per datagram of a batch.
type udpBatch struct {
	rc    syscall.RawConn
	recv  []mmsghdr
	send  []mmsghdr
	iovIn []unix.Iovec
	iovOu []unix.Iovec
	names []unix.RawSockaddrInet6 // the sender of slot i, as the kernel gave it
	in    [][]byte
	out   [][]byte
	slip  [][512]byte
	// from[i] is names[i] parsed.
	from []netip.AddrPort
	// received and queued count the filled slots of the current batch.
	received int
	queued   int
	// recvFn and sendFn are the RawConn callbacks, made once.
	recvFn func(fd uintptr) bool
	sendFn func(fd uintptr) bool
	errno  syscall.Errno
	done   int
	sendAt int
}

func newUDPBatch(c *net.UDPConn, size int) (*udpBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &udpBatch{
		rc:    rc,
		recv:  make([]mmsghdr, size),
		send:  make([]mmsghdr, size),
		iovIn: make([]unix.Iovec, size),
		iovOu: make([]unix.Iovec, size),
		names: make([]unix.RawSockaddrInet6, size),
		in:    make([][]byte, size),
		out:   make([][]byte, size),
		slip:  make([][512]byte, size),
		from:  make([]netip.AddrPort, size),
	}
	arena := make([]byte, size*maxMsg)
	for i := range size {
		b.in[i] = arena[i*maxMsg : (i+1)*maxMsg : (i+1)*maxMsg]
		b.out[i] = make([]byte, 0, 4096)
	}
	b.recvFn = func(fd uintptr) bool {
		b.received, b.errno = recvmmsg(fd, b.recv)
		return b.errno != unix.EAGAIN
	}
	b.sendFn = func(fd uintptr) bool {
		n, errno := sendmmsg(fd, b.send[b.sendAt:b.queued])
		if errno == unix.EAGAIN {
			return false
		}
		b.done, b.errno = n, errno
		return true
	}
	return b, nil
}

// read waits for at least one datagram and fills slots 0..received-1.
// It returns net.ErrClosed (wrapped) once the socket is closed.
func (b *udpBatch) read() error {
	for i := range b.recv {
		b.iovIn[i].Base = &b.in[i][0]
		b.iovIn[i].SetLen(len(b.in[i]))
		h := &b.recv[i].hdr
		*h = unix.Msghdr{}
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &b.iovIn[i]
		h.Iovlen = 1
		b.recv[i].n = 0
	}
	b.received, b.errno = 0, 0
	if err := b.rc.Read(b.recvFn); err != nil {
		return err
	}
	if b.errno != 0 {
		return b.errno
	}
	for i := 0; i < b.received; i++ {
		b.from[i] = sockaddrPort(&b.names[i], b.recv[i].hdr.Namelen)
	}
	b.queued = 0
	return nil
}

// datagram returns slot i's query (a datagram longer than the buffer, which
// the kernel flagged MSG_TRUNC, is cut as recvfrom would cut it).
func (b *udpBatch) datagram(i int) []byte {
	n := int(b.recv[i].n)
	if n > len(b.in[i]) {
		n = len(b.in[i])
	}
	return b.in[i][:n]
}

// queue adds the reply to slot i's sender to the batch to send.
func (b *udpBatch) queue(i int, reply []byte) {
	if len(reply) == 0 {
		return
	}
	j := b.queued
	b.iovOu[j].Base = &reply[0]
	b.iovOu[j].SetLen(len(reply))
	h := &b.send[j].hdr
	*h = unix.Msghdr{}
	h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	h.Namelen = b.recv[i].hdr.Namelen
	h.Iov = &b.iovOu[j]
	h.Iovlen = 1
	b.queued++
}

// flush sends the queued replies. A reply the kernel refuses (an error on
// the first message of a sendmmsg call) is skipped, as a failed sendto
// would be; the others still go. It returns net.ErrClosed (wrapped) once
// the socket is closed.
func (b *udpBatch) flush(s *UDPServer) error {
	for b.sendAt = 0; b.sendAt < b.queued; {
		b.done, b.errno = 0, 0
		if err := b.rc.Write(b.sendFn); err != nil {
			b.queued = 0
			return err
		}
		if b.errno != 0 {
			s.log.Debug("udp write", "err", b.errno)
			b.done = 1 // skip the message the kernel refused
		}
		b.sendAt += b.done
	}
	b.queued = 0
	return nil
}

func recvmmsg(fd uintptr, hs []mmsghdr) (int, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), 0, 0, 0)
	return int(n), errno
}

func sendmmsg(fd uintptr, hs []mmsghdr) (int, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), 0, 0, 0)
	return int(n), errno
}

// sockaddrPort parses a sockaddr_in or sockaddr_in6 as ReadFromUDPAddrPort
// would (an IPv6 scope is not kept: the reply goes to the raw sockaddr).
func sockaddrPort(sa *unix.RawSockaddrInet6, n uint32) netip.AddrPort {
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	port := binary.BigEndian.Uint16(raw[2:4])
	switch {
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), port)
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}

// batchWorker is worker with recvmmsg/sendmmsg: per batch, every datagram
// is answered and checked as worker does, and the replies leave together.
func (s *UDPServer) batchWorker(c *net.UDPConn) {
	defer s.wg.Done()
	b, err := newUDPBatch(c, s.batch)
	if err != nil {
		s.log.Error("udp batch", "err", err)
		return
	}
	sock := &udpSocket{s: s, c: c}
	for {
		if err := b.read(); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp read", "err", err)
			continue
		}
		if n := int32(b.received); n > s.maxBatch.Load() {
			s.maxBatch.Store(n)
		}
		for i := 0; i < b.received; i++ {
			raw := b.datagram(i)
			from := b.from[i]
			qck, qproofs := scanOptions(raw, cookieOption, ProofsOptionCode)
			proven := s.jar.valid(qck, from.Addr())
			reply, ok := s.answer(raw, b.out[i], sock, proven, from)
			if !ok {
				continue
			}
			if cap(reply) > cap(b.out[i]) {
				b.out[i] = reply[:0]
			}
			b.queue(i, s.prepare(reply, b.slip[i][:0], from, udpPeer{proven: proven, cookie: qck != nil, proofs: qproofs != nil}))
		}
		if err := b.flush(s); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// usableCPUs is the number of CPUs the process may run on now
// (sched_getaffinity(2)): a server started under `taskset -c 0` sizes
// itself for one core. runtime.NumCPU if the call fails.
func usableCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		return set.Count()
	}
	return runtime.NumCPU()
}
