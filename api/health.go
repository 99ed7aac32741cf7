package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// maxHealthBody bounds the registry's health answer a node relays.
const maxHealthBody = 8 << 20

// handleHealth answers GET /v1/health. A registry member answers from its
// directory. A node outside the registry group relays the registry's
// answer (trying each registry URL in turn), since it knows only itself;
// when no registry answers, or it knows no registry URL, it answers with
// its own view marked "partial": true.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ *call) error {
	_, err := s.b.Registry()
	outside := errors.Is(err, ErrNotRegistry)
	if outside && len(s.proxies) > 0 && r.Header.Get(proxiedHeader) == "" {
		h, err := s.registryHealth(r)
		if err == nil {
			writeHealth(w, h)
			return nil
		}
		s.log.Warn("registry health unavailable; answering with this node's view", "err", err)
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

// registryHealth asks the registry URLs for their health, starting with
// the one the proxy uses and moving the proxy on past each that fails.
func (s *Server) registryHealth(r *http.Request) (Health, error) {
	var errs []error
	for range s.proxies {
		i := s.proxyNext.Load()
		target := s.proxies[int(i)%len(s.proxies)]
		h, err := s.fetchHealth(r, target.JoinPath("/v1/health").String())
		if err == nil {
			return h, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", target, err))
		s.proxyNext.CompareAndSwap(i, i+1)
		if r.Context().Err() != nil {
			break
		}
	}
	return Health{}, errors.Join(errs...)
}

// fetchHealth GETs one registry's /v1/health, as the proxy would send it
// (marked proxied, with the client's address in X-Forwarded-For).
func (s *Server) fetchHealth(r *http.Request, u string) (Health, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err != nil {
		return Health{}, err
	}
	req.Header.Set(proxiedHeader, "1")
	req.Header.Set("Accept", "application/json")
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		xff := host
		if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 && s.opt.TrustProxy {
			xff = prior[len(prior)-1] + ", " + host
		}
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Health{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Health{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var h Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxHealthBody)).Decode(&h); err != nil {
		return Health{}, fmt.Errorf("health answer: %w", err)
	}
	return h, nil
}
