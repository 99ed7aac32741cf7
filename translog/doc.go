// Package translog is the registry's transparency log: an append-only
// RFC 6962 Merkle tree whose leaves are registry events (a zone claimed, an
// owner key changed, a zone suspended or released, a node admitted), and
// the signed checkpoints (https://c2sp.org/tlog-checkpoint) that commit to
// it.
//
// The registry group's state machine (raftfsm) appends one Entry per event,
// encoded by Entry.MarshalBinary, to a Tree; the REST API serves signed
// checkpoints, entries and proofs; anyone can run a Monitor (the CLI's
// `ddnrs log verify`) that remembers every checkpoint it has seen and
// checks that each new one extends the earlier ones. Two signed
// checkpoints of which neither is a prefix of the other are a split view:
// proof that the log showed different histories to different readers.
//
// Everything here is pure (no clock, no randomness except GenerateKey, no
// disk except LoadSigner and a Monitor's state file) except HTTPSource,
// which fetches a log over HTTP. docs/transparency-log.md describes the
// entry encoding byte by byte for monitors written in other languages.
package translog
