package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// regNode is one `ddnrs node` process of a registry cluster.
type regNode struct {
	name    string // "reg/1", "ga/2"
	id      string // [group] id, unique in the cluster
	group   string
	ip      string
	config  string
	ready   string
	data    string
	api     string   // base URL of its REST API ("" when off)
	DNS     string   `json:"dns"`
	Admin   string   `json:"admin"`
	Raft    string   `json:"raft"`
	API     string   `json:"api"`
	Overlay []string `json:"overlay"`
	p       *proc
}

// start runs the node (again) with its configuration and waits for its
// ready file.
func (n *regNode) start(t *testing.T, dir string) {
	t.Helper()
	os.Remove(n.ready)
	n.p = startProc(t, dir, ddnrsBin, "node", "--config", n.config, "--ready-file", n.ready)
	waitUntil(t, n.name+" ready", func() error {
		if n.p.exited() {
			t.Fatalf("%s exited: %v\n%s", n.name, n.p.err, n.p.out.String())
		}
		b, err := os.ReadFile(n.ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, n)
	})
}

// regGroupSpec describes one group of a registry cluster.
type regGroupSpec struct {
	name   string
	size   int
	region string
}

// regCluster is a registry group and other groups of real nodes sharing
// one cluster CA, all in the overlay; the others follow the registry's
// transparency log and send it heartbeats. No node has a trust anchors
// file: owner keys come from the log.
type regCluster struct {
	dir       string
	ca        string // CA certificate
	opsCert   string
	opsKey    string
	logKey    string // the log's signer key file
	vkey      string // the log's verifier key
	origin    string
	groups    map[string][]*regNode
	order     []string // group names in start order, registry first
	reviewer  string   // an admin API key, issued by the operator
	agreement string   // the community node agreement's file ([api] node_agreement)
	scoped    bool     // certificates name group and role; nodes require it
	// hc is the test's HTTP client. It connects from 127.0.59.1, so that
	// the API's per-IP limit on unauthenticated endpoints counts its
	// polling apart from the ddnrs commands run from 127.0.0.1.
	hc *http.Client
}

// nodes returns every node, in start order.
func (c *regCluster) nodes() []*regNode {
	var out []*regNode
	for _, g := range c.order {
		out = append(out, c.groups[g]...)
	}
	return out
}

// api is the REST API base URL of the first registry member.
func (c *regCluster) api() string { return c.groups["reg"][0].api }

// startRegistryCluster starts a registry group "reg" of regSize members
// (API on each) and the groups in others, on 127.0.(60+g).i, and waits
// until the registry's node directory lists every node.
func startRegistryCluster(t *testing.T, regSize int, others ...regGroupSpec) *regCluster {
	t.Helper()
	return startRegistryClusterWith(t, false, regSize, others...)
}

// startRegistryClusterWith is startRegistryCluster; with scoped, every
// certificate names its group and role (ddnrs ops cert issue --scope): a
// node of group G is member:G (registry:reg for the registry group), the
// operator's is operator:*, and every node sets [tls] require_scope.
func startRegistryClusterWith(t *testing.T, scoped bool, regSize int, others ...regGroupSpec) *regCluster {
	t.Helper()
	needBinary(t)
	dir := t.TempDir()
	c := &regCluster{dir: dir, groups: map[string][]*regNode{}, origin: "ddnrs.registry/log"}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 59, 1)}}
	tr := &http.Transport{DialContext: dialer.DialContext}
	c.hc = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	caDir := filepath.Join(dir, "ca")
	runCmd(t, dir, ddnrsBin, "ops", "ca", "init", "--dir", caDir)
	c.ca = filepath.Join(caDir, "ca.crt")
	opsDir := filepath.Join(dir, "ops")
	c.scoped = scoped
	opsScope := []string{}
	if scoped {
		opsScope = []string{"--scope", "operator:*"}
	}
	runCmd(t, dir, ddnrsBin, append([]string{"ops", "cert", "issue", "--ca", caDir, "--id", "operator", "--ip", "127.0.0.1", "--out", opsDir}, opsScope...)...)
	c.opsCert, c.opsKey = filepath.Join(opsDir, "node.crt"), filepath.Join(opsDir, "node.key")
	// The registry reviews community node requests against this
	// agreement ([api] node_agreement; TestCommunityNodeReview).
	c.agreement = filepath.Join(dir, "agreement.txt")
	if err := os.WriteFile(c.agreement, []byte("DDNRS community node agreement 2026-1.\nI keep the node up and patched.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.logKey = filepath.Join(dir, "log.key")
	out := runCmd(t, dir, ddnrsBin, "log", "keygen", "--name", c.origin, "--out", c.logKey)
	for _, line := range strings.Split(out, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, c.origin+"+") {
			c.vkey = l
		}
	}
	if c.vkey == "" {
		t.Fatalf("ddnrs log keygen printed no verifier key:\n%s", out)
	}

	specs := append([]regGroupSpec{{name: "reg", size: regSize}}, others...)
	for g, s := range specs {
		c.order = append(c.order, s.name)
		for i := 1; i <= s.size; i++ {
			ip := fmt.Sprintf("127.0.%d.%d", 60+g, i)
			n := &regNode{
				name: fmt.Sprintf("%s/%d", s.name, i), id: fmt.Sprintf("%s-%d", s.name, i),
				group: s.name, ip: ip,
			}
			nd := filepath.Join(dir, n.id)
			n.config, n.ready, n.data = filepath.Join(nd, "node.toml"), filepath.Join(nd, "ready.json"), filepath.Join(nd, "data")
			args := []string{"ops", "cert", "issue", "--ca", caDir, "--id", n.id, "--ip", ip, "--out", nd}
			if scoped {
				role := "member"
				if s.name == "reg" {
					role = "registry"
				}
				args = append(args, "--scope", role+":"+s.name)
			}
			runCmd(t, dir, ddnrsBin, args...)
			c.groups[s.name] = append(c.groups[s.name], n)
		}
	}
	// Every listener starts on port 0 and is read back from the ready
	// file: ports picked by the test and freed could be taken by the
	// node's own listeners on its address (the overlay's, on port 0)
	// before it bound them. The configuration is then rewritten with the
	// ports bound, so that a restart binds the same ones and nothing on
	// port 0.
	var regURLs, regAdmins []string
	var boot []string // overlay addresses of the nodes started so far
	for _, s := range specs {
		for i, n := range c.groups[s.name] {
			join := ""
			if i > 0 {
				join = c.groups[s.name][0].Admin
			}
			zero := n.ip + ":0"
			c.writeNodeConfig(t, n, s, join, regURLs, regAdmins, boot, zero, zero, zero, zero, "/ip4/"+n.ip+"/udp/0/quic-v1")
			n.start(t, dir)
			if s.name == "reg" && n.API == "" {
				t.Fatalf("%s: no api address in its ready file", n.name)
			}
			ov := ""
			for _, a := range n.Overlay {
				if strings.HasPrefix(a, "/ip4/"+n.ip+"/udp/") {
					ov, _, _ = strings.Cut(a, "/p2p/")
					break
				}
			}
			if ov == "" {
				t.Fatalf("%s: no overlay address on %s in %v", n.name, n.ip, n.Overlay)
			}
			c.writeNodeConfig(t, n, s, join, regURLs, regAdmins, boot, n.DNS, n.Raft, n.Admin, n.API, ov)
			boot = append(boot, n.Overlay...)
		}
		if s.name == "reg" {
			for _, n := range c.groups["reg"] {
				n.api = "http://" + n.API
				regURLs = append(regURLs, n.api)
				regAdmins = append(regAdmins, n.Admin)
			}
		}
	}
	all := c.nodes()
	waitUntil(t, "every node in the registry's directory", func() error {
		var h struct {
			Nodes []struct {
				ID    string `json:"id"`
				Group string `json:"group"`
			} `json:"nodes"`
		}
		if _, err := c.call(http.MethodGet, "/v1/health", "", nil, &h); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, n := range h.Nodes {
			seen[n.ID] = true
		}
		for _, n := range all {
			if !seen[n.id] {
				return fmt.Errorf("%s not in the directory yet (%d nodes listed)", n.id, len(h.Nodes))
			}
		}
		return nil
	})
	c.waitAdmitted(t)
	c.reviewer = c.issueKeyCLI(t, "--name", "reviewer", "--actions", "admin", "--suffix", ".")
	return c
}

// waitAdmitted waits until every node has read from the registry's log
// the admission of every node's overlay peer (waitFollowAdmits).
func (c *regCluster) waitAdmitted(t *testing.T) {
	t.Helper()
	all := c.nodes()
	var ids []string
	for _, n := range all {
		ids = append(ids, overlayPeerID(t, n.Overlay))
	}
	for _, n := range all {
		waitFollowAdmits(t, n.name, n.data, ids)
	}
}

// overlayPeerID returns the peer id of a node's overlay addresses.
func overlayPeerID(t *testing.T, addrs []string) string {
	t.Helper()
	for _, a := range addrs {
		if _, id, ok := strings.Cut(a, "/p2p/"); ok {
			return id
		}
	}
	t.Fatalf("no /p2p/ id in overlay addresses %v", addrs)
	return ""
}

// waitFollowAdmits waits until the node whose data directory is dataDir
// has read from the registry's log the admission of every overlay peer in
// ids (data_dir/follow.json, "peers"): with [overlay] admit = directory,
// the default with a log to follow, a node refuses the overlay
// connections of peers it has not read yet.
func waitFollowAdmits(t *testing.T, name, dataDir string, ids []string) {
	t.Helper()
	waitUntil(t, name+" admits every node's overlay peer", func() error {
		b, err := os.ReadFile(filepath.Join(dataDir, "follow.json"))
		if err != nil {
			return err
		}
		var st struct {
			Peers map[string]any `json:"peers"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := st.Peers[id]; !ok {
				return fmt.Errorf("%s not admitted yet", id)
			}
		}
		return nil
	})
}

// writeNodeConfig writes n's configuration, member of group s, joining
// join ("" to bootstrap), with the listen addresses given.
func (c *regCluster) writeNodeConfig(t *testing.T, n *regNode, s regGroupSpec, join string, regURLs, regAdmins, boot []string, dnsAddr, raftAddr, adminAddr, apiAddr, overlayListen string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir = %q\ndns = %q\n\n[group]\nid = %q\nname = %q\nraft_bind = %q\n",
		n.data, dnsAddr, n.id, s.name, raftAddr)
	if join == "" {
		b.WriteString("bootstrap = true\n")
	} else {
		fmt.Fprintf(&b, "bootstrap = false\njoin = [%q]\n", join)
	}
	fmt.Fprintf(&b, "\n[admin]\nlisten = %q\n\n[tls]\nca = %q\ncert = %q\nkey = %q\nrequire_scope = %v\n",
		adminAddr, c.ca, filepath.Join(filepath.Dir(n.config), "node.crt"), filepath.Join(filepath.Dir(n.config), "node.key"), c.scoped)
	fmt.Fprintf(&b, "\n[overlay]\nenabled = true\nlisten = [%q]\nbootstrap = [%s]\n", overlayListen, regQuote(boot))
	fmt.Fprintf(&b, "\n[metrics]\nlisten = \"off\"\n")
	// Every follower polls the registry's API from 127.0.0.1 (the
	// kernel's source address for loopback), one client IP to the
	// API's limit on unauthenticated requests (120 a minute): three
	// followers every 2 s leave room for `ddnrs log verify`.
	// lease_check: the registry's leader looks for due ephemeral zones
	// and owed drops twice a second (TestLeaseTeardownSurvivesLeaderChange).
	fmt.Fprintf(&b, "\n[registry]\nlog_verifier = %q\nlog_origin = %q\nfollow_interval = \"2s\"\nheartbeat_interval = \"300ms\"\nlease_check = \"500ms\"\nregion = %q\n",
		c.vkey, c.origin, s.region)
	if s.name == "reg" {
		fmt.Fprintf(&b, "member = true\nlog_key_file = %q\n\n[api]\nlisten = %q\nnode_agreement = %q\nnode_agreement_version = \"2026-1\"\n", c.logKey, apiAddr, c.agreement)
	} else {
		fmt.Fprintf(&b, "urls = [%s]\nadmin = [%s]\n", regQuote(regURLs), regQuote(regAdmins))
	}
	if err := os.WriteFile(n.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func regQuote(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// issueKeyCLI issues an API key as the operator with `ddnrs ops
// registry key issue` through the first registry member's admin endpoint
// (mutual TLS with the cluster CA), retrying (bounded) while the registry
// elects its leader.
func (c *regCluster) issueKeyCLI(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"ops", "registry", "key", "issue", "--admin", c.groups["reg"][0].Admin,
		"--ca", c.ca, "--cert", c.opsCert, "--key", c.opsKey}, args...)
	var key string
	waitUntil(t, "the operator's key issued", func() error {
		out, errOut, err := tryCmd(c.dir, ddnrsBin, args...)
		if err != nil {
			return fmt.Errorf("%v: %s%s", err, out, errOut)
		}
		for _, f := range strings.Fields(out) {
			if strings.HasPrefix(f, "ddnrs_") {
				key = f
				return nil
			}
		}
		t.Fatalf("ddnrs %s printed no key:\n%s", strings.Join(args, " "), out)
		return nil
	})
	return key
}

// call sends a request to the registry's REST API (key "" for none) and
// decodes a JSON answer into out (when not nil). It returns the status;
// err is set for transport failures and statuses of 400 and above.
func (c *regCluster) call(method, path, key string, in, out any) (int, error) {
	return regCall(c.hc, c.api(), method, path, key, in, out)
}

// A 429 is retried after its Retry-After (bounded), as a well-behaved
// client does: the test's polling shares one client IP.
func regCall(hc *http.Client, base, method, path, key string, in, out any) (int, error) {
	var payload []byte
	ctype := ""
	switch v := in.(type) {
	case nil:
	case string:
		payload, ctype = []byte(v), "text/dns"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		payload, ctype = b, "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resp *http.Response
	var b []byte
	for {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(payload))
		if err != nil {
			return 0, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if resp, err = hc.Do(req); err != nil {
			return 0, err
		}
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return resp.StatusCode, err
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			break
		}
		wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || wait < 1 {
			wait = 1
		}
		select {
		case <-ctx.Done():
			return resp.StatusCode, fmt.Errorf("%s %s: still rate limited: %s", method, path, b)
		case <-time.After(time.Duration(wait) * time.Second):
		}
	}
	if resp.StatusCode >= 400 {
		if out != nil {
			// The JSON error, for the caller to look at its code.
			json.Unmarshal(b, out)
		}
		return resp.StatusCode, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if p, ok := out.(*string); ok {
			*p = string(b)
			return resp.StatusCode, nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// regZone is a zone an owner signed with `ddnrs zone sign`.
type regZone struct {
	origin string
	key    string // .private
	anchor string // the owner DNSKEY, presentation form
	signed string // the signed zone file
	head   string // its signed head
	group  string // where the registry placed it
	www    string // the address of www.ORIGIN
}

// regSignZone makes an owner key for origin and signs a small zone.
func regSignZone(t *testing.T, origin string, octet int) *regZone {
	t.Helper()
	dir := t.TempDir()
	z := &regZone{origin: origin, key: keygen(t, dir, origin), www: fmt.Sprintf("192.0.2.%d", octet)}
	pub, err := os.ReadFile(strings.TrimSuffix(z.key, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(pub), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, ";") {
			z.anchor = l
		}
	}
	unsigned := filepath.Join(dir, "zone")
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A %s\n*.wild TXT \"wild %d\"\n", origin, z.www, octet)
	if err := os.WriteFile(unsigned, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "zone.signed")
	runCmd(t, dir, ddnrsBin, "zone", "sign", "--key", z.key, "--out", signed, unsigned)
	s, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile(signed + ".head")
	if err != nil {
		t.Fatal(err)
	}
	z.signed, z.head = string(s), string(h)
	return z
}

// createZone creates z through the REST API with key, asking for region,
// and records the group the registry placed it on.
func (c *regCluster) createZone(t *testing.T, key string, z *regZone, region string) {
	t.Helper()
	var res struct {
		Zone   string `json:"zone"`
		Group  string `json:"group"`
		Serial uint32 `json:"serial"`
	}
	st, err := c.call(http.MethodPost, "/v1/zones", key, map[string]any{"zone_file": z.signed, "head": z.head, "region": region}, &res)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("creating %s: status %d: %v", z.origin, st, err)
	}
	if res.Zone != z.origin || res.Serial != 1 {
		t.Errorf("created %+v, want zone %s serial 1", res, z.origin)
	}
	z.group = res.Group
}

// regEDE returns the Extended DNS Error option of r, nil when none.
func regEDE(r *dns.Msg) *dns.EDNS0_EDE {
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}
