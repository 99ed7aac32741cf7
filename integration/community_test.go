package integration

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// TestCommunityNodeReview is issue 14 item 2's community path, CLI only:
// a community node submits its request to the registry ('ddnrs node
// request --scope community:cg --submit'), cannot collect before review,
// a reviewer approves it ('ddnrs ops registry node-requests approve
// --ca-dir', the CA key with the reviewer), the node collects its
// certificate ('ddnrs node collect') and joins: it starts its community
// group and the registry's directory admits it. The approval is logged
// with the agreement, uptime and bandwidth. Refused before review (never
// listed, never logged): a request for member:reg (an existing group), one
// accepting another agreement, one whose signature does not verify.
// Refused after: a rejected request gets nothing, a second collection, the
// approved request submitted again (a replay).
func TestCommunityNodeReview(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 2 node processes")
	}
	c := startRegistryClusterWith(t, true, 1)
	reg := c.groups["reg"][0]
	keyFile := filepath.Join(c.dir, "reviewer.key")
	if err := os.WriteFile(keyFile, []byte(c.reviewer+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	review := func(args ...string) (string, string, error) {
		return tryCmd(c.dir, ddnrsBin, append(append([]string{"ops", "registry", "node-requests"}, args...), "--api", reg.api, "--api-key-file", keyFile)...)
	}
	other := filepath.Join(c.dir, "other-agreement.txt")
	if err := os.WriteFile(other, []byte("Another text.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	request := func(id, scope, agreement string, submit bool) (dir, out, errOut string, err error) {
		dir = filepath.Join(c.dir, id)
		args := []string{"node", "request", "--out", dir, "--id", id, "--ip", "127.0.62.1", "--scope", scope,
			"--agreement", agreement, "--agreement-version", "2026-1", "--uptime", "99.5", "--bandwidth", "100"}
		if submit {
			args = append(args, "--submit", reg.api)
		}
		out, errOut, err = tryCmd(c.dir, ddnrsBin, args...)
		return dir, out, errOut, err
	}
	submitRaw := func(csr []byte) (int, string) {
		var out json.RawMessage
		st, err := c.call(http.MethodPost, "/v1/node-requests", "", map[string]string{"request": string(csr)}, &out)
		return st, fmt.Sprint(err)
	}

	// Refused before review.
	if _, out, errOut, err := request("x-1", "member:reg", c.agreement, true); err == nil || !strings.Contains(errOut, "community nodes only") {
		t.Errorf("node request --submit for member:reg: %v\n%s%s; want refused by the CLI", err, out, errOut)
	}
	memberDir, _, errOut, err := request("x-2", "member:reg", c.agreement, false)
	if err != nil {
		t.Fatalf("node request: %v\n%s", err, errOut)
	}
	csrOf := func(dir string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, pki.RequestFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if st, msg := submitRaw(csrOf(memberDir)); st != http.StatusBadRequest || !strings.Contains(msg, "community scopes only") {
		t.Errorf("submitting a request for member:reg: %d %s; want 400, community scopes only", st, msg)
	}
	if _, out, errOut, err := request("x-3", "community:cg", other, true); err == nil || !strings.Contains(errOut, "this registry's is") {
		t.Errorf("a request accepting another agreement: %v\n%s%s; want refused", err, out, errOut)
	}
	tampered := func() []byte {
		dir, _, errOut, err := request("x-4", "community:cg", c.agreement, false)
		if err != nil {
			t.Fatalf("node request: %v\n%s", err, errOut)
		}
		blk, _ := pem.Decode(csrOf(dir))
		blk.Bytes = bytes.Replace(blk.Bytes, []byte("99.5"), []byte("99.9"), 1) // the signed statement changed
		return pem.EncodeToMemory(blk)
	}()
	if st, msg := submitRaw(tampered); st != http.StatusBadRequest || !strings.Contains(msg, "signature") {
		t.Errorf("submitting a request whose signature does not verify: %d %s; want 400 naming the signature", st, msg)
	}
	if out, errOut, err := review("list"); err != nil || strings.Contains(out, "x-") {
		t.Errorf("node-requests list after the refusals: %v\n%s%s; want none listed", err, out, errOut)
	}

	// Submitted, pending, approved, collected once.
	dir, out, errOut, err := request("cg-1", "community:cg", c.agreement, true)
	if err != nil || !strings.Contains(out, "status pending") {
		t.Fatalf("node request --submit: %v\n%s%s", err, out, errOut)
	}
	var st struct {
		ID string `json:"id"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "request.json")); err != nil || json.Unmarshal(b, &st) != nil || st.ID == "" {
		t.Fatalf("request.json: %v %s", err, b)
	}
	collect := func(dir string) (string, string, error) { return tryCmd(c.dir, ddnrsBin, "node", "collect", dir) }
	if out, errOut, err := collect(dir); err == nil || !strings.Contains(errOut, "waits for review") {
		t.Errorf("collect before review: %v\n%s%s; want pending", err, out, errOut)
	}
	rejDir, out, errOut, err := request("cg-2", "community:cg", c.agreement, true)
	if err != nil {
		t.Fatalf("node request --submit cg-2: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err = review("list", "--status", "pending")
	if err != nil || !strings.Contains(out, "cg-1") || !strings.Contains(out, "cg-2") || !strings.Contains(out, "99.5") {
		t.Fatalf("node-requests list: %v\n%s%s; want cg-1 and cg-2 pending with their uptime", err, out, errOut)
	}
	var rej struct {
		ID string `json:"id"`
	}
	b, _ := os.ReadFile(filepath.Join(rejDir, "request.json"))
	json.Unmarshal(b, &rej)
	if out, errOut, err := review("reject", rej.ID, "--message", "no uptime record yet"); err != nil {
		t.Fatalf("reject: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := collect(rejDir); err == nil || !strings.Contains(errOut, "no uptime record yet") {
		t.Errorf("collect of a rejected request: %v\n%s%s; want refused with the reviewer's message", err, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(rejDir, "node.crt")); err == nil {
		t.Error("a rejected request got a certificate")
	}
	if out, errOut, err := review("approve", rej.ID, "--ca-dir", filepath.Join(c.dir, "ca")); err == nil || !strings.Contains(errOut, "rejected already") {
		t.Errorf("approving a rejected request: %v\n%s%s; want refused", err, out, errOut)
	}
	if out, errOut, err := review("approve", st.ID, "--ca-dir", filepath.Join(c.dir, "ca")); err != nil || !strings.Contains(out, "uptime 99.5%") {
		t.Fatalf("approve: %v\n%s%s", err, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, pki.CACertFile), mustRead(t, c.ca), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := collect(dir); err != nil || !strings.Contains(out, "collected") {
		t.Fatalf("collect: %v\n%s%s", err, out, errOut)
	}
	p, err := pki.LoadPair(filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := pki.ScopeOf(p.Cert); err != nil || s.String() != "community:cg" {
		t.Errorf("the collected certificate's scope: %v (%v), want community:cg", s, err)
	}
	// A second collection, by the CLI and straight at the API.
	saved := filepath.Join(c.dir, "cg-1.crt")
	if err := os.Rename(filepath.Join(dir, pki.CertFile), saved); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := collect(dir); err == nil || !strings.Contains(errOut, "collected already") {
		t.Errorf("a second collect: %v\n%s%s; want refused", err, out, errOut)
	}
	if err := os.Rename(saved, filepath.Join(dir, pki.CertFile)); err != nil {
		t.Fatal(err)
	}
	// The approved request submitted again: a replay.
	if code, msg := submitRaw(csrOf(dir)); code != http.StatusConflict || !strings.Contains(msg, "node_request_replay") {
		t.Errorf("the approved request submitted again: %d %s; want 409 node_request_replay", code, msg)
	}

	// The log: the approval with the statement; nothing of the refused.
	entries := logEntries(t, c.dir, reg.api, c.vkey)
	var approval string
	for _, l := range strings.Split(entries, "\n") {
		if strings.Contains(l, "node-request-decision") && strings.Contains(l, "status=approved") {
			approval = l
		}
	}
	sum := pki.AgreementHash(mustRead(t, c.agreement))
	for _, want := range []string{"cg-1", "scope=community:cg", "agreement=2026-1", "agreement-sha256=" + sum, "uptime=99.5", "bandwidth-mbps=100", fmt.Sprintf("serial=%x", p.Cert.SerialNumber)} {
		if !strings.Contains(approval, want) {
			t.Errorf("the log's approval %q lacks %q\n%s", approval, want, entries)
		}
	}
	if !strings.Contains(entries, "status=rejected") || strings.Contains(entries, "x-2") || strings.Contains(entries, "x-3") || strings.Contains(entries, "x-4") {
		t.Errorf("the log: want the rejection, and none of the requests refused before review\n%s", entries)
	}

	// The node joins: it starts its community group and the registry's
	// directory admits it (its heartbeats pass the registry's check of a
	// community certificate).
	n := &regNode{name: "cg/1", id: "cg-1", group: "cg", ip: "127.0.62.1"}
	n.config, n.ready, n.data = filepath.Join(dir, "node.toml"), filepath.Join(dir, "ready.json"), filepath.Join(dir, "data")
	var regAdmins []string
	for _, r := range c.groups["reg"] {
		regAdmins = append(regAdmins, r.Admin)
	}
	zero := n.ip + ":0"
	c.writeNodeConfig(t, n, regGroupSpec{name: "cg", size: 1}, "", []string{reg.api}, regAdmins, reg.Overlay, zero, zero, zero, zero, "/ip4/"+n.ip+"/udp/0/quic-v1")
	conf := mustRead(t, n.config)
	if err := os.WriteFile(n.config, bytes.Replace(conf, []byte("[group]\n"), []byte("[group]\ncommunity = true\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start(t, c.dir)
	waitUntil(t, "the registry's directory lists cg-1", func() error {
		if !c.directoryIDs(t)["cg-1"] {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
