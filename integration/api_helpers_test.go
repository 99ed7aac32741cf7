package integration

// api_helpers_test.go: a real cluster for the REST API tests (a registry
// group and a second group of `ddnrs node` processes sharing one cluster
// CA, overlay on, [api] and [registry] set), an HTTP client that checks
// every answer against api/openapi.json (kin-openapi), and zone helpers.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// apiNode is one `ddnrs node` process of the API cluster.
type apiNode struct {
	name    string // its Raft ID, unique across groups
	group   string
	config  string
	ready   string
	data    string   // data_dir
	api     string   // http://host:port, from API
	API     string   `json:"api"` // host:port the REST API bound
	DNS     string   `json:"dns"`
	Admin   string   `json:"admin"`
	Overlay []string `json:"overlay"`
	p       *proc
}

// apiCluster is a registry group and a second group.
type apiCluster struct {
	dir      string
	ca       string // cluster CA certificate
	opsCert  string // operator certificate and key (ops CLI)
	opsKey   string
	vkey     string // the log's verifier key
	registry []*apiNode
	edge     []*apiNode
}

// all returns every node, registry group first.
func (c *apiCluster) all() []*apiNode {
	return append(append([]*apiNode(nil), c.registry...), c.edge...)
}

const (
	apiRegistryGroup = "registry"
	apiEdgeGroup     = "edge" // sorts first: the first claim is placed on it
	apiLogOrigin     = "ddnrs.registry/log"
)

// startAPICluster starts regSize registry members on 127.0.40.x and
// edgeSize members of group "edge" on 127.0.41.x, all with certificates
// of one cluster CA, the overlay on, the REST API on a port of its own choosing, the
// registry members holding the transparency log's signer key and every
// node following the log.
func startAPICluster(t *testing.T, regSize, edgeSize int) *apiCluster {
	t.Helper()
	needBinary(t)
	dir := t.TempDir()
	c := &apiCluster{dir: dir}
	runCmd(t, dir, ddnrsBin, "ops", "ca", "init", "--dir", filepath.Join(dir, "ca"))
	c.ca = filepath.Join(dir, "ca", "ca.crt")
	runCmd(t, dir, ddnrsBin, "ops", "cert", "issue", "--ca", filepath.Join(dir, "ca"), "--id", "operator", "--ip", "127.0.0.1", "--out", filepath.Join(dir, "ops"))
	c.opsCert, c.opsKey = filepath.Join(dir, "ops", "node.crt"), filepath.Join(dir, "ops", "node.key")
	logKey := filepath.Join(dir, "log.key")
	out := runCmd(t, dir, ddnrsBin, "log", "keygen", "--name", apiLogOrigin, "--out", logKey)
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, apiLogOrigin+"+") {
			c.vkey = l
		}
	}
	if c.vkey == "" {
		t.Fatalf("ddnrs log keygen printed no verifier key:\n%s", out)
	}
	var boot []string
	start := func(group string, idx int, ip string, registry string) *apiNode {
		name := fmt.Sprintf("%s%d", map[string]string{apiRegistryGroup: "reg", apiEdgeGroup: "edge"}[group], idx)
		nd := filepath.Join(dir, name)
		runCmd(t, dir, ddnrsBin, "ops", "cert", "issue", "--ca", filepath.Join(dir, "ca"), "--id", name, "--ip", ip, "--out", filepath.Join(nd, "tls"))
		// Port 0, read back from the ready file: a port picked here and
		// freed could be taken by the node's own listeners on ip:0 before
		// the node binds it.
		n := &apiNode{name: name, group: group, config: filepath.Join(nd, "node.toml"), ready: filepath.Join(nd, "ready.json"), data: filepath.Join(nd, "data")}
		var b strings.Builder
		fmt.Fprintf(&b, "data_dir = %q\ndns = %q\n", filepath.Join(nd, "data"), ip+":0")
		fmt.Fprintf(&b, "\n[group]\nname = %q\nid = %q\nraft_bind = %q\n", group, name, ip+":0")
		members := c.registry
		if group == apiEdgeGroup {
			members = c.edge
		}
		if len(members) == 0 {
			b.WriteString("bootstrap = true\n")
		} else {
			fmt.Fprintf(&b, "bootstrap = false\njoin = [%q]\n", members[0].Admin)
		}
		fmt.Fprintf(&b, "\n[admin]\nlisten = %q\n", ip+":0")
		fmt.Fprintf(&b, "\n[metrics]\nlisten = %q\n", ip+":0")
		fmt.Fprintf(&b, "\n[tls]\nca = %q\ncert = %q\nkey = %q\n", c.ca, filepath.Join(nd, "tls", "node.crt"), filepath.Join(nd, "tls", "node.key"))
		quoted := make([]string, len(boot))
		for i, a := range boot {
			quoted[i] = strconv.Quote(a)
		}
		fmt.Fprintf(&b, "\n[overlay]\nenabled = true\nlisten = [%q]\nbootstrap = [%s]\n", "/ip4/"+ip+"/udp/0/quic-v1", strings.Join(quoted, ", "))
		// The registry trusts X-Forwarded-For. It does so by itself for
		// requests from an address of its node directory, but on loopback
		// the edge nodes' requests come from 127.0.0.1, not their own
		// 127.0.41.x: without it every client of an edge node would share
		// one per-IP bucket at the registry.
		fmt.Fprintf(&b, "\n[api]\nlisten = %q\ntrust_proxy = %v\n", ip+":0", group == apiRegistryGroup)
		fmt.Fprintf(&b, "\n[registry]\nlog_verifier = %q\nlog_origin = %q\nfollow_interval = \"1s\"\nheartbeat_interval = \"500ms\"\nlease_check = \"500ms\"\n", c.vkey, apiLogOrigin)
		b.WriteString(registry)
		if err := os.MkdirAll(nd, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(n.config, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		n.p = startProc(t, dir, ddnrsBin, "node", "--config", n.config, "--ready-file", n.ready)
		waitUntil(t, name+" ready", func() error {
			if n.p.exited() {
				t.Fatalf("%s exited: %v\n%s", name, n.p.err, n.p.out.String())
			}
			raw, err := os.ReadFile(n.ready)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, n); err != nil {
				return err
			}
			if n.API == "" {
				return fmt.Errorf("%s: no api address in %s", name, raw)
			}
			return nil
		})
		n.api = "http://" + n.API
		if boot == nil {
			boot = n.Overlay
		}
		return n
	}
	for i := 1; i <= regSize; i++ {
		ip := fmt.Sprintf("127.0.40.%d", i)
		c.registry = append(c.registry, start(apiRegistryGroup, i, ip, fmt.Sprintf("member = true\nlog_key_file = %q\n", logKey)))
	}
	var urls, admins []string
	for _, n := range c.registry {
		urls = append(urls, strconv.Quote(n.api))
		admins = append(admins, strconv.Quote(n.Admin))
	}
	for i := 1; i <= edgeSize; i++ {
		ip := fmt.Sprintf("127.0.41.%d", i)
		c.edge = append(c.edge, start(apiEdgeGroup, i, ip,
			fmt.Sprintf("urls = [%s]\nadmin = [%s]\n", strings.Join(urls, ", "), strings.Join(admins, ", "))))
	}
	// The overlay admits only the directory's peers: wait until every
	// node has read every node's admission from the log.
	var ids []string
	for _, n := range c.all() {
		ids = append(ids, overlayPeerID(t, n.Overlay))
	}
	for _, n := range c.all() {
		waitFollowAdmits(t, n.name, n.data, ids)
	}
	return c
}

// ownersFirst returns every node, those of group first: a node of another
// group asked before the owning group's members have all applied a change
// may get (and cache, for the SOA minimum) a lagging member's answer.
func (c *apiCluster) ownersFirst(group string) []*apiNode {
	if group == apiEdgeGroup {
		return append(append([]*apiNode(nil), c.edge...), c.registry...)
	}
	return c.all()
}

// issueOperatorKey runs `ddnrs ops registry key issue` against the first
// registry member and returns the key it printed once.
func (c *apiCluster) issueOperatorKey(t *testing.T, args ...string) string {
	t.Helper()
	out := runCmd(t, c.dir, ddnrsBin, append([]string{"ops", "registry", "key", "issue",
		"--admin", c.registry[0].Admin, "--ca", c.ca, "--cert", c.opsCert, "--key", c.opsKey}, args...)...)
	k := apiKeyPattern.FindString(out)
	if k == "" {
		t.Fatalf("ddnrs ops registry key issue printed no key:\n%s", out)
	}
	return k
}

// apiKeyPattern matches an API key: ddnrs_<16 hex id>_<43 base64url>.
var apiKeyPattern = regexp.MustCompile(`ddnrs_[0-9a-f]{16}_[A-Za-z0-9_-]{43}`)

// keyID is the id part of an API key.
func apiKeyID(key string) string { return strings.SplitN(key, "_", 3)[1] }

// spec is api/openapi.json loaded and validated once, with a router
// finding its operations.
var (
	apiSpecOnce   sync.Once
	apiSpecRaw    []byte
	apiSpecRouter routers.Router
	apiSpecErr    error
)

func apiSpec(t *testing.T) ([]byte, routers.Router) {
	t.Helper()
	apiSpecOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("text/dns", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
		apiSpecRaw, apiSpecErr = os.ReadFile(filepath.Join("..", "api", "openapi.json"))
		if apiSpecErr != nil {
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(apiSpecRaw)
		if err != nil {
			apiSpecErr = err
			return
		}
		if apiSpecErr = doc.Validate(context.Background()); apiSpecErr != nil {
			return
		}
		doc.Servers = nil
		apiSpecRouter, apiSpecErr = legacy.NewRouter(doc)
	})
	if apiSpecErr != nil {
		t.Fatalf("api/openapi.json: %v", apiSpecErr)
	}
	return apiSpecRaw, apiSpecRouter
}

// apiResp is one answer of the API.
type apiResp struct {
	status int
	header http.Header
	body   []byte
}

// apiError is the JSON error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Field   string `json:"field"`
	} `json:"error"`
}

func (r apiResp) err() apiError {
	var e apiError
	_ = json.Unmarshal(r.body, &e)
	return e
}

// decode unmarshals the body into v, failing the test on error.
func (r apiResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// apiClient calls one node's REST API.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(n *apiNode) *apiClient {
	return &apiClient{base: n.api, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		// Long enough that a request sent with Expect: 100-continue waits
		// for the server's answer even on a loaded machine.
		ExpectContinueTimeout: 10 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: nextClientIP()}}).DialContext(ctx, network, addr)
		},
	}}}
}

// fixedIPClient is a client of n whose requests all come from ip.
func fixedIPClient(n *apiNode, ip string) *apiClient {
	return &apiClient{base: n.api, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		// Long enough that a request sent with Expect: 100-continue waits
		// for the server's answer even on a loaded machine.
		ExpectContinueTimeout: 10 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext(ctx, network, addr)
		},
	}}}
}

// clientSeq numbers the API requests; each comes from its own loopback
// address (127.0.64.1 to 127.0.127.250), as if from another client, so the API's
// per-IP limit on unauthenticated requests (a bucket of 40) does not
// throttle a test that makes hundreds. The per-IP limit itself is
// tested with fixedIPClient.
var clientSeq atomic.Uint32

func nextClientIP() net.IP {
	n := clientSeq.Add(1)
	return net.IPv4(127, 0, byte(64+(n/250)%64), byte(1+n%250))
}

// call sends a request (body: nil, []byte/string sent as is with
// contentType, or a value sent as JSON) with key as Bearer when set,
// and checks the answer against openapi.json.
func (c *apiClient) call(t *testing.T, method, path, key string, body any, contentType string, hdr ...string) apiResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	r := apiResp{status: res.StatusCode, header: res.Header, body: b}
	apiCheckSpec(t, req, r)
	return r
}

// apiCheckSpec fails the test unless openapi.json documents the
// operation, the status and the body of r.
func apiCheckSpec(t *testing.T, req *http.Request, r apiResp) {
	t.Helper()
	_, router := apiSpec(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s -> %d: no operation in openapi.json: %v", req.Method, req.URL.Path, r.status, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s -> %d %.300s: does not match openapi.json: %v", req.Method, req.URL.Path, r.status, r.body, err)
	}
}

// want fails the test unless r has status and, for errors, code.
func apiWant(t *testing.T, what string, r apiResp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d %s, want %d %s", what, r.status, r.body, status, code)
	}
	if code != "" {
		if e := r.err(); e.Error.Code != code || e.Error.Message == "" {
			t.Fatalf("%s: error %s, want code %q with a message", what, r.body, code)
		}
	}
}

// apiZone is a signed zone and its owner key, as the owner keeps them.
type apiZone struct {
	z       *zone.Zone
	key     *zone.Key
	keyFile string // the .private `ddnrs zone keygen` wrote
}

// text is the zone in BIND presentation form.
func (o *apiZone) text(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := zone.Write(&b, o.z); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// head is the signed head's note.
func (o *apiZone) head() string { return string(o.z.Head.Note) }

// apiSignZoneCLI makes a key with `ddnrs zone keygen` and signs a small zone
// for origin with `ddnrs zone sign`; it returns it parsed back.
func apiSignZoneCLI(t *testing.T, origin string, www string) *apiZone {
	t.Helper()
	dir := t.TempDir()
	priv := keygen(t, dir, origin)
	src := fmt.Sprintf("$ORIGIN %s\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A %s\n", origin, www)
	unsigned := filepath.Join(dir, "zone.txt")
	if err := os.WriteFile(unsigned, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "zone.signed")
	runCmd(t, dir, ddnrsBin, "zone", "sign", "--key", priv, "--out", signed, unsigned)
	pub, err := os.ReadFile(strings.TrimSuffix(priv, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pv, err := os.ReadFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := zone.ParseKey(pub, pv)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	head, err := os.ReadFile(signed + ".head")
	if err != nil {
		t.Fatal(err)
	}
	z, err := zone.ParseFile(bytes.NewReader(text), origin, "zone.signed")
	if err != nil {
		t.Fatal(err)
	}
	if z.Head, err = zone.ParseHead(head, k); err != nil {
		t.Fatal(err)
	}
	return &apiZone{z: z, key: k, keyFile: priv}
}

// rrset parses one RRset in presentation form (records of one name and
// type).
func apiRRset(t *testing.T, origin string, lines ...string) *zone.RRset {
	t.Helper()
	s := &zone.RRset{}
	for _, l := range lines {
		rr, err := dns.NewRR("$ORIGIN " + origin + "\n" + l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		s.Name, s.Type, s.TTL = zone.CanonicalName(rr.Header().Name), rr.Header().Rrtype, rr.Header().Ttl
		s.AddRecord(rr)
	}
	return s
}

// changed returns o's zone with puts applied and re-signed by k (the
// owner key unless another is given), with a serial one higher.
func (o *apiZone) changed(t *testing.T, k *zone.Key, puts ...*zone.RRset) *zone.Zone {
	t.Helper()
	if k == nil {
		k = o.key
	}
	nz, err := o.z.Apply(zone.Change{Put: puts}, k, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatalf("applying a change to %s: %v", o.z.Origin, err)
	}
	return nz
}

// apiEDE returns the first Extended DNS Error of m.
func apiEDE(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

// b64 is standard base64.
func apiB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
