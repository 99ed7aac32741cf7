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
	"google.golang.org/protobuf/encoding/protowire"
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

	msgBuf []byte // the writer goroutine's scratch for one Message

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
// The protobuf is written by hand (protowire), field by field as
// dnstap.proto numbers them: building golang-dnstap's message structs and
// marshalling them by reflection cost several times as much
// (bench/README.md); the tests decode what is written with golang-dnstap.
func (t *Tap) write(w dnstap.Writer, e *tapEntry, frame *[]byte) error {
	defer t.pool.Put(e)
	qtype, rtype := dnstap.Message_AUTH_QUERY, dnstap.Message_AUTH_RESPONSE
	if e.src != SourceLocal {
		qtype, rtype = dnstap.Message_CLIENT_QUERY, dnstap.Message_CLIENT_RESPONSE
	}
	type msg struct {
		typ      dnstap.Message_Type
		query    []byte
		response []byte
	}
	msgs := [4]msg{{typ: qtype, query: e.q}, {typ: rtype, response: e.r}}
	n := 2
	if e.src == SourceRelayed && len(e.up) > 0 {
		msgs[2] = msg{typ: dnstap.Message_FORWARDER_QUERY, query: e.q}
		msgs[3] = msg{typ: dnstap.Message_FORWARDER_RESPONSE, response: e.up}
		n = 4
	}
	var zoneWire []byte
	if e.zone != "" {
		zoneWire, _ = packName(e.zone)
	}
	for _, m := range msgs[:n] {
		b := (*frame)[:0]
		if t.opt.Identity != "" {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, t.opt.Identity)
		}
		if e.member != "" && (m.typ == dnstap.Message_FORWARDER_QUERY || m.typ == dnstap.Message_FORWARDER_RESPONSE) {
			b = protowire.AppendTag(b, 3, protowire.BytesType)
			b = protowire.AppendString(b, "member="+e.member)
		}
		body := t.message(e, m.typ, m.query, m.response, zoneWire)
		b = protowire.AppendTag(b, 14, protowire.BytesType)
		b = protowire.AppendBytes(b, body)
		b = protowire.AppendTag(b, 15, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(dnstap.Dnstap_MESSAGE))
		*frame = b
		if _, err := w.WriteFrame(b); err != nil {
			return err
		}
		t.written.Add(1)
	}
	return nil
}

// tapProtocols maps transports to dnstap's socket protocols; DoQ is 7 in
// the current dnstap.proto (after DNSCrypt's 5 and 6), newer than the
// golang-dnstap release we use, which has no name for it but decodes the
// number (TestObserveEveryTransport).
var tapProtocols = [nTransports]dnstap.SocketProtocol{
	UDP: dnstap.SocketProtocol_UDP, TCP: dnstap.SocketProtocol_TCP, TLS: dnstap.SocketProtocol_DOT,
	HTTPS: dnstap.SocketProtocol_DOH, QUIC: dnstap.SocketProtocol(7),
}

// message encodes one dnstap Message about e into the Tap's scratch
// buffer: the query (response nil) or a response, which carries its
// question; the query is in the message before it.
func (t *Tap) message(e *tapEntry, typ dnstap.Message_Type, query, response, zoneWire []byte) []byte {
	b := t.msgBuf[:0]
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(typ))
	if e.from.IsValid() {
		a := e.from.Addr().Unmap()
		fam := dnstap.SocketFamily_INET
		if a.Is6() {
			fam = dnstap.SocketFamily_INET6
		}
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(fam))
	}
	if int(e.tr) < nTransports {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(tapProtocols[e.tr]))
	}
	if e.from.IsValid() {
		a := e.from.Addr().Unmap()
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		if a.Is4() {
			v := a.As4()
			b = protowire.AppendBytes(b, v[:])
		} else {
			v := a.As16()
			b = protowire.AppendBytes(b, v[:])
		}
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.from.Port()))
	}
	b = protowire.AppendTag(b, 8, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(e.qt.Unix()))
	b = protowire.AppendTag(b, 9, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, uint32(e.qt.Nanosecond()))
	if response == nil {
		b = protowire.AppendTag(b, 10, protowire.BytesType)
		b = protowire.AppendBytes(b, query)
	}
	if zoneWire != nil {
		b = protowire.AppendTag(b, 11, protowire.BytesType)
		b = protowire.AppendBytes(b, zoneWire)
	}
	if response != nil {
		b = protowire.AppendTag(b, 12, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.rt.Unix()))
		b = protowire.AppendTag(b, 13, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, uint32(e.rt.Nanosecond()))
		b = protowire.AppendTag(b, 14, protowire.BytesType)
		b = protowire.AppendBytes(b, response)
	}
	t.msgBuf = b
	return b
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
