package dnsfront_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// canonicalHash hashes one RRset as RFC 4034 §6.3 orders it: owner
// lower-case, records uncompressed and sorted.
func canonicalHash(t *testing.T, rrs []dns.RR) string {
	t.Helper()
	var recs [][]byte
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = strings.ToLower(c.Header().Name)
		buf := make([]byte, 512)
		n, err := dns.PackRR(c, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, buf[:n])
	}
	slices.SortFunc(recs, bytes.Compare)
	sum := sha256.Sum256(bytes.Join(recs, nil))
	return hex.EncodeToString(sum[:])
}

func TestDoHRequests(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	d := dnsfront.NewDoHHandler(h, dnsfront.HTTPSOptions{MaxQuerySize: 512})
	q := dnstest.Query("www.example.", dns.TypeA, false)
	q.Id = 0
	raw := pack(t, q)
	nx := dnstest.Query("nothere.example.", dns.TypeA, false)
	nx.Id = 0
	b64 := base64.RawURLEncoding.EncodeToString
	a, _ := exchange(t, h, q, dnsfront.UDP)
	n, _ := exchange(t, h, nx, dnsfront.UDP)
	cases := []struct {
		name   string
		method string
		target string
		ctype  string
		body   []byte
		status int
		cache  string // Cache-Control, "" = not checked
	}{
		{"GET", "GET", "/dns-query?dns=" + b64(raw), "", nil, 200, "max-age=" + itoa(a.Answer[0].Header().Ttl)},
		{"GET with padding", "GET", "/dns-query?dns=" + base64.URLEncoding.EncodeToString(raw), "", nil, 200, ""},
		{"GET NXDOMAIN: SOA TTL", "GET", "/dns-query?dns=" + b64(pack(t, nx)), "", nil, 200, "max-age=" + itoa(n.Ns[0].Header().Ttl)},
		{"POST", "POST", "/dns-query", dnsfront.MediaDNSMessage, raw, 200, "max-age=" + itoa(a.Answer[0].Header().Ttl)},
		{"POST refused: no store", "POST", "/dns-query", dnsfront.MediaDNSMessage, pack(t, dnstest.Query("else.where.", dns.TypeA, false)), 200, "no-store"},
		{"GET without dns", "GET", "/dns-query", "", nil, 400, ""},
		{"GET not base64url", "GET", "/dns-query?dns=%2B%2F%2B%2F", "", nil, 400, ""},
		{"GET shorter than a header", "GET", "/dns-query?dns=" + b64(raw[:8]), "", nil, 400, ""},
		{"GET over the size limit", "GET", "/dns-query?dns=" + b64(make([]byte, 600)), "", nil, 413, ""},
		{"POST over the size limit", "POST", "/dns-query", dnsfront.MediaDNSMessage, make([]byte, 600), 413, ""},
		{"POST wrong media type", "POST", "/dns-query", "application/json", raw, 415, ""},
		{"POST no media type", "POST", "/dns-query", "", raw, 415, ""},
		{"POST empty", "POST", "/dns-query", dnsfront.MediaDNSMessage, nil, 400, ""},
		{"POST a response", "POST", "/dns-query", dnsfront.MediaDNSMessage, pack(t, new(dns.Msg).SetReply(q)), 400, ""},
		{"PUT", "PUT", "/dns-query", dnsfront.MediaDNSMessage, raw, 405, ""},
		{"other path", "GET", "/other?dns=" + b64(raw), "", nil, 404, ""},
		{"JSON bad name", "GET", "/dns-query?name=" + strings.Repeat("a", 70) + ".example", "", nil, 400, ""},
		{"JSON bad type", "GET", "/dns-query?name=www.example&type=NOPE", "", nil, 400, ""},
		{"JSON numeric type", "GET", "/dns-query?name=www.example&type=1", "", nil, 200, "max-age=" + itoa(a.Answer[0].Header().Ttl)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.target, bytes.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			w := httptest.NewRecorder()
			d.ServeHTTP(w, req)
			if w.Code != c.status {
				t.Fatalf("%s %s = %d %q, want %d", c.method, c.target, w.Code, w.Body.String(), c.status)
			}
			if c.cache != "" {
				if got := w.Header().Get("Cache-Control"); got != c.cache {
					t.Errorf("Cache-Control %q, want %q", got, c.cache)
				}
			}
			if c.status == 200 && w.Header().Get("Content-Type") == dnsfront.MediaDNSMessage {
				m := unpack(t, w.Body.Bytes())
				if !m.Response || len(m.Question) != 1 {
					t.Errorf("reply %v, want a response to the question", m)
				}
			}
		})
	}
}

// FuzzParseDoHRequest feeds the DoH request parser arbitrary methods,
// parameters, media types and bodies: it must not panic, must return a
// query of at least a header and at most the limit, or one of the
// statuses it documents.
func FuzzParseDoHRequest(f *testing.F) {
	f.Add(true, "AAABAAABAAAAAAAAA3d3dwdleGFtcGxlAAABAAE", "", []byte(nil))
	f.Add(false, "", dnsfront.MediaDNSMessage, []byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1})
	f.Add(false, "", "application/dns-message; charset=x", []byte{1})
	f.Add(true, "====", "", []byte(nil))
	f.Fuzz(func(t *testing.T, get bool, param, ctype string, body []byte) {
		method := "POST"
		if get {
			method = "GET"
		}
		req, err := http.NewRequest(method, "https://x/dns-query", bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery = "dns=" + param
		req.Header.Set("Content-Type", ctype)
		raw, status, err := dnsfront.ParseDoHRequest(req, 512, nil)
		switch {
		case err == nil && (len(raw) < 12 || len(raw) > 512 || status != 0):
			t.Fatalf("ParseDoHRequest = %d octets, status %d", len(raw), status)
		case err != nil && status != 400 && status != 413 && status != 415:
			t.Fatalf("ParseDoHRequest status %d for %v", status, err)
		}
	})
}

// BenchmarkDoHHTTP2 measures DoH POST over HTTP/2 on loopback, with the
// client in the same process: read it as an upper bound of the server's
// per-query cost.
func BenchmarkDoHHTTP2(b *testing.B) {
	z := dnstest.Example(b)
	h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{})
	cert := dnstest.NewTestCert(b, testHost)
	s, err := dnsfront.ListenHTTPS("127.0.0.1:0", h, cert.Server(), dnsfront.HTTPSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(context.Background())
	}()
	defer func() {
		s.Close()
		<-done
	}()
	tr := &http.Transport{TLSClientConfig: cert.Client(testHost), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	q := dnstest.Query("www.example.", dns.TypeA, false)
	q.Id = 0
	raw, _ := q.Pack()
	url := "https://" + s.Addr().String() + dnsfront.DefaultDoHPath
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Post(url, dnsfront.MediaDNSMessage, bytes.NewReader(raw))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestJSONGolden pins the JSON form (version 1): field names, order and
// the audit object. Run with -update after an intended change, and say
// so: clients parse it.
func TestJSONGolden(t *testing.T) {
	z := dnstest.Example(t) // unsigned: no RRSIGs, so the bytes are stable
	h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{})
	d := dnsfront.NewDoHHandler(h, dnsfront.HTTPSOptions{Audit: dnsfront.AuditNode{ID: "node1", Addr: "192.0.2.53:53"}})
	for _, c := range []struct{ file, query string }{
		{"doh_json_a.golden", "name=www.example&type=A"},
		{"doh_json_nxdomain.golden", "name=nothere.example&type=AAAA"},
		{"doh_json_cname.golden", "name=toother.example&type=A"},
	} {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, httptest.NewRequest("GET", "/dns-query?"+c.query, nil))
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", c.query, w.Code, w.Body)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, w.Body.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		path := filepath.Join("testdata", c.file)
		if *updateGolden {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestJSONGolden -update to create it)", err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("JSON for ?%s =\n%s\nwant (%s)\n%s", c.query, pretty.Bytes(), path, want)
		}
	}
}
