package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// spec loads and validates openapi.json once per test binary.
func spec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("text/dns", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
		doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specDoc = doc
		specRouter, specErr = legacy.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return specDoc, specRouter
}

// validateResponse fails the test unless the response to req is one the
// document describes for that operation: status, content type and body
// schema.
func validateResponse(t testing.TB, req *http.Request, r resp) {
	t.Helper()
	_, router := spec(t)
	if !strings.HasPrefix(req.URL.Path, "/v1/") {
		return
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if r.status == http.StatusNotFound || r.status == http.StatusMethodNotAllowed {
			return // an unknown path or method: the catch-all's not_found or method_not_allowed
		}
		t.Fatalf("%s %s: no operation in openapi.json: %v", req.Method, req.URL.Path, err)
	}
	if r.status < 300 {
		// A request the server accepted must be one the document
		// describes: parameters and body.
		rq := req.Clone(context.Background())
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				t.Fatal(err)
			}
			rq.Body = body
		}
		rin := &openapi3filter.RequestValidationInput{Request: rq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), rin); err != nil {
			t.Fatalf("%s %s was accepted (%d) but does not match openapi.json: %v", req.Method, req.URL, r.status, err)
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Fatalf("%s %s -> %d %s: does not match openapi.json: %v", req.Method, req.URL.Path, r.status, r.body, err)
	}
}

// TestOpenAPIRoutes checks that every /v1 route the server registers is
// in openapi.json and every operation there is a route.
func TestOpenAPIRoutes(t *testing.T) {
	doc, _ := spec(t)
	s := &Server{}
	var routes, ops []string
	for _, rt := range s.apiRoutes() {
		routes = append(routes, rt.method+" "+rt.path)
	}
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			ops = append(ops, m+" "+p)
		}
	}
	sort.Strings(routes)
	sort.Strings(ops)
	if strings.Join(routes, "\n") != strings.Join(ops, "\n") {
		t.Errorf("routes and openapi.json operations differ:\nroutes:\n%s\n\nopenapi.json:\n%s", strings.Join(routes, "\n"), strings.Join(ops, "\n"))
	}
}

// TestOpenAPIServed checks GET /v1/openapi.json serves the embedded
// document.
func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/v1/openapi.json", "", nil)
	want(t, "GET /v1/openapi.json", r, http.StatusOK, "")
	if !bytes.Equal(r.body, openAPIDoc) {
		t.Errorf("GET /v1/openapi.json served %d bytes, not the embedded document", len(r.body))
	}
}
