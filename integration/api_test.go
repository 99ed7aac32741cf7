package integration

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// TestAPI runs the REST API of issue 6 against a real cluster: a
// registry group of three nodes and a group "edge" of two, every node with
// the overlay on, the API on and following the transparency log. Every
// endpoint, its success path and its errors, is called through a
// registry node and through an edge node (which proxies the registry
// endpoints), and every answer is checked against api/openapi.json.
func TestAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 5 node processes")
	}
	c := startAPICluster(t, 3, 2)
	reg, edge := newAPIClient(c.registry[0]), newAPIClient(c.edge[0])
	clients := []*apiClient{reg, edge}
	t0 := time.Now().UTC().Add(-time.Second).Truncate(time.Second)
	// The steps build on each other (keys, zones, log entries): the
	// first that fails ends the test.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.Fatalf("step %q failed; the later steps depend on it", name)
		}
	}

	// The operator's first reviewer key, through the admin endpoint.
	operator := c.issueOperatorKey(t, "--name", "reviewer", "--actions", "admin", "--suffix", ".")
	// The reviewer key the tests use: the operator's has the default
	// limits (60/min, burst 20), too few for this test.
	var admin string
	{
		r := reg.call(t, "POST", "/v1/keys", operator, map[string]any{"name": "busy reviewer",
			"scope":  map[string]any{"suffixes": []string{"."}, "actions": []string{"admin"}},
			"limits": map[string]any{"per_minute": 60000, "burst": 5000}}, "")
		apiWant(t, "POST /v1/keys with the operator's key", r, 201, "")
		admin = apiKeyPattern.FindString(string(r.body))
	}

	step("openapi", func(t *testing.T) {
		raw, _ := apiSpec(t)
		for _, cl := range clients {
			r := cl.call(t, "GET", "/v1/openapi.json", "", nil, "")
			apiWant(t, "GET /v1/openapi.json", r, 200, "")
			if !bytes.Equal(r.body, raw) {
				t.Errorf("%s serves %d bytes at /v1/openapi.json, not api/openapi.json", cl.base, len(r.body))
			}
		}
	})

	step("health lists both groups with leaders", func(t *testing.T) {
		for _, cl := range []*apiClient{reg} {
			var h struct {
				Nodes []struct {
					ID, Group string
					Healthy   bool
				} `json:"nodes"`
				Groups []struct {
					Name     string `json:"name"`
					Leader   string `json:"leader"`
					Members  int    `json:"members"`
					Registry bool   `json:"registry"`
				} `json:"groups"`
			}
			waitUntil(t, cl.base+" health lists both groups", func() error {
				r := cl.call(t, "GET", "/v1/health", "", nil, "")
				if r.status != 200 {
					return fmt.Errorf("status %d %s", r.status, r.body)
				}
				r.decode(t, &h)
				got := map[string]string{}
				for _, g := range h.Groups {
					if g.Leader != "" && (g.Name == apiEdgeGroup && g.Members == len(c.edge) && !g.Registry ||
						g.Name == apiRegistryGroup && g.Members == len(c.registry) && g.Registry) {
						got[g.Name] = g.Leader
					}
				}
				if len(got) != 2 || len(h.Nodes) != len(c.all()) {
					return fmt.Errorf("health %s", r.body)
				}
				return nil
			})
		}
	})

	step("health at a node of another group", func(t *testing.T) {
		// Proxied to the registry: the whole cluster, not only the node
		// itself (its own view, "partial", only when no registry answers).
		r := edge.call(t, "GET", "/v1/health", "", nil, "")
		apiWant(t, "GET /v1/health at "+c.edge[0].name, r, 200, "")
		type node struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		}
		var h struct {
			Nodes   []node `json:"nodes"`
			Partial bool   `json:"partial"`
		}
		r.decode(t, &h)
		if h.Partial || !slices.Contains(h.Nodes, node{ID: c.edge[0].name, Group: apiEdgeGroup}) ||
			!slices.Contains(h.Nodes, node{ID: c.registry[0].name, Group: apiRegistryGroup}) {
			t.Errorf("GET /v1/health at %s does not list it and a registry node, or is partial: %s", c.edge[0].name, r.body)
		}
	})

	step("unauthenticated", func(t *testing.T) {
		for _, cl := range clients {
			for _, key := range []string{"", "nonsense", "ddnrs_0123456789abcdef_" + strings.Repeat("A", 43)} {
				for _, ep := range [][2]string{{"GET", "/v1/keys"}, {"GET", "/v1/zones"}, {"GET", "/v1/audit"}, {"GET", "/v1/applications"}} {
					r := cl.call(t, ep[0], ep[1], key, nil, "")
					apiWant(t, fmt.Sprintf("%s %s%s with key %q", ep[0], cl.base, ep[1], key), r, 401, "unauthenticated")
				}
			}
		}
	})

	// A read-only key, issued by the reviewer, used for the 403s below.
	var readOnly string
	step("keys issue", func(t *testing.T) {
		r := reg.call(t, "POST", "/v1/keys", admin, map[string]any{"name": "reader",
			"scope": map[string]any{"suffixes": []string{"app.test."}, "actions": []string{"read"}}}, "")
		apiWant(t, "POST /v1/keys", r, 201, "")
		var out struct {
			Key   string `json:"key"`
			KeyID string `json:"key_id"`
		}
		r.decode(t, &out)
		readOnly = out.Key
		if !apiKeyPattern.MatchString(readOnly) || apiKeyID(readOnly) != out.KeyID {
			t.Fatalf("POST /v1/keys: no key in %s", r.body)
		}
		for _, tc := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"bad JSON", `{"name": "x", `, 400, "bad_json"},
			{"wrong type", `{"name": 7}`, 400, "bad_json"},
			{"missing scope", `{"name": "x"}`, 400, "missing_field"},
			{"unknown action", `{"name": "x", "scope": {"suffixes": ["."], "actions": ["fly"]}}`, 400, "invalid_field"},
		} {
			for _, cl := range clients {
				r := cl.call(t, "POST", "/v1/keys", admin, tc.body, "application/json")
				apiWant(t, "POST /v1/keys "+tc.name+" via "+cl.base, r, tc.status, tc.code)
			}
		}
		r = edge.call(t, "POST", "/v1/keys", readOnly, map[string]any{"name": "x",
			"scope": map[string]any{"suffixes": []string{"."}, "actions": []string{"admin"}}}, "")
		apiWant(t, "POST /v1/keys with a non-admin key", r, 403, "out_of_scope")
	})

	// Applications: submitted through the edge node (proxied), reviewed.
	var owner string // the key the approval issued
	step("applications", func(t *testing.T) {
		good := map[string]any{"domains": []string{"app.test", "two.test"}, "project": "integration tests",
			"usage": "zones for the API test", "responsible": "Engineer I", "contact": "i@example.org"}
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"bad JSON", `{"domains": [`, 400, "bad_json"},
			{"not an object", `[1, 2]`, 400, "bad_json"},
			{"missing project", map[string]any{"domains": []string{"x.test"}, "usage": "u", "responsible": "r", "contact": "c@example.org"}, 400, "missing_field"},
			{"missing domains", map[string]any{"project": "p", "usage": "u", "responsible": "r", "contact": "c@example.org"}, 400, "missing_field"},
		} {
			for _, cl := range clients {
				ct := ""
				if _, ok := tc.body.(string); ok {
					ct = "application/json"
				}
				r := cl.call(t, "POST", "/v1/applications", "", tc.body, ct)
				apiWant(t, "POST /v1/applications "+tc.name+" via "+cl.base, r, tc.status, tc.code)
			}
		}
		submit := func() (id, token string) {
			r := edge.call(t, "POST", "/v1/applications", "", good, "")
			apiWant(t, "POST /v1/applications", r, 201, "")
			var out struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Token  string `json:"status_token"`
			}
			r.decode(t, &out)
			if out.ID == "" || out.Token == "" || out.Status != "pending" {
				t.Fatalf("POST /v1/applications: %s", r.body)
			}
			return out.ID, out.Token
		}
		id, token := submit()
		idMore, _ := submit()
		idReject, tokReject := submit()
		status := func(cl *apiClient, id, q, key string) string {
			r := cl.call(t, "GET", "/v1/applications/"+id+q, key, nil, "")
			apiWant(t, "GET /v1/applications/"+id, r, 200, "")
			var a struct {
				Status string `json:"status"`
				KeyID  string `json:"key_id"`
			}
			r.decode(t, &a)
			return a.Status
		}
		if s := status(edge, id, "?token="+url.QueryEscape(token), ""); s != "pending" {
			t.Errorf("status by ?token= = %q, want pending", s)
		}
		if s := status(reg, id, "", token); s != "pending" {
			t.Errorf("status by Bearer token = %q, want pending", s)
		}
		if s := status(reg, id, "", admin); s != "pending" {
			t.Errorf("status by the reviewer = %q, want pending", s)
		}
		r := edge.call(t, "GET", "/v1/applications/"+id+"?token=wrong", "", nil, "")
		if r.status < 400 || r.status >= 500 {
			t.Errorf("status with a wrong token: %d %s, want a 4xx", r.status, r.body)
		}
		r = reg.call(t, "GET", "/v1/applications/"+id+"?token="+url.QueryEscape(tokReject), "", nil, "")
		if r.status < 400 || r.status >= 500 {
			t.Errorf("status with another application's token: %d %s, want a 4xx", r.status, r.body)
		}
		r = edge.call(t, "GET", "/v1/applications?status=pending", admin, nil, "")
		apiWant(t, "GET /v1/applications?status=pending", r, 200, "")
		for _, x := range []string{id, idMore, idReject} {
			if !strings.Contains(string(r.body), x) {
				t.Errorf("GET /v1/applications?status=pending lacks %s: %s", x, r.body)
			}
		}
		r = reg.call(t, "GET", "/v1/applications", readOnly, nil, "")
		apiWant(t, "GET /v1/applications with a non-admin key", r, 403, "out_of_scope")

		review := map[string]any{"decision": "approve", "message": "welcome",
			"scope":  map[string]any{"suffixes": []string{"app.test.", "two.test."}, "actions": []string{"read", "create", "update", "delete"}},
			"limits": map[string]any{"per_minute": 600, "burst": 200}}
		r = edge.call(t, "POST", "/v1/applications/"+id+"/review", readOnly, review, "")
		apiWant(t, "review by a non-admin key", r, 403, "out_of_scope")
		r = reg.call(t, "POST", "/v1/applications/"+id+"/review", admin, `{"decision": `, "application/json")
		apiWant(t, "review with bad JSON", r, 400, "bad_json")
		r = reg.call(t, "POST", "/v1/applications/"+id+"/review", admin, map[string]any{"message": "m"}, "")
		apiWant(t, "review without a decision", r, 400, "missing_field")
		r = edge.call(t, "GET", "/v1/applications/nosuchapp", admin, nil, "")
		apiWant(t, "an unknown application", r, 404, "not_found")
		// With Expect: 100-continue the server refuses by Content-Length
		// and the body is never sent; sent at once, the server's reset
		// after reading 1 MiB can race its 413 on a loaded machine.
		r = reg.call(t, "POST", "/v1/applications", "", strings.Repeat(" ", 2<<20)+"{}", "application/json", "Expect", "100-continue")
		apiWant(t, "a 2 MiB application", r, 413, "too_large")
		r = reg.call(t, "POST", "/v1/applications/nosuchapp/review", admin, review, "")
		apiWant(t, "review of an unknown application", r, 404, "not_found")

		r = edge.call(t, "POST", "/v1/applications/"+id+"/review", admin, review, "")
		apiWant(t, "approve", r, 200, "")
		owner = apiKeyPattern.FindString(string(r.body))
		if owner == "" || !strings.Contains(string(r.body), apiKeyID(owner)) {
			t.Fatalf("approval shows no key: %s", r.body)
		}
		if s := status(edge, id, "?token="+url.QueryEscape(token), ""); s != "approved" {
			t.Errorf("status after approval = %q", s)
		}
		// Shown once: never again, by any endpoint.
		for _, p := range []string{"/v1/applications/" + id, "/v1/keys", "/v1/keys/" + apiKeyID(owner)} {
			r := reg.call(t, "GET", p, admin, nil, "")
			apiWant(t, "GET "+p, r, 200, "")
			if strings.Contains(string(r.body), owner) || strings.Contains(string(r.body), owner[len("ddnrs_0123456789abcdef_"):]) {
				t.Errorf("GET %s shows the key again: %s", p, r.body)
			}
		}
		r = reg.call(t, "POST", "/v1/applications/"+id+"/review", admin, review, "")
		apiWant(t, "second review of an approved application", r, 422, "rejected")

		r = reg.call(t, "POST", "/v1/applications/"+idMore+"/review", admin, map[string]any{"decision": "more_info", "message": "which TLD?"}, "")
		apiWant(t, "more_info", r, 200, "")
		r = reg.call(t, "POST", "/v1/applications/"+idReject+"/review", admin, map[string]any{"decision": "reject", "message": "no"}, "")
		apiWant(t, "reject", r, 200, "")
		if s := status(reg, idReject, "?token="+url.QueryEscape(tokReject), ""); s != "rejected" {
			t.Errorf("status after rejection = %q", s)
		}
		if s := status(reg, idMore, "", admin); s != "more_info" {
			t.Errorf("status after more_info = %q", s)
		}
		r = reg.call(t, "POST", "/v1/applications/"+idReject+"/review", admin, review, "")
		apiWant(t, "approving a rejected application", r, 422, "rejected")
		r = edge.call(t, "POST", "/v1/applications/"+idMore+"/review", admin, map[string]any{"decision": "maybe"}, "")
		apiWant(t, "an unknown decision", r, 400, "invalid_field")
	})

	// Zones: app.test. is placed on "edge" (fewest claims, first by name),
	// two.test. then on "registry".
	app := apiSignZoneCLI(t, "app.test.", "192.0.2.10")
	two := apiSignZoneCLI(t, "two.test.", "192.0.2.20")
	var cp1 []byte // a checkpoint after the first registration
	step("zones create", func(t *testing.T) {
		r := reg.call(t, "POST", "/v1/zones", owner, `{"zone_file": 3}`, "application/json")
		apiWant(t, "POST /v1/zones bad JSON", r, 400, "bad_json")
		r = reg.call(t, "POST", "/v1/zones", owner, map[string]any{"head": app.head()}, "")
		apiWant(t, "POST /v1/zones without zone_file", r, 400, "missing_field")
		r = edge.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": app.text(t)}, "")
		apiWant(t, "POST /v1/zones without head", r, 400, "missing_field")
		other := apiSignZoneCLI(t, "other.test.", "192.0.2.30")
		r = edge.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": other.text(t), "head": other.head()}, "")
		apiWant(t, "POST /v1/zones outside the key's suffixes", r, 403, "out_of_scope")

		for _, z := range []struct {
			o     *apiZone
			cl    *apiClient
			group string
		}{{app, reg, apiEdgeGroup}, {two, edge, apiRegistryGroup}} {
			r := z.cl.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": z.o.text(t), "head": z.o.head()}, "")
			apiWant(t, "POST /v1/zones "+z.o.z.Origin, r, 201, "")
			var out struct {
				Zone   string `json:"zone"`
				Group  string `json:"group"`
				Serial uint32 `json:"serial"`
			}
			r.decode(t, &out)
			if out.Zone != z.o.z.Origin || out.Group != z.group || out.Serial != z.o.z.Serial() {
				t.Errorf("POST /v1/zones %s = %s, want group %s serial %d", z.o.z.Origin, r.body, z.group, z.o.z.Serial())
			}
			if cp1 == nil {
				r := reg.call(t, "GET", "/v1/log/checkpoint", "", nil, "")
				apiWant(t, "GET /v1/log/checkpoint", r, 200, "")
				cp1 = r.body
			}
		}
		// A zone inside app.test. with another owner key needs app.test.'s
		// owner's delegation (`ddnrs zone delegate`).
		sub := apiSignZoneCLI(t, "sub.app.test.", "192.0.2.40")
		r = reg.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": sub.text(t), "head": sub.head()}, "")
		apiWant(t, "POST /v1/zones inside another owner's zone without delegation", r, 422, "rejected")
		if e := r.err(); e.Error.Reason != string(raftfsm.ReasonDelegationRequired) {
			t.Errorf("without delegation: reason %q, want %q", e.Error.Reason, raftfsm.ReasonDelegationRequired)
		}
		forged := ed25519.Sign(sub.key.Private, raftfsm.DelegationStatement("sub.app.test.", sub.key.DNSKEY.String()))
		r = edge.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": sub.text(t), "head": sub.head(), "delegation": forged}, "")
		apiWant(t, "POST /v1/zones with a delegation signed by the child's own key", r, 422, "rejected")
		if e := r.err(); e.Error.Reason != string(raftfsm.ReasonDelegationInvalid) {
			t.Errorf("forged delegation: reason %q, want %q", e.Error.Reason, raftfsm.ReasonDelegationInvalid)
		}
		out := runCmd(t, "", ddnrsBin, "zone", "delegate", "sub.app.test.", "--key", app.keyFile,
			"--child-key", strings.TrimSuffix(sub.keyFile, ".private")+".key")
		deleg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("ddnrs zone delegate printed %q: %v", out, err)
		}
		r = edge.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": sub.text(t), "head": sub.head(), "delegation": deleg}, "")
		apiWant(t, "POST /v1/zones with app.test.'s delegation", r, 201, "")

		// The same name again, with another owner key: claimed.
		again := apiSignZoneCLI(t, "app.test.", "192.0.2.99")
		for _, cl := range clients {
			r := cl.call(t, "POST", "/v1/zones", owner, map[string]any{"zone_file": again.text(t), "head": again.head()}, "")
			apiWant(t, "POST /v1/zones of a claimed name via "+cl.base, r, 409, "name_claimed")
		}
	})

	// Both zones answer at every node of both groups.
	for _, z := range []struct{ name, addr, group string }{{"www.app.test.", "192.0.2.10", apiEdgeGroup}, {"www.two.test.", "192.0.2.20", apiRegistryGroup}} {
		for _, n := range c.ownersFirst(z.group) {
			waitAnswer(t, n, z.name, dns.TypeA, z.addr)
		}
	}

	step("zones read", func(t *testing.T) {
		for _, cl := range clients {
			r := cl.call(t, "GET", "/v1/zones", owner, nil, "")
			apiWant(t, "GET /v1/zones", r, 200, "")
			var list struct {
				Zones []struct {
					Zone, Group string
				} `json:"zones"`
			}
			r.decode(t, &list)
			if len(list.Zones) != 3 {
				t.Errorf("GET /v1/zones via %s: %s, want app.test., sub.app.test. and two.test.", cl.base, r.body)
			}
			r = cl.call(t, "GET", "/v1/zones/app.test.", owner, nil, "")
			apiWant(t, "GET /v1/zones/app.test.", r, 200, "")
			var got struct {
				Zone     string `json:"zone"`
				OwnerKey string `json:"owner_key"`
				Group    string `json:"group"`
				Serial   uint32 `json:"serial"`
			}
			r.decode(t, &got)
			if got.Group != apiEdgeGroup || got.Serial != app.z.Serial() || !strings.Contains(got.OwnerKey, app.key.DNSKEY.PublicKey) {
				t.Errorf("GET /v1/zones/app.test. = %s", r.body)
			}
			r = cl.call(t, "GET", "/v1/zones/nothere.test.", admin, nil, "")
			apiWant(t, "GET an unknown zone", r, 404, "not_found")
			r = cl.call(t, "GET", "/v1/zones/app.test./records?name=www&type=A", owner, nil, "")
			apiWant(t, "GET records", r, 200, "")
			var recs struct {
				RRsets []struct {
					Name    string   `json:"name"`
					Type    string   `json:"type"`
					Records []string `json:"records"`
					RRSIGs  []string `json:"rrsigs"`
				} `json:"rrsets"`
			}
			r.decode(t, &recs)
			if len(recs.RRsets) != 1 || recs.RRsets[0].Name != "www.app.test." || len(recs.RRsets[0].RRSIGs) == 0 ||
				!strings.Contains(strings.Join(recs.RRsets[0].Records, " "), "192.0.2.10") {
				t.Errorf("GET records www A = %s", r.body)
			}
			r = cl.call(t, "GET", "/v1/zones/app.test./records?type=NOSUCHTYPE", owner, nil, "")
			apiWant(t, "GET records with a bad type", r, 400, "invalid_field")
			r = cl.call(t, "GET", "/v1/zones/two.test./export", owner, nil, "")
			apiWant(t, "GET export", r, 200, "")
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/dns") {
				t.Errorf("export Content-Type %q", ct)
			}
			ez, err := zone.ParseFile(bytes.NewReader(r.body), "two.test.", "export")
			if err != nil {
				t.Fatalf("export does not parse: %v\n%s", err, r.body)
			}
			hb, err := base64.StdEncoding.DecodeString(r.header.Get("Ddnrs-Zone-Head"))
			if err != nil {
				t.Fatalf("export head header: %v", err)
			}
			if ez.Head, err = zone.ParseHead(hb, two.key); err != nil || ez.Serial() != two.z.Serial() || ez.Tree().Root() != two.z.Tree().Root() {
				t.Errorf("export of two.test.: head %v, serial %d root differs=%v", err, ez.Serial(), ez.Tree().Root() != two.z.Tree().Root())
			}
		}
	})

	step("changes and import", func(t *testing.T) {
		txt := apiRRset(t, "app.test.", `info 300 TXT "v2"`)
		next := app.changed(t, nil, txt)
		cmd, err := raftfsm.ChangeCommand(app.z, next, app.key)
		if err != nil {
			t.Fatal(err)
		}
		r := reg.call(t, "POST", "/v1/zones/app.test./changes", owner, `{"command": "%%%"}`, "application/json")
		apiWant(t, "changes with bad base64", r, 400, "bad_json")
		r = reg.call(t, "POST", "/v1/zones/app.test./changes", owner, map[string]any{}, "")
		apiWant(t, "changes without command", r, 400, "missing_field")
		r = reg.call(t, "POST", "/v1/zones/app.test./changes?dry_run=maybe", owner, map[string]any{"command": cmd}, "")
		apiWant(t, "changes with dry_run=maybe", r, 400, "invalid_field")
		r = edge.call(t, "POST", "/v1/zones/two.test./changes", owner, map[string]any{"command": cmd}, "")
		apiWant(t, "a change of app.test. sent to two.test.", r, 400, "invalid_field")

		// A change signed by another key than the zone's owner key.
		wrongKey, err := zone.GenerateKey("app.test.", true, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := raftfsm.ChangeCommand(app.z, app.changed(t, wrongKey, txt), wrongKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range clients {
			r := cl.call(t, "POST", "/v1/zones/app.test./changes", owner, map[string]any{"command": forged}, "")
			apiWant(t, "a change signed by the wrong key via "+cl.base, r, 422, "rejected")
			if e := r.err(); e.Error.Reason == "" {
				t.Errorf("a change signed by the wrong key: no reason in %s", r.body)
			}
		}

		// Dry run on the zone the registry's own group holds: checked, not applied.
		tnext := two.changed(t, nil, apiRRset(t, "two.test.", `info 300 TXT "dry"`))
		tcmd, err := raftfsm.ChangeCommand(two.z, tnext, two.key)
		if err != nil {
			t.Fatal(err)
		}
		r = edge.call(t, "POST", "/v1/zones/two.test./changes?dry_run=true", owner, tcmd, "application/octet-stream")
		apiWant(t, "dry run", r, 200, "")
		var dr struct {
			Serial uint32 `json:"serial"`
			DryRun bool   `json:"dry_run"`
		}
		r.decode(t, &dr)
		if !dr.DryRun || dr.Serial != tnext.Serial() {
			t.Errorf("dry run = %s, want dry_run true serial %d", r.body, tnext.Serial())
		}
		r = reg.call(t, "GET", "/v1/zones/two.test.", owner, nil, "")
		r.decode(t, &dr)
		if dr.Serial != two.z.Serial() {
			t.Errorf("after a dry run two.test. has serial %d, want %d unchanged", dr.Serial, two.z.Serial())
		}
		// Dry run of a zone placed on the other group.
		// The registry node asks app.test.'s group to check it: checked
		// there, applied nowhere.
		r = reg.call(t, "POST", "/v1/zones/app.test./changes?dry_run=true", owner, map[string]any{"command": cmd}, "")
		apiWant(t, "dry run of a zone on another group than the registry's", r, 200, "")
		dr = struct {
			Serial uint32 `json:"serial"`
			DryRun bool   `json:"dry_run"`
		}{}
		r.decode(t, &dr)
		if !dr.DryRun || dr.Serial != next.Serial() {
			t.Errorf("dry run on another group = %s, want dry_run true serial %d", r.body, next.Serial())
		}
		for _, cl := range clients {
			r = cl.call(t, "GET", "/v1/zones/app.test.", owner, nil, "")
			dr.Serial = 0
			r.decode(t, &dr)
			if dr.Serial != app.z.Serial() {
				t.Errorf("after a dry run on another group, %s says app.test. has serial %d, want %d unchanged", cl.base, dr.Serial, app.z.Serial())
			}
		}

		// The real change, through the edge node.
		r = edge.call(t, "POST", "/v1/zones/app.test./changes", owner, map[string]any{"command": cmd}, "")
		apiWant(t, "change", r, 200, "")
		app.z = next
		for _, n := range c.ownersFirst(apiEdgeGroup) {
			waitAnswer(t, n, "info.app.test.", dns.TypeTXT, `"v2"`)
		}

		// Import: the whole signed zone, text/dns with the head header.
		inext := two.changed(t, nil, apiRRset(t, "two.test.", "mail 300 A 192.0.2.25"))
		body := (&apiZone{z: inext}).text(t)
		hdr := []string{"Ddnrs-Zone-Head", apiB64(inext.Head.Note)}
		r = reg.call(t, "POST", "/v1/zones/two.test./import", owner, body, "text/plain", hdr...)
		apiWant(t, "import as text/plain", r, 415, "unsupported_media_type")
		r = reg.call(t, "POST", "/v1/zones/two.test./import", owner, body, "text/dns")
		apiWant(t, "import without a head", r, 400, "missing_field")
		wrongTwo, err := zone.GenerateKey("two.test.", true, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// The zone signed by another key (only its DNSKEY at the apex):
		// the group refuses the change (422 and why). With both DNSKEYs at
		// the apex the API takes either as the file's key (both have the
		// SEP bit): the head is refused (400, field head) or the group
		// refuses the change (422).
		src := "$ORIGIN two.test.\n$TTL 300\n@ SOA ns1 hostmaster 100 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.20\nmail A 192.0.2.26\n"
		uz, err := zone.ParseFile(strings.NewReader(src), "two.test.", "wrong")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			z     func() (*zone.Zone, error)
			codes []string
		}{
			{"signed by another key", func() (*zone.Zone, error) { return zone.Sign(uz, wrongTwo, zone.DefaultSignOptions(time.Now())) }, []string{"rejected"}},
			{"head by another key", func() (*zone.Zone, error) {
				return zone.Sign(two.changed(t, nil, apiRRset(t, "two.test.", "mail 300 A 192.0.2.26")), wrongTwo, zone.DefaultSignOptions(time.Now()))
			}, []string{"invalid_field", "rejected"}},
		} {
			wz, err := tc.z()
			if err != nil {
				t.Fatal(err)
			}
			r = edge.call(t, "POST", "/v1/zones/two.test./import", owner, (&apiZone{z: wz}).text(t), "text/dns", "Ddnrs-Zone-Head", apiB64(wz.Head.Note))
			e := r.err()
			if !slices.Contains(tc.codes, e.Error.Code) || r.status != map[string]int{"rejected": 422, "invalid_field": 400}[e.Error.Code] {
				t.Fatalf("import of a zone %s: %d %s, want one of %v", tc.name, r.status, r.body, tc.codes)
			}
			if e.Error.Reason == "" && e.Error.Field != "head" {
				t.Errorf("import of a zone %s: no reason or field in %s", tc.name, r.body)
			}
		}
		r = reg.call(t, "POST", "/v1/zones/two.test./import?dry_run=true", owner, body, "text/dns", hdr...)
		apiWant(t, "import dry run", r, 200, "")
		r = edge.call(t, "POST", "/v1/zones/two.test./import", owner, body, "text/dns", hdr...)
		apiWant(t, "import", r, 200, "")
		two.z = inext
		for _, n := range c.ownersFirst(apiRegistryGroup) {
			waitAnswer(t, n, "mail.two.test.", dns.TypeA, "192.0.2.25")
		}
	})

	// Key rotation through the changes endpoint: the claim moves to the
	// new key first (owner-key-change in the log), then the zone; every
	// node, of both groups, answers signed by the new key.
	step("key rotation", func(t *testing.T) {
		nk, err := zone.GenerateKey("app.test.", true, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var rrs []dns.RR
		for _, set := range app.z.RRsets() {
			switch set.Type {
			case dns.TypeDNSKEY, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
				continue
			}
			for _, rr := range set.Records() {
				c := dns.Copy(rr)
				if soa, ok := c.(*dns.SOA); ok {
					soa.Serial++
				}
				rrs = append(rrs, c)
			}
		}
		u, err := zone.New("app.test.", rrs)
		if err != nil {
			t.Fatal(err)
		}
		next, err := zone.Sign(u, nk, zone.DefaultSignOptions(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		forged, err := raftfsm.RotateCommand(app.z, next, nk, nk)
		if err != nil {
			t.Fatal(err)
		}
		r := edge.call(t, "POST", "/v1/zones/app.test./changes", owner, map[string]any{"command": forged}, "")
		apiWant(t, "a rotation signed by the new key itself", r, 422, "rejected")
		cmd, err := raftfsm.RotateCommand(app.z, next, app.key, nk)
		if err != nil {
			t.Fatal(err)
		}
		r = reg.call(t, "POST", "/v1/zones/app.test./changes", owner, map[string]any{"command": cmd}, "")
		apiWant(t, "rotation", r, 200, "")
		r = edge.call(t, "GET", "/v1/zones/app.test.", owner, nil, "")
		apiWant(t, "GET /v1/zones/app.test. after the rotation", r, 200, "")
		var cl struct {
			OwnerKey   string `json:"owner_key"`
			Generation uint32 `json:"generation"`
		}
		r.decode(t, &cl)
		if cl.Generation != 1 || !strings.Contains(cl.OwnerKey, nk.DNSKEY.PublicKey) {
			t.Errorf("claim after the rotation: %s", r.body)
		}
		app.z, app.key = next, nk
		for _, n := range c.ownersFirst(apiEdgeGroup) {
			waitUntil(t, n.name+" answers www.app.test. signed by the new key", func() error {
				m, err := askErr(n.DNS, "www.app.test.", dns.TypeA, true)
				if err != nil {
					return err
				}
				for _, rr := range m.Answer {
					if sig, ok := rr.(*dns.RRSIG); ok && sig.KeyTag == nk.Tag() {
						return nil
					}
				}
				return fmt.Errorf("%s, %v: no RRSIG by key tag %d", dns.RcodeToString[m.Rcode], m.Answer, nk.Tag())
			})
		}
	})

	// Keys with narrow scopes, limits and expiry, issued by the reviewer.
	issue := func(t *testing.T, body map[string]any) string {
		t.Helper()
		r := edge.call(t, "POST", "/v1/keys", admin, body, "")
		apiWant(t, "POST /v1/keys", r, 201, "")
		k := apiKeyPattern.FindString(string(r.body))
		if k == "" {
			t.Fatalf("POST /v1/keys: no key in %s", r.body)
		}
		return k
	}
	step("scopes", func(t *testing.T) {
		acme := issue(t, map[string]any{"name": "acme", "scope": map[string]any{"suffixes": []string{"app.test."},
			"labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"read", "update"}}})
		other := issue(t, map[string]any{"name": "other", "scope": map[string]any{"suffixes": []string{"other.test."}, "actions": []string{"read"}}})

		put := func(lines ...string) []byte {
			next := app.changed(t, nil, apiRRset(t, "app.test.", lines...))
			cmd, err := raftfsm.ChangeCommand(app.z, next, app.key)
			if err != nil {
				t.Fatal(err)
			}
			return cmd
		}
		for _, tc := range []struct {
			name, key, method, path string
			body                    any
			what                    string // which part of the scope
		}{
			{"suffix", other, "GET", "/v1/zones/app.test.", nil, "suffix"},
			{"suffix records", other, "GET", "/v1/zones/app.test./records", nil, "suffix"},
			{"action", readOnly, "POST", "/v1/zones/app.test./changes", map[string]any{"command": put(`info 300 TXT "ro"`)}, "action"},
			{"action suspend", owner, "POST", "/v1/zones/app.test./suspend", map[string]any{"reason": "x"}, "action"},
			{"label", acme, "POST", "/v1/zones/app.test./changes", map[string]any{"command": put(`www 300 TXT "x"`)}, "label"},
			{"type", acme, "POST", "/v1/zones/app.test./changes", map[string]any{"command": put("_acme-challenge 300 A 192.0.2.7")}, "type"},
		} {
			for _, cl := range clients {
				r := cl.call(t, tc.method, tc.path, tc.key, tc.body, "")
				apiWant(t, tc.name+" via "+cl.base, r, 403, "out_of_scope")
				if m := r.err().Error.Message; !strings.Contains(m, tc.what) {
					t.Errorf("%s: message %q does not say %q", tc.name, m, tc.what)
				}
			}
		}
		// Within the narrow scope: the ACME TXT record.
		next := app.changed(t, nil, apiRRset(t, "app.test.", `_acme-challenge 300 TXT "token"`))
		cmd, err := raftfsm.ChangeCommand(app.z, next, app.key)
		if err != nil {
			t.Fatal(err)
		}
		r := edge.call(t, "POST", "/v1/zones/app.test./changes", acme, map[string]any{"command": cmd}, "")
		apiWant(t, "an ACME change with the ACME key", r, 200, "")
		app.z = next
		// Read back: the API reads the zone from a member of its group,
		// which may not have applied the change yet.
		waitUntil(t, "the ACME record in GET records", func() error {
			r := reg.call(t, "GET", "/v1/zones/app.test./records?name=_acme-challenge&type=TXT", readOnly, nil, "")
			apiWant(t, "records with the read-only key", r, 200, "")
			if !strings.Contains(string(r.body), "token") {
				return fmt.Errorf("not there: %s", r.body)
			}
			return nil
		})

		// The ACME key's TXT change that also rewrites the apex SOA beyond
		// its serial (names, negative TTL): refused, the SOA is data.
		serial := app.z.Serial() + 1
		soa := apiRRset(t, "app.test.", fmt.Sprintf("@ 300 SOA evil.attacker.example. root.attacker.example. %d 7200 3600 1209600 86400", serial))
		hijack := app.changed(t, nil, apiRRset(t, "app.test.", `_acme-challenge 300 TXT "token2"`), soa)
		hcmd, err := raftfsm.ChangeCommand(app.z, hijack, app.key)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range clients {
			r := cl.call(t, "POST", "/v1/zones/app.test./changes", acme, map[string]any{"command": hcmd}, "")
			apiWant(t, "the ACME key rewriting the apex SOA via "+cl.base, r, 403, "out_of_scope")
			if m := r.err().Error.Message; !strings.Contains(m, "label") {
				t.Errorf("SOA rewrite: message %q does not say label", m)
			}
		}

		// A key whose scope allows test. claims test. above other owners'
		// zones: refused, naming them, unless each child's owner consents.
		wide := issue(t, map[string]any{"name": "wide", "scope": map[string]any{"suffixes": []string{"test."}, "actions": []string{"read", "create"}}})
		parent := apiSignZoneCLI(t, "test.", "192.0.2.66")
		r = edge.call(t, "POST", "/v1/zones", wide, map[string]any{"zone_file": parent.text(t), "head": parent.head()}, "")
		apiWant(t, "POST /v1/zones test. above app.test.", r, 422, "rejected")
		if e := r.err(); e.Error.Reason != string(raftfsm.ReasonChildrenClaimed) || !strings.Contains(e.Error.Message, "app.test.") {
			t.Errorf("claim above app.test.: reason %q message %q, want %s naming app.test.", e.Error.Reason, e.Error.Message, raftfsm.ReasonChildrenClaimed)
		}
		// With the child's consent (ddnrs zone consent), on a fresh pair.
		shop := apiSignZoneCLI(t, "shop.corp.test.", "192.0.2.67")
		r = edge.call(t, "POST", "/v1/zones", wide, map[string]any{"zone_file": shop.text(t), "head": shop.head()}, "")
		apiWant(t, "POST /v1/zones shop.corp.test.", r, 201, "")
		corp := apiSignZoneCLI(t, "corp.test.", "192.0.2.68")
		body := map[string]any{"zone_file": corp.text(t), "head": corp.head()}
		r = reg.call(t, "POST", "/v1/zones", wide, body, "")
		apiWant(t, "POST /v1/zones corp.test. without its child's consent", r, 422, "rejected")
		if e := r.err(); e.Error.Reason != string(raftfsm.ReasonChildrenClaimed) || !strings.Contains(e.Error.Message, "shop.corp.test.") {
			t.Errorf("claim above shop.corp.test.: reason %q message %q", e.Error.Reason, e.Error.Message)
		}
		forged := ed25519.Sign(corp.key.Private, raftfsm.ParentConsentStatement("corp.test.", corp.key.DNSKEY.String(), "shop.corp.test."))
		body["consents"] = []map[string]any{{"zone": "shop.corp.test.", "signature": forged}}
		r = reg.call(t, "POST", "/v1/zones", wide, body, "")
		apiWant(t, "POST /v1/zones corp.test. with a consent the parent signed itself", r, 422, "rejected")
		if e := r.err(); e.Error.Reason != string(raftfsm.ReasonConsentInvalid) {
			t.Errorf("forged consent: reason %q, want %s", e.Error.Reason, raftfsm.ReasonConsentInvalid)
		}
		out := runCmd(t, "", ddnrsBin, "zone", "consent", "corp.test.", "--key", shop.keyFile,
			"--parent-key", strings.TrimSuffix(corp.keyFile, ".private")+".key")
		consent, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("ddnrs zone consent printed %q: %v", out, err)
		}
		body["consents"] = []map[string]any{{"zone": "shop.corp.test.", "signature": consent}}
		r = edge.call(t, "POST", "/v1/zones", wide, body, "")
		apiWant(t, "POST /v1/zones corp.test. with shop.corp.test.'s consent", r, 201, "")
	})

	// The owner's own tool: ddnrs zone publish --api with an API key and
	// the owner key, no cluster certificate. Create, dry run, change with
	// a date serial, a refusal out of scope, delete.
	step("owner CLI over REST", func(t *testing.T) {
		cliKey := issue(t, map[string]any{"name": "cli", "scope": map[string]any{"suffixes": []string{"cli.test."},
			"actions": []string{"read", "create", "update", "delete"}}})
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "api.key")
		if err := os.WriteFile(keyFile, []byte(cliKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		priv := keygen(t, dir, "cli.test.")
		zf := filepath.Join(dir, "cli.test.zone")
		write := func(txt string) {
			t.Helper()
			src := fmt.Sprintf("$ORIGIN cli.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.70\ninfo TXT %q\n", txt)
			if err := os.WriteFile(zf, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		publish := func(extra ...string) (string, string, error) {
			args := append([]string{"zone", "publish", "--api", edge.base, "--api-key-file", keyFile, "--key", priv}, extra...)
			return tryCmd(dir, ddnrsBin, append(args, zf)...)
		}
		group := ""
		serialOf := func() uint32 {
			t.Helper()
			var z struct {
				Serial uint32 `json:"serial"`
				Group  string `json:"group"`
			}
			r := reg.call(t, "GET", "/v1/zones/cli.test.", cliKey, nil, "")
			apiWant(t, "GET /v1/zones/cli.test.", r, 200, "")
			r.decode(t, &z)
			group = z.Group
			return z.Serial
		}

		write("v1")
		out, errOut, err := publish()
		if err != nil || !strings.Contains(out, "created cli.test.") || !strings.Contains(out, "+ info.cli.test. TXT") {
			t.Fatalf("publish --api (create): %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		first := serialOf()

		write("v2")
		out, errOut, err = publish("--dry-run")
		if err != nil || !strings.Contains(out, "dry run: the group accepts") || !strings.Contains(out, `~ info.cli.test. TXT 300 "v2"`) {
			t.Fatalf("publish --api --dry-run: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		if got := serialOf(); got != first {
			t.Errorf("after a dry run cli.test. has serial %d, want %d", got, first)
		}
		out, errOut, err = publish("--serial", "date", "-o", "json")
		if err != nil {
			t.Fatalf("publish --api --serial date: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		var res struct {
			Action    string `json:"action"`
			OldSerial uint32 `json:"old_serial"`
			Serial    uint32 `json:"serial"`
			Put       int    `json:"put"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("publish -o json printed %q: %v", out, err)
		}
		today := uint32(time.Now().UTC().Year())*1000000 + uint32(time.Now().UTC().Month())*10000 + uint32(time.Now().UTC().Day())*100
		if res.OldSerial != first || res.Serial < today || res.Serial > today+99 || res.Put == 0 {
			t.Errorf("publish --serial date = %+v, want old serial %d, a serial of today (%d..%d)", res, first, today, today+99)
		}
		for _, n := range c.ownersFirst(group) {
			waitAnswer(t, n, "info.cli.test.", dns.TypeTXT, `"v2"`)
		}
		// Without a change: nothing sent.
		out, _, err = publish("--serial", "date")
		if err != nil || !strings.Contains(out, "unchanged") {
			t.Errorf("publish of the same file: %v, %q; want unchanged", err, out)
		}
		// A key without update on this zone: refused with the scope named.
		write("v3")
		ro := issue(t, map[string]any{"name": "cli-ro", "scope": map[string]any{"suffixes": []string{"cli.test."}, "actions": []string{"read"}}})
		roFile := filepath.Join(dir, "ro.key")
		if err := os.WriteFile(roFile, []byte(ro), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, err = tryCmd(dir, ddnrsBin, "zone", "publish", "--api", reg.base, "--api-key-file", roFile, "--key", priv, zf)
		if err == nil || !strings.Contains(errOut, "out_of_scope") {
			t.Errorf("publish with a read-only key: %v, stderr %q; want out_of_scope", err, errOut)
		}
		// Bad inputs: no key, a URL that is none.
		if _, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", edge.base, "--key", priv, zf); err == nil || !strings.Contains(errOut, "API key") {
			t.Errorf("publish --api without a key: %v, %q", err, errOut)
		}
		if _, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", "ftp://x", "--api-key-file", keyFile, "--key", priv, zf); err == nil || !strings.Contains(errOut, "--api") {
			t.Errorf("publish --api ftp://x: %v, %q", err, errOut)
		}
		// Delete: the zone goes, its name is free.
		out, errOut, err = publish("--delete")
		if err != nil || !strings.Contains(out, "deleted cli.test.") {
			t.Fatalf("publish --delete: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		r := reg.call(t, "GET", "/v1/zones/cli.test.", cliKey, nil, "")
		apiWant(t, "GET /v1/zones/cli.test. after --delete", r, 404, "not_found")
	})

	step("owner sub-keys with ddnrs key", func(t *testing.T) {
		ownerKey := issue(t, map[string]any{"name": "sub-owner", "scope": map[string]any{"suffixes": []string{"subkey.test."},
			"actions": []string{"read", "create", "update", "delete"}}, "limits": map[string]any{"per_minute": 6000, "burst": 500}})
		dir := t.TempDir()
		ownerFile := filepath.Join(dir, "owner.key")
		if err := os.WriteFile(ownerFile, []byte(ownerKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		key := func(keyFile string, args ...string) (string, string, error) {
			return tryCmd(dir, ddnrsBin, append([]string{"key", args[0], "--api", edge.base, "--api-key-file", keyFile}, args[1:]...)...)
		}
		out, errOut, err := key(ownerFile, "issue", "--name", "ci", "--suffix", "ci.subkey.test.", "--actions", "read,create,update,delete", "--expires", "24h")
		subKey := strings.TrimSpace(out)
		if err != nil || !apiKeyPattern.MatchString(subKey) || !strings.Contains(errOut, "issued under") {
			t.Fatalf("ddnrs key issue: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		subFile := filepath.Join(dir, "ci.key")
		if err := os.WriteFile(subFile, []byte(subKey), 0o600); err != nil {
			t.Fatal(err)
		}
		subID := strings.Split(subKey, "_")[1]
		// The sub-key tries to widen itself, and to issue a sibling.
		for _, args := range [][]string{
			{"issue", "--name", "wide", "--suffix", "subkey.test.", "--actions", "read"},
			{"issue", "--name", "all", "--suffix", ".", "--actions", "read"},
			{"issue", "--name", "admin", "--suffix", "ci.subkey.test.", "--actions", "admin"},
			{"issue", "--name", "sibling", "--suffix", "ci.subkey.test.", "--actions", "read", "--parent", strings.Split(ownerKey, "_")[1]},
		} {
			if out, errOut, err := key(subFile, args...); err == nil || strings.Contains(out, "ddnrs_") {
				t.Errorf("sub-key %v: %v, stdout %q; want refused", args, err, out)
			} else if !strings.Contains(errOut, "out_of_scope") && !strings.Contains(errOut, "not_found") && !strings.Contains(errOut, "admin action") {
				t.Errorf("sub-key %v refused with %q; want out_of_scope, not_found or the admin rule", args, errOut)
			}
		}
		// The sub-key publishes its zone; the owner lists it and audits it.
		priv := keygen(t, dir, "ci.subkey.test.")
		zf := filepath.Join(dir, "ci.zone")
		if err := os.WriteFile(zf, []byte("$ORIGIN ci.subkey.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nbuild TXT \"pr-1\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", edge.base, "--api-key-file", subFile, "--key", priv, zf); err != nil || !strings.Contains(out, "created ci.subkey.test.") {
			t.Fatalf("publish with the sub-key: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		out, errOut, err = key(ownerFile, "list")
		if err != nil || !strings.Contains(out, subID) || !strings.Contains(out, "ci.subkey.test.") {
			t.Errorf("ddnrs key list: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		waitUntil(t, "the owner's audit shows the sub-key's issue and its create", func() error {
			out, errOut, err := key(ownerFile, "audit", "--key", subID)
			if err != nil || !strings.Contains(out, "keys.issue") || !strings.Contains(out, "zones.create") {
				return fmt.Errorf("ddnrs key audit: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
			}
			return nil
		})
		// The owner revokes it: its next publish is refused; the owner's
		// key deletes the zone.
		if out, errOut, err := key(ownerFile, "revoke", subID); err != nil || !strings.Contains(out, "revoked") {
			t.Fatalf("ddnrs key revoke: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		if _, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", reg.base, "--api-key-file", subFile, "--key", priv, "--delete", zf); err == nil || !strings.Contains(errOut, "key_revoked") {
			t.Errorf("publish with the revoked sub-key: %v, stderr %q; want key_revoked", err, errOut)
		}
		if _, errOut, err := key(ownerFile, "revoke", "nonsense"); err == nil || !strings.Contains(errOut, "not a key ID") {
			t.Errorf("ddnrs key revoke nonsense: %v, %q", err, errOut)
		}
		if out, errOut, err := tryCmd(dir, ddnrsBin, "zone", "publish", "--api", reg.base, "--api-key-file", ownerFile, "--key", priv, "--delete", zf); err != nil || !strings.Contains(out, "deleted ci.subkey.test.") {
			t.Errorf("owner deletes the sub-key's zone: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
	})

	step("ephemeral zones", func(t *testing.T) {
		ciKey := issue(t, map[string]any{"name": "pr-ci", "scope": map[string]any{"suffixes": []string{"dev.test."},
			"actions": []string{"read", "create", "update", "delete"}}, "limits": map[string]any{"per_minute": 6000, "burst": 500}})
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "ci.key")
		if err := os.WriteFile(keyFile, []byte(ciKey), 0o600); err != nil {
			t.Fatal(err)
		}
		zoneFile := func(origin, txt string) string {
			zf := filepath.Join(dir, origin+"zone")
			src := fmt.Sprintf("$ORIGIN %s\n$TTL 60\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\nbuild TXT %q\n", origin, txt)
			if err := os.WriteFile(zf, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			return zf
		}
		ddnrs := func(args ...string) (string, string, error) {
			return tryCmd(dir, ddnrsBin, args...)
		}
		// A pull request's zone, gone 4 s after its creation; a staging
		// zone kept while it changes.
		pr := "pr-1.dev.test."
		prKey := keygen(t, dir, pr)
		out, errOut, err := ddnrs("zone", "create", "--api", edge.base, "--api-key-file", keyFile, "--key", prKey, "--expires", "4s", zoneFile(pr, "pr-1"))
		if err != nil || !strings.Contains(out, "created "+pr) || !strings.Contains(out, "ephemeral: the group tears") {
			t.Fatalf("zone create --expires: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		var group string
		{
			var z struct {
				Group string `json:"group"`
			}
			r := reg.call(t, "GET", "/v1/zones/"+pr, ciKey, nil, "")
			apiWant(t, "GET the ephemeral zone", r, 200, "")
			r.decode(t, &z)
			group = z.Group
		}
		for _, n := range c.ownersFirst(group) {
			waitAnswer(t, n, "build."+pr, dns.TypeTXT, `"pr-1"`)
		}
		staging := "staging.dev.test."
		stKey := keygen(t, dir, staging)
		if out, errOut, err := ddnrs("zone", "create", "--api", reg.base, "--api-key-file", keyFile, "--key", stKey, "--idle", "1d", zoneFile(staging, "s1")); err != nil {
			t.Fatalf("zone create --idle: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		out, errOut, err = ddnrs("zone", "list", "--api", reg.base, "--api-key-file", keyFile)
		if err != nil || !strings.Contains(out, pr) || !strings.Contains(out, "ephemeral, idle 24h0m0s") {
			t.Errorf("zone list: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		if _, errOut, err := ddnrs("zone", "create", "--api", reg.base, "--api-key-file", keyFile, "--key", stKey, "--idle", "1d", zoneFile(staging, "s2")); err == nil || !strings.Contains(errOut, "holds "+staging+" already") {
			t.Errorf("zone create of an existing zone: %v, %q", err, errOut)
		}
		if _, errOut, err := ddnrs("zone", "lease", "--api", reg.base, "--api-key-file", keyFile, "--extend", "soon", staging); err == nil || !strings.Contains(errOut, "--extend") {
			t.Errorf("zone lease --extend soon: %v, %q", err, errOut)
		}
		if out, errOut, err := ddnrs("zone", "lease", "--api", reg.base, "--api-key-file", keyFile, "--permanent", staging); err != nil || !strings.Contains(out, "permanent now") {
			t.Errorf("zone lease --permanent: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}

		// The registry's leader tears the pull request's zone down:
		// the claim goes, its group drops the zone, the release is in
		// the log and the name is free for another key.
		waitUntil(t, pr+" released", func() error {
			if r := reg.call(t, "GET", "/v1/zones/"+pr, ciKey, nil, ""); r.status != 404 {
				return fmt.Errorf("GET %s: %d %s", pr, r.status, r.body)
			}
			return nil
		})
		for _, n := range c.ownersFirst(group) {
			nc := newAPIClient(n)
			waitUntil(t, pr+" dropped at "+n.name, func() error {
				if r := nc.call(t, "GET", "/v1/zones/"+pr+"/export", ciKey, nil, ""); r.status != 404 {
					return fmt.Errorf("export at %s: %d", n.name, r.status)
				}
				return nil
			})
		}
		r := reg.call(t, "GET", "/v1/log/checkpoint", "", nil, "")
		cp := strings.SplitN(string(r.body), "\n", 3)
		r = reg.call(t, "GET", "/v1/log/entries?start=0&end="+cp[1], "", nil, "")
		if !bytes.Contains(r.body, []byte(`"kind":"release"`)) || !bytes.Contains(r.body, []byte(`"actor":"lease"`)) || !bytes.Contains(r.body, []byte(`"reason":"ephemeral: expires`)) {
			t.Errorf("the log lacks the lease's registration or release: %s", r.body)
		}
		if err := os.Mkdir(filepath.Join(dir, "again"), 0o700); err != nil {
			t.Fatal(err)
		}
		other := keygen(t, filepath.Join(dir, "again"), pr)
		if out, errOut, err := ddnrs("zone", "create", "--api", edge.base, "--api-key-file", keyFile, "--key", other, zoneFile(pr, "again")); err != nil || !strings.Contains(out, "created "+pr) {
			t.Errorf("create of the freed name with another key: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		for _, n := range c.ownersFirst(group) {
			waitAnswer(t, n, "build."+pr, dns.TypeTXT, `"again"`)
		}
	})

	step("owner CLI over REST, a zone too large for one entry", func(t *testing.T) {
		bigKey := issue(t, map[string]any{"name": "cli-big", "scope": map[string]any{"suffixes": []string{"bigcli.test."},
			"actions": []string{"read", "create", "update", "delete"}}})
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "api.key")
		if err := os.WriteFile(keyFile, []byte(bigKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		priv := keygen(t, dir, "bigcli.test.")
		zf := filepath.Join(dir, "bigcli.test.zone")
		const names = 2500 // A, TXT and NSEC each: about 1.3 MB signed, above one Raft entry
		write := func(tag string) {
			t.Helper()
			var b strings.Builder
			b.WriteString("$ORIGIN bigcli.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n")
			for i := range names {
				fmt.Fprintf(&b, "h%d A 10.0.%d.%d\nh%d TXT \"%s %d\"\n", i, i>>8, i&255, i, tag, i)
			}
			if err := os.WriteFile(zf, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		publish := func(extra ...string) (string, string, error) {
			args := append([]string{"zone", "publish", "--api", edge.base, "--api-key-file", keyFile, "--key", priv}, extra...)
			return tryCmd(dir, ddnrsBin, append(args, zf)...)
		}
		write("v1")
		out, errOut, err := publish("--dry-run")
		if err != nil || !strings.Contains(out, "staged upload") {
			t.Fatalf("publish --api --dry-run of a big zone: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		out, errOut, err = publish()
		if err != nil || !strings.Contains(out, "created bigcli.test.") || !strings.Contains(errOut, "chunks committed") {
			t.Fatalf("publish --api of a big zone: %v\nstdout:\n%s\nstderr:\n%s", err, out[:min(len(out), 2000)], errOut)
		}
		var z struct {
			Group string `json:"group"`
		}
		r := reg.call(t, "GET", "/v1/zones/bigcli.test.", bigKey, nil, "")
		apiWant(t, "GET /v1/zones/bigcli.test.", r, 200, "")
		r.decode(t, &z)
		for _, n := range c.ownersFirst(z.Group) {
			waitAnswer(t, n, fmt.Sprintf("h%d.bigcli.test.", names-1), dns.TypeTXT, fmt.Sprintf(`"v1 %d"`, names-1))
		}
		// The whole zone again with every TXT changed: staged again; then
		// one name changed: one small change, no upload.
		write("v2")
		if out, errOut, err = publish(); err != nil || !strings.Contains(errOut, "chunks committed") {
			t.Fatalf("publish --api of a changed big zone: %v\nstderr:\n%s", err, errOut)
		}
		src, err := os.ReadFile(zf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(zf, []byte(strings.Replace(string(src), `"v2 7"`, `"v3 7"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, err = publish()
		if err != nil || strings.Contains(errOut, "chunks") || !strings.Contains(out, `~ h7.bigcli.test. TXT 300 "v3 7"`) {
			t.Fatalf("publish --api of one changed name: %v\nstdout:\n%s\nstderr:\n%s", err, out[:min(len(out), 2000)], errOut)
		}
		for _, n := range c.ownersFirst(z.Group) {
			waitAnswer(t, n, "h7.bigcli.test.", dns.TypeTXT, `"v3 7"`)
			waitAnswer(t, n, fmt.Sprintf("h%d.bigcli.test.", names-1), dns.TypeTXT, fmt.Sprintf(`"v2 %d"`, names-1))
		}
		if out, errOut, err = publish("--delete"); err != nil || !strings.Contains(out, "deleted bigcli.test.") {
			t.Fatalf("publish --delete: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
	})

	step("rate limit", func(t *testing.T) {
		limited := issue(t, map[string]any{"name": "slow", "scope": map[string]any{"suffixes": []string{"app.test."}, "actions": []string{"read"}},
			"limits": map[string]any{"per_minute": 1, "burst": 2}})
		for i := range 2 {
			r := reg.call(t, "GET", "/v1/zones/app.test.", limited, nil, "")
			apiWant(t, fmt.Sprintf("request %d within the burst", i+1), r, 200, "")
			if !strings.HasPrefix(r.header.Get("RateLimit-Policy"), `"default";q=2;w=`) || !strings.HasPrefix(r.header.Get("RateLimit"), `"default";r=`) {
				t.Errorf("request %d: RateLimit-Policy %q RateLimit %q", i+1, r.header.Get("RateLimit-Policy"), r.header.Get("RateLimit"))
			}
		}
		for _, cl := range clients {
			r := cl.call(t, "GET", "/v1/zones/app.test.", limited, nil, "")
			apiWant(t, "over the limit via "+cl.base, r, 429, "rate_limited")
			if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 without a Retry-After: %q", ra)
			}
			if !strings.HasPrefix(r.header.Get("RateLimit"), `"default";r=0;t=`) || r.header.Get("RateLimit-Policy") == "" {
				t.Errorf("429: RateLimit %q RateLimit-Policy %q", r.header.Get("RateLimit"), r.header.Get("RateLimit-Policy"))
			}
		}
	})

	step("per-IP rate limit", func(t *testing.T) {
		// Unauthenticated requests draw from the client address's bucket
		// (40, refilled at 120 a minute): one address asking fast is cut off.
		for _, n := range []*apiNode{c.registry[0], c.edge[0]} {
			cl := fixedIPClient(n, "127.0.63.1")
			var r apiResp
			for i := 0; i < 200; i++ {
				if r = cl.call(t, "GET", "/v1/health", "", nil, ""); r.status != 200 {
					break
				}
			}
			apiWant(t, "GET /v1/health from one address, fast, at "+n.name, r, 429, "rate_limited")
			if r.header.Get("Retry-After") == "" || !strings.HasPrefix(r.header.Get("RateLimit"), `"default";r=0;`) {
				t.Errorf("per-IP 429 at %s: Retry-After %q RateLimit %q", n.name, r.header.Get("Retry-After"), r.header.Get("RateLimit"))
			}
			// Another address is not affected.
			apiWant(t, "GET /v1/health from another address", fixedIPClient(n, "127.0.63.2").call(t, "GET", "/v1/health", "", nil, ""), 200, "")
		}
	})

	step("expired and revoked keys", func(t *testing.T) {
		// RFC 3339 here has whole seconds, so the key lives 5 to 6 s: the
		// issuing request has that long (a loaded machine can take
		// seconds) before the API refuses an expiry in the past.
		exp := issue(t, map[string]any{"name": "brief", "scope": map[string]any{"suffixes": []string{"app.test."}, "actions": []string{"read"}},
			"limits":  map[string]any{"per_minute": 6000, "burst": 1000},
			"expires": time.Now().Add(6 * time.Second).UTC().Format(time.RFC3339)})
		waitUntil(t, "the key to expire", func() error {
			r := reg.call(t, "GET", "/v1/zones/app.test.", exp, nil, "")
			if r.status == 401 && r.err().Error.Code == "key_expired" {
				return nil
			}
			if r.status != 200 {
				t.Fatalf("before expiry: %d %s", r.status, r.body)
			}
			return fmt.Errorf("still valid")
		})
		r := edge.call(t, "GET", "/v1/zones/app.test.", exp, nil, "")
		apiWant(t, "expired key via the edge node", r, 401, "key_expired")

		rev := issue(t, map[string]any{"name": "revoke-me", "scope": map[string]any{"suffixes": []string{"app.test."}, "actions": []string{"read"}}})
		self := issue(t, map[string]any{"name": "revoke-myself", "scope": map[string]any{"suffixes": []string{"app.test."}, "actions": []string{"read"}}})
		r = reg.call(t, "GET", "/v1/keys/"+apiKeyID(rev), self, nil, "")
		apiWant(t, "another key's details with a non-admin key", r, 404, "not_found") // not yours: not found, so ids cannot be probed
		r = reg.call(t, "DELETE", "/v1/keys/"+apiKeyID(rev), self, nil, "")
		apiWant(t, "revoking another key with a non-admin key", r, 404, "not_found")
		r = reg.call(t, "GET", "/v1/keys/"+apiKeyID(self), self, nil, "")
		apiWant(t, "own key's details", r, 200, "")
		r = edge.call(t, "DELETE", "/v1/keys/"+apiKeyID(rev), admin, nil, "")
		apiWant(t, "revoke by the reviewer", r, 200, "")
		if !strings.Contains(string(r.body), `"revoked":true`) {
			t.Errorf("revoke answered %s", r.body)
		}
		r = reg.call(t, "DELETE", "/v1/keys/"+apiKeyID(self), self, nil, "")
		apiWant(t, "a key revoking itself", r, 200, "")
		for _, k := range []string{rev, self} {
			for _, cl := range clients {
				r := cl.call(t, "GET", "/v1/zones/app.test.", k, nil, "")
				apiWant(t, "revoked key via "+cl.base, r, 401, "key_revoked")
			}
		}
		r = reg.call(t, "DELETE", "/v1/keys/0000000000000000", admin, nil, "")
		apiWant(t, "revoking an unknown key", r, 404, "not_found")
		r = edge.call(t, "GET", "/v1/keys/0000000000000000", admin, nil, "")
		apiWant(t, "an unknown key's details", r, 404, "not_found")
		r = reg.call(t, "GET", "/v1/keys", admin, nil, "")
		apiWant(t, "GET /v1/keys", r, 200, "")
		for _, k := range []string{admin, owner, readOnly, exp, rev, self} {
			if !strings.Contains(string(r.body), apiKeyID(k)) {
				t.Errorf("GET /v1/keys lacks %s", apiKeyID(k))
			}
		}
	})

	step("suspension", func(t *testing.T) {
		const reason = "AUP violation: phishing"
		r := reg.call(t, "POST", "/v1/zones/app.test./suspend", admin, `{"reason": `, "application/json")
		apiWant(t, "suspend with bad JSON", r, 400, "bad_json")
		r = reg.call(t, "POST", "/v1/zones/app.test./suspend", admin, map[string]any{}, "")
		apiWant(t, "suspend without a reason", r, 400, "missing_field")
		r = reg.call(t, "POST", "/v1/zones/nothere.test./suspend", admin, map[string]any{"reason": reason}, "")
		apiWant(t, "suspend an unclaimed zone", r, 404, "not_found")
		r = edge.call(t, "POST", "/v1/zones/app.test./suspend", admin, map[string]any{"reason": reason}, "")
		apiWant(t, "suspend", r, 200, "")
		if !strings.Contains(string(r.body), `"suspended":true`) {
			t.Errorf("suspend answered %s", r.body)
		}
		for _, n := range c.all() {
			waitUntil(t, n.name+" refuses the suspended zone", func() error {
				m, err := askErr(n.DNS, "www.app.test.", dns.TypeA, true)
				if err != nil {
					return err
				}
				e := apiEDE(m)
				if m.Rcode != dns.RcodeRefused || e == nil {
					return fmt.Errorf("rcode %s, EDE %v", dns.RcodeToString[m.Rcode], e)
				}
				if e.InfoCode != dns.ExtendedErrorCodeBlocked || !strings.Contains(e.ExtraText, reason) || !strings.Contains(e.ExtraText, "app.test.") {
					t.Fatalf("%s: EDE %d %q, want 15 (Blocked) naming app.test. and the reason", n.name, e.InfoCode, e.ExtraText)
				}
				return nil
			})
		}
		// What a person sees with dig, at a node of each group.
		dig := needTool(t, "dig", "bind9-dnsutils")
		for _, n := range []*apiNode{c.registry[0], c.edge[len(c.edge)-1]} {
			host, port, _ := net.SplitHostPort(n.DNS)
			out := runCmd(t, "", dig, "+norec", "+time=2", "+tries=2", "@"+host, "-p", port, "www.app.test.", "A")
			for _, w := range []string{"status: REFUSED", "EDE: 15 (Blocked)", reason} {
				if !strings.Contains(out, w) {
					t.Errorf("dig at %s of the suspended zone lacks %q:\n%s", n.name, w, out)
				}
			}
		}
		// The records are untouched.
		r = reg.call(t, "GET", "/v1/zones/app.test./records?name=www&type=A", owner, nil, "")
		apiWant(t, "records of a suspended zone", r, 200, "")
		if !strings.Contains(string(r.body), "192.0.2.10") {
			t.Errorf("records of the suspended zone: %s", r.body)
		}
		r = reg.call(t, "POST", "/v1/zones/app.test./unsuspend", owner, map[string]any{"reason": "x"}, "")
		apiWant(t, "unsuspend by the owner", r, 403, "out_of_scope")
		r = reg.call(t, "POST", "/v1/zones/app.test./unsuspend", admin, map[string]any{"reason": "cleaned up"}, "")
		apiWant(t, "unsuspend", r, 200, "")
		for _, n := range c.all() {
			waitAnswer(t, n, "www.app.test.", dns.TypeA, "192.0.2.10")
		}
	})

	step("owner key change and delete", func(t *testing.T) {
		newKey, err := zone.GenerateKey("two.test.", true, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		wrong, err := zone.GenerateKey("two.test.", true, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		stmt := raftfsm.OwnerKeyStatement("two.test.", newKey.DNSKEY.String(), 0)
		r := reg.call(t, "POST", "/v1/zones/two.test./owner-key", owner, map[string]any{"owner_key": newKey.DNSKEY.String()}, "")
		apiWant(t, "owner-key without proof", r, 400, "missing_field")
		r = reg.call(t, "POST", "/v1/zones/two.test./owner-key", owner, map[string]any{"owner_key": newKey.DNSKEY.String(), "proof": ed25519.Sign(wrong.Private, stmt)}, "")
		apiWant(t, "owner-key signed by the wrong key", r, 422, "rejected")
		if e := r.err(); e.Error.Reason != string(raftfsm.ReasonBadProof) {
			t.Errorf("owner-key signed by the wrong key: reason %q, want %q", e.Error.Reason, raftfsm.ReasonBadProof)
		}
		r = edge.call(t, "POST", "/v1/zones/two.test./owner-key", owner, map[string]any{"owner_key": newKey.DNSKEY.String(), "proof": ed25519.Sign(two.key.Private, stmt)}, "")
		apiWant(t, "owner-key", r, 200, "")
		var cl struct {
			OwnerKey   string `json:"owner_key"`
			Generation uint32 `json:"generation"`
		}
		r.decode(t, &cl)
		if cl.Generation != 1 || !strings.Contains(cl.OwnerKey, newKey.DNSKEY.PublicKey) {
			t.Errorf("after the owner key change: %s", r.body)
		}

		del, err := raftfsm.DeleteCommand(two.z, two.key)
		if err != nil {
			t.Fatal(err)
		}
		r = reg.call(t, "DELETE", "/v1/zones/two.test.", readOnly, map[string]any{"command": del}, "")
		apiWant(t, "delete with a read-only key", r, 403, "out_of_scope")
		r = reg.call(t, "DELETE", "/v1/zones/two.test.", owner, map[string]any{"command": []byte("junk")}, "")
		apiWant(t, "delete with a malformed command", r, 400, "invalid_field")
		r = edge.call(t, "DELETE", "/v1/zones/two.test.", owner, map[string]any{"command": del}, "")
		apiWant(t, "delete", r, 200, "")
		r = reg.call(t, "GET", "/v1/zones/two.test.", owner, nil, "")
		apiWant(t, "GET a deleted zone", r, 404, "not_found")
		// Its names, asked before (in answer caches) or not, get what a
		// name of no zone gets, on every node: REFUSED (once the node
		// has followed the log's release, or found the zone gone).
		for _, n := range c.all() {
			for _, name := range []string{"www.two.test.", "ns1.two.test."} {
				waitUntil(t, n.name+" answers "+name+" as a name of no zone", func() error {
					m, err := askErr(n.DNS, name, dns.TypeA, true)
					if err != nil {
						return err
					}
					if m.Rcode != dns.RcodeRefused {
						return fmt.Errorf("%s with %d answers, want REFUSED", dns.RcodeToString[m.Rcode], len(m.Answer))
					}
					return nil
				})
			}
		}
	})

	step("audit", func(t *testing.T) {
		type rec struct {
			Node   string    `json:"node"`
			KeyID  string    `json:"key_id"`
			Target string    `json:"target"` // the key a keys.issue or keys.revoke concerned
			Action string    `json:"action"`
			Zone   string    `json:"zone"`
			Result string    `json:"result"`
			Status int       `json:"status"`
			Time   time.Time `json:"time"`
		}
		get := func(cl *apiClient, key, q string) []rec {
			t.Helper()
			r := cl.call(t, "GET", "/v1/audit"+q, key, nil, "")
			apiWant(t, "GET /v1/audit"+q, r, 200, "")
			var out struct {
				Records     []rec    `json:"records"`
				Partial     bool     `json:"partial"`
				Unreachable []string `json:"unreachable"`
			}
			r.decode(t, &out)
			if out.Partial || len(out.Unreachable) > 0 {
				t.Errorf("GET %s/v1/audit%s with every node up: partial, unreachable %v", cl.base, q, out.Unreachable)
			}
			for _, x := range out.Records {
				if x.Node == "" {
					t.Errorf("GET %s/v1/audit%s: a record without its node: %+v", cl.base, q, x)
				}
			}
			return out.Records
		}
		// Records stay with the node that served the request; a read
		// is cluster-wide. The read-only key's requests served by the
		// second and third registry nodes are in the log read through
		// the first, through the third and through an edge node (which
		// proxies the read to a registry node); the zone's records,
		// written at the first registry node (the edge nodes proxy to
		// it), are in the log read through the third.
		reg3 := newAPIClient(c.registry[2])
		for _, n := range c.registry[1:] {
			r := newAPIClient(n).call(t, "GET", "/v1/keys/"+apiKeyID(readOnly), readOnly, nil, "")
			apiWant(t, "GET /v1/keys/{own id} at "+n.name, r, 200, "")
		}
		for _, cl := range []*apiClient{reg, reg3, edge} {
			at := map[string]bool{}
			for _, x := range get(cl, admin, "?key="+apiKeyID(readOnly)+"&limit=1000") {
				if x.KeyID != apiKeyID(readOnly) && x.Target != apiKeyID(readOnly) {
					t.Errorf("?key= returned %+v", x)
				}
				if x.Action == "keys.get" && x.Result == "ok" {
					at[x.Node] = true
				}
			}
			if !at[c.registry[1].name] || !at[c.registry[2].name] {
				t.Errorf("the audit log read through %s has the read-only key's keys.get at %v, want at %s and %s", cl.base, at, c.registry[1].name, c.registry[2].name)
			}
		}
		created := false
		for _, x := range get(reg3, admin, "?zone=app.test.&limit=1000") {
			created = created || x.Action == "zones.create" && x.Result == "ok" && x.Node == c.registry[0].name
		}
		if !created {
			t.Errorf("the audit log read through %s lacks the creation of app.test. at %s", c.registry[2].name, c.registry[0].name)
		}
		// All of them: the newest 100 (the default) may not reach back to
		// the creation, since the polling steps above add a number of
		// records that depends on the machine's speed.
		byZone := get(edge, admin, "?zone=app.test.&limit=1000")
		if len(byZone) == 0 {
			t.Fatal("no audit records for app.test.")
		}
		seen := map[string]bool{}
		for _, x := range byZone {
			if x.Zone != "app.test." {
				t.Errorf("?zone=app.test. returned %+v", x)
			}
			seen[x.Action+" "+x.Result] = true
		}
		for _, w := range []string{"zones.create ok", "zones.changes ok", "zones.changes out_of_scope", "zones.changes rejected", "zones.suspend ok", "zones.get rate_limited", "zones.get key_revoked", "zones.get key_expired"} {
			if !seen[w] {
				t.Errorf("the audit log of app.test. lacks %q: %v", w, seen)
			}
		}
		for _, x := range get(reg, admin, "?key="+apiKeyID(owner)) {
			if x.KeyID != apiKeyID(owner) && x.Target != apiKeyID(owner) {
				t.Errorf("?key= returned %+v", x)
			}
		}
		if n := len(get(reg, admin, "?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); n != 0 {
			t.Errorf("?since=in an hour: %d records", n)
		}
		if n := len(get(reg, admin, "?until="+t0.Add(-time.Hour).Format(time.RFC3339))); n != 0 {
			t.Errorf("?until=an hour before the start: %d records", n)
		}
		window := get(reg, admin, "?since="+t0.Format(time.RFC3339)+"&until="+time.Now().Add(time.Minute).UTC().Format(time.RFC3339)+"&limit=5")
		if len(window) != 5 {
			t.Errorf("a window over the whole test with limit=5: %d records", len(window))
		}
		for _, x := range window {
			if x.Time.Before(t0) {
				t.Errorf("record before since: %+v", x)
			}
		}
		// A key reads its own records only (those made with it, and its
		// issue by the reviewer).
		for _, x := range get(reg, readOnly, "") {
			if x.KeyID != apiKeyID(readOnly) && x.Target != apiKeyID(readOnly) {
				t.Errorf("the read-only key sees %+v", x)
			}
		}
		r := reg.call(t, "GET", "/v1/audit?key="+apiKeyID(owner), readOnly, nil, "")
		apiWant(t, "another key's audit with a non-admin key", r, 403, "out_of_scope")
		r = reg.call(t, "GET", "/v1/audit?since=yesterday", admin, nil, "")
		apiWant(t, "audit with a bad time", r, 400, "invalid_field")
	})

	step("transparency log", func(t *testing.T) {
		v, err := note.NewVerifier(c.vkey)
		if err != nil {
			t.Fatal(err)
		}
		first, err := translog.OpenCheckpoint(cp1, apiLogOrigin, v)
		if err != nil {
			t.Fatalf("the first checkpoint: %v\n%s", err, cp1)
		}
		for _, cl := range clients {
			r := cl.call(t, "GET", "/v1/log/checkpoint", "", nil, "")
			apiWant(t, "GET /v1/log/checkpoint", r, 200, "")
			cp, err := translog.OpenCheckpoint(r.body, apiLogOrigin, v)
			if err != nil {
				t.Fatalf("checkpoint via %s: %v\n%s", cl.base, err, r.body)
			}
			r = cl.call(t, "GET", fmt.Sprintf("/v1/log/entries?start=0&end=%d", cp.Size), "", nil, "")
			apiWant(t, "GET /v1/log/entries", r, 200, "")
			var es struct {
				Entries []struct {
					Index uint64 `json:"index"`
					Leaf  []byte `json:"leaf"`
					Entry struct {
						Kind string `json:"kind"`
						Zone string `json:"zone"`
					} `json:"entry"`
				} `json:"entries"`
			}
			r.decode(t, &es)
			if uint64(len(es.Entries)) != cp.Size {
				t.Fatalf("%d entries for a checkpoint of size %d", len(es.Entries), cp.Size)
			}
			var kinds []string
			for i, e := range es.Entries {
				if e.Index != uint64(i) {
					t.Errorf("entry %d has index %d", i, e.Index)
				}
				kinds = append(kinds, e.Entry.Kind+" "+e.Entry.Zone)
				pe, err := translog.ParseEntry(e.Leaf)
				if err != nil || pe.Kind.String() != e.Entry.Kind {
					t.Errorf("entry %d: leaf parses to %v, %v; JSON says %s", i, pe.Kind, err, e.Entry.Kind)
				}
				r := cl.call(t, "GET", fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", i, cp.Size), "", nil, "")
				apiWant(t, "GET /v1/log/proof/inclusion", r, 200, "")
				if err := translog.VerifyInclusion(e.Leaf, uint64(i), cp.Size, cp.Root, proofHashes(t, r)); err != nil {
					t.Errorf("entry %d: inclusion in the checkpoint: %v", i, err)
				}
			}
			for _, w := range []string{"node-admission ", "registration app.test.", "registration two.test.", "suspension app.test.",
				"unsuspension app.test.", "owner-key-change two.test.", "release two.test."} {
				if !slices.Contains(kinds, w) {
					t.Errorf("the log lacks %q: %v", w, kinds)
				}
			}
			r = cl.call(t, "GET", fmt.Sprintf("/v1/log/proof/consistency?first=%d&second=%d", first.Size, cp.Size), "", nil, "")
			apiWant(t, "GET /v1/log/proof/consistency", r, 200, "")
			if err := translog.VerifyConsistency(first.Size, cp.Size, first.Root, cp.Root, proofHashes(t, r)); err != nil {
				t.Errorf("the checkpoint is not consistent with the first one: %v", err)
			}
			for _, q := range []string{
				"/v1/log/entries?start=5&end=2",
				"/v1/log/entries?start=x",
				fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", cp.Size, cp.Size),
				fmt.Sprintf("/v1/log/proof/consistency?first=%d&second=%d", cp.Size, first.Size),
				"/v1/log/proof/inclusion?size=1",
			} {
				r := cl.call(t, "GET", q, "", nil, "")
				if r.status != 400 || r.err().Error.Code == "" {
					t.Errorf("GET %s: %d %s, want 400 with a code", q, r.status, r.body)
				}
			}
		}
	})
}

// proofHashes decodes a proof answer's hashes.
func proofHashes(t *testing.T, r apiResp) [][32]byte {
	t.Helper()
	var p struct {
		Hashes [][]byte `json:"hashes"`
	}
	r.decode(t, &p)
	out := make([][32]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		if len(h) != 32 {
			t.Fatalf("proof hash %d has %d bytes", i, len(h))
		}
		copy(out[i][:], h)
	}
	return out
}

// waitAnswer polls n until it answers name/type with a record holding
// want (bounded by waitUntil).
func waitAnswer(t *testing.T, n *apiNode, name string, qtype uint16, want string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%s answers %s %s", n.name, name, dns.TypeToString[qtype]), func() error {
		m, err := askErr(n.DNS, name, qtype, true)
		if err != nil {
			return err
		}
		if m.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("rcode %s %v; authority %v", dns.RcodeToString[m.Rcode], apiEDE(m), m.Ns)
		}
		for _, rr := range m.Answer {
			if rr.Header().Rrtype == qtype && strings.Contains(rr.String(), want) {
				return nil
			}
		}
		return fmt.Errorf("answer %v", m.Answer)
	})
}
