package integration

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/testtool"
	"github.com/ddnrs/ddnrs/zone"
)

// TestACMEHook: the DNS-01 hook contract end to end, with a validating
// lookup instead of an ACME server (no Pebble here). The owner of
// acme.example. delegates _acme-challenge.acme.example. (NS and DS in the
// parent, a delegation statement in the registry) to a key of its own;
// the ACME machine holds only that key and an API key scoped to the
// challenge zone's TXT. `ddnrs acme present` in lego's and certbot's
// conventions publishes both tokens, Unbound (anchored at the parent's
// key, so it follows the DS) validates them, cleanup removes them, and the
// hook's credentials cannot touch the parent zone.
func TestACMEHook(t *testing.T) {
	needBinary(t)
	t.Parallel()
	st := newACMESetup(t)
	d, dir, env := st.d, st.dir, st.env
	hookAPI, parentKey, childKey, parentFile := st.hookAPI, st.parentKey, st.childKey, st.parentFile
	hook := func(extraEnv []string, args ...string) string {
		t.Helper()
		out, errOut, err := tryCmdEnv(dir, append(slices.Clone(env), extraEnv...), ddnrsBin, append([]string{"acme"}, args...)...)
		if err != nil {
			t.Fatalf("ddnrs acme %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	const tokA, tokB = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "5Y6mDQe7pI3lJbvx7K1Qe0jJbYtV6f1o6VGf1aP2eHc"
	hook(nil, "present", "_acme-challenge.acme.example.", tokA)                                                // lego
	hook([]string{"CERTBOT_DOMAIN=*.acme.example", "CERTBOT_VALIDATION=" + tokB}, "present")                   // certbot, wildcard
	if out := hook(nil, "present", "_acme-challenge.acme.example.", tokA); !strings.Contains(out, "already") { // a retry
		t.Errorf("present twice: %q, want 'already holds'", out)
	}

	// A validating resolver anchored at the parent: it follows the DS to
	// the challenge zone's key and validates the tokens (AD).
	pk, err := loadTestKey(parentKey)
	if err != nil {
		t.Fatal(err)
	}
	port := startUnboundConf(t, unboundConf{
		server: fmt.Sprintf("\ttrust-anchor: %q\n\ttarget-fetch-policy: \"0 0 0 0 0\"\n\tval-log-level: 2\n\tcache-max-ttl: 0\n\tcache-max-negative-ttl: 0\n", strings.ReplaceAll(pk.DNSKEY.String(), "\t", " ")),
		zones:  fmt.Sprintf("stub-zone:\n\tname: \"acme.example.\"\n\tstub-addr: %s@%s\n", d.host, d.port),
		probe:  "acme.example.",
	})
	txt := func() (rcode int, ad bool, values []string) {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("_acme-challenge.acme.example.", dns.TypeTXT)
		m.SetEdns0(1232, true)
		r, _, err := (&dns.Client{Timeout: 5 * 1e9}).Exchange(m, "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("query through unbound: %v", err)
		}
		for _, rr := range r.Answer {
			if tx, ok := rr.(*dns.TXT); ok {
				values = append(values, strings.Join(tx.Txt, ""))
			}
		}
		slices.Sort(values)
		return r.Rcode, r.AuthenticatedData, values
	}
	want := []string{tokB, tokA}
	slices.Sort(want)
	if rc, ad, got := txt(); rc != dns.RcodeSuccess || !ad || !slices.Equal(got, want) {
		t.Errorf("after present: %s ad=%v %v, want NOERROR ad=true %v", dns.RcodeToString[rc], ad, got, want)
	}

	// The hook's credentials reach nothing but the challenge TXT.
	hijack := filepath.Join(dir, "hijack.zone")
	writeFile(t, hijack, "$ORIGIN _acme-challenge.acme.example.\n$TTL 300\n@ SOA ns1.acme.example. hostmaster.acme.example. 1 7200 3600 1209600 60\n@ NS ns.attacker.example.\n"+
		"@ 60 TXT \""+tokA+"\"\n@ 60 TXT \""+tokB+"\"\n")
	if _, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", d.ready.API, "--api-key-file", hookAPI, "--key", childKey, hijack); err == nil || !strings.Contains(errOut, "out_of_scope") {
		t.Errorf("the hook's API key changing the challenge zone's NS: %v, %q; want out_of_scope", err, errOut)
	}
	if _, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", d.ready.API, "--api-key-file", hookAPI, "--key", parentKey, parentFile); err == nil || !strings.Contains(errOut, "out_of_scope") {
		t.Errorf("the hook's API key on the parent zone: %v, %q; want out_of_scope", err, errOut)
	}
	if _, errOut, err := tryCmdEnv(dir, env, ddnrsBin, "acme", "present", "_acme-challenge.www.other.example.", tokA); err == nil || !strings.Contains(errOut, "not in") {
		t.Errorf("a challenge outside the key's zone: %v, %q", err, errOut)
	}

	hook(nil, "cleanup", "_acme-challenge.acme.example.", tokA)
	if rc, ad, got := txt(); rc != dns.RcodeSuccess || !ad || !slices.Equal(got, []string{tokB}) {
		t.Errorf("after one cleanup: %s ad=%v %v, want NOERROR ad=true [%s]", dns.RcodeToString[rc], ad, got, tokB)
	}
	hook([]string{"CERTBOT_DOMAIN=*.acme.example", "CERTBOT_VALIDATION=" + tokB}, "cleanup")
	if rc, ad, got := txt(); rc != dns.RcodeSuccess || !ad || len(got) != 0 {
		t.Errorf("after both cleanups: %s ad=%v %v, want a validated NODATA", dns.RcodeToString[rc], ad, got)
	}
}

// TestACMELegoPebble: a real DNS-01 issuance. Pebble (Let's Encrypt's
// test ACME server) asks the ddnrs dev node's DNS listener for its DNS-01
// lookups; lego's ACME client with its exec provider (EXEC_PATH, as
// `lego --dns exec` runs it) calls `ddnrs acme present|cleanup` through a
// two-line script, holding only the challenge zone's key and the hook's
// API key. The certificate for acme.example and *.acme.example is issued
// and chains to Pebble's root, and cleanup leaves no token behind.
func TestACMELegoPebble(t *testing.T) {
	needBinary(t)
	t.Parallel()
	lego := testtool.NeedGo(t, testtool.Lego)
	st := newACMESetup(t)
	pebble := testtool.StartPebble(t, testtool.PebbleOptions{DNSServer: st.d.addr})
	// lego runs EXEC_PATH as "present|cleanup FQDN VALUE", a program,
	// so "ddnrs acme" goes in a script (docs/acme.md).
	script := filepath.Join(st.dir, "ddnrs-acme-hook")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+ddnrsBin+" acme \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	env := append(slices.Clone(st.env), "EXEC_PATH="+script, "EXEC_POLLING_INTERVAL=1", "EXEC_SEQUENCE_INTERVAL=1", "EXEC_PROPAGATION_TIMEOUT=60")
	out, errOut, err := tryCmdEnv(st.dir, env, lego, "-server", pebble.Directory, "-ca", pebble.CAFile, "-resolver", st.d.addr,
		"-out", certs, "-domain", "acme.example", "-domain", "*.acme.example")
	if err != nil {
		t.Fatalf("lego: %v\nstdout:\n%s\nstderr:\n%s\npebble:\n%s", err, out, errOut, pebble.Output())
	}
	t.Logf("lego: %s", strings.TrimSpace(out))
	pemBytes, err := os.ReadFile(filepath.Join(certs, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for rest := pemBytes; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		t.Fatalf("no certificate in %s", pemBytes)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(pebble.Root(t))
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, name := range []string{"acme.example", "www.acme.example"} {
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("the issued certificate for %s: %v (names %v)", name, err, chain[0].DNSNames)
		}
	}
	// cleanup ran for both tokens: the challenge zone holds none.
	r := ask(t, st.d.addr, "_acme-challenge.acme.example.", dns.TypeTXT)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("after the issuance: %s with %d answers, want NODATA", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}

// acmeSetup is the owner's side of docs/acme.md, "Setting it up", done
// with the CLI against a `ddnrs dev`: acme.example. published with a cut
// to _acme-challenge.acme.example., that zone delegated to a key of its
// own, and an API key scoped to its apex TXT for the hook.
type acmeSetup struct {
	d                                        *devNode
	dir                                      string
	hookAPI, parentKey, childKey, parentFile string
	env                                      []string // DDNRS_API, DDNRS_API_KEY_FILE, DDNRS_ACME_KEY for the hook
}

func newACMESetup(t *testing.T) *acmeSetup {
	t.Helper()
	st := &acmeSetup{}
	data := t.TempDir()
	d := startDev(t, data, "--api", "127.0.0.1:0")
	dir := t.TempDir()
	issue := func(name string, args ...string) string {
		t.Helper()
		out := runCmd(t, dir, ddnrsBin, append([]string{"ops", "registry", "key", "issue", "--dev", "--data", data, "--name", name}, args...)...)
		key := apiKeyPattern.FindString(out)
		if key == "" {
			t.Fatalf("key issue printed no key:\n%s", out)
		}
		f := filepath.Join(dir, name+".key")
		if err := os.WriteFile(f, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	ownerAPI := issue("owner", "--actions", "read,create,update", "--suffix", "acme.example.")
	hookAPI := issue("hook", "--actions", "read,update", "--suffix", "_acme-challenge.acme.example.", "--labels", "@", "--types", "TXT")

	parentKey := keygen(t, dir, "acme.example.")
	childKey := keygen(t, dir, "_acme-challenge.acme.example.")
	ck, err := loadTestKey(childKey)
	if err != nil {
		t.Fatal(err)
	}
	ds := ck.DNSKEY.ToDS(dns.SHA256)
	ds.Hdr.Name, ds.Hdr.Ttl = "_acme-challenge.acme.example.", 300

	parentFile := filepath.Join(dir, "acme.example.zone")
	writeFile(t, parentFile, "$ORIGIN acme.example.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.90\n"+
		"_acme-challenge NS ns1.acme.example.\n"+ds.String()+"\n")
	publish := func(keyFile, apiKey, zf string, extra ...string) string {
		t.Helper()
		return runCmd(t, dir, ddnrsBin, append(append([]string{"zone", "publish", "--api", d.ready.API, "--api-key-file", apiKey, "--key", keyFile}, extra...), zf)...)
	}
	publish(parentKey, ownerAPI, parentFile)
	deleg := strings.TrimSpace(runCmd(t, dir, ddnrsBin, "zone", "delegate", "_acme-challenge.acme.example.", "--key", parentKey,
		"--child-key", strings.TrimSuffix(childKey, ".private")+".key"))
	childFile := filepath.Join(dir, "challenge.zone")
	writeFile(t, childFile, "$ORIGIN _acme-challenge.acme.example.\n$TTL 300\n@ SOA ns1.acme.example. hostmaster.acme.example. 1 7200 3600 1209600 60\n@ NS ns1.acme.example.\n")
	publish(childKey, ownerAPI, childFile, "--delegation", deleg)

	st.env = []string{"DDNRS_API=" + d.ready.API, "DDNRS_API_KEY_FILE=" + hookAPI, "DDNRS_ACME_KEY=" + childKey}
	st.d, st.dir, st.hookAPI, st.parentKey, st.childKey, st.parentFile = d, dir, hookAPI, parentKey, childKey, parentFile
	return st
}

// loadTestKey reads a K*.private file and its .key beside it.
func loadTestKey(private string) (*zone.Key, error) {
	pub, err := os.ReadFile(strings.TrimSuffix(private, ".private") + ".key")
	if err != nil {
		return nil, err
	}
	pv, err := os.ReadFile(private)
	if err != nil {
		return nil, err
	}
	return zone.ParseKey(pub, pv)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
