package integration

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// TestCertificateRenewal is issue 14 item 1's short-lived certificates:
// a registry group of three whose members' certificates last a minute
// renew them by themselves at the issuing service (`ddnrs ops ca serve`),
// twice or more each, and the group keeps working past the end of the
// certificates it started with: the ops CLI's handshakes with every
// member, a write, its replication, and a member restarted (new Raft
// handshakes both ways) catching up. reg-2 changes its key at each
// renewal ([tls] renew_new_key) and is the member restarted, from the
// files its renewals wrote. A certificate the registry's log revoked is
// not renewed, with or without a new key; one not revoked is, by hand
// with a new key too (ops cert renew --new-key).
func TestCertificateRenewal(t *testing.T) {
	needBinary(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	dir := t.TempDir()
	const ip = "127.0.0.1"
	port := func(both bool) string { return strconv.Itoa(freePortOn(t, ip, both)) }
	reg := filepath.Join(dir, "reg")
	caPort, apiPort := port(false), port(false)
	caURL := "https://" + ip + ":" + caPort
	runCmd(t, dir, ddnrsBin, "ops", "group", "bootstrap", "--out", reg, "--name", "reg", "--registry", "--members", "3",
		"--ip", ip, "--api-port", apiPort, "--no-encrypted", "--cert-validity", "1m", "--renew-url", caURL,
		"--dns-port", port(true), "--raft-port", port(false), "--admin-port", port(false))
	ca := filepath.Join(reg, "ca", "ca.crt")
	vkey := filepath.Join(reg, "registry", "log.pub")
	startProc(t, dir, ddnrsBin, "ops", "ca", "serve", "--ca-dir", filepath.Join(reg, "ca"), "--listen", ip+":"+caPort, "--validity", "1m",
		"--registry-urls", "http://"+ip+":"+apiPort, "--log-verifier", vkey)
	members := []string{"reg-1", "reg-2", "reg-3"}
	// reg-2 changes its key at each renewal (item 1's key change).
	const rekeyed = "reg-2"
	conf := filepath.Join(reg, rekeyed, "node.toml")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	line := "renew_url = " + strconv.Quote(caURL) + "\n"
	if !strings.Contains(string(b), line) {
		t.Fatalf("%s has no %q", conf, line)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(b), line, line+"renew_new_key = true\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var first time.Time // when the certificates the members start with end
	ready := map[string]readyNode{}
	procs := map[string]*proc{}
	for _, m := range members {
		c, err := pki.LoadCert(filepath.Join(reg, m, "node.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if first.IsZero() || c.NotAfter.After(first) {
			first = c.NotAfter
		}
		ready[m], procs[m] = startReadyNodeProc(t, dir, filepath.Join(reg, m, "node.toml"))
	}
	opsTLS := []string{"--ca", ca, "--cert", filepath.Join(reg, "ops", "node.crt"), "--key", filepath.Join(reg, "ops", "node.key")}

	// A certificate the log revoked is not renewed.
	extra := filepath.Join(dir, "extra")
	runCmd(t, dir, ddnrsBin, "ops", "cert", "issue", "--ca", filepath.Join(reg, "ca"), "--id", "extra", "--ip", ip, "--scope", "member:reg", "--validity", "1m", "--out", extra)
	renew := func() (string, string, error) {
		return tryCmd(dir, ddnrsBin, "ops", "cert", "renew", "--server", caURL, "--ca", ca, "--cert", filepath.Join(extra, "node.crt"), "--key", filepath.Join(extra, "node.key"))
	}
	waitUntil(t, "a renewal of a certificate not revoked", func() error {
		if out, errOut, err := renew(); err != nil {
			return fmt.Errorf("%v: %s%s", err, out, errOut)
		}
		return nil
	})
	// By hand with a new key: the key file changes, the pair matches, and
	// nothing is left in node.key.next.
	extraKey := func() string {
		k, err := os.ReadFile(filepath.Join(extra, "node.key"))
		if err != nil {
			t.Fatal(err)
		}
		return string(k)
	}
	before := extraKey()
	renewNew := func() (string, string, error) {
		return tryCmd(dir, ddnrsBin, "ops", "cert", "renew", "--new-key", "--server", caURL, "--ca", ca, "--cert", filepath.Join(extra, "node.crt"), "--key", filepath.Join(extra, "node.key"))
	}
	if out, errOut, err := renewNew(); err != nil || !strings.Contains(out, "with a new key") {
		t.Fatalf("ops cert renew --new-key: %v\n%s%s", err, out, errOut)
	}
	if _, err := pki.LoadPair(filepath.Join(extra, "node.crt"), filepath.Join(extra, "node.key")); err != nil || extraKey() == before {
		t.Errorf("after renew --new-key: pair %v, key changed %v", err, extraKey() != before)
	}
	if _, err := os.Stat(filepath.Join(extra, "node.key.next")); err == nil {
		t.Error("node.key.next left after renew --new-key")
	}
	runCmd(t, dir, ddnrsBin, append([]string{"ops", "cert", "revoke", "--cert-file", filepath.Join(extra, "node.crt"), "--reason", "test", "--server", ready["reg-1"].Admin}, opsTLS...)...)
	if out, errOut, err := renew(); err == nil || !strings.Contains(errOut, "revoked") {
		t.Errorf("renewing a revoked certificate: %v\n%s%s; want a refusal naming the revocation", err, out, errOut)
	}
	before = extraKey()
	if out, errOut, err := renewNew(); err == nil || !strings.Contains(errOut, "revoked") || extraKey() != before {
		t.Errorf("renewing a revoked certificate with a new key: %v\n%s%s; want a refusal naming the revocation, the key left alone", err, out, errOut)
	}
	if out, errOut, err := tryCmd(dir, ddnrsBin, "ops", "cert", "renew", "--server", caURL, "--ca", ca, "--cert", filepath.Join(reg, "ops", "node.crt"), "--key", filepath.Join(reg, "ops", "node.key")); err == nil || !strings.Contains(errOut, "operator") {
		t.Errorf("renewing an operator certificate: %v\n%s%s; want a refusal", err, out, errOut)
	}

	// Each member renews its certificate by itself, at least twice, and
	// the first ones end.
	serials, keys := map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, m := range members {
		serials[m], keys[m] = map[string]bool{}, map[string]bool{}
	}
	waitUntilFor(t, "two renewals by every member, past the end of the first certificates", 6*time.Minute, func() error {
		short := []string{}
		for _, m := range members {
			if procs[m].exited() {
				t.Fatalf("%s exited: %v\n%s", m, procs[m].err, procs[m].out.String())
			}
			if c, err := pki.LoadCert(filepath.Join(reg, m, "node.crt")); err == nil {
				serials[m][fmt.Sprintf("%x", c.SerialNumber)] = true
				if der, err := x509.MarshalPKIXPublicKey(c.PublicKey); err == nil {
					keys[m][string(der)] = true
				}
			}
			if len(serials[m]) < 3 || m == rekeyed && len(keys[m]) < 3 {
				short = append(short, fmt.Sprintf("%s: %d", m, len(serials[m])))
			}
		}
		if len(short) > 0 || time.Now().Before(first.Add(5*time.Second)) {
			return fmt.Errorf("certificates seen %v (%s: %d keys), first end %s", short, rekeyed, len(keys[rekeyed]), first.UTC())
		}
		return nil
	})
	for _, m := range members {
		if m != rekeyed && len(keys[m]) != 1 {
			t.Errorf("%s renewed with %d keys, want its one key (renew_new_key is off)", m, len(keys[m]))
		}
	}

	// The group works on renewed certificates only: every member answers
	// the CLI's handshake, a write commits and replicates, and a member
	// restarted now (new Raft connections) catches up.
	members3 := func() error {
		out, errOut, err := tryCmd(dir, ddnrsBin, append([]string{"ops", "group", "members", "--server", ready["reg-1"].Admin, "--output", "json"}, opsTLS...)...)
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		var ms struct {
			Members []struct {
				ID    string `json:"id"`
				Error string `json:"error"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			return err
		}
		if len(ms.Members) != 3 {
			return fmt.Errorf("members %s", out)
		}
		for _, m := range ms.Members {
			if m.Error != "" {
				return fmt.Errorf("%s: %s", m.ID, m.Error)
			}
		}
		return nil
	}
	waitUntil(t, "ops group members reaches all three", members3)
	// The member that changed its key is the one restarted: it starts
	// from the key and certificate its renewals wrote.
	if err := procs[rekeyed].stop(); err != nil {
		t.Logf("%s stopped: %v", rekeyed, err)
	}
	publish := func(name, addr string) {
		key := keygen(t, dir, name)
		zf := filepath.Join(dir, name+"zone")
		if err := os.WriteFile(zf, []byte("$ORIGIN "+name+"\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A "+addr+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		runCmd(t, dir, ddnrsBin, append([]string{"zone", "publish", "--server", ready["reg-1"].Admin, "--tls-key", filepath.Join(reg, "ops", "node.key"),
			"--key", key, zf}, "--ca", ca, "--cert", filepath.Join(reg, "ops", "node.crt"))...)
	}
	publish("renew.example.", "192.0.2.51")
	ready[rekeyed], procs[rekeyed] = startReadyNodeProc(t, dir, filepath.Join(reg, rekeyed, "node.toml"))
	for _, m := range members {
		waitUntil(t, m+" answers the zone written after the first certificates ended", func() error {
			out := runCmd(t, dir, dig, "@"+ip, "-p", portOf(ready[m].DNS), "+time=3", "+tries=1", "www.renew.example.", "A")
			if !strings.Contains(out, "192.0.2.51") {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
	}
	waitUntil(t, "ops group members reaches all three after the restart", members3)
}

// waitUntilFor is waitUntil with its own bound (a hang bound, not a
// speed target), polling every half second.
func waitUntilFor(t *testing.T, what string, bound time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
