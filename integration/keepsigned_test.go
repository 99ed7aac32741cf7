package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestKeepSigned: a zone published through the REST API with 24-second
// signatures stays valid for a validating Unbound across several
// refreshes while `ddnrs zone keep-signed` runs, and GET /v1/zones/ZONE
// shows when its signatures expire. Without keep-signed the same zone
// would go bogus 24 s after its publish.
func TestKeepSigned(t *testing.T) {
	needBinary(t)
	t.Parallel() // mostly waiting: it overlaps the others
	data := t.TempDir()
	d := startDev(t, data, "--api", "127.0.0.1:0")
	if d.ready.API == "" {
		t.Fatalf("ddnrs dev --api reported no API address: %+v", d.ready)
	}
	dir := t.TempDir()
	out := runCmd(t, dir, ddnrsBin, "ops", "registry", "key", "issue", "--dev", "--data", data, "--name", "keeper",
		"--actions", "read,create,update", "--suffix", "keep.example.")
	key := apiKeyPattern.FindString(out)
	if key == "" {
		t.Fatalf("key issue printed no key:\n%s", out)
	}
	keyFile := filepath.Join(dir, "api.key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	priv := keygen(t, dir, "keep.example.")
	zf := filepath.Join(dir, "keep.example.zone")
	src := "$ORIGIN keep.example.\n$TTL 5\n@ SOA ns1 hostmaster 1 7200 3600 1209600 5\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n"
	if err := os.WriteFile(zf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	const validity = 24 * time.Second
	runCmd(t, dir, ddnrsBin, "zone", "publish", "--api", d.ready.API, "--api-key-file", keyFile, "--key", priv,
		"--validity", validity.String(), zf)
	published := time.Now()

	// The expiry the API reports: within the validity from now.
	var z struct {
		Serial           uint32    `json:"serial"`
		SignaturesExpire time.Time `json:"signatures_expire"`
	}
	getZone := func() {
		t.Helper()
		req, _ := http.NewRequest("GET", d.ready.API+"/v1/zones/keep.example.", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&z); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /v1/zones/keep.example.: %d %v", resp.StatusCode, err)
		}
	}
	getZone()
	if until := time.Until(z.SignaturesExpire); until <= 0 || until > validity+time.Second {
		t.Fatalf("signatures_expire %s is %s from now, want within %s", z.SignaturesExpire, until, validity)
	}
	first := z.Serial

	// keep-signed in the background, re-signing when 16 s are left.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	keeper := startProc(t, dir, ddnrsBin, "zone", "keep-signed", "--api", d.ready.API, "--api-key-file", keyFile, "--key", priv,
		"--validity", validity.String(), "--refresh", "16s", "--interval", "1s", zf)

	var anchor string
	pub, err := os.ReadFile(strings.TrimSuffix(priv, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(pub), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, ";") {
			anchor = l
		}
	}
	// No clock-skew allowance (Unbound accepts signatures up to an hour
	// past expiry by default): a lapsed signature is bogus at once.
	port := startUnboundConf(t, unboundConf{
		server: fmt.Sprintf("\ttrust-anchor: %q\n\ttarget-fetch-policy: \"0 0 0 0 0\"\n\tval-log-level: 2\n\tval-sig-skew-min: 0\n\tval-sig-skew-max: 0\n", anchor),
		zones:  fmt.Sprintf("stub-zone:\n\tname: \"keep.example.\"\n\tstub-addr: %s@%s\n", d.host, d.port),
		probe:  "keep.example.",
	})
	unbound := "127.0.0.1:" + strconv.Itoa(port)

	// Ask Unbound every second for 32 s, past the first signatures' end:
	// every answer validated (AD), none bogus.
	var mu sync.Mutex
	var bad []string
	asked := 0
	done := time.Now().Add(32 * time.Second)
	for time.Now().Before(done) && ctx.Err() == nil {
		m := new(dns.Msg)
		m.SetQuestion("www.keep.example.", dns.TypeA)
		m.SetEdns0(1232, true)
		m.AuthenticatedData = true
		r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, unbound)
		mu.Lock()
		asked++
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", time.Since(published).Round(time.Second), err))
		case r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0:
			bad = append(bad, fmt.Sprintf("%s: %s ad=%v answers=%d", time.Since(published).Round(time.Second), dns.RcodeToString[r.Rcode], r.AuthenticatedData, len(r.Answer)))
		}
		mu.Unlock()
		time.Sleep(time.Second)
	}
	getZone()
	t.Logf("%d queries through Unbound over %s; serial %d -> %d; keep-signed said:\n%s", asked, time.Since(published).Round(time.Second), first, z.Serial, keeper.out.String())
	if len(bad) > 0 {
		t.Errorf("%d of %d answers not validated: %v", len(bad), asked, bad)
	}
	// 32 s with 24 s signatures refreshed at 16 s left: at least two
	// refreshes, and the signatures now run past the test's end.
	if z.Serial < first+2 {
		t.Errorf("serial %d -> %d: want at least two refreshes", first, z.Serial)
	}
	if time.Until(z.SignaturesExpire) < 8*time.Second {
		t.Errorf("signatures_expire %s: the zone is about to lapse", z.SignaturesExpire)
	}
	if !strings.Contains(keeper.out.String(), "re-signed") {
		t.Errorf("keep-signed output lacks a re-signing:\n%s", keeper.out.String())
	}
}
