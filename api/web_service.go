package api

// FOR ENGINEER A: service code the web pages need that contracts §3 does
// not list. Move it into service.go (and drop this file) if the REST
// handler of GET /v1/log/proof/inclusion grows the same method.

import (
	"context"
)

// webInclusionProof returns the inclusion proof of leaf index in the tree
// of the first size leaves of the local registry replica's log.
func (s *Server) webInclusionProof(_ context.Context, index, size uint64) ([][32]byte, error) {
	reg, err := s.registry()
	if err != nil {
		return nil, err
	}
	if size > reg.LogSize() || index >= size {
		return nil, invalid("index", "entry %d is not in a log of size %d", index, min(size, reg.LogSize()))
	}
	return reg.Log().InclusionProof(index, size)
}
