package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

func TestReadQueriesErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"www.example. A\nbad\n", "line 2"},
		{"www.example. NOTATYPE\n", "unknown type"},
		{"; only a comment\n\n", "no queries"},
		{"a..b. A\n", "bad name"},
	} {
		if _, err := readQueries(strings.NewReader(c.in), false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("readQueries(%q) = %v, want an error saying %q", c.in, err, c.want)
		}
	}
	qs, err := readQueries(strings.NewReader("# comment\nwww.example. A\nexample. dnskey\n"), true)
	if err != nil || len(qs) != 2 {
		t.Fatalf("readQueries = %d queries, %v; want 2", len(qs), err)
	}
}

func TestCheckOptions(t *testing.T) {
	q := filepath.Join(t.TempDir(), "q.txt")
	os.WriteFile(q, []byte("www.example. A\n"), 0o600)
	good := options{mode: "udp", server: "127.0.0.1:53", file: q, duration: time.Second, timeout: time.Second, conns: 1, inflight: 1}
	if _, err := good.check(0); err != nil {
		t.Fatalf("check(good) = %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*options)
		want string
	}{
		{"mode", func(o *options) { o.mode = "http9" }, "-m"},
		{"server", func(o *options) { o.server = "localhost" }, "HOST:PORT"},
		{"ca", func(o *options) { o.mode = "doq" }, "-ca"},
		{"conns", func(o *options) { o.conns, o.inflight = 4, 2 }, "-c 4 -q 2"},
		{"file", func(o *options) { o.file = "" }, "-d"},
		{"duration", func(o *options) { o.duration = 0 }, "-l"},
	} {
		o := good
		c.edit(&o)
		if _, err := o.check(0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: check = %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// TestLoadEveryMode runs dnsload briefly over every transport against
// dnsfront's real servers: queries are answered, none lost, and the
// output is what bench/cmd/latency reads.
func TestLoadEveryMode(t *testing.T) {
	h := dnsfront.NewHandler(dnstest.NewZones(dnstest.Example(t)), dnsfront.Options{})
	cert := dnstest.NewTestCert(t, "localhost")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	udp, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dot, err := dnsfront.ListenTLS("127.0.0.1:0", h, cert.Server(), dnsfront.TCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doh, err := dnsfront.ListenHTTPS("127.0.0.1:0", h, cert.Server(), dnsfront.HTTPSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doq, err := dnsfront.ListenQUIC("127.0.0.1:0", h, cert.Server(), dnsfront.QUICOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	go func() { done <- udp.Serve(ctx) }()
	go func() { done <- dot.Serve(ctx) }()
	go func() { done <- doh.Serve(ctx) }()
	go func() { done <- doq.Serve(ctx) }()
	defer func() {
		cancel()
		for range 4 {
			<-done
		}
	}()
	queries, err := readQueries(strings.NewReader("www.example. A\nnothere.example. A\nexample. SOA\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{"udp": udp.Addr().String(), "dot": dot.Addr().String(), "doh": doh.Addr().String(),
		"doh-get": doh.Addr().String(), "doh3": doh.Addr().String(), "doq": doq.Addr().String()}
	completed := regexp.MustCompile(`Queries completed: +(\d+)`)
	lost := regexp.MustCompile(`Queries lost: +(\d+)`)
	for _, mode := range modes {
		o := options{mode: mode, server: addr[mode], path: "/dns-query", name: "localhost", duration: 300 * time.Millisecond,
			timeout: 10 * time.Second, conns: 2, inflight: 4, verbose: true, ca: cert.CAFile}
		var out bytes.Buffer
		if err := run(o, queries, &out); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		m, l := completed.FindStringSubmatch(out.String()), lost.FindStringSubmatch(out.String())
		if m == nil || l == nil {
			t.Fatalf("%s: no statistics in\n%s", mode, out.String())
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Errorf("%s: no query completed", mode)
		}
		if l[1] != "0" {
			t.Errorf("%s: %s queries lost", mode, l[1])
		}
		if !strings.Contains(out.String(), "> NOERROR www.example. A ") || !strings.Contains(out.String(), "> NXDOMAIN nothere.example. A ") {
			t.Errorf("%s: per-query lines missing in\n%.400s", mode, out.String())
		}
	}
}

// FuzzReadQueries: any query file is read without panicking, and every
// query read is a well-formed message with one question.
func FuzzReadQueries(f *testing.F) {
	f.Add("www.example. A\nnothere.example. AAAA\n", true)
	f.Add("; comment\n\nexample. TYPE65534\n", false)
	f.Add("a..b. A\n", false)
	f.Fuzz(func(t *testing.T, in string, do bool) {
		qs, err := readQueries(strings.NewReader(in), do)
		if err != nil {
			return
		}
		for _, q := range qs {
			var m dns.Msg
			if err := m.Unpack(q); err != nil || len(m.Question) != 1 {
				t.Fatalf("query %x from %q: %v, %d questions", q, in, err, len(m.Question))
			}
		}
	})
}
