// Command dnsload is a DNS load generator for the transports dnsperf
// lacks here: DNS over HTTP/3 (RFC 8484 over RFC 9114) and DNS over QUIC
// (RFC 9250), and, to compare them with the same client, UDP, DoT and
// DoH over HTTP/2. Like dnsperf it keeps a number of queries in flight
// for a time, from a query file of "NAME TYPE" lines, and prints
// dnsperf's statistics lines (and with -v one "> RCODE NAME TYPE SECONDS"
// line per answer), so bench/cmd/latency summarizes its runs as it does
// dnsperf's.
//
// Each of the -c connections (a UDP socket, a TLS connection, an HTTP/2
// or HTTP/3 connection, a QUIC connection) carries -q/-c queries at once;
// a query unanswered after -t, or answered with an error, is lost. Over
// DoQ and HTTP/3 each query is a stream of the connection, as the RFCs
// say. Examples:
//
//	dnsload -m doq -s 127.0.0.1:8854 -ca ca.crt -d queries.txt -l 10s
//	dnsload -m doh3 -s 127.0.0.1:8443 -ca ca.crt -d queries.txt -D -v > run.txt
//	go run ./bench/cmd/latency -label ddnrs/doh3 run.txt
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// exit codes: 2 for a bad command line or query file, 1 for a run that
// could not start (no connection).
const (
	exitRun   = 1
	exitUsage = 2
)

var modes = []string{"udp", "dot", "doh", "doh-get", "doh3", "doq"}

type options struct {
	mode     string
	server   string
	path     string
	ca       string
	name     string
	file     string
	duration time.Duration
	timeout  time.Duration
	conns    int
	inflight int
	do       bool
	verbose  bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("dnsload", flag.ContinueOnError)
	fs.StringVar(&o.mode, "m", "udp", "transport: "+strings.Join(modes, ", ")+" (doh: HTTP/2 POST; doh-get: HTTP/2 GET; doh3: HTTP/3 POST)")
	fs.StringVar(&o.server, "s", "", "server HOST:PORT (required), e.g. 127.0.0.1:8854")
	fs.StringVar(&o.path, "path", "/dns-query", "DoH path")
	fs.StringVar(&o.ca, "ca", "", "CA certificate FILE (PEM) the server's certificate must chain to (dot, doh, doh3, doq; required for them)")
	fs.StringVar(&o.name, "name", "localhost", "the server's name in its certificate")
	fs.StringVar(&o.file, "d", "", "query FILE: one \"NAME TYPE\" a line, as dnsperf reads (required)")
	fs.DurationVar(&o.duration, "l", 10*time.Second, "how long to send queries")
	fs.DurationVar(&o.timeout, "t", 5*time.Second, "a query unanswered after this is lost")
	fs.IntVar(&o.conns, "c", 4, "connections (sockets for udp)")
	fs.IntVar(&o.inflight, "q", 200, "queries in flight in all, spread over the connections")
	fs.BoolVar(&o.do, "D", false, "set the DO bit (EDNS, 1232 octets)")
	fs.BoolVar(&o.verbose, "v", false, "print one \"> RCODE NAME TYPE SECONDS\" line per answer")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: dnsload -m MODE -s HOST:PORT -d QUERYFILE [flags]

Sends DNS queries over MODE for -l, keeping -q in flight over -c
connections, and prints dnsperf's statistics lines.

Examples:
  dnsload -m doq -s 127.0.0.1:8854 -ca ca.crt -d queries.txt -l 10s
  dnsload -m doh3 -s 127.0.0.1:8443 -ca ca.crt -d queries.txt -D -v > run.txt
  go run ./bench/cmd/latency -label ddnrs/doh3 run.txt

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(exitUsage)
	}
	queries, err := o.check(fs.NArg())
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsload:", err)
		os.Exit(exitUsage)
	}
	if err := run(o, queries, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dnsload:", err)
		os.Exit(exitRun)
	}
}

// check validates the options and reads the query file.
func (o *options) check(args int) ([][]byte, error) {
	var errs []error
	if args > 0 {
		errs = append(errs, errors.New("no arguments expected (flags only)"))
	}
	known := false
	for _, m := range modes {
		known = known || m == o.mode
	}
	if !known {
		errs = append(errs, fmt.Errorf("-m %q: want one of %s", o.mode, strings.Join(modes, ", ")))
	}
	if _, _, err := net.SplitHostPort(o.server); err != nil {
		errs = append(errs, fmt.Errorf("-s %q: want HOST:PORT, e.g. 127.0.0.1:8854", o.server))
	}
	if o.mode != "udp" && o.ca == "" {
		errs = append(errs, fmt.Errorf("-m %s needs -ca (the CA certificate the server's chains to)", o.mode))
	}
	if o.duration <= 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("-l and -t must be positive durations, e.g. 10s"))
	}
	if o.conns < 1 || o.inflight < o.conns {
		errs = append(errs, fmt.Errorf("-c %d -q %d: want at least one connection and at least one query in flight per connection", o.conns, o.inflight))
	}
	if o.file == "" {
		errs = append(errs, errors.New("-d QUERYFILE is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f, err := os.Open(o.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readQueries(f, o.do)
}

// readQueries packs each "NAME TYPE" line of r (blank lines and lines
// starting with ';' or '#' skipped) as a query with ID 0 (RFC 8484 §4.1;
// the UDP and DoT clients set their own IDs).
func readQueries(r io.Reader, do bool) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("query file line %d: %q: want NAME TYPE", n, line)
		}
		qt, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return nil, fmt.Errorf("query file line %d: unknown type %q", n, f[1])
		}
		if _, ok := dns.IsDomainName(f[0]); !ok {
			return nil, fmt.Errorf("query file line %d: bad name %q", n, f[0])
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(f[0]), qt)
		m.Id = 0
		m.RecursionDesired = false
		if do {
			m.SetEdns0(1232, true)
		}
		raw, err := m.Pack()
		if err != nil {
			return nil, fmt.Errorf("query file line %d: %v", n, err)
		}
		out = append(out, raw)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("query file has no queries")
	}
	return out, nil
}

// exchanger sends one query (ID 0) and returns the reply.
type exchanger interface {
	exchange(ctx context.Context, q []byte, buf []byte) ([]byte, error)
	close()
}

// tally counts what the run saw.
type tally struct {
	sent, completed, lost atomic.Int64
	mu                    sync.Mutex
	w                     *bufio.Writer // -v lines; nil without -v
}

func run(o options, queries [][]byte, stdout io.Writer) error {
	var tlsConf *tls.Config
	if o.mode != "udp" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-ca %s: no PEM certificate in it", o.ca)
		}
		tlsConf = &tls.Config{RootCAs: pool, ServerName: o.name, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	}
	conns := make([]exchanger, o.conns)
	for i := range conns {
		c, err := dial(o, tlsConf)
		if err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return fmt.Errorf("connect %s over %s: %w", o.server, o.mode, err)
		}
		conns[i] = c
	}
	t := &tally{}
	out := bufio.NewWriterSize(stdout, 1<<16)
	if o.verbose {
		t.w = out
	}
	var next atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.inflight {
		c := conns[i%len(conns)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65535)
			for ctx.Err() == nil {
				q := queries[(next.Add(1)-1)%uint64(len(queries))]
				t.sent.Add(1)
				qctx, qcancel := context.WithTimeout(context.Background(), o.timeout)
				t0 := time.Now()
				r, err := c.exchange(qctx, q, buf)
				qcancel()
				if err != nil || len(r) < 12 {
					t.lost.Add(1)
					continue
				}
				t.completed.Add(1)
				if t.w != nil {
					t.line(q, r, time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, c := range conns {
		c.close()
	}
	sent, done, lost := t.sent.Load(), t.completed.Load(), t.lost.Load()
	fmt.Fprintf(out, "Statistics:\n\n")
	fmt.Fprintf(out, "  Queries sent:         %d\n", sent)
	fmt.Fprintf(out, "  Queries completed:    %d (%.2f%%)\n", done, 100*float64(done)/float64(max(sent, 1)))
	fmt.Fprintf(out, "  Queries lost:         %d (%.2f%%)\n", lost, 100*float64(lost)/float64(max(sent, 1)))
	fmt.Fprintf(out, "  Run time (s):         %.6f\n", elapsed.Seconds())
	fmt.Fprintf(out, "  Queries per second:   %.6f\n", float64(done)/elapsed.Seconds())
	return out.Flush()
}

// line prints "> RCODE NAME TYPE SECONDS" as dnsperf -v does.
func (t *tally) line(q, r []byte, d time.Duration) {
	name, qt := "?", "?"
	var m dns.Msg
	if err := m.Unpack(q); err == nil && len(m.Question) == 1 {
		name, qt = m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype]
	}
	rc := dns.RcodeToString[int(r[3]&0xF)]
	t.mu.Lock()
	fmt.Fprintf(t.w, "> %s %s %s %.6f\n", rc, name, qt, d.Seconds())
	t.mu.Unlock()
}

func dial(o options, tlsConf *tls.Config) (exchanger, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	switch o.mode {
	case "udp":
		return &udpConn{addr: o.server}, nil
	case "dot":
		return &dotConn{addr: o.server, conf: tlsConf, pending: map[uint16]chan []byte{}}, nil
	case "doh", "doh-get":
		conf := tlsConf.Clone()
		conf.NextProtos = []string{"h2"}
		tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
		return &dohConn{c: &http.Client{Transport: tr}, url: "https://" + o.server + o.path, get: o.mode == "doh-get", shut: tr.CloseIdleConnections}, nil
	case "doh3":
		conf := tlsConf.Clone()
		tr := &http3.Transport{TLSClientConfig: conf}
		return &dohConn{c: &http.Client{Transport: tr}, url: "https://" + o.server + o.path, shut: func() { tr.Close() }}, nil
	case "doq":
		conf := tlsConf.Clone()
		conf.NextProtos = []string{"doq"}
		c, err := quic.DialAddr(ctx, o.server, conf, &quic.Config{MaxIncomingStreams: -1})
		if err != nil {
			return nil, err
		}
		return &doqConn{c: c}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", o.mode)
}

// udpConn: each query on a socket of its own goroutine's (a closed loop
// needs no ID matching); the socket is made on first use.
type udpConn struct {
	addr  string
	socks sync.Pool
	id    atomic.Uint32
}

func (u *udpConn) exchange(ctx context.Context, q, buf []byte) ([]byte, error) {
	c, _ := u.socks.Get().(net.Conn)
	if c == nil {
		var err error
		if c, err = net.Dial("udp", u.addr); err != nil {
			return nil, err
		}
	}
	id := uint16(u.id.Add(1))
	msg := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(msg, id)
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return nil, err
	}
	for {
		n, err := c.Read(buf)
		if err != nil {
			c.Close() // a late reply must not be read as the next one's
			return nil, err
		}
		if n >= 2 && binary.BigEndian.Uint16(buf) == id {
			u.socks.Put(c)
			return buf[:n], nil
		}
	}
}

func (u *udpConn) close() {}

// dotConn: DNS over TLS (RFC 7858), queries pipelined on one connection
// and matched to replies by ID.
type dotConn struct {
	addr    string
	conf    *tls.Config
	mu      sync.Mutex
	c       *tls.Conn
	pending map[uint16]chan []byte
	id      uint16
	err     error
}

func (d *dotConn) connect() error {
	if d.c != nil || d.err != nil {
		return d.err
	}
	c, err := tls.Dial("tcp", d.addr, d.conf)
	if err != nil {
		d.err = err
		return err
	}
	d.c = c
	go d.readLoop(c)
	return nil
}

func (d *dotConn) readLoop(c *tls.Conn) {
	r := bufio.NewReader(c)
	for {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			break
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r, msg); err != nil || len(msg) < 2 {
			break
		}
		d.mu.Lock()
		ch := d.pending[binary.BigEndian.Uint16(msg)]
		delete(d.pending, binary.BigEndian.Uint16(msg))
		d.mu.Unlock()
		if ch != nil {
			ch <- msg
		}
	}
	d.mu.Lock()
	d.err = errors.New("connection closed")
	for id, ch := range d.pending {
		close(ch)
		delete(d.pending, id)
	}
	d.mu.Unlock()
}

func (d *dotConn) exchange(ctx context.Context, q, buf []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	d.mu.Lock()
	if err := d.connect(); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	for d.pending[d.id] != nil {
		d.id++
	}
	id := d.id
	d.id++
	d.pending[id] = ch
	frame := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(frame, uint16(len(q)))
	copy(frame[2:], q)
	binary.BigEndian.PutUint16(frame[2:], id)
	_, err := d.c.Write(frame)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errors.New("connection closed")
		}
		return r, nil
	case <-ctx.Done():
		d.mu.Lock()
		delete(d.pending, id)
		d.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (d *dotConn) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		d.c.Close()
	}
}

// dohConn: DNS over HTTPS (RFC 8484), HTTP/2 or HTTP/3.
type dohConn struct {
	c    *http.Client
	url  string
	get  bool
	shut func()
}

func (d *dohConn) exchange(ctx context.Context, q, buf []byte) ([]byte, error) {
	var req *http.Request
	var err error
	if d.get {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, d.url+"?dns="+b64(q), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(q))
		if err == nil {
			req.Header.Set("Content-Type", "application/dns-message")
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/dns-message")
	resp, err := d.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return buf[:n], nil
}

// doqConn: DNS over QUIC (RFC 9250), a stream per query.
type doqConn struct {
	c *quic.Conn
}

func (d *doqConn) exchange(ctx context.Context, q, buf []byte) ([]byte, error) {
	s, err := d.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	frame := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(frame, uint16(len(q)))
	copy(frame[2:], q)
	if _, err := s.Write(frame); err != nil {
		s.CancelRead(0)
		return nil, err
	}
	s.Close() // the client's side ends with the query (RFC 9250 §4.2)
	var l [2]byte
	if _, err := io.ReadFull(s, l[:]); err != nil {
		s.CancelRead(0)
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(s, buf[:n]); err != nil {
		s.CancelRead(0)
		return nil, err
	}
	return buf[:n], nil
}

func (d *doqConn) close() { d.c.CloseWithError(0, "") }

// b64 is the dns parameter's encoding (RFC 8484 §4.1: base64url, no padding).
func b64(q []byte) string { return base64.RawURLEncoding.EncodeToString(q) }

func (d *dohConn) close() { d.shut() }
