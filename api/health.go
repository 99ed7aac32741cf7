package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
)

// handleHealth answers GET /v1/health. A registry member answers from its
// directory. A node outside the registry group knows only itself, so it
// proxies the request to a registry URL, as the registry endpoints are
// (the registry's answer, whatever its status, is the answer), trying
// the next URL when one cannot be reached; when none can, or it knows no
// registry URL, it answers with its own view marked "partial": true.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ *call) error {
	_, err := s.b.Registry()
	outside := errors.Is(err, ErrNotRegistry)
	if outside && len(s.proxies) > 0 && r.Header.Get(proxiedHeader) == "" {
		// The registry limits the client (by X-Forwarded-For) and says
		// so in its own headers.
		w.Header().Del("RateLimit")
		w.Header().Del("RateLimit-Policy")
		var errs []error
		for range s.proxies {
			err := s.proxyOnce(w, r)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
			if r.Context().Err() != nil {
				break
			}
		}
		s.log.Warn("no registry answered GET /v1/health; answering with this node's view", "err", errors.Join(errs...))
	}
	h, err := s.b.Health(r.Context())
	if err != nil {
		return err
	}
	h.Partial = outside
	writeHealth(w, h)
	return nil
}

func writeHealth(w http.ResponseWriter, h Health) {
	if h.Nodes == nil {
		h.Nodes = []NodeHealth{}
	}
	if h.Groups == nil {
		h.Groups = []GroupHealth{}
	}
	writeJSON(w, http.StatusOK, h)
}

// proxyOnce forwards r (a request without a body) to the current registry
// URL, as proxy does. When that URL cannot be reached nothing is written,
// the proxy moves on to the next URL and the error is returned.
func (s *Server) proxyOnce(w http.ResponseWriter, r *http.Request) error {
	i := s.proxyNext.Load()
	target := s.proxies[int(i)%len(s.proxies)]
	var failed error
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(proxiedHeader, "1")
		},
		ErrorHandler: func(_ http.ResponseWriter, _ *http.Request, err error) {
			s.proxyNext.CompareAndSwap(i, i+1)
			failed = fmt.Errorf("%s: %w", target, err)
		},
		Transport: s.opt.RegistryTransport,
	}
	rp.ServeHTTP(w, r)
	return failed
}
