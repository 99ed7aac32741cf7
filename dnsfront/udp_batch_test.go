package dnsfront

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

// batchQueries are the datagrams TestUDPBatchRepliesMatch sends: answers
// of every kind with and without DO and EDNS, at several UDP sizes (some
// truncated), a query larger than 4 KiB (EDNS padding), mixed-case names
// (the full path), and datagrams that draw FORMERR or no reply at all.
func batchQueries(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	id := uint16(1)
	names := []string{"www.example.", "WwW.ExAmPlE.", "nothere.example.", "sub.example.", "host.sub.example.", "txt.example.", "foo.wild.example.", "example.", "other.test."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeDNSKEY, dns.TypeNS, dns.TypeDS, dns.TypeTXT}
	for _, name := range names {
		for _, qt := range types {
			for _, size := range []uint16{0, 512, 1232, 4096} {
				for _, do := range []bool{false, true} {
					if size == 0 && do {
						continue
					}
					m := new(dns.Msg)
					m.SetQuestion(name, qt)
					m.Id = id
					id++
					if size > 0 {
						m.SetEdns0(size, do)
					}
					raw, err := m.Pack()
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, raw)
				}
			}
		}
	}
	big := new(dns.Msg)
	big.SetQuestion("www.example.", dns.TypeA)
	big.Id = id
	big.SetEdns0(1232, true)
	big.IsEdns0().Option = append(big.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 5000)})
	raw, err := big.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, raw)
	resp := new(dns.Msg)
	resp.SetQuestion("www.example.", dns.TypeA)
	resp.Response = true
	raw, err = resp.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, raw, []byte{1, 2, 3}, make([]byte, 12), []byte("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff"))
}

// TestUDPBatchRepliesMatch: the batched workers (recvmmsg/sendmmsg) send
// the replies, byte for byte, that the one-datagram-per-call workers
// send and that Handle returns, for a burst queued on the socket before
// the server reads (so batches of more than one are taken), and nothing
// for the datagrams that draw no reply.
func TestUDPBatchRepliesMatch(t *testing.T) {
	if !batchSupported {
		t.Skip("no recvmmsg/sendmmsg on this platform: Batch is ignored")
	}
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\n@ 3600 IN A 192.0.2.7\n")
	h := NewHandler(dnstest.NewZones(z, other), Options{})
	queries := batchQueries(t)

	// Rounds of 16 datagrams, so neither side's socket buffer (rmem_default
	// may be 208 KiB) overflows; the first round is queued before Serve.
	// Query i goes from client i%2: a reply sent to the wrong sender
	// shows up in the other client's list.
	const round = 16
	var want [2][]string
	wantPerRound := make([][2]int, (len(queries)+round-1)/round)
	answered := 0
	for i, q := range queries {
		if r, ok := h.Handle(q, make([]byte, 0, maxMsg), UDP); ok {
			want[i%2] = append(want[i%2], hex.EncodeToString(r))
			wantPerRound[i/round][i%2]++
			answered++
		}
	}
	slices.Sort(want[0])
	slices.Sort(want[1])
	if answered < len(queries)-3 {
		t.Fatalf("Handle answered %d of %d queries: the fixture lost its answers", answered, len(queries))
	}

	for _, batch := range []int{1, DefaultUDPBatch} {
		s, err := ListenUDP("127.0.0.1:0", h, UDPOptions{Sockets: 1, Workers: 1, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		var cs [2]*net.UDPConn
		for k := range cs {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(20 * time.Second)) // only catches a hang
			cs[k] = c
		}
		to := net.UDPAddrFromAddrPort(s.Addr())
		done := make(chan error, 1)
		var got [2][]string
		buf := make([]byte, maxMsg)
		for r := range wantPerRound {
			for i := r * round; i < min(len(queries), (r+1)*round); i++ {
				if _, err := cs[i%2].WriteToUDP(queries[i], to); err != nil {
					t.Fatal(err)
				}
			}
			if r == 0 {
				go func() { done <- s.Serve(context.Background()) }()
			}
			for k, c := range cs {
				for range wantPerRound[r][k] {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatalf("batch %d: client %d reading a reply of round %d: %v", batch, k, r, err)
					}
					got[k] = append(got[k], hex.EncodeToString(buf[:n]))
				}
			}
		}
		// One more query from each client, answered after the others: had
		// a datagram drawn a reply it should not have, it would come first.
		last := queries[0]
		lastReply, _ := h.Handle(last, nil, UDP)
		for k, c := range cs {
			if _, err := c.WriteToUDP(last, to); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("batch %d: client %d reading the last reply: %v", batch, k, err)
			}
			if string(buf[:n]) != string(lastReply) {
				t.Errorf("batch %d: client %d got a reply that no query of its drew", batch, k)
			}
		}
		for k := range got {
			slices.Sort(got[k])
			if !slices.Equal(got[k], want[k]) {
				for i := range min(len(got[k]), len(want[k])) {
					if got[k][i] != want[k][i] {
						t.Errorf("batch %d client %d: first difference at %d:\n got %s\nwant %s", batch, k, i, got[k][i], want[k][i])
						break
					}
				}
				t.Fatalf("batch %d client %d: replies differ from Handle's", batch, k)
			}
		}
		if max := s.maxBatch.Load(); batch > 1 && max < 2 {
			t.Errorf("batch %d: largest batch read = %d, want more than 1 (the burst was waiting)", batch, max)
		}
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve() = %v, want ErrServerClosed", err)
		}
	}
}
