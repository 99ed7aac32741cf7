package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestNodeForwardBehindUnbound: a stock Unbound forwarding every name to
// a `ddnrs node` with [forward] gets both kinds of names through it: the
// node's own DDNRS zone, and example.com. of the outside world (another
// local Unbound, which the node forwards to). Asked directly, the node
// marks the forwarded answer RA and never AD.
func TestNodeForwardBehindUnbound(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	needBinary(t)
	dir := t.TempDir()
	outside := startUnboundConf(t, unboundConf{
		server: "\tlocal-zone: \"example.com.\" static\n\tlocal-data: \"www.example.com. 300 IN A 192.0.2.99\"\n\tlocal-data: \"example.com. 300 IN SOA ns.example.com. host.example.com. 1 3600 600 86400 300\"\n",
		probe:  "example.com.",
	})
	gdir := filepath.Join(dir, "group")
	runCmd(t, dir, ddnrsBin, "ops", "group", "bootstrap", "--out", gdir, "--members", "1", "--ip", "127.0.0.1",
		"--dns-port", strconv.Itoa(freePort(t)), "--raft-port", strconv.Itoa(freePortOn(t, "127.0.0.1", false)),
		"--admin-port", strconv.Itoa(freePortOn(t, "127.0.0.1", false)))
	config := filepath.Join(gdir, "node1", "node.toml")
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[forward]\nupstreams = [\"127.0.0.1:%d\"]\n", outside)
	f.Close()
	ready := filepath.Join(dir, "ready.json")
	p := startProc(t, dir, ddnrsBin, "node", "--config", config, "--ready-file", ready)
	var n struct{ DNS, Admin string }
	waitUntil(t, "the node's ready file", func() error {
		if p.exited() {
			t.Fatalf("ddnrs node exited: %v\n%s", p.err, p.out.String())
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &n)
	})
	key := keygen(t, dir, "fw.example.")
	zf := filepath.Join(dir, "fw.zone")
	if err := os.WriteFile(zf, []byte("$ORIGIN fw.example.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, dir, ddnrsBin, "zone", "publish", "--server", n.Admin,
		"--ca", filepath.Join(gdir, "ca", "ca.crt"), "--cert", filepath.Join(gdir, "ops", "node.crt"),
		"--tls-key", filepath.Join(gdir, "ops", "node.key"), "--key", key, zf)

	host, port := "127.0.0.1", portOf(n.DNS)
	stock := startUnboundConf(t, unboundConf{
		zones: fmt.Sprintf("forward-zone:\n\tname: \".\"\n\tforward-addr: %s@%s\n", host, port),
	})
	dig := func(server string, port string, name string) string {
		return runCmd(t, dir, "dig", "@"+server, "-p", port, name, "A", "+time=3", "+tries=2")
	}
	sp := strconv.Itoa(stock)
	waitUntil(t, "Unbound answers the DDNRS name through the node", func() error {
		if out := dig("127.0.0.1", sp, "www.fw.example."); !strings.Contains(out, "192.0.2.77") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	if out := dig("127.0.0.1", sp, "www.example.com."); !strings.Contains(out, "192.0.2.99") || !strings.Contains(out, "NOERROR") {
		t.Errorf("Unbound through the node, an outside name: want 192.0.2.99:\n%s", out)
	}
	if out := dig("127.0.0.1", sp, "nothere.example.com."); !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("Unbound through the node, a name the outside world does not have: want NXDOMAIN:\n%s", out)
	}
	r, err := askRD(n.DNS, "www.example.com.")
	if err != nil || len(r.Answer) != 1 || !r.RecursionAvailable || r.AuthenticatedData || r.Authoritative {
		t.Errorf("the node itself, www.example.com. A = %v, %v; want the forwarded answer with RA, without AD or AA", r, err)
	}
}

// askRD asks addr for name A with RD set, over UDP.
func askRD(addr, name string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, true)
	r, _, err := (&dns.Client{Net: "udp"}).Exchange(m, addr)
	return r, err
}
