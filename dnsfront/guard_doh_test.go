package dnsfront_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ddnrs/ddnrs/dnsfront"
)

// TestDoHNonReadingClients: HTTP/2 clients that announce a flow-control
// window of zero and pipeline requests (the DoH form of a client that
// never reads) make the server hold every response. Those responses are
// counted against the connection's pending allowance and the shared
// budget: each such connection is cut off when its allowance is reached,
// the budget is back to zero when they are gone, and a well-behaved
// client keeps getting answers meanwhile.
func TestDoHNonReadingClients(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	q, size := biggestQuery(t, h)
	budget := dnsfront.NewBudget(1 << 20)
	const perConn = 16 << 10
	s := startServers(t, h, limits{https: dnsfront.HTTPSOptions{
		MaxPendingPerConn: perConn, Budget: budget, WriteTimeout: 20 * time.Second,
	}})
	addr := s.doh.Addr().String()
	path := dnsfront.DefaultDoHPath + "?dns=" + base64.RawURLEncoding.EncodeToString(q)

	const conns = 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	cutOff, sentAll := 0, 0
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("127.0.1.%d", 1+i%10) // two each, under the per-client cap
			c, err := dialFrom(from, addr, s.cert.Client(testHost, "h2"))
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			go func() { <-ctx.Done(); c.Close() }()
			n, err := stallingH2Client(c, path, 99)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				sentAll++
				return
			}
			cutOff++
			t.Logf("non-reading connection %d: cut off after %d requests: %v", i, n, err)
		}()
	}

	var good probe
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: s.cert.Client(testHost), ForceAttemptHTTP2: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext,
	}}
	url := "https://" + addr + dnsfront.DefaultDoHPath
	good.run(pctx, 50*time.Millisecond, func() error {
		resp, err := hc.Post(url, dnsfront.MediaDNSMessage, bytes.NewReader(wwwQuery(t)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
	pcancel()
	wg.Wait()
	cancel()

	// 99 responses of size octets (each held with its 2 KiB buffer) far
	// exceed 16 KiB: every non-reading connection must have been cut off.
	t.Logf("responses of %d octets: %d of %d non-reading connections cut off, %d kept open", size, cutOff, conns, sentAll)
	if sentAll > 0 {
		t.Errorf("%d non-reading connections were not cut off: their responses were held without being counted", sentAll)
	}
	deadline := time.Now().Add(10 * time.Second)
	for budget.Used() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if u := budget.Used(); u != 0 {
		t.Errorf("pending budget still holds %d octets after the connections closed", u)
	}
	if rate := good.report(t, "DoH under non-reading HTTP/2 clients"); rate > 0.1 {
		t.Errorf("well-behaved DoH client failed %.0f%% of its queries", 100*rate)
	}
}

// stallingH2Client speaks HTTP/2 on c with an initial flow-control window
// of zero (so the server may send no DATA) and sends GET path requests
// on n streams, never reading the responses' bodies. It returns how many
// requests it sent, and nil only if the server still holds the
// connection open 5 s after the last request; an error says how the
// server ended it.
func stallingH2Client(c net.Conn, path string, n int) (int, error) {
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return 0, err
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		return 0, err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	sent := 0
	for i := range n {
		hb.Reset()
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
			{Name: ":authority", Value: testHost}, {Name: ":path", Value: path},
			{Name: "accept", Value: dnsfront.MediaDNSMessage},
		} {
			enc.WriteField(f)
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			return sent, err
		}
		sent++
	}
	// Read frames (HEADERS, SETTINGS, PINGs: never DATA, the window is
	// zero) until the server closes the connection or 5 s pass.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return sent, nil
			}
			return sent, err
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return sent, fmt.Errorf("GOAWAY %v", ga.ErrCode)
		}
	}
}
