package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestJoinByRequest is issue 14 item 2, with the CLI only: a node makes
// its own key and a certificate request stating the operator agreement
// it accepts and its uptime and bandwidth (`ddnrs node request`); the
// group's operator approves it (`ddnrs ops node approve`), which logs a
// node-approval entry with that statement in the registry's
// transparency log; the node starts with the configuration the request
// wrote and joins the running group, and serves its zone. A request for
// another scope, one that accepted another agreement text, and one that
// carries no signed agreement at all are refused, logging nothing.
func TestJoinByRequest(t *testing.T) {
	needBinary(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	openssl := needTool(t, "openssl", "openssl")
	dir := t.TempDir()
	const ip = "127.0.0.1"
	port := func(both bool) string { return strconv.Itoa(freePortOn(t, ip, both)) }
	ports := func() []string {
		return []string{"--dns-port", port(true), "--raft-port", port(false), "--admin-port", port(false)}
	}
	reg, eu := filepath.Join(dir, "reg"), filepath.Join(dir, "eu")
	regAPI := port(false)
	runCmd(t, dir, ddnrsBin, append([]string{"ops", "group", "bootstrap", "--out", reg, "--name", "reg", "--registry", "--members", "1",
		"--ip", ip, "--api-port", regAPI, "--no-encrypted"}, ports()...)...)
	regReady := startReadyNode(t, dir, filepath.Join(reg, "reg-1", "node.toml"))
	regURL := "http://" + ip + ":" + regAPI
	vkey := filepath.Join(reg, "registry", "log.pub")
	follow := []string{"--registry-urls", regURL, "--registry-admin", regReady.Admin, "--log-verifier", vkey}
	runCmd(t, dir, ddnrsBin, append(append([]string{"ops", "group", "bootstrap", "--out", eu, "--name", "eu", "--ca", filepath.Join(reg, "ca"),
		"--members", "1", "--ip", ip, "--no-encrypted"}, follow...), ports()...)...)
	euReady := startReadyNode(t, dir, filepath.Join(eu, "eu-1", "node.toml"))
	opsTLS := []string{"--ca", filepath.Join(reg, "ca", "ca.crt"), "--cert", filepath.Join(reg, "ops", "node.crt"), "--key", filepath.Join(reg, "ops", "node.key")}

	// The node's side: its key, its request, its configuration.
	agreement := filepath.Join(dir, "agreement.txt")
	if err := os.WriteFile(agreement, []byte("DDNRS community node agreement, 2026-1.\nI keep the node up and patched.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "eu-2")
	out := runCmd(t, dir, ddnrsBin, append(append([]string{"node", "request", "--out", node, "--id", "eu-2", "--ip", ip, "--scope", "member:eu",
		"--agreement", agreement, "--agreement-version", "2026-1", "--uptime", "99.5", "--bandwidth", "100",
		"--join", euReady.Admin}, follow...), ports()...)...)
	if !strings.Contains(out, "node.csr") {
		t.Fatalf("node request printed %q; want the request's file", out)
	}
	csr := filepath.Join(node, "node.csr")
	approve := func(req, scope, agreementFile, out string) (string, string, error) {
		return tryCmd(dir, ddnrsBin, append([]string{"ops", "node", "approve", req, "--ca-dir", filepath.Join(reg, "ca"), "--scope", scope,
			"--agreement", agreementFile, "--agreement-version", "2026-1", "--min-uptime", "99", "--min-bandwidth", "50",
			"--out", out, "--server", regReady.Admin}, opsTLS...)...)
	}

	// Refusals first: nothing is issued, nothing logged.
	other := filepath.Join(dir, "other-agreement.txt")
	if err := os.WriteFile(other, []byte("Another text.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "unsigned.csr")
	// A request made with the node's key but no statement: what openssl
	// (or any tool but 'ddnrs node request') makes.
	runCmd(t, dir, openssl, "req", "-new", "-key", filepath.Join(node, "node.key"), "-subj", "/CN=eu-2",
		"-addext", "subjectAltName=IP:"+ip+",URI:urn:ddnrs:scope:member:eu", "-out", unsigned)
	for _, bad := range []struct {
		desc, req, scope, agreement, want string
	}{
		{"wrong scope", csr, "member:reg", agreement, "another scope"},
		{"registry scope", csr, "registry:eu", agreement, "another scope"},
		{"another agreement text", csr, "member:eu", other, "did not accept this agreement"},
		{"no signed agreement", unsigned, "member:eu", agreement, "agreement"},
	} {
		refusedOut := filepath.Join(dir, "refused")
		stdout, stderr, err := approve(bad.req, bad.scope, bad.agreement, refusedOut)
		if err == nil || !strings.Contains(stderr, bad.want) {
			t.Errorf("approve (%s): err %v, stderr %q; want a refusal mentioning %q\n%s", bad.desc, err, stderr, bad.want, stdout)
		}
		if _, err := os.Stat(filepath.Join(refusedOut, "node.crt")); !os.IsNotExist(err) {
			t.Errorf("approve (%s) wrote a certificate", bad.desc)
		}
	}
	if entries := logEntries(t, dir, regURL, vkey); strings.Contains(entries, "node-approval") {
		t.Fatalf("a refused request was logged:\n%s", entries)
	}

	// The approval, into the node's directory.
	stdout, stderr, err := approve(csr, "member:eu", agreement, node)
	if err != nil {
		t.Fatalf("approve: %v\n%s%s", err, stdout, stderr)
	}
	entries := logEntries(t, dir, regURL, vkey)
	var approval string
	for _, l := range strings.Split(entries, "\n") {
		if strings.Contains(l, "node-approval") {
			approval = l
		}
	}
	for _, want := range []string{"node=eu-2", "group=eu", "scope=member:eu", "agreement=2026-1", "agreement-sha256=", "uptime=99.5", "bandwidth-mbps=100", "request-sha256="} {
		if !strings.Contains(approval, want) {
			t.Errorf("log's node-approval entry %q lacks %q\n%s", approval, want, entries)
		}
	}

	// The node joins the running group with what it has: its own key,
	// the approved certificate, the configuration its request wrote.
	n := startReadyNode(t, dir, filepath.Join(node, "node.toml"))
	waitUntil(t, "eu-2 a voter of eu", func() error {
		out, errOut, err := tryCmd(dir, ddnrsBin, append([]string{"ops", "group", "members", "--server", euReady.Admin, "--output", "json"}, opsTLS...)...)
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		var m struct {
			Members []struct {
				ID    string `json:"id"`
				Voter bool   `json:"voter"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			return err
		}
		for _, r := range m.Members {
			if r.ID == "eu-2" && r.Voter {
				return nil
			}
		}
		return fmt.Errorf("members %s", out)
	})
	key := keygen(t, dir, "join.example.")
	zf := filepath.Join(dir, "join.zone")
	if err := os.WriteFile(zf, []byte("$ORIGIN join.example.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, dir, ddnrsBin, "zone", "publish", "--server", euReady.Admin, "--ca", filepath.Join(reg, "ca", "ca.crt"),
		"--cert", filepath.Join(eu, "ops", "node.crt"), "--tls-key", filepath.Join(eu, "ops", "node.key"), "--key", key, zf)
	waitUntil(t, "eu-2 answers the group's zone", func() error {
		out := runCmd(t, dir, dig, "@"+ip, "-p", portOf(n.DNS), "+time=3", "+tries=1", "www.join.example.", "A")
		if !strings.Contains(out, "192.0.2.42") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
}

// readyNode is what a node's --ready-file says.
type readyNode struct{ ID, DNS, Admin, Raft, DoT, DoH, DoQ string }

// startReadyNode starts `ddnrs node --config config` and waits for its
// ready file.
func startReadyNode(t *testing.T, dir, config string) readyNode {
	t.Helper()
	n, _ := startReadyNodeProc(t, dir, config)
	return n
}

// startReadyNodeProc is startReadyNode, returning the process too.
func startReadyNodeProc(t *testing.T, dir, config string) (readyNode, *proc) {
	t.Helper()
	ready := filepath.Join(filepath.Dir(config), "ready.json")
	os.Remove(ready) // a restart writes it again
	p := startProc(t, dir, ddnrsBin, "node", "--config", config, "--ready-file", ready)
	var n readyNode
	waitUntil(t, "the ready file of "+config, func() error {
		if p.exited() {
			t.Fatalf("ddnrs node --config %s exited: %v\n%s", config, p.err, p.out.String())
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &n)
	})
	return n, p
}

// logEntries runs `ddnrs log verify --entries` against the registry and
// returns its output: one line per entry.
func logEntries(t *testing.T, dir, url, vkey string) string {
	t.Helper()
	return runCmd(t, dir, ddnrsBin, "log", "verify", "--log", url, "--key", vkey, "--entries", "--state", filepath.Join(t.TempDir(), "monitor.json"))
}
