package dnsfront

// dnstap.go: the query log in dnstap form (https://dnstap.info, Frame
// Streams of protobuf messages), to a file or a unix socket a collector
// listens on (`dnstap -u PATH`, CoreDNS's or Knot's readers). The query's
// goroutine copies the query and the reply into a queued entry and goes
// on; one goroutine encodes and writes. When the writer falls behind (a
// slow or absent collector) entries are dropped and counted, never
// waited for.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// TapOptions configures NewTap.
type TapOptions struct {
	// Dest is where the log goes: "unix:PATH" (a Frame Streams collector
	// listening on a unix socket, dialled and re-dialled every second
	// while it is absent) or "file:PATH" (a file, replaced at start).
	// Required.
	Dest string
	// Identity is the dnstap identity field of every message (the node
	// sets its node id). Default: none.
	Identity string
	// Queue is how many queries may wait for the writer; beyond it they
	// are dropped (Dropped counts them). Default 4096.
	Queue int
}

// Errors of NewTap.
var (
	// ErrTapDest is returned by NewTap when TapOptions.Dest is not
	// "unix:PATH" or "file:PATH".
	ErrTapDest = errors.New(`dnstap destination must be "unix:PATH" or "file:PATH"`)
)

// Tap writes the dnstap log of the queries of one or more Handlers
// (Options.Tap). Local answers are logged as AUTH_QUERY and
// AUTH_RESPONSE; answers for other groups' zones, which the node
// resolves for its client, as CLIENT_QUERY and CLIENT_RESPONSE, and a
// query relayed to another group adds FORWARDER_QUERY and
// FORWARDER_RESPONSE (the answer as that group gave it; the message's
// extra field names the member, "member=PEERID"). Close stops it.
type Tap struct {
	opt     TapOptions
	ch      chan *tapEntry
	pool    sync.Pool
	dropped atomic.Uint64
	written atomic.Uint64

	open   func(ctx context.Context) (dnstap.Writer, error)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type tapEntry struct {
	tr       Transport
	src      Source
	from     netip.AddrPort
	qt, rt   time.Time
	zone     string
	member   string
	q, r, up []byte
}

// NewTap starts the writer of a dnstap log. A file is created (replaced)
// at once; a unix socket is dialled by the writer, so a collector that is
// not there yet only delays the log (queries arriving meanwhile beyond
// the queue are dropped).
func NewTap(opt TapOptions) (*Tap, error) {
	if opt.Queue <= 0 {
		opt.Queue = 4096
	}
	t := &Tap{opt: opt, ch: make(chan *tapEntry, opt.Queue)}
	t.pool.New = func() any { return new(tapEntry) }
	kind, path, ok := strings.Cut(opt.Dest, ":")
	if !ok || path == "" {
		return nil, fmt.Errorf("dnstap %q: %w", opt.Dest, ErrTapDest)
	}
	switch kind {
	case "file":
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return nil, fmt.Errorf("dnstap: %w", err)
		}
		w, err := dnstap.NewWriter(f, nil)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("dnstap %s: %w", path, err)
		}
		fw := fileWriter{Writer: w, f: f}
		t.open = func(context.Context) (dnstap.Writer, error) { return fw, nil }
	case "unix":
		t.open = func(ctx context.Context) (dnstap.Writer, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			w, err := dnstap.NewWriter(c, &dnstap.WriterOptions{Bidirectional: true, Timeout: 5 * time.Second})
			if err != nil {
				c.Close()
				return nil, err
			}
			return connWriter{Writer: w, c: c}, nil
		}
	default:
		return nil, fmt.Errorf("dnstap %q: %w", opt.Dest, ErrTapDest)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Add(1)
	go t.run()
	return t, nil
}

// fileWriter and connWriter close what the dnstap writer wrote to.
type fileWriter struct {
	dnstap.Writer
	f *os.File
}

func (w fileWriter) Close() error { return errors.Join(w.Writer.Close(), w.f.Close()) }

type connWriter struct {
	dnstap.Writer
	c net.Conn
}

func (w connWriter) Close() error { return errors.Join(w.Writer.Close(), w.c.Close()) }

// Dropped returns how many queries were not logged because the writer was
// behind.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

// Written returns how many dnstap messages were written.
func (t *Tap) Written() uint64 { return t.written.Load() }

// Close stops the writer after writing what is queued (while its
// destination takes it) and closes the destination. Idempotent. The
// Handlers using the Tap must not answer queries after Close.
func (t *Tap) Close() error {
	t.once.Do(func() {
		t.cancel()
		t.wg.Wait()
	})
	return nil
}

// log queues one query; called from the query's goroutine.
func (t *Tap) log(tr Transport, raw, out []byte, via relayInfo, zone string, start time.Time, from netip.AddrPort) {
	e := t.pool.Get().(*tapEntry)
	e.tr, e.src, e.from, e.qt, e.rt, e.zone, e.member = tr, via.source, from, start, time.Now(), zone, via.member
	e.q = append(e.q[:0], raw...)
	e.r = append(e.r[:0], out...)
	e.up = append(e.up[:0], via.upstream...)
	select {
	case t.ch <- e:
	default:
		t.dropped.Add(1)
		t.pool.Put(e)
	}
}

func (t *Tap) run() {
	defer t.wg.Done()
	var w dnstap.Writer
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	var frame []byte
	for {
		var e *tapEntry
		select {
		case e = <-t.ch:
		case <-t.ctx.Done():
			// Drain what is queued if the destination is open.
			for w != nil {
				select {
				case e := <-t.ch:
					if t.write(w, e, &frame) != nil {
						return
					}
				default:
					flush(w)
					return
				}
			}
			return
		}
		for w == nil {
			var err error
			if w, err = t.open(t.ctx); err == nil {
				break
			}
			select {
			case <-t.ctx.Done():
				t.pool.Put(e)
				return
			case <-time.After(time.Second):
			}
		}
		if err := t.write(w, e, &frame); err != nil {
			w.Close()
			w = nil
			continue
		}
		if len(t.ch) == 0 {
			flush(w)
		}
	}
}

func flush(w dnstap.Writer) {
	if f, ok := w.(interface{ Flush() error }); ok {
		f.Flush()
	}
}

// write encodes e's messages and writes them; e goes back to the pool.
func (t *Tap) write(w dnstap.Writer, e *tapEntry, frame *[]byte) error {
	defer t.pool.Put(e)
	qtype, rtype := dnstap.Message_AUTH_QUERY, dnstap.Message_AUTH_RESPONSE
	if e.src != SourceLocal {
		qtype, rtype = dnstap.Message_CLIENT_QUERY, dnstap.Message_CLIENT_RESPONSE
	}
	msgs := []*dnstap.Message{t.message(e, qtype, e.q, nil), t.message(e, rtype, nil, e.r)}
	if e.src == SourceRelayed && len(e.up) > 0 {
		msgs = append(msgs, t.message(e, dnstap.Message_FORWARDER_QUERY, e.q, nil), t.message(e, dnstap.Message_FORWARDER_RESPONSE, nil, e.up))
	}
	for _, m := range msgs {
		d := &dnstap.Dnstap{Type: dnstap.Dnstap_MESSAGE.Enum(), Message: m}
		if t.opt.Identity != "" {
			d.Identity = []byte(t.opt.Identity)
		}
		if isForwarder(m) && e.member != "" {
			d.Extra = []byte("member=" + e.member)
		}
		b, err := proto.MarshalOptions{}.MarshalAppend((*frame)[:0], d)
		if err != nil {
			continue
		}
		*frame = b
		if _, err := w.WriteFrame(b); err != nil {
			return err
		}
		t.written.Add(1)
	}
	return nil
}

func isForwarder(m *dnstap.Message) bool {
	return m.GetType() == dnstap.Message_FORWARDER_QUERY || m.GetType() == dnstap.Message_FORWARDER_RESPONSE
}

// tapProtocols maps transports to dnstap's socket protocols; DoQ is 7 in
// the current dnstap.proto (after DNSCrypt's 5 and 6), newer than the
// golang-dnstap release we use, which has no name for it but decodes the
// number (TestObserveEveryTransport).
var tapProtocols = [nTransports]dnstap.SocketProtocol{
	UDP: dnstap.SocketProtocol_UDP, TCP: dnstap.SocketProtocol_TCP, TLS: dnstap.SocketProtocol_DOT,
	HTTPS: dnstap.SocketProtocol_DOH, QUIC: dnstap.SocketProtocol(7),
}

// message is one dnstap message about e: the query (response nil) or a
// response.
func (t *Tap) message(e *tapEntry, typ dnstap.Message_Type, query, response []byte) *dnstap.Message {
	m := &dnstap.Message{Type: typ.Enum()}
	if int(e.tr) < nTransports {
		m.SocketProtocol = tapProtocols[e.tr].Enum()
	}
	if e.from.IsValid() {
		a := e.from.Addr().Unmap()
		fam := dnstap.SocketFamily_INET
		if a.Is6() {
			fam = dnstap.SocketFamily_INET6
		}
		m.SocketFamily = fam.Enum()
		m.QueryAddress = a.AsSlice()
		port := uint32(e.from.Port())
		m.QueryPort = &port
	}
	if e.zone != "" {
		if z, err := packName(e.zone); err == nil {
			m.QueryZone = z
		}
	}
	qs, qn := uint64(e.qt.Unix()), uint32(e.qt.Nanosecond())
	m.QueryTimeSec, m.QueryTimeNsec = &qs, &qn
	if response == nil {
		m.QueryMessage = query
		return m
	}
	// A response carries its question; the query is in the message before.
	rs, rn := uint64(e.rt.Unix()), uint32(e.rt.Nanosecond())
	m.ResponseTimeSec, m.ResponseTimeNsec = &rs, &rn
	m.ResponseMessage = response
	return m
}

// packName is name in uncompressed wire form.
func packName(name string) ([]byte, error) {
	var b [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), b[:], 0, nil, false)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b[:n]...), nil
}
